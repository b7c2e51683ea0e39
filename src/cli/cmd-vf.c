/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vf create / vf destroy: provision a PF's VFs for vfmig. */
#include "vfm-batch.h"
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-sriov.h"

#include <stdio.h>

static JsonNode *
vf_result_to_json (const VfmVfResult *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "pf", r->pf);
  vfm_json_add_int (b, "numvfs", r->numvfs);
  json_builder_set_member_name (b, "message");
  if (r->message)
    json_builder_add_string_value (b, r->message);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "steps");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->steps->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (r->steps, i));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "vfs");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->vfs->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (r->vfs, i));
  json_builder_end_array (b);
  vfm_json_add_bind_results (b, r->binds);
  json_builder_set_member_name (b, "seconds");
  json_builder_add_double_value (b, r->seconds);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* Interrupted work (a killed bind, vf create or destroy) is recovered before
 * a new provisioning starts; its results come first, as with bind. */
static void
prepend_results (VfmVfResult *r, GPtrArray *recovered)
{
  for (guint i = 0; recovered != NULL && i < recovered->len; i++)
    g_ptr_array_insert (r->binds, (gint) i, g_steal_pointer (&g_ptr_array_index (recovered, i)));
  if (recovered != NULL)
    g_ptr_array_set_size (recovered, 0);
}

/* One VF's bind (vf create) or return (vf destroy), for -v. */
static void
vf_row (VfmTable *table, const VfmBindResult *b)
{
  gboolean unbind = g_strcmp0 (b->op, "unbind") == 0;
  gboolean dry = b->message != NULL && g_str_has_prefix (b->message, "would ");
  const char *result = "unchanged";

  if (b->changed)
    result = unbind ? "returned" : "bound";
  else if (dry)
    result = unbind ? "would return" : "would bind";

  vfm_table_add_row (table, b->bdf, b->driver ? b->driver : "-", b->previous_driver ? b->previous_driver : "-",
                     result, NULL);
  if (b->changed)
    vfm_table_style (table, 3, VFM_STYLE_GOOD);
}

static gboolean
report (VfmCli *cli, VfmVfResult *r, gboolean show_steps, GError **error)
{
  if (cli->json && r->error == NULL) {
    g_autoptr (JsonNode) node = vf_result_to_json (r);
    vfm_cli_print_json (cli, node);
  } else if (cli->json) {
    /* the error shape, with what was done inside it */
    g_autoptr (JsonNode) node = vfm_error_to_json (r->error);
    JsonObject *err = json_object_get_object_member (json_node_get_object (node), "error");
    json_object_set_member (err, "result", vf_result_to_json (r));
    vfm_cli_print_json (cli, node);
    cli->exit_code = vfm_error_exit_code (r->error);
    return TRUE;
  } else {
    g_autoptr (VfmTable) table = vfm_table_new (4, "VF|DRIVER|BEFORE|RESULT");
    VfmStyle style = r->error == NULL ? VFM_STYLE_GOOD : VFM_STYLE_PLAIN;
    if (r->message)
      printf ("%s%s%s (%.2f s)\n", vfm_term_on (&cli->out, style), r->message, vfm_term_off (&cli->out, style),
              r->seconds);
    if (show_steps || r->error)
      for (guint i = 0; i < r->steps->len; i++) {
        g_autofree char *n = g_strdup_printf ("%u.", i + 1);
        vfm_term_print_item (&cli->out, stdout, 2, n, VFM_STYLE_PLAIN, g_ptr_array_index (r->steps, i));
      }
    for (guint i = 0; i < r->binds->len; i++) {
      const VfmBindResult *b = g_ptr_array_index (r->binds, i);
      if (b->error)
        vfm_cli_error (cli, vfm_error_name (b->error), b->error->message);
      else if (g_strcmp0 (b->op, "recover") == 0 && b->message != NULL)
        printf ("recovered: %s\n", b->message);
      else if (cli->verbose && g_strcmp0 (b->op, "recover") != 0)
        vf_row (table, b);
      for (guint j = 0; j < b->warnings->len; j++)
        vfm_cli_warn (cli, g_ptr_array_index (b->warnings, j));
    }
    if (vfm_table_rows (table) > 1) /* more than the header */
      vfm_table_print (table, &cli->out);
  }
  if (r->error != NULL) {
    g_propagate_error (error, g_steal_pointer (&r->error));
    return FALSE;
  }
  return TRUE;
}

gboolean
vfm_cmd_vf_create (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean migratable = FALSE, switchdev = FALSE, no_bind = FALSE, dry = FALSE, force = FALSE;
  g_autofree char *mac = NULL;
  gint vlan = -1;
  GOptionEntry entries[] = {
    { "migratable", 'm', 0, G_OPTION_ARG_NONE, &migratable, "Set the devlink 'migratable' capability on each VF", NULL },
    { "switchdev", 0, 0, G_OPTION_ARG_NONE, &switchdev, "Switch the eswitch to switchdev when VF ports need it (mlx5)", NULL },
    { "mac", 0, 0, G_OPTION_ARG_STRING, &mac, "MAC of VF 0 (later VFs count up), or auto", "MAC" },
    { "vlan", 0, 0, G_OPTION_ARG_INT, &vlan, "VLAN for every VF", "ID" },
    { "no-bind", 0, 0, G_OPTION_ARG_NONE, &no_bind, "Create only, do not bind", NULL },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the exact steps, change nothing", NULL },
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "Bind even VFs the host uses", NULL },
    { NULL }
  };
  g_autoptr (VfmVfResult) r = NULL;
  g_autoptr (GPtrArray) recovered = NULL;
  VfmVfOptions opts = { 0 };
  VfmHost *host;
  gint64 n;

  if (!vfm_cli_parse_options (cli, "vf create", "PF N", entries, &argc, &argv, error))
    return FALSE;
  if (argc != 3) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "vf create: expected PF and number of VFs");
    return FALSE;
  }
  if (!g_ascii_string_to_signed (argv[2], 10, 0, 65535, &n, NULL)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "vf create: \"%s\" is not a number of VFs", argv[2]);
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  opts.migratable = migratable;
  opts.switchdev = switchdev;
  opts.mac = mac;
  opts.vlan = vlan;
  opts.no_bind = no_bind;
  opts.flags = (dry ? VFM_BIND_DRY_RUN : 0) | (force ? VFM_BIND_FORCE : 0);
  recovered = dry ? NULL : vfm_batch_recover (host);
  r = vfm_sriov_create (host, argv[1], (gint) n, &opts);
  prepend_results (r, recovered);
  return report (cli, r, dry || cli->verbose, error);
}

gboolean
vfm_cmd_vf_destroy (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean dry = FALSE;
  GOptionEntry entries[] = {
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the exact steps, change nothing", NULL },
    { NULL }
  };
  g_autoptr (VfmVfResult) r = NULL;
  g_autoptr (GPtrArray) recovered = NULL;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "vf destroy", "PF", entries, &argc, &argv, error))
    return FALSE;
  if (argc != 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "vf destroy: expected a PF");
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  recovered = dry ? NULL : vfm_batch_recover (host);
  r = vfm_sriov_destroy (host, argv[1], dry ? VFM_BIND_DRY_RUN : 0);
  prepend_results (r, recovered);
  return report (cli, r, dry || cli->verbose, error);
}
