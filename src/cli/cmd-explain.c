/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <stdio.h>

static void
print_facts (VfmCli *cli, const VfmDriverEntry *e)
{
  g_autofree char *head = g_strdup_printf ("(curated entry %s, %s):", e->id, e->path);
  vfm_term_print_item (&cli->out, stdout, 0, "facts", VFM_STYLE_PLAIN, head);
  if (e->summary)
    vfm_cli_item (cli, 2, NULL, "%s", e->summary);
  if (e->migratable == VFM_FACT_NO)
    vfm_cli_item (cli, 2, "migration:", "not supported%s%s", e->migration_notes ? " — " : "",
          e->migration_notes ? e->migration_notes : "");
  else if (e->migratable == VFM_FACT_YES)
    vfm_cli_item (cli, 2, "migration:", "stop-copy %s, p2p %s, pre-copy %s, dirty tracking %s%s%s",
          e->stop_copy == VFM_FACT_YES ? "yes" : "no", e->p2p == VFM_FACT_YES ? "yes" : "no",
          e->pre_copy == VFM_FACT_YES ? "yes" : "no", e->dirty_tracking ? e->dirty_tracking : "unknown",
          e->migration_since ? ", since kernel " : "", e->migration_since ? e->migration_since : "");
  if (e->devlink_migratable)
    vfm_cli_item (cli, 2, "needs:", "devlink port function 'migratable' enabled on the VF before binding");
  if (e->pf_drivers) {
    g_autofree char *s = g_strjoinv (", ", e->pf_drivers);
    vfm_cli_item (cli, 2, "needs:", "PF bound to %s", s);
  }
  if (e->min_kernel)
    vfm_cli_item (cli, 2, "needs:", "kernel >= %s", e->min_kernel);
  if (e->min_qemu)
    vfm_cli_item (cli, 2, "needs:", "QEMU >= %s", e->min_qemu);
  if (e->firmware)
    vfm_cli_item (cli, 2, "firmware:", "%s", e->firmware);
  if (e->qemu_properties) {
    g_autofree char *s = g_strjoinv (",", e->qemu_properties);
    vfm_cli_item (cli, 2, "qemu:", "-device vfio-pci,%s%s%s", s, e->qemu_machine ? " on machine " : "",
          e->qemu_machine ? e->qemu_machine : "");
  }
  if (e->notes)
    vfm_cli_item (cli, 2, "note:", "%s", e->notes);
}

gboolean
vfm_cmd_explain (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (VfmSelection) sel = NULL;
  VfmPciDevice *dev;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "explain", "BDF", NULL, &argc, &argv, error))
    return FALSE;
  if (argc != 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "explain: expected one BDF");
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL)
    return FALSE;
  if ((dev = vfm_host_device (host, argv[1], error)) == NULL)
    return FALSE;
  if ((sel = vfm_host_select (host, dev, error)) == NULL)
    return FALSE;

  if (cli->json) {
    g_autoptr (JsonNode) node = vfm_selection_to_json (dev, sel);
    json_object_set_member (json_node_get_object (node), "device",
                            vfm_device_to_json (host, dev, sel, TRUE));
    vfm_cli_print_json (cli, node);
    return TRUE;
  }

  {
    const char *pf = vfm_pci_device_physfn (dev);
    const char *driver = vfm_pci_device_driver (dev);
    const char *cls = vfm_cli_class_name (vfm_pci_device_class (dev));
    g_autofree char *bdf = g_strdup_printf ("%s ", vfm_pci_device_bdf (dev)); /* two spaces, as list */
    g_autofree char *what = g_strdup_printf ("%04x:%04x (subsystem %04x:%04x) class %06x%s%s%s%s",
                                             vfm_pci_device_vendor (dev), vfm_pci_device_device (dev),
                                             vfm_pci_device_subsystem_vendor (dev),
                                             vfm_pci_device_subsystem_device (dev), vfm_pci_device_class (dev),
                                             cls ? " " : "", cls ? cls : "", pf ? ", VF of " : "", pf ? pf : "");
    vfm_term_print_item (&cli->out, stdout, 0, bdf, VFM_STYLE_BOLD, what);
    printf ("bound to: %s\n", driver ? driver : "(no driver)");
  }
  if (sel->selected) {
    g_autofree char *what = g_strdup_printf ("%s (module %s, %s, from %s)", sel->selected->driver,
                                             sel->selected->module, vfm_driver_kind_to_string (sel->selected->kind),
                                             sel->selected->source);
    vfm_term_print_item (&cli->out, stdout, 0, "selected:", VFM_STYLE_PLAIN, what);
  } else {
    printf ("selected: none\n");
  }
  vfm_term_print_item (&cli->out, stdout, 2, "because", VFM_STYLE_PLAIN, sel->reason);
  /* what libvirt >= 10.0 picks by itself from modules.alias (a domain that
   * names no driver): the same, or why vfmig differs */
  {
    g_autofree char *what = NULL;
    if (!sel->libvirt.decided)
      what = g_strdup (sel->libvirt.reason);
    else if (sel->libvirt.agrees)
      what = g_strdup_printf ("%s too (%s)", sel->libvirt.driver, sel->libvirt.reason);
    else
      what = g_strdup_printf ("%s (module %s, %s); vfmig differs because %s", sel->libvirt.driver,
                              sel->libvirt.module, sel->libvirt.reason,
                              sel->selected ? sel->reason : "it selects nothing");
    vfm_term_print_item (&cli->out, stdout, 0, "libvirt:", VFM_STYLE_PLAIN, what);
  }

  /* the reasons are the point here: wrapped, never cut */
  printf ("candidates:\n");
  {
    g_autoptr (VfmTable) t = vfm_table_new (4, NULL);
    vfm_table_set_indent (t, 2);
    vfm_table_set_wrap (t, TRUE);
    for (guint i = 0; i < sel->candidates->len; i++) {
      const VfmCandidate *c = g_ptr_array_index (sel->candidates, i);
      char **row = g_new0 (char *, 5);
      row[0] = g_strdup_printf ("%s %s", c->chosen ? "*" : " ", c->driver);
      row[1] = g_strdup (vfm_driver_kind_to_string (c->kind));
      row[2] = c->score < 0 ? g_strdup ("score -") : g_strdup_printf ("score %d", c->score);
      row[3] = g_strdup (c->reason);
      vfm_table_take_row (t, row);
      if (c->chosen)
        vfm_table_style (t, 0, VFM_STYLE_GOOD);
    }
    vfm_table_print (t, &cli->out);
  }
  if (sel->candidates->len == 0)
    printf ("  (none)\n");
  if (sel->selected && sel->selected->entry)
    print_facts (cli, sel->selected->entry);
  {
    g_autofree char *managed = g_strdup_printf ("%s (%s)", sel->managed ? (sel->auto_bind ? "yes, bound at hotplug" : "yes")
                                                : "no", sel->managed_reason);
    vfm_term_print_item (&cli->out, stdout, 0, "managed:", VFM_STYLE_PLAIN, managed);
  }
  return TRUE;
}
