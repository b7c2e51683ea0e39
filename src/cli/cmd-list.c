/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-batch.h"
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-mdev.h"

#include <stdio.h>
#include <string.h>

/* The MIGRATION column: what the curated facts say, or why the device is
 * not vfmig's to bind. The kernel's own answer comes from `probe` (check).
 * Short: the table must fit 80 columns; explain says it all. */
static char *
migration_summary (VfmPciDevice *dev, VfmSelection *sel)
{
  const VfmDriverEntry *e = sel->selected ? sel->selected->entry : NULL;
  gint numvfs = vfm_pci_device_sriov_numvfs (dev);
  GString *s;

  if (numvfs > 0)
    return g_strdup_printf ("controls %d VF%s", numvfs, numvfs == 1 ? "" : "s");
  if (sel->selected == NULL)
    return g_strdup ("no driver");
  if (sel->selected->kind == VFM_KIND_IGD)
    return g_strdup ("never (IGD)");
  if (e == NULL)
    return g_strdup ("unknown");
  if (e->migratable == VFM_FACT_NO)
    return g_strdup ("no");
  /* STOP_COPY is what every VFIO migration driver must do: "yes" */
  if (e->stop_copy != VFM_FACT_YES)
    return g_strdup ("unknown");
  s = g_string_new ("yes");
  if (e->p2p == VFM_FACT_YES)
    g_string_append (s, ",p2p");
  if (e->pre_copy == VFM_FACT_YES)
    g_string_append (s, ",precopy");
  return g_string_free (s, FALSE);
}

/* "15b3:101e Eth VF": ids, the class's short name (or its code), role. */
static char *
device_label (VfmPciDevice *dev)
{
  const char *cls = vfm_cli_class_short_name (vfm_pci_device_class (dev));
  const char *role = vfm_pci_device_physfn (dev) ? " VF"
                     : vfm_pci_device_sriov_totalvfs (dev) > 0 ? " PF" : "";
  if (cls != NULL)
    return g_strdup_printf ("%04x:%04x %s%s", vfm_pci_device_vendor (dev),
                            vfm_pci_device_device (dev), cls, role);
  return g_strdup_printf ("%04x:%04x %06x%s", vfm_pci_device_vendor (dev),
                          vfm_pci_device_device (dev), vfm_pci_device_class (dev), role);
}

/* The selected driver, with what else decides its binding: the IGD
 * profile, a policy that manages the device (and binds it at hotplug). */
static char *
selected_label (VfmSelection *sel)
{
  const char *managed = !sel->managed ? NULL : sel->auto_bind ? "auto" : "managed";
  gboolean igd = sel->selected != NULL && sel->selected->kind == VFM_KIND_IGD;

  return g_strdup_printf ("%s%s%s%s%s%s", sel->selected ? sel->selected->driver : "-",
                          igd || managed ? " (" : "", igd ? "igd" : "", igd && managed ? ", " : "",
                          managed ? managed : "", igd || managed ? ")" : "");
}

/* Mediated devices after the PCI devices, when the host has any parent:
 * the instances, or a line saying there are none. (--json stays the array
 * of PCI devices; mdev list --json and status show the instances.) */
static void
list_mdevs (VfmCli *cli, VfmHost *host)
{
  g_autoptr (GPtrArray) parents = vfm_mdev_parents (vfm_host_sysroot (host));
  g_autoptr (GPtrArray) mdevs = vfm_mdev_list (vfm_host_sysroot (host));

  if (parents->len == 0 && mdevs->len == 0)
    return;
  printf ("\n");
  if (!vfm_cli_print_mdevs (cli, host, mdevs))
    printf ("no mediated devices (vfmigctl mdev types: what the parents offer)\n");
}

gboolean
vfm_cmd_list (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean all = FALSE;
  GOptionEntry entries[] = {
    { "all", 'a', 0, G_OPTION_ARG_NONE, &all, "All PCI devices, not only passthrough-relevant ones", NULL },
    { NULL }
  };
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (VfmTable) table = NULL;
  VfmHost *host;
  guint shown = 0;

  if (!vfm_cli_parse_options (cli, "list", "", entries, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "list: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL)
    return FALSE;
  if (vfm_host_db (host, error) == NULL)
    return FALSE;
  if ((devices = vfm_host_devices (host, warnings, error)) == NULL)
    return FALSE;

  if (cli->json) {
    b = json_builder_new ();
    json_builder_begin_array (b);
  } else {
    table = vfm_table_new (5, "BDF|DEVICE|DRIVER|SELECTED|MIGRATION");
  }

  for (guint i = 0; i < devices->len; i++) {
    VfmPciDevice *dev = g_ptr_array_index (devices, i);
    g_autoptr (VfmSelection) sel = vfm_host_select (host, dev, error);
    if (sel == NULL)
      return FALSE;
    if (!all && !vfm_device_is_relevant (dev, sel))
      continue;
    shown++;
    if (cli->json) {
      json_builder_add_value (b, vfm_device_to_json (host, dev, sel, FALSE));
    } else {
      /* DRIVER is "=" when the device is on its selected driver: two
       * columns of variant driver names do not fit 80 columns */
      const char *driver = vfm_pci_device_driver (dev);
      gboolean on_selected = driver != NULL && sel->selected != NULL && g_strcmp0 (driver, sel->selected->driver) == 0;
      char **row = g_new0 (char *, 6);
      row[0] = g_strdup (vfm_pci_device_bdf (dev));
      row[1] = device_label (dev);
      row[2] = g_strdup (on_selected ? "=" : driver ? driver : "-");
      row[3] = selected_label (sel);
      row[4] = migration_summary (dev, sel);
      vfm_table_take_row (table, row);
      if (on_selected)
        vfm_table_style (table, 2, VFM_STYLE_GOOD);
    }
  }

  for (guint i = 0; i < warnings->len; i++)
    vfm_cli_warn (cli, g_ptr_array_index (warnings, i));
  if (cli->verbose) {
    GPtrArray *dbw = vfm_host_db_warnings (host);
    for (guint i = 0; i < dbw->len; i++)
      vfm_cli_warn (cli, g_ptr_array_index (dbw, i));
  }

  if (cli->json) {
    g_autoptr (JsonNode) root = NULL;
    json_builder_end_array (b);
    root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  } else if (shown == 0) {
    /* a sentence, not a bare header */
    if (all)
      printf ("no PCI devices on this host\n");
    else
      printf ("no passthrough candidates among %u PCI device%s (list --all shows them)\n",
              devices->len, devices->len == 1 ? "" : "s");
    list_mdevs (cli, host);
  } else {
    vfm_table_print (table, &cli->out);
    list_mdevs (cli, host);
  }
  return TRUE;
}
