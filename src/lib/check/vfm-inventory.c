/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-inventory.h"
#include "vfm-json.h"
#include "vfm-pci.h"

/* free: a guest could be given it now; claimed: promised to a migration;
 * in_use: a process (QEMU) holds its VFIO group; host: on a host driver
 * (vfmig would bind it first: not offered). */
static const char *
device_state (const VfmDeviceProfile *d)
{
  if (d->in_use)
    return "in_use";
  if (d->claimed)
    return "claimed";
  if (d->driver != NULL && !d->vfio_bound)
    return "host";
  return "free";
}

static void
add_traits (JsonBuilder *b, GPtrArray *traits)
{
  json_builder_set_member_name (b, "traits");
  json_builder_begin_array (b);
  for (guint i = 0; i < traits->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (traits, i));
  json_builder_end_array (b);
}

/* The migration capability of one device on its own (a domain's other
 * devices and the destination decide the rest: check): native when the
 * kernel answered STOP_COPY, replug for any PCI device but IGD, failover for
 * a NIC (with a virtio-net standby in the guest), none for IGD. */
static void
add_migration (JsonBuilder *b, gboolean igd, gboolean nic, gboolean probed, gboolean migration, gboolean stop_copy,
               gboolean p2p, gboolean pre_copy, gboolean dirty, gboolean is_mdev, const char *detail)
{
  g_autoptr (GPtrArray) traits = g_ptr_array_new ();
  g_autoptr (GPtrArray) strategies = g_ptr_array_new ();
  gboolean live = !igd && probed && migration && stop_copy;
  const char *reason;

  if (live) {
    g_ptr_array_add (strategies, "native");
    g_ptr_array_add (traits, "CUSTOM_VFMIG_LIVE_MIGRATABLE");
    g_ptr_array_add (traits, "CUSTOM_VFMIG_STRATEGY_NATIVE");
    if (p2p)
      g_ptr_array_add (traits, "CUSTOM_VFMIG_P2P");
    if (pre_copy)
      g_ptr_array_add (traits, "CUSTOM_VFMIG_PRE_COPY");
    if (dirty)
      g_ptr_array_add (traits, "CUSTOM_VFMIG_DIRTY_TRACKING");
  }
  if (!igd && !is_mdev && nic) {
    g_ptr_array_add (strategies, "failover");
    g_ptr_array_add (traits, "CUSTOM_VFMIG_STRATEGY_FAILOVER");
  }
  if (!igd && !is_mdev) {
    g_ptr_array_add (strategies, "replug");
    g_ptr_array_add (traits, "CUSTOM_VFMIG_STRATEGY_REPLUG");
  }
  if (strategies->len == 0)
    g_ptr_array_add (traits, "CUSTOM_VFMIG_COLD_ONLY");
  if (!probed && !igd)
    g_ptr_array_add (traits, "CUSTOM_VFMIG_PROBE_NEEDED");

  if (igd)
    reason = "integrated graphics never migrates live: only a cold move";
  else if (!probed)
    reason = "the kernel was never asked (vfmigctl probe): not assumed live-migratable";
  else if (!live)
    reason = detail ? detail : "the kernel reports no VFIO migration";
  else if (!dirty)
    reason = "STOP_COPY without dirty tracking: QEMU copies guest RAM while the guest is stopped";
  else
    reason = "the kernel reports STOP_COPY and dirty tracking";

  json_builder_set_member_name (b, "migration");
  json_builder_begin_object (b);
  vfm_json_add_bool (b, "live_migratable", live);
  vfm_json_add_strv (b, "strategies", strategies);
  vfm_json_add_bool (b, "probed", probed);
  vfm_json_add_bool (b, "dirty_tracking", probed && dirty);
  vfm_json_add_str (b, "reason", reason);
  json_builder_end_object (b);
  add_traits (b, traits);
}

static void
device_to_json (JsonBuilder *b, VfmHost *host, const VfmDeviceProfile *d)
{
  VfmPciDevice *dev = vfm_host_device (host, d->bdf, NULL);
  gint vf_index = dev ? vfm_pci_device_vf_index (dev) : -1;
  gboolean igd = g_strcmp0 (d->selection_kind, "igd") == 0;
  g_autofree char *rc = g_strdup_printf ("CUSTOM_PCI_%04X_%04X", d->vendor, d->device);

  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", d->bdf);
  vfm_json_add_str (b, "pci_path", dev ? vfm_pci_device_pci_path (dev) : NULL);
  vfm_json_add_hex (b, "vendor", d->vendor, 4);
  vfm_json_add_hex (b, "device", d->device, 4);
  vfm_json_add_hex (b, "subsystem_vendor", d->subsystem_vendor, 4);
  vfm_json_add_hex (b, "subsystem_device", d->subsystem_device, 4);
  vfm_json_add_hex (b, "class", d->class_code, 6);
  vfm_json_add_str (b, "physfn", d->physfn);
  vfm_json_add_int_or_null (b, "vf_index", d->physfn ? vf_index : -1);
  vfm_json_add_str (b, "driver", d->driver);
  vfm_json_add_str (b, "selected_driver", d->selected_driver);
  vfm_json_add_str (b, "selection_kind", d->selection_kind);
  vfm_json_add_int (b, "iommu_group", d->iommu_group);
  vfm_json_add_int (b, "numa_node", d->numa_node);
  vfm_json_add_str (b, "state", device_state (d));
  vfm_json_add_str (b, "resource_class", rc);
  add_migration (b, igd, (d->class_code >> 16) == 0x02, d->probed, d->migration, d->stop_copy, d->p2p, d->pre_copy,
                 d->dirty_tracking, FALSE, d->probe_detail);
  json_builder_end_object (b);
}

static void
mdev_to_json (JsonBuilder *b, const VfmMdevProfile *m)
{
  g_autofree char *rc = g_strdup_printf ("CUSTOM_VFMIG_MDEV_%s", m->type ? m->type : "UNKNOWN");
  for (char *p = rc; *p; p++)
    *p = g_ascii_isalnum (*p) ? g_ascii_toupper (*p) : '_';
  json_builder_begin_object (b);
  vfm_json_add_str (b, "uuid", m->uuid);
  vfm_json_add_str (b, "type", m->type);
  vfm_json_add_str (b, "parent", m->parent);
  vfm_json_add_int (b, "iommu_group", m->iommu_group);
  vfm_json_add_str (b, "state", m->in_use ? "in_use" : m->claimed ? "claimed" : "free");
  vfm_json_add_str (b, "resource_class", rc);
  add_migration (b, FALSE, FALSE, m->probed, m->migration, m->stop_copy, m->p2p, m->pre_copy, m->dirty_tracking, TRUE,
                 m->probe_detail);
  json_builder_end_object (b);
}

JsonNode *
vfm_inventory_build (VfmHost *host, GError **error)
{
  g_autoptr (VfmHostProfile) p = vfm_host_profile_build (host, error);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  if (p == NULL)
    return NULL;
  json_builder_begin_object (b);
  vfm_json_add_str (b, "hostname", p->hostname);
  vfm_json_add_str (b, "kernel_release", p->kernel_release);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  for (guint i = 0; i < p->devices->len; i++) {
    const VfmDeviceProfile *d = g_ptr_array_index (p->devices, i);
    /* a PF that controls VFs is never given to a guest (Decisions 1) */
    VfmPciDevice *dev = vfm_host_device (host, d->bdf, NULL);
    if (dev != NULL && vfm_pci_device_sriov_numvfs (dev) > 0)
      continue;
    device_to_json (b, host, d);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "mdevs");
  json_builder_begin_array (b);
  for (guint i = 0; i < p->mdevs->len; i++)
    mdev_to_json (b, g_ptr_array_index (p->mdevs, i));
  json_builder_end_array (b);
  /* "type", as its mdevs name theirs */
  vfm_host_profile_add_mdev_types (b, p, "type");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
