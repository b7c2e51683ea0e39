/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* profile: this host as check sees it; probe: ask the kernel about a device. */
#include "vfm-cli.h"
#include "vfm-mdev.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-libvirt.h"
#include "vfm-profile.h"
#include "vfm-vfio.h"

#include <stdio.h>

/* "42s", "5m", "3h", "12d": how old a cached kernel answer is, short. */
static char *
age_label (gint64 seconds)
{
  seconds = MAX (0, seconds);
  if (seconds < 60)
    return g_strdup_printf ("%" G_GINT64_FORMAT "s", seconds);
  if (seconds < 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT "m", seconds / 60);
  if (seconds < 86400)
    return g_strdup_printf ("%" G_GINT64_FORMAT "h", seconds / 3600);
  return g_strdup_printf ("%" G_GINT64_FORMAT "d", seconds / 86400);
}

/* The host profile, with libvirt's and QEMU's versions when the connection
 * answers (a profile without them is still useful offline). */
VfmHostProfile *
vfm_cli_build_profile (VfmCli *cli, gboolean quiet, GError **error)
{
  VfmHost *host = vfm_cli_host (cli, error);
  g_autoptr (GError) local = NULL;
  VfmHostProfile *p;

  if (host == NULL || (p = vfm_host_profile_build (host, error)) == NULL)
    return NULL;
  if (!vfm_libvirt_versions (cli->connect, &p->libvirt_version, &p->qemu_version, &local) && !quiet)
    fprintf (stderr, "note: %s; libvirt and QEMU versions left out of the profile\n", local->message);
  return p;
}

gboolean
vfm_cmd_profile (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (VfmHostProfile) p = NULL;
  g_autoptr (JsonNode) node = NULL;

  if (!vfm_cli_parse_options (cli, "profile", "", NULL, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "profile: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((p = vfm_cli_build_profile (cli, cli->json, error)) == NULL)
    return FALSE;
  if (cli->json) {
    node = vfm_host_profile_to_json (p);
    vfm_cli_print_json (cli, node);
    return TRUE;
  }
  {
    g_autofree char *lv = p->libvirt_version ? vfm_libvirt_version_string (p->libvirt_version) : g_strdup ("unknown");
    g_autofree char *qv = p->qemu_version ? vfm_libvirt_version_string (p->qemu_version) : g_strdup ("unknown");
    g_autoptr (VfmTable) table = vfm_table_new (6, "BDF|IDS|DRIVER|SELECTED|FREE|KERNEL SAYS");
    gint64 now = g_get_real_time () / G_USEC_PER_SEC;
    g_autofree char *what = g_strdup_printf ("%s: kernel %s, IOMMU %s, libvirt %s, QEMU %s",
                                             p->hostname ? p->hostname : "?", p->kernel_release, p->iommu_mode, lv, qv);
    vfm_term_print_item (&cli->out, stdout, 0, "host", VFM_STYLE_PLAIN, what);
    printf ("cpu: %s\n", p->cpu_model ? p->cpu_model : "unknown");
    for (guint i = 0; i < p->devices->len; i++) {
      const VfmDeviceProfile *d = g_ptr_array_index (p->devices, i);
      /* "=": on the selected driver, as in list */
      gboolean on_selected = d->driver != NULL && g_strcmp0 (d->driver, d->selected_driver) == 0;
      g_autofree char *age = age_label (now - d->probed_at);
      char **row = g_new0 (char *, 7);
      row[0] = g_strdup (d->bdf);
      row[1] = g_strdup_printf ("%04x:%04x", d->vendor, d->device);
      row[2] = g_strdup (on_selected ? "=" : d->driver ? d->driver : "-");
      row[3] = g_strdup (d->selected_driver ? d->selected_driver : "-");
      row[4] = g_strdup (d->in_use ? "in use" : (d->driver == NULL || d->vfio_bound) ? "yes" : "host");
      row[5] = !d->probed ? g_strdup ("not probed")
               : g_strdup_printf ("%s (%s ago)",
                                  d->migration ? (d->stop_copy ? "STOP_COPY" : "no STOP_COPY") : "no migration", age);
      vfm_table_take_row (table, row);
      if (on_selected)
        vfm_table_style (table, 2, VFM_STYLE_GOOD);
    }
    if (p->devices->len > 0)
      vfm_table_print (table, &cli->out);
    else
      printf ("no passthrough candidates on this host (vfmigctl list --all shows all devices)\n");
  }
  return TRUE;
}

gboolean
vfm_cmd_probe (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  guint failed = 0;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "probe", "BDF|UUID…", NULL, &argc, &argv, error))
    return FALSE;
  if (argc < 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "probe: expected one or more BDFs or mediated device UUIDs");
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "results");
  json_builder_begin_array (b);
  for (int i = 1; i < argc; i++) {
    g_autoptr (GError) local = NULL;
    g_autoptr (VfmVfioCaps) caps = NULL;
    g_autoptr (VfmMdev) mdev = NULL;
    VfmPciDevice *dev = NULL;
    /* a mediated device by its UUID, a PCI device by its address */
    if (vfm_mdev_uuid_is_valid (argv[i])) {
      if ((mdev = vfm_mdev_get (vfm_host_sysroot (host), argv[i], &local)) != NULL)
        caps = vfm_vfio_probe_mdev (host, mdev, &local);
    } else if ((dev = vfm_host_device (host, argv[i], &local)) != NULL) {
      caps = vfm_vfio_probe (host, dev, &local);
    }
    json_builder_begin_object (b);
    if (mdev != NULL)
      vfm_json_add_str (b, "uuid", mdev->uuid);
    else
      vfm_json_add_str (b, "bdf", dev ? vfm_pci_device_bdf (dev) : argv[i]);
    if (caps != NULL) {
      vfm_json_add_bool (b, "migration", caps->migration);
      vfm_json_add_bool (b, "stop_copy", caps->stop_copy);
      vfm_json_add_bool (b, "p2p", caps->p2p);
      vfm_json_add_bool (b, "pre_copy", caps->pre_copy);
      vfm_json_add_str (b, "dirty_tracking", vfm_dirty_tracking_name (caps->dirty_tracking));
      vfm_json_add_str (b, "source", caps->source);
      vfm_json_add_str (b, "detail", caps->detail);
      if (!cli->json)
        printf ("%s: %s; dirty tracking: %s (%s)\n", caps->bdf, caps->detail,
                vfm_dirty_tracking_name (caps->dirty_tracking), caps->source);
    } else {
      failed++;
      json_builder_set_member_name (b, "error");
      json_builder_begin_object (b);
      vfm_json_add_str (b, "name", vfm_error_name (local));
      vfm_json_add_str (b, "message", local->message);
      json_builder_end_object (b);
      if (!cli->json)
        vfm_cli_error (cli, vfm_error_name (local), local->message);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  if (cli->json) {
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  }
  if (failed > 0)
    cli->exit_code = 1;
  return TRUE;
}
