/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <stdio.h>
#include <string.h>

/* As list says it: "yes" is STOP_COPY, which every VFIO migration driver
 * must do, then the optional P2P and PRE_COPY. */
static char *
migration_cell (const VfmDriverEntry *e)
{
  if (e->kind == VFM_KIND_IGD)
    return g_strdup ("never");
  if (e->migratable == VFM_FACT_NO)
    return g_strdup ("no");
  if (e->migratable == VFM_FACT_UNKNOWN || e->stop_copy != VFM_FACT_YES)
    return g_strdup ("unknown");
  return g_strdup_printf ("yes%s%s", e->p2p == VFM_FACT_YES ? ",p2p" : "",
                          e->pre_copy == VFM_FACT_YES ? ",precopy" : "");
}

gboolean
vfm_cmd_db_list (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (VfmTable) table = vfm_table_new (5, "DRIVER|KIND|INSTALLED|MIGRATION|SOURCE");
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
      /* the entry's id (what db show takes) only when it is not the driver's name */
      char **row = g_new0 (char *, 6);
      row[0] = g_strdup (e->driver);
      row[1] = g_strdup (vfm_driver_kind_to_string (e->kind));
      row[2] = g_strdup (installed ? "yes" : "no");
      row[3] = migration_cell (e);
      row[4] = strcmp (e->id, e->driver) == 0 ? g_strdup ("curated") : g_strdup_printf ("curated:%s", e->id);
      vfm_table_take_row (table, row);
      if (!installed)
        vfm_table_style (table, 2, VFM_STYLE_WARN);
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
      char **row = g_new0 (char *, 6);
      char *name = vfm_db_driver_name (db, a->module);
      row[0] = name ? name : g_strdup (a->module);
      row[1] = g_strdup ("vendor");
      row[2] = g_strdup ("yes");
      row[3] = g_strdup ("unknown");
      row[4] = g_strdup_printf ("modules.alias:%u", a->line);
      vfm_table_take_row (table, row);
    }
  }
  json_builder_end_array (b);
  if (cli->json) {
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  } else {
    g_autofree char *origin = vfm_host_db_origin (host);
    guint aliases = 0;
    for (guint i = 0; db->aliases && i < db->aliases->vfio->len; i++)
      aliases++;
    g_autofree char *what = db->aliases != NULL
                              ? g_strdup_printf ("%s; %u vfio_pci alias line%s from %s", origin, aliases,
                                                 aliases == 1 ? "" : "s", db->aliases->path)
                              : g_strdup_printf ("%s; no modules.alias for this kernel", origin);
    vfm_table_print (table, &cli->out);
    printf ("\n");
    vfm_term_print_item (&cli->out, stdout, 0, "loaded:", VFM_STYLE_PLAIN, what);
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
    g_autofree char *id = g_strdup_printf ("%s:", e->id);
    vfm_cli_item (cli, 0, id, "driver %s, module %s (%s), %s", e->driver, e->module,
                  vfm_db_module_exists (db, e->module) ? "installed" : "not installed",
                  vfm_driver_kind_to_string (e->kind));
    if (e->summary)
      vfm_cli_item (cli, 2, NULL, "%s", e->summary);
    vfm_cli_item (cli, 2, "source:", "%s", e->path);
    for (guint i = 0; i < e->matches->len; i++) {
      g_autofree char *d = vfm_match_describe (g_ptr_array_index (e->matches, i));
      vfm_cli_item (cli, 2, "matches:", "%s", d);
    }
    if (e->matches->len == 0)
      vfm_cli_item (cli, 2, "matches:", "any device");
    vfm_cli_item (cli, 2, "migration:", "%s%s%s%s%s", mig, e->dirty_tracking ? ", dirty tracking " : "",
                  e->dirty_tracking ? e->dirty_tracking : "", e->migration_since ? ", since kernel " : "",
                  e->migration_since ? e->migration_since : "");
    if (e->migration_notes)
      vfm_cli_item (cli, 4, NULL, "%s", e->migration_notes);
    if (e->pf_drivers) {
      g_autofree char *s = g_strjoinv (", ", e->pf_drivers);
      vfm_cli_item (cli, 2, "needs PF driver:", "%s", s);
    }
    if (e->devlink_migratable)
      vfm_cli_item (cli, 2, NULL, "needs devlink port function migratable on the VF");
    if (e->min_kernel)
      vfm_cli_item (cli, 2, NULL, "needs kernel >= %s", e->min_kernel);
    if (e->min_qemu)
      vfm_cli_item (cli, 2, NULL, "needs QEMU >= %s", e->min_qemu);
    if (e->min_libvirt)
      vfm_cli_item (cli, 2, NULL, "needs libvirt >= %s", e->min_libvirt);
    if (e->firmware)
      vfm_cli_item (cli, 2, "firmware:", "%s", e->firmware);
    if (e->prereq_notes)
      vfm_cli_item (cli, 4, NULL, "%s", e->prereq_notes);
    if (e->qemu_properties) {
      g_autofree char *s = g_strjoinv (",", e->qemu_properties);
      vfm_cli_item (cli, 2, "qemu device properties:", "%s", s);
    }
    if (e->qemu_machine)
      vfm_cli_item (cli, 2, "qemu machine:", "%s", e->qemu_machine);
    if (e->qemu_guest_address)
      vfm_cli_item (cli, 2, "guest address:", "%s", e->qemu_guest_address);
    if (e->qemu_notes)
      vfm_cli_item (cli, 4, NULL, "%s", e->qemu_notes);
    if (e->notes)
      vfm_cli_item (cli, 2, "note:", "%s", e->notes);
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
      printf ("%sok:%s %u checked, no problems\n", vfm_term_on (&cli->out, VFM_STYLE_GOOD),
              vfm_term_off (&cli->out, VFM_STYLE_GOOD), checked);
  }
  if (problems->len > 0) {
    if (!cli->json) {
      g_autofree char *msg = g_strdup_printf ("%u problem%s found", problems->len, problems->len == 1 ? "" : "s");
      vfm_cli_error (cli, NULL, msg);
    }
    cli->exit_code = 1;
  }
  return TRUE;
}
