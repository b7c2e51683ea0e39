/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <stdio.h>
#include <string.h>

static char *
migration_cell (const VfmDriverEntry *e)
{
  if (e->kind == VFM_KIND_IGD)
    return g_strdup ("never");
  if (e->migratable == VFM_FACT_NO)
    return g_strdup ("no");
  if (e->migratable == VFM_FACT_UNKNOWN)
    return g_strdup ("unknown");
  return g_strdup_printf ("%s%s%s", e->stop_copy == VFM_FACT_YES ? "stop-copy" : "?",
                          e->p2p == VFM_FACT_YES ? ",p2p" : "",
                          e->pre_copy == VFM_FACT_YES ? ",pre-copy" : "");
}

gboolean
vfm_cmd_db_list (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  VfmHost *host;
  VfmDb *db;

  if (!vfm_cli_parse_options (cli, "db list", "", NULL, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "db list: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || (db = vfm_host_db (host, error)) == NULL)
    return FALSE;

  json_builder_begin_array (b);
  g_ptr_array_add (rows, g_strsplit ("ID|DRIVER|MODULE|KIND|INSTALLED|MIGRATION|SOURCE", "|", -1));
  for (guint i = 0; i < db->curated->entries->len; i++) {
    const VfmDriverEntry *e = g_ptr_array_index (db->curated->entries, i);
    gboolean installed = vfm_db_module_exists (db, e->module);
    g_hash_table_add (listed, e->module);
    if (cli->json) {
      JsonNode *node = vfm_driver_entry_to_json (e);
      JsonObject *o = json_node_get_object (node);
      json_object_set_boolean_member (o, "installed", installed);
      json_builder_add_value (b, node);
    } else {
      char **row = g_new0 (char *, 8);
      row[0] = g_strdup (e->id);
      row[1] = g_strdup (e->driver);
      row[2] = g_strdup (e->module);
      row[3] = g_strdup (vfm_driver_kind_to_string (e->kind));
      row[4] = g_strdup (installed ? "yes" : "no");
      row[5] = migration_cell (e);
      row[6] = g_strdup ("curated");
      g_ptr_array_add (rows, row);
    }
  }
  /* variant drivers the kernel advertises that the curated DB does not know */
  for (guint i = 0; db->aliases && i < db->aliases->vfio->len; i++) {
    const VfmAlias *a = g_ptr_array_index (db->aliases->vfio, i);
    if (g_hash_table_contains (listed, a->module))
      continue;
    g_hash_table_add (listed, a->module);
    if (cli->json) {
      json_builder_begin_object (b);
      vfm_json_add_str (b, "id", a->module);
      vfm_json_add_str (b, "driver", a->module);
      vfm_json_add_str (b, "module", a->module);
      vfm_json_add_str (b, "kind", "vendor");
      vfm_json_add_str (b, "source", "modules.alias");
      vfm_json_add_bool (b, "installed", TRUE);
      json_builder_end_object (b);
    } else {
      char **row = g_new0 (char *, 8);
      row[0] = g_strdup ("-");
      row[1] = g_strdup (a->module);
      row[2] = g_strdup (a->module);
      row[3] = g_strdup ("vendor");
      row[4] = g_strdup ("yes");
      row[5] = g_strdup ("unknown");
      row[6] = g_strdup_printf ("modules.alias:%u", a->line);
      g_ptr_array_add (rows, row);
    }
  }
  json_builder_end_array (b);
  if (cli->json) {
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  } else {
    vfm_cli_print_table (rows, 7);
  }
  return TRUE;
}

gboolean
vfm_cmd_db_show (VfmCli *cli, int argc, char **argv, GError **error)
{
  const VfmDriverEntry *e;
  VfmHost *host;
  VfmDb *db;

  if (!vfm_cli_parse_options (cli, "db show", "ID|DRIVER", NULL, &argc, &argv, error))
    return FALSE;
  if (argc != 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "db show: expected one entry id or driver name");
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || (db = vfm_host_db (host, error)) == NULL)
    return FALSE;
  e = vfm_driver_db_lookup (db->curated, argv[1]);
  if (e == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND,
                 "no driver \"%s\" in the database (vfmigctl db list shows what there is)", argv[1]);
    return FALSE;
  }
  if (cli->json) {
    g_autoptr (JsonNode) node = vfm_driver_entry_to_json (e);
    json_object_set_boolean_member (json_node_get_object (node), "installed",
                                    vfm_db_module_exists (db, e->module));
    vfm_cli_print_json (cli, node);
    return TRUE;
  }
  {
    g_autofree char *mig = migration_cell (e);
    printf ("%s: driver %s, module %s (%s), %s\n", e->id, e->driver, e->module,
            vfm_db_module_exists (db, e->module) ? "installed" : "not installed",
            vfm_driver_kind_to_string (e->kind));
    if (e->summary)
      printf ("  %s\n", e->summary);
    printf ("  source: %s\n", e->path);
    for (guint i = 0; i < e->matches->len; i++) {
      g_autofree char *d = vfm_match_describe (g_ptr_array_index (e->matches, i));
      printf ("  matches: %s\n", d);
    }
    if (e->matches->len == 0)
      printf ("  matches: any device\n");
    printf ("  migration: %s", mig);
    if (e->dirty_tracking)
      printf (", dirty tracking %s", e->dirty_tracking);
    if (e->migration_since)
      printf (", since kernel %s", e->migration_since);
    printf ("\n");
    if (e->migration_notes)
      printf ("    %s\n", e->migration_notes);
    if (e->pf_drivers) {
      g_autofree char *s = g_strjoinv (", ", e->pf_drivers);
      printf ("  needs PF driver: %s\n", s);
    }
    if (e->devlink_migratable)
      printf ("  needs devlink port function migratable on the VF\n");
    if (e->min_kernel)
      printf ("  needs kernel >= %s\n", e->min_kernel);
    if (e->min_qemu)
      printf ("  needs QEMU >= %s\n", e->min_qemu);
    if (e->min_libvirt)
      printf ("  needs libvirt >= %s\n", e->min_libvirt);
    if (e->firmware)
      printf ("  firmware: %s\n", e->firmware);
    if (e->prereq_notes)
      printf ("    %s\n", e->prereq_notes);
    if (e->qemu_properties) {
      g_autofree char *s = g_strjoinv (",", e->qemu_properties);
      printf ("  qemu device properties: %s\n", s);
    }
    if (e->qemu_machine)
      printf ("  qemu machine: %s\n", e->qemu_machine);
    if (e->qemu_guest_address)
      printf ("  guest address: %s\n", e->qemu_guest_address);
    if (e->qemu_notes)
      printf ("    %s\n", e->qemu_notes);
    if (e->notes)
      printf ("  note: %s\n", e->notes);
  }
  return TRUE;
}

/* A file is a driver entry when it has a [Driver] group, else a policy file. */
static gboolean
lint_file (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, error))
    return FALSE;
  if (strstr (text, "[Driver]") != NULL) {
    g_autoptr (VfmDriverEntry) e = vfm_driver_entry_parse (path, text, error);
    return e != NULL;
  } else {
    g_autoptr (VfmPolicySet) set = vfm_policy_set_new ();
    return vfm_policy_set_parse (set, path, text, error);
  }
}

gboolean
vfm_cmd_db_lint (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
  guint checked = 0;

  if (!vfm_cli_parse_options (cli, "db lint", "[FILE…]", NULL, &argc, &argv, error))
    return FALSE;

  if (argc > 1) {
    for (int i = 1; i < argc; i++) {
      g_autoptr (GError) local = NULL;
      checked++;
      if (!lint_file (argv[i], &local))
        g_ptr_array_add (problems, g_strdup (local->message));
    }
  } else {
    VfmHost *host = vfm_cli_host (cli, error);
    VfmDb *db;
    GPtrArray *w;
    if (host == NULL || (db = vfm_host_db (host, error)) == NULL)
      return FALSE;
    w = vfm_host_db_warnings (host);
    for (guint i = 0; i < w->len; i++)
      g_ptr_array_add (problems, g_strdup (g_ptr_array_index (w, i)));
    checked = db->curated->entries->len + db->policies->policies->len;
  }

  if (cli->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;
    json_builder_begin_object (b);
    vfm_json_add_int (b, "checked", checked);
    json_builder_set_member_name (b, "problems");
    json_builder_begin_array (b);
    for (guint i = 0; i < problems->len; i++)
      json_builder_add_string_value (b, g_ptr_array_index (problems, i));
    json_builder_end_array (b);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  } else {
    for (guint i = 0; i < problems->len; i++)
      fprintf (stderr, "%s\n", (const char *) g_ptr_array_index (problems, i));
    if (problems->len == 0)
      printf ("ok: %u checked, no problems\n", checked);
  }
  if (problems->len > 0) {
    if (!cli->json)
      fprintf (stderr, "error: %u problem%s found\n", problems->len, problems->len == 1 ? "" : "s");
    cli->exit_code = 1;
  }
  return TRUE;
}
