/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mdev types / list / create / remove: mediated devices (DESIGN.md,
 * Decisions 31). Creating and removing are bind/vfm-mdev-ops: checked,
 * journaled, never done to an instance in use or, unless forced, to one
 * mdevctl defines. */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-mdev-ops.h"

#include <stdio.h>
#include <string.h>

static gboolean
no_more_args (const char *command, int argc, char **argv, int expected, GError **error)
{
  if (argc > expected) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "%s: unexpected argument \"%s\"", command, argv[expected]);
    return FALSE;
  }
  return TRUE;
}

/* "12", or "-" for an instance without a group */
static char *
group_cell (gint group)
{
  return group >= 0 ? g_strdup_printf ("%d", group) : g_strdup ("-");
}

/* Whose it is beyond sysfs: "vfmig" created it (recover removes it when
 * unused), "mdevctl" defines it persistently (vfmig leaves it alone). */
static char *
owner_cell (VfmHost *host, const VfmMdev *m)
{
  g_autofree char *def = vfm_mdev_ops_mdevctl_definition (host, m->uuid);
  gboolean ours = vfm_mdev_ops_created_by_vfmig (host, m->uuid);
  return g_strdup (def && ours ? "vfmig, mdevctl" : def ? "mdevctl" : ours ? "vfmig" : "-");
}

gboolean
vfm_cmd_mdev_types (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) types = NULL, parents = NULL;
  const char *parent;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "mdev types", "[PARENT]", NULL, &argc, &argv, error) ||
      !no_more_args ("mdev types", argc, argv, 2, error) || (host = vfm_cli_host (cli, error)) == NULL)
    return FALSE;
  parent = argc > 1 ? argv[1] : NULL;
  parents = vfm_mdev_parents (vfm_host_sysroot (host));
  if (parent != NULL && !g_ptr_array_find_with_equal_func (parents, parent, g_str_equal, NULL)) {
    if (*parent == '\0' || *parent == '.' || strchr (parent, '/') != NULL)
      g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "mdev types: \"%s\" is not a parent device name",
                   parent);
    else
      g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "mdev types: no parent device %s (%s)", parent,
                   parents->len ? "vfmigctl mdev types lists them" : "this host has no mediated device parent");
    return FALSE;
  }
  types = vfm_mdev_types (vfm_host_sysroot (host), parent);
  if (cli->json) {
    g_autoptr (JsonArray) a = json_array_new ();
    g_autoptr (JsonNode) root = json_node_new (JSON_NODE_ARRAY);
    for (guint i = 0; i < types->len; i++)
      json_array_add_element (a, vfm_mdev_type_to_json (g_ptr_array_index (types, i)));
    json_node_set_array (root, a);
    vfm_cli_print_json (cli, root);
    return TRUE;
  }
  if (types->len == 0) {
    printf (parent ? "%s offers no mediated device type\n" : "no mediated device parent on this host\n", parent);
    return TRUE;
  } else {
    g_autoptr (VfmTable) table = vfm_table_new (5, "PARENT|TYPE|FREE|API|NAME");
    for (guint i = 0; i < types->len; i++) {
      const VfmMdevType *t = g_ptr_array_index (types, i);
      char **row = g_new0 (char *, 6);
      row[0] = g_strdup (t->parent);
      row[1] = g_strdup (t->name);
      row[2] = t->available_instances >= 0 ? g_strdup_printf ("%d", t->available_instances) : g_strdup ("?");
      row[3] = g_strdup (t->device_api ? t->device_api : "-");
      row[4] = g_strdup (t->pretty_name ? t->pretty_name : "-");
      vfm_table_take_row (table, row);
      vfm_table_style (table, 2, t->available_instances > 0 ? VFM_STYLE_GOOD : VFM_STYLE_WARN);
    }
    vfm_table_print (table, &cli->out);
  }
  return TRUE;
}

/* The instances as a table (also under `vfmigctl list`); FALSE when there
 * are none. */
gboolean
vfm_cli_print_mdevs (VfmCli *cli, VfmHost *host, GPtrArray *mdevs)
{
  g_autoptr (VfmTable) table = vfm_table_new (6, "MDEV|TYPE|PARENT|GROUP|DRIVER|OWNER");
  if (mdevs->len == 0)
    return FALSE;
  for (guint i = 0; i < mdevs->len; i++) {
    const VfmMdev *m = g_ptr_array_index (mdevs, i);
    char **row = g_new0 (char *, 7);
    row[0] = g_strdup (m->uuid);
    row[1] = g_strdup (m->type ? m->type : "?");
    row[2] = g_strdup (m->parent ? m->parent : "?");
    row[3] = group_cell (m->iommu_group);
    row[4] = g_strdup (m->driver ? m->driver : "-");
    row[5] = owner_cell (host, m);
    vfm_table_take_row (table, row);
  }
  vfm_table_print (table, &cli->out);
  return TRUE;
}

gboolean
vfm_cmd_mdev_list (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) mdevs = NULL;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "mdev list", "", NULL, &argc, &argv, error) ||
      !no_more_args ("mdev list", argc, argv, 1, error) || (host = vfm_cli_host (cli, error)) == NULL)
    return FALSE;
  mdevs = vfm_mdev_list (vfm_host_sysroot (host));
  if (cli->json) {
    g_autoptr (JsonArray) a = json_array_new ();
    g_autoptr (JsonNode) root = json_node_new (JSON_NODE_ARRAY);
    for (guint i = 0; i < mdevs->len; i++)
      json_array_add_element (a, vfm_mdev_ops_to_json (host, g_ptr_array_index (mdevs, i)));
    json_node_set_array (root, a);
    vfm_cli_print_json (cli, root);
  } else if (!vfm_cli_print_mdevs (cli, host, mdevs)) {
    printf ("no mediated devices (vfmigctl mdev types lists what the parents offer)\n");
  }
  return TRUE;
}

gboolean
vfm_cmd_mdev_create (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autofree char *uuid = NULL;
  GOptionEntry entries[] = {
    { "uuid", 'u', 0, G_OPTION_ARG_STRING, &uuid, "The new instance's UUID (default: a random one)", "UUID" },
    { NULL }
  };
  g_autoptr (VfmMdev) m = NULL;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "mdev create", "PARENT TYPE", entries, &argc, &argv, error))
    return FALSE;
  if (argc < 3) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "mdev create: expected a parent and a type (vfmigctl mdev types)");
    return FALSE;
  }
  if (!no_more_args ("mdev create", argc, argv, 3, error) || (host = vfm_cli_host (cli, error)) == NULL ||
      (m = vfm_mdev_ops_create (host, argv[1], argv[2], uuid, error)) == NULL)
    return FALSE;
  if (cli->json) {
    g_autoptr (JsonNode) node = vfm_mdev_ops_to_json (host, m);
    vfm_cli_print_json (cli, node);
  } else {
    g_autofree char *group = group_cell (m->iommu_group);
    printf ("%screated %s%s: a %s on %s, IOMMU group %s, driver %s\n", vfm_term_on (&cli->out, VFM_STYLE_GOOD),
            m->uuid, vfm_term_off (&cli->out, VFM_STYLE_GOOD), m->type, m->parent, group, m->driver ? m->driver : "none");
  }
  return TRUE;
}

gboolean
vfm_cmd_mdev_remove (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean force = FALSE;
  GOptionEntry entries[] = {
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "Remove it even when mdevctl defines it", NULL },
    { NULL }
  };
  g_autoptr (VfmMdev) m = NULL;
  g_autoptr (JsonNode) before = NULL;
  g_autofree char *def = NULL, *uuid = NULL;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "mdev remove", "UUID", entries, &argc, &argv, error))
    return FALSE;
  if (argc < 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "mdev remove: expected a UUID (vfmigctl mdev list)");
    return FALSE;
  }
  if (!no_more_args ("mdev remove", argc, argv, 2, error) || (host = vfm_cli_host (cli, error)) == NULL)
    return FALSE;
  /* what it was, for the report; vfm_mdev_ops_remove says why when it is not there */
  uuid = g_ascii_strdown (argv[1], -1);
  if ((m = vfm_mdev_get (vfm_host_sysroot (host), uuid, NULL)) != NULL)
    before = vfm_mdev_ops_to_json (host, m);
  if (!vfm_mdev_ops_remove (host, uuid, force, error))
    return FALSE;
  if (m == NULL) { /* it appeared between the two looks: rare, and it is gone now */
    printf ("removed %s\n", uuid);
    return TRUE;
  }
  def = vfm_mdev_ops_mdevctl_definition (host, m->uuid);
  if (cli->json) {
    json_object_set_boolean_member (json_node_get_object (before), "removed", TRUE);
    vfm_cli_print_json (cli, before);
  } else {
    printf ("%sremoved %s%s (a %s on %s)\n", vfm_term_on (&cli->out, VFM_STYLE_GOOD), m->uuid,
            vfm_term_off (&cli->out, VFM_STYLE_GOOD), m->type ? m->type : "?", m->parent ? m->parent : "?");
    if (def != NULL) {
      g_autofree char *w = g_strdup_printf ("mdevctl still defines it (%s): mdevctl start would bring it back", def);
      vfm_cli_warn (cli, w);
    }
  }
  return TRUE;
}
