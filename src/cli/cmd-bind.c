/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bind, unbind, restore: change drivers through the binder, and report each
 * device's result (steps with --dry-run or -v). */
#include "vfm-cli.h"
#include "vfm-binder.h"
#include "vfm-error.h"
#include "vfm-journal.h"
#include "vfm-json.h"

#include <stdio.h>
#include <string.h>

/* Interrupted operations are finished or rolled back before anything new
 * starts (the next command after a crash does it, or the daemon at start). */
static void
recover_first (VfmCli *cli, VfmHost *host, GPtrArray *results)
{
  g_autoptr (GPtrArray) rec = vfm_binder_recover (host);
  for (guint i = 0; i < rec->len; i++) {
    VfmBindResult *r = g_ptr_array_index (rec, i);
    if (!cli->json)
      fprintf (stderr, "%s: %s\n", r->error ? "error" : "recovered",
               r->error ? r->error->message : r->message);
    g_ptr_array_add (results, g_steal_pointer (&g_ptr_array_index (rec, i)));
  }
  g_ptr_array_set_free_func (rec, NULL);
}

static void
print_result (VfmCli *cli, const VfmBindResult *r, gboolean show_steps)
{
  if (r->error != NULL)
    fprintf (stderr, "error: %s\n", r->error->message);
  else if (r->message != NULL)
    printf ("%s (%.3f s)\n", r->message, r->seconds);
  if (show_steps)
    for (guint i = 0; i < r->steps->len; i++)
      printf ("  %u. %s\n", i + 1, (const char *) g_ptr_array_index (r->steps, i));
  for (guint i = 0; i < r->warnings->len; i++)
    fprintf (stderr, "warning: %s: %s\n", r->bdf, (const char *) g_ptr_array_index (r->warnings, i));
  if (r->group != NULL && !r->group->viable && g_strcmp0 (r->op, "bind") == 0) {
    g_ptr_array_add (r->group->blockers, NULL);
    g_autofree char *why = g_strjoinv ("; ", (char **) r->group->blockers->pdata);
    g_ptr_array_remove_index (r->group->blockers, r->group->blockers->len - 1);
    fprintf (stderr, "warning: IOMMU group %d of %s is not viable: %s (bind the whole group with --group)\n",
             r->group->group, r->bdf, why);
  }
}

/* One report for the whole command: {"results": […]}, or on any failure the
 * error shape with the results inside, and exit 1. */
static gboolean
report (VfmCli *cli, GPtrArray *results, gboolean show_steps, GError **error)
{
  guint failed = 0;
  const VfmBindResult *first = NULL;

  for (guint i = 0; i < results->len; i++) {
    const VfmBindResult *r = g_ptr_array_index (results, i);
    if (r->error != NULL && first == NULL)
      first = r;
    failed += r->error != NULL;
    if (!cli->json)
      print_result (cli, r, show_steps);
  }
  if (cli->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;
    json_builder_begin_object (b);
    if (failed > 0) {
      json_builder_set_member_name (b, "error");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, vfm_error_name (first->error));
      json_builder_set_member_name (b, "message");
      json_builder_add_string_value (b, first->error->message);
    }
    json_builder_set_member_name (b, "results");
    json_builder_begin_array (b);
    for (guint i = 0; i < results->len; i++)
      json_builder_add_value (b, vfm_bind_result_to_json (g_ptr_array_index (results, i)));
    json_builder_end_array (b);
    if (failed > 0)
      json_builder_end_object (b);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  }
  if (failed > 0)
    cli->exit_code = vfm_error_exit_code (first->error);
  return TRUE;
}

/* --group: every endpoint of each device's IOMMU group (bridges are not
 * endpoints), each once, in BDF order. */
static GPtrArray *
expand_groups (VfmHost *host, char **bdfs, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; bdfs[i]; i++) {
    VfmPciDevice *dev = vfm_host_device (host, bdfs[i], error);
    g_autoptr (GPtrArray) members = NULL;
    if (dev == NULL)
      return NULL;
    members = vfm_pci_device_group_members (dev);
    if (members->len == 0)
      g_ptr_array_add (members, g_strdup (vfm_pci_device_bdf (dev)));
    for (guint j = 0; j < members->len; j++) {
      const char *m = g_ptr_array_index (members, j);
      VfmPciDevice *mdev = vfm_host_device (host, m, NULL);
      if (mdev == NULL || vfm_pci_device_is_bridge (mdev))
        continue;
      if (!g_ptr_array_find_with_equal_func (out, m, g_str_equal, NULL))
        g_ptr_array_add (out, g_strdup (m));
    }
  }
  return g_steal_pointer (&out);
}

gboolean
vfm_cmd_bind (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean all = FALSE, group = FALSE, dry = FALSE, force = FALSE;
  g_autofree char *driver = NULL;
  GOptionEntry entries[] = {
    { "all", 'a', 0, G_OPTION_ARG_NONE, &all, "Every device a policy manages", NULL },
    { "driver", 'd', 0, G_OPTION_ARG_STRING, &driver, "Bind to this driver instead of the selected one", "NAME" },
    { "group", 'g', 0, G_OPTION_ARG_NONE, &group, "Bind every endpoint of the devices' IOMMU groups", NULL },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the exact steps, change nothing", NULL },
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "Bind even a device the host uses", NULL },
    { NULL }
  };
  g_autoptr (GPtrArray) results = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);
  g_autoptr (GPtrArray) targets = NULL;
  VfmBindFlags flags = 0;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "bind", "BDF…|--all", entries, &argc, &argv, error))
    return FALSE;
  if ((argc < 2) == !all) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "bind: give BDFs or --all (not both)");
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  flags = (dry ? VFM_BIND_DRY_RUN : 0) | (force ? VFM_BIND_FORCE : 0);
  if (!dry)
    recover_first (cli, host, results);

  if (all) {
    g_autoptr (GPtrArray) devices = vfm_host_devices (host, NULL, error);
    if (devices == NULL)
      return FALSE;
    targets = g_ptr_array_new_with_free_func (g_free);
    for (guint i = 0; i < devices->len; i++) {
      VfmPciDevice *dev = g_ptr_array_index (devices, i);
      g_autoptr (VfmSelection) sel = vfm_host_select (host, dev, NULL);
      if (sel != NULL && sel->managed)
        g_ptr_array_add (targets, g_strdup (vfm_pci_device_bdf (dev)));
    }
  } else if (group) {
    if ((targets = expand_groups (host, argv + 1, error)) == NULL)
      return FALSE;
  } else {
    targets = g_ptr_array_new_with_free_func (g_free);
    for (int i = 1; i < argc; i++)
      g_ptr_array_add (targets, g_strdup (argv[i]));
  }

  {
    guint first_new = results->len;
    gboolean group_failed = FALSE;
    for (guint i = 0; i < targets->len; i++) {
      VfmBindResult *r = vfm_binder_bind (host, g_ptr_array_index (targets, i), driver, flags);
      group_failed |= r->error != NULL;
      g_ptr_array_add (results, r);
    }
    /* a group is bound whole or not at all: undo what this command bound */
    if (group && group_failed && !dry) {
      for (guint i = first_new; i < results->len; i++) {
        VfmBindResult *r = g_ptr_array_index (results, i);
        if (r->error == NULL && r->changed) {
          g_autoptr (VfmBindResult) undo = vfm_binder_unbind (host, r->bdf, 0);
          g_ptr_array_add (r->warnings, undo->error
                             ? g_strdup_printf ("could not undo after the group failed: %s", undo->error->message)
                             : g_strdup ("undone: another device of its IOMMU group failed"));
          if (undo->error == NULL) {
            r->changed = FALSE;
            g_free (r->message);
            r->message = g_strdup_printf ("%s left on %s: its group could not be bound whole", r->bdf,
                                          r->previous_driver ? r->previous_driver : "no driver");
          }
        }
      }
    }
  }
  return report (cli, results, dry || cli->verbose, error);
}

gboolean
vfm_cmd_unbind (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean dry = FALSE;
  GOptionEntry entries[] = {
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the exact steps, change nothing", NULL },
    { NULL }
  };
  g_autoptr (GPtrArray) results = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "unbind", "BDF…", entries, &argc, &argv, error))
    return FALSE;
  if (argc < 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "unbind: expected one or more BDFs");
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  if (!dry)
    recover_first (cli, host, results);
  for (int i = 1; i < argc; i++)
    g_ptr_array_add (results, vfm_binder_unbind (host, argv[i], dry ? VFM_BIND_DRY_RUN : 0));
  return report (cli, results, dry || cli->verbose, error);
}

gboolean
vfm_cmd_restore (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean dry = FALSE;
  GOptionEntry entries[] = {
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the exact steps, change nothing", NULL },
    { NULL }
  };
  g_autoptr (GPtrArray) results = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);
  g_autoptr (GPtrArray) owned = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "restore", "", entries, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "restore: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  if (!dry)
    recover_first (cli, host, results);
  owned = vfm_journal_list_owned (vfm_host_sysroot (host), warnings);
  for (guint i = 0; i < warnings->len; i++)
    vfm_cli_warn (cli, g_ptr_array_index (warnings, i));
  for (guint i = 0; i < owned->len; i++) {
    const VfmOwned *o = g_ptr_array_index (owned, i);
    g_ptr_array_add (results, vfm_binder_unbind (host, o->bdf, dry ? VFM_BIND_DRY_RUN : 0));
  }
  if (owned->len == 0 && !cli->json)
    printf ("nothing to restore: vfmig owns no device\n");
  return report (cli, results, dry || cli->verbose, error);
}
