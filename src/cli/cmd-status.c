/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status: what vfmig owns, whether each device is still where vfmig put it,
 * and any interrupted operation waiting for recovery. Read-only. */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-journal.h"
#include "vfm-json.h"
#include "vfm-mdev.h"
#include "vfm-status.h"

#include <stdio.h>

gboolean
vfm_cmd_status (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (VfmStatus) st = NULL;
  g_autoptr (VfmTable) table = vfm_table_new (5, "BDF|DRIVER|ORIGINAL|SINCE|NOW");
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "status", "", NULL, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "status: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL)
    return FALSE;
  st = vfm_status_read (host);
  if (cli->json) {
    /* the same shape as vfmigd's io.vfmig.Status */
    g_autoptr (JsonNode) root = vfm_status_to_json (st, host);
    vfm_cli_print_json (cli, root);
    return TRUE;
  }
  for (guint i = 0; i < st->owned->len; i++) {
    const VfmOwned *o = g_ptr_array_index (st->owned, i);
    VfmPciDevice *dev = vfm_host_device (host, o->bdf, NULL);
    const char *now = dev ? vfm_pci_device_driver (dev) : NULL;
    g_autoptr (GDateTime) t = g_date_time_new_from_unix_local (o->bound_at);
    gboolean in_place = dev != NULL && g_strcmp0 (now, o->driver) == 0;
    char **row = g_new0 (char *, 6);
    row[0] = g_strdup (o->bdf);
    row[1] = g_strdup (o->driver);
    row[2] = g_strdup_printf ("%s%s", o->original_driver ? o->original_driver : "(unbound)",
                              o->origin ? " (early boot)" : "");
    row[3] = t ? g_date_time_format (t, "%F %R") : g_strdup ("?");
    row[4] = dev == NULL ? g_strdup ("device gone") : in_place ? g_strdup ("in place")
             : g_strdup_printf ("moved to %s", now ? now : "no driver");
    vfm_table_take_row (table, row);
    vfm_table_style (table, 4, in_place ? VFM_STYLE_GOOD : VFM_STYLE_WARN);
  }
  if (st->owned->len == 0)
    printf ("vfmig owns no device\n");
  else
    vfm_table_print (table, &cli->out);
  for (guint i = 0; i < st->intents->len; i++) {
    const VfmIntent *it = g_ptr_array_index (st->intents, i);
    vfm_cli_item (cli, 0, "pending:", "interrupted %s of %s to %s (pid %d); vfmigctl recover (or the next bind, "
                  "unbind, restore, or vfmigd) finishes or rolls it back",
                  vfm_intent_op_to_string (it->op), it->bdf, it->target_driver ? it->target_driver : "no driver", it->pid);
  }
  for (guint i = 0; i < st->sriov->len; i++) {
    const VfmSriovIntent *it = g_ptr_array_index (st->sriov, i);
    vfm_cli_item (cli, 0, "pending:", "interrupted %s of %s (pid %d); vfmigctl recover (or the next vf, bind, "
                  "unbind, restore, or vfmigd) %s it",
                  vfm_sriov_op_to_string (it->op), it->pf, it->pid, it->op == VFM_SRIOV_CREATE ? "rolls back" : "finishes");
  }
  for (guint i = 0; i < st->migrations->len; i++) {
    const VfmMigrationRecord *m = g_ptr_array_index (st->migrations, i);
    vfm_cli_item (cli, 0, "migration:", "%s to %s, %s (pid %d); if that vfmigctl migrate died, vfmigctl recover "
                  "ends it", m->domain_name, m->dest_uri, m->phase ? m->phase : "starting", m->pid);
  }
  for (guint i = 0; i < st->mdevs->len; i++) {
    const VfmMdevRecord *r = g_ptr_array_index (st->mdevs, i);
    g_autoptr (VfmMdev) m = vfm_mdev_get (vfm_host_sysroot (host), r->uuid, NULL);
    vfm_cli_item (cli, 0, "mdev:", "%s, a %s on %s vfmig created (pid %d)%s", r->uuid, r->type, r->parent, r->pid,
                  m ? "" : "; gone: vfmigctl recover drops its record");
  }
  for (guint i = 0; st->early != NULL && i < st->early->devices->len; i++) {
    const VfmEarlyDevice *d = g_ptr_array_index (st->early->devices, i);
    vfm_cli_item (cli, 0, "early boot:", "%s (%s) %s %s %s by the initramfs step (policy %s)",
                  d->bdf ? d->bdf : "?", d->pci_path, d->result,
                  g_strcmp0 (d->result, "held") == 0 ? "by" : "to",
                  g_strcmp0 (d->result, "held") == 0 ? (d->held_by ? d->held_by : "?") : d->driver,
                  d->policy ? d->policy : "?");
  }
  for (guint i = 0; i < st->problems->len; i++)
    vfm_cli_warn (cli, g_ptr_array_index (st->problems, i));
  return TRUE;
}
