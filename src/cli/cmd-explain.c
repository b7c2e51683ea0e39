/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <stdio.h>

static void
print_facts (const VfmDriverEntry *e)
{
  printf ("facts (curated entry %s, %s):\n", e->id, e->path);
  if (e->summary)
    printf ("  %s\n", e->summary);
  if (e->migratable == VFM_FACT_NO)
    printf ("  migration: not supported%s%s\n", e->migration_notes ? " — " : "",
            e->migration_notes ? e->migration_notes : "");
  else if (e->migratable == VFM_FACT_YES)
    printf ("  migration: stop-copy %s, p2p %s, pre-copy %s, dirty tracking %s%s%s\n",
            e->stop_copy == VFM_FACT_YES ? "yes" : "no", e->p2p == VFM_FACT_YES ? "yes" : "no",
            e->pre_copy == VFM_FACT_YES ? "yes" : "no", e->dirty_tracking ? e->dirty_tracking : "unknown",
            e->migration_since ? ", since kernel " : "", e->migration_since ? e->migration_since : "");
  if (e->devlink_migratable)
    printf ("  needs: devlink port function 'migratable' enabled on the VF before binding\n");
  if (e->pf_drivers) {
    g_autofree char *s = g_strjoinv (", ", e->pf_drivers);
    printf ("  needs: PF bound to %s\n", s);
  }
  if (e->min_kernel)
    printf ("  needs: kernel >= %s\n", e->min_kernel);
  if (e->min_qemu)
    printf ("  needs: QEMU >= %s\n", e->min_qemu);
  if (e->firmware)
    printf ("  firmware: %s\n", e->firmware);
  if (e->qemu_properties) {
    g_autofree char *s = g_strjoinv (",", e->qemu_properties);
    printf ("  qemu: -device vfio-pci,%s%s%s\n", s, e->qemu_machine ? " on machine " : "",
            e->qemu_machine ? e->qemu_machine : "");
  }
  if (e->notes)
    printf ("  note: %s\n", e->notes);
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
    printf ("%s  %04x:%04x (subsystem %04x:%04x) class %06x%s%s%s%s\n", vfm_pci_device_bdf (dev),
            vfm_pci_device_vendor (dev), vfm_pci_device_device (dev),
            vfm_pci_device_subsystem_vendor (dev), vfm_pci_device_subsystem_device (dev),
            vfm_pci_device_class (dev), cls ? " " : "", cls ? cls : "",
            pf ? ", VF of " : "", pf ? pf : "");
    printf ("bound to: %s\n", driver ? driver : "(no driver)");
  }
  if (sel->selected)
    printf ("selected: %s (module %s, %s, from %s)\n  because %s\n", sel->selected->driver,
            sel->selected->module, vfm_driver_kind_to_string (sel->selected->kind),
            sel->selected->source, sel->reason);
  else
    printf ("selected: none\n  because %s\n", sel->reason);

  printf ("candidates:\n");
  for (guint i = 0; i < sel->candidates->len; i++) {
    const VfmCandidate *c = g_ptr_array_index (sel->candidates, i);
    g_autofree char *score = c->score < 0 ? g_strdup ("-") : g_strdup_printf ("%d", c->score);
    printf ("  %s %-20s %-8s score %-5s %s\n", c->chosen ? "*" : " ", c->driver,
            vfm_driver_kind_to_string (c->kind), score, c->reason);
  }
  if (sel->candidates->len == 0)
    printf ("  (none)\n");
  if (sel->selected && sel->selected->entry)
    print_facts (sel->selected->entry);
  printf ("managed: %s (%s)\n", sel->managed ? (sel->auto_bind ? "yes, bound at hotplug" : "yes") : "no",
          sel->managed_reason);
  return TRUE;
}
