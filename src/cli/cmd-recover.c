/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* recover: finish or roll back the work a crash interrupted - device binds,
 * vf create/destroy (vfm-batch), and migrations this host was driving
 * (vfm-migrate). bind, unbind, restore, vf, migrate and vfmigd recover on
 * their own before they start; this is the command to run after a crash. */
#include "vfm-batch.h"
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-migrate.h"

#include <stdio.h>

static void
print_migration (VfmCli *cli, const VfmMigrateResult *r)
{
  if (r->error != NULL)
    vfm_cli_error (cli, vfm_error_name (r->error), r->error->message);
  else
    vfm_cli_item (cli, 0, "recovered:", "migration of %s %s (%.2f s)", r->domain,
                  r->migrated ? "had moved: finished" : r->rolled_back ? "rolled back" : "ended", r->seconds);
  for (guint i = 0; i < r->steps->len; i++) {
    g_autofree char *n = g_strdup_printf ("%u.", i + 1);
    vfm_cli_item (cli, 2, n, "%s", (const char *) g_ptr_array_index (r->steps, i));
  }
}

gboolean
vfm_cmd_recover (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) binds = NULL, migrations = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  guint failed = 0;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "recover", "", NULL, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "recover: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  binds = vfm_batch_recover (host);
  migrations = vfm_migrate_recover (host, warnings);
  for (guint i = 0; i < binds->len; i++) {
    const VfmBindResult *r = g_ptr_array_index (binds, i);
    failed += r->error != NULL || r->warnings->len > 0; /* a damaged record: not recovered */
  }
  for (guint i = 0; i < migrations->len; i++)
    failed += ((VfmMigrateResult *) g_ptr_array_index (migrations, i))->error != NULL;

  if (cli->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;
    json_builder_begin_object (b);
    vfm_json_add_bind_results (b, binds);
    json_builder_set_member_name (b, "migrations");
    json_builder_begin_array (b);
    for (guint i = 0; i < migrations->len; i++) {
      const VfmMigrateResult *r = g_ptr_array_index (migrations, i);
      JsonNode *n = vfm_cli_migrate_result_to_json (r);
      JsonObject *o = json_node_get_object (n);
      json_object_remove_member (o, "event");
      if (r->error != NULL)
        json_object_set_string_member (o, "error", r->error->message);
      else
        json_object_set_null_member (o, "error");
      json_builder_add_value (b, n);
    }
    json_builder_end_array (b);
    json_builder_set_member_name (b, "journal_problems");
    json_builder_begin_array (b);
    for (guint i = 0; i < warnings->len; i++)
      json_builder_add_string_value (b, g_ptr_array_index (warnings, i));
    json_builder_end_array (b);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  } else {
    for (guint i = 0; i < binds->len; i++) {
      const VfmBindResult *r = g_ptr_array_index (binds, i);
      if (r->error != NULL)
        vfm_cli_error (cli, vfm_error_name (r->error), r->error->message);
      else if (r->message != NULL)
        vfm_cli_item (cli, 0, "recovered:", "%s (%.3f s)", r->message, r->seconds);
      for (guint j = 0; j < r->warnings->len; j++)
        vfm_cli_warn (cli, g_ptr_array_index (r->warnings, j));
    }
    for (guint i = 0; i < migrations->len; i++)
      print_migration (cli, g_ptr_array_index (migrations, i));
    for (guint i = 0; i < warnings->len; i++)
      vfm_cli_warn (cli, g_ptr_array_index (warnings, i));
    if (binds->len == 0 && migrations->len == 0 && warnings->len == 0)
      printf ("nothing to recover\n");
  }
  if (failed > 0 || warnings->len > 0)
    cli->exit_code = 1;
  return TRUE;
}
