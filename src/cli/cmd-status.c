/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status: what vfmig owns, whether each device is still where vfmig put it,
 * and any interrupted operation waiting for recovery. Read-only. */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-journal.h"
#include "vfm-json.h"

#include <stdio.h>

gboolean
vfm_cmd_status (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) owned = NULL, intents = NULL, sriov = NULL;
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  VfmHost *host;
  VfmSysroot *sr;

  if (!vfm_cli_parse_options (cli, "status", "", NULL, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "status: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL)
    return FALSE;
  sr = vfm_host_sysroot (host);
  owned = vfm_journal_list_owned (sr, warnings);
  intents = vfm_journal_list_intents (sr, warnings);
  sriov = vfm_journal_list_sriov (sr, warnings);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "owned");
  json_builder_begin_array (b);
  g_ptr_array_add (rows, g_strsplit ("BDF|DRIVER|NOW|ORIGINAL|SINCE", "|", -1));
  for (guint i = 0; i < owned->len; i++) {
    const VfmOwned *o = g_ptr_array_index (owned, i);
    VfmPciDevice *dev = vfm_host_device (host, o->bdf, NULL);
    const char *now = dev ? vfm_pci_device_driver (dev) : NULL;
    json_builder_add_value (b, vfm_owned_to_json (o, now));
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_unix_local (o->bound_at);
      char **row = g_new0 (char *, 6);
      row[0] = g_strdup (o->bdf);
      row[1] = g_strdup (o->driver);
      row[2] = dev == NULL ? g_strdup ("(device gone)")
               : g_strcmp0 (now, o->driver) == 0 ? g_strdup ("in place")
               : g_strdup_printf ("moved to %s", now ? now : "no driver");
      row[3] = g_strdup (o->original_driver ? o->original_driver : "(unbound)");
      row[4] = t ? g_date_time_format (t, "%F %T") : g_strdup ("?");
      g_ptr_array_add (rows, row);
    }
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "pending");
  json_builder_begin_array (b);
  for (guint i = 0; i < intents->len; i++)
    json_builder_add_value (b, vfm_intent_to_json (g_ptr_array_index (intents, i)));
  for (guint i = 0; i < sriov->len; i++)
    json_builder_add_value (b, vfm_sriov_intent_to_json (g_ptr_array_index (sriov, i)));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "journal_problems");
  json_builder_begin_array (b);
  for (guint i = 0; i < warnings->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (warnings, i));
  json_builder_end_array (b);
  json_builder_end_object (b);

  if (cli->json) {
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
    return TRUE;
  }
  if (owned->len == 0)
    printf ("vfmig owns no device\n");
  else
    vfm_cli_print_table (rows, 5);
  for (guint i = 0; i < intents->len; i++) {
    const VfmIntent *it = g_ptr_array_index (intents, i);
    printf ("pending: interrupted %s of %s to %s (pid %d); the next bind/unbind/restore or vfmigd finishes or rolls it back\n",
            vfm_intent_op_to_string (it->op), it->bdf, it->target_driver ? it->target_driver : "no driver", it->pid);
  }
  for (guint i = 0; i < sriov->len; i++) {
    const VfmSriovIntent *it = g_ptr_array_index (sriov, i);
    printf ("pending: interrupted %s of %s (pid %d); the next bind/unbind/restore/vf or vfmigd %s it\n",
            vfm_sriov_op_to_string (it->op), it->pf, it->pid, it->op == VFM_SRIOV_CREATE ? "rolls back" : "finishes");
  }
  for (guint i = 0; i < warnings->len; i++)
    vfm_cli_warn (cli, g_ptr_array_index (warnings, i));
  return TRUE;
}
