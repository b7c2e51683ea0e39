/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-config.h"
#include "vfm-profile.h"
#include "vfm-claim-store.h"
#include "vfm-devlink.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-iommu.h"
#include "vfm-sysfs.h"
#include "vfm-vfio.h"

#include <stdio.h>
#include <string.h>

static void
device_free (gpointer data)
{
  VfmDeviceProfile *d = data;
  g_free (d->bdf);
  g_free (d->driver);
  g_free (d->module);
  g_free (d->module_version);
  g_free (d->module_srcversion);
  g_free (d->selected_driver);
  g_free (d->selected_module);
  g_free (d->selection_kind);
  g_free (d->physfn);
  g_free (d->pf_driver);
  g_free (d->probe_source);
  g_free (d->probe_detail);
  g_free (d->facts_dirty_tracking);
  g_free (d->firmware);
  g_free (d);
}

static void
mdev_free (gpointer data)
{
  VfmMdevProfile *m = data;
  g_free (m->uuid);
  g_free (m->parent);
  g_free (m->type);
  g_free (m->probe_detail);
  g_free (m);
}

static void
mdev_type_free (gpointer data)
{
  VfmMdevTypeProfile *t = data;
  g_free (t->parent);
  g_free (t->name);
  g_free (t->device_api);
  g_free (t);
}

void
vfm_host_profile_free (VfmHostProfile *p)
{
  if (p == NULL)
    return;
  g_free (p->hostname);
  g_free (p->kernel_release);
  g_free (p->iommu_mode);
  g_free (p->cpu_model);
  g_free (p->vfmig_version);
  g_ptr_array_unref (p->devices);
  g_ptr_array_unref (p->mdevs);
  g_ptr_array_unref (p->mdev_types);
  g_free (p);
}

static VfmHostProfile *
profile_new (void)
{
  VfmHostProfile *p = g_new0 (VfmHostProfile, 1);
  p->format = VFM_PROFILE_FORMAT;
  p->devices = g_ptr_array_new_with_free_func (device_free);
  p->mdevs = g_ptr_array_new_with_free_func (mdev_free);
  p->mdev_types = g_ptr_array_new_with_free_func (mdev_type_free);
  return p;
}

static char *
read_small (const char *path)
{
  char buf[256];
  return vfm_sysfs_read (path, buf, sizeof buf) ? g_strdup (buf) : NULL;
}

static char *
cpu_model (VfmSysroot *sr)
{
  g_autofree char *path = vfm_sysroot_proc_file (sr, "cpuinfo");
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    if (g_str_has_prefix (lines[i], "model name")) {
      const char *colon = strchr (lines[i], ':');
      if (colon)
        return g_strstrip (g_strdup (colon + 1));
    }
  return NULL;
}

/* "on" when the kernel has IOMMU groups; "(passthrough default)" when the
 * command line asks host DMA to bypass translation (iommu=pt), which does
 * not change VFIO's own isolation. */
static char *
iommu_mode (VfmSysroot *sr)
{
  g_autofree char *groups = vfm_sysroot_iommu_group_dir (sr, 0);
  g_autofree char *groups_dir = g_path_get_dirname (groups);
  g_autofree char *cmdline_path = vfm_sysroot_proc_file (sr, "cmdline");
  g_autofree char *cmdline = NULL;
  g_autoptr (GDir) d = g_dir_open (groups_dir, 0, NULL);
  gboolean any = d != NULL && g_dir_read_name (d) != NULL;

  if (!any)
    return g_strdup ("off");
  g_file_get_contents (cmdline_path, &cmdline, NULL, NULL);
  if (cmdline != NULL && (strstr (cmdline, "iommu=pt") != NULL || strstr (cmdline, "iommu.passthrough=1") != NULL))
    return g_strdup ("on (passthrough default)");
  return g_strdup ("on");
}

/* The devices check looks at: the ones passthrough concerns (on a VFIO
 * driver, SR-IOV VFs, or ones a variant driver or profile would take). */
static gboolean
profiled (VfmHost *host, VfmPciDevice *dev, VfmSelection *sel)
{
  const char *driver = vfm_pci_device_driver (dev);
  if (vfm_pci_device_is_bridge (dev))
    return FALSE;
  return vfm_host_is_vfio_driver (host, driver) || vfm_pci_device_physfn (dev) != NULL || sel->managed ||
         (sel->selected != NULL && sel->selected->kind != VFM_KIND_GENERIC);
}

/* The firmware devlink reports for the PF of a VF (or the device itself),
 * read once per PF: CACHE maps a BDF to its firmware, "" when devlink has
 * none (no instance, no versions, or no devlink at all). */
static const char *
pf_firmware (VfmSysroot *sr, const char *bdf, GHashTable *cache)
{
  const char *known = g_hash_table_lookup (cache, bdf);
  if (known == NULL) {
    g_autoptr (VfmDevlinkInfo) info = vfm_devlink_read (sr, "pci", bdf, NULL);
    char *fw = info ? vfm_devlink_firmware (info) : NULL;
    known = fw ? fw : g_strdup ("");
    g_hash_table_insert (cache, g_strdup (bdf), (char *) known);
  }
  return *known ? known : NULL;
}

static VfmDeviceProfile *
device_profile (VfmHost *host, VfmPciDevice *dev, VfmSelection *sel, GHashTable *claimed, GHashTable *firmware)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  VfmDeviceProfile *d = g_new0 (VfmDeviceProfile, 1);
  g_autoptr (VfmGroupStatus) group = vfm_iommu_group_status (host, dev);
  g_autoptr (VfmVfioCaps) caps = NULL;
  const VfmDriverEntry *e = sel->selected ? sel->selected->entry : NULL;

  d->bdf = g_strdup (vfm_pci_device_bdf (dev));
  d->vendor = vfm_pci_device_vendor (dev);
  d->device = vfm_pci_device_device (dev);
  d->subsystem_vendor = vfm_pci_device_subsystem_vendor (dev);
  d->subsystem_device = vfm_pci_device_subsystem_device (dev);
  d->class_code = vfm_pci_device_class (dev);
  d->revision = vfm_pci_device_revision (dev);
  d->driver = g_strdup (vfm_pci_device_driver (dev));
  d->module = g_strdup (vfm_pci_device_module (dev));
  if (d->module != NULL) {
    g_autofree char *mdir = vfm_sysroot_sys_module_dir (sr, d->module);
    g_autofree char *v = g_build_filename (mdir, "version", NULL);
    g_autofree char *s = g_build_filename (mdir, "srcversion", NULL);
    d->module_version = read_small (v);
    d->module_srcversion = read_small (s);
  }
  if (sel->selected != NULL) {
    d->selected_driver = g_strdup (sel->selected->driver);
    d->selected_module = g_strdup (sel->selected->module);
    d->selection_kind = g_strdup (vfm_driver_kind_to_string (sel->selected->kind));
  }
  d->physfn = g_strdup (vfm_pci_device_physfn (dev));
  if (d->physfn != NULL) {
    VfmPciDevice *pf = vfm_host_device (host, d->physfn, NULL);
    d->pf_driver = pf ? g_strdup (vfm_pci_device_driver (pf)) : NULL;
  }
  d->numa_node = vfm_pci_device_numa_node (dev);
  d->iommu_group = group->group;
  d->group_viable = group->viable;
  d->vfio_bound = vfm_host_is_vfio_driver (host, d->driver);
  d->in_use = d->vfio_bound && vfm_vfio_in_use (sr, d->bdf, d->iommu_group);
  d->claimed = g_hash_table_contains (claimed, d->bdf);
  if (d->vfio_bound && (caps = vfm_vfio_cached (host, dev)) != NULL) {
    d->probed = TRUE;
    d->migration = caps->migration;
    d->stop_copy = caps->stop_copy;
    d->p2p = caps->p2p;
    d->pre_copy = caps->pre_copy;
    d->dirty_tracking = caps->dirty_tracking;
    d->probe_source = g_strdup (caps->source);
    d->probe_detail = g_strdup (caps->detail);
    d->probed_at = caps->probed_at;
  }
  d->facts_supported = e ? e->migratable : VFM_FACT_UNKNOWN;
  d->facts_dirty_tracking = e ? g_strdup (e->dirty_tracking) : NULL;
  d->facts_same_firmware = e ? e->same_firmware : VFM_FACT_UNKNOWN;
  d->firmware = g_strdup (pf_firmware (sr, d->physfn ? d->physfn : d->bdf, firmware));
  return d;
}

static void
add_mdevs (VfmHost *host, VfmHostProfile *p, GHashTable *claimed)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (GPtrArray) instances = vfm_mdev_list (sr);
  g_autoptr (GPtrArray) types = vfm_mdev_types (sr, NULL);

  for (guint i = 0; i < instances->len; i++) {
    const VfmMdev *m = g_ptr_array_index (instances, i);
    g_autoptr (GPtrArray) holders = vfm_vfio_holders (sr, m->uuid, m->iommu_group, NULL);
    g_autoptr (VfmVfioCaps) caps = vfm_vfio_cached_mdev (host, m);
    VfmMdevProfile *mp = g_new0 (VfmMdevProfile, 1);
    mp->uuid = g_strdup (m->uuid);
    mp->parent = g_strdup (m->parent);
    mp->type = g_strdup (m->type);
    mp->iommu_group = m->iommu_group;
    mp->in_use = holders->len > 0;
    mp->claimed = g_hash_table_contains (claimed, m->uuid);
    /* a free instance is asked now (never one a process holds: Decisions 14) */
    if (caps == NULL && !mp->in_use && !mp->claimed)
      caps = vfm_vfio_probe_mdev (host, m, NULL);
    if (caps != NULL) {
      mp->probed = TRUE;
      mp->migration = caps->migration;
      mp->stop_copy = caps->stop_copy;
      mp->p2p = caps->p2p;
      mp->pre_copy = caps->pre_copy;
      mp->dirty_tracking = caps->dirty_tracking;
      mp->probe_detail = g_strdup (caps->detail);
      mp->probed_at = caps->probed_at;
    }
    g_ptr_array_add (p->mdevs, mp);
  }
  for (guint i = 0; i < types->len; i++) {
    const VfmMdevType *t = g_ptr_array_index (types, i);
    VfmMdevTypeProfile *tp = g_new0 (VfmMdevTypeProfile, 1);
    tp->parent = g_strdup (t->parent);
    tp->name = g_strdup (t->name);
    tp->device_api = g_strdup (t->device_api);
    tp->available_instances = t->available_instances;
    g_ptr_array_add (p->mdev_types, tp);
  }
}

VfmHostProfile *
vfm_host_profile_build (VfmHost *host, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmHostProfile) p = profile_new ();
  g_autoptr (GPtrArray) devices = NULL;
  g_autofree char *hostname_path = vfm_sysroot_proc_file (sr, "sys/kernel/hostname");
  g_autoptr (GHashTable) claimed = NULL;
  g_autoptr (GHashTable) firmware = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  if (vfm_host_db (host, error) == NULL || (devices = vfm_host_devices (host, NULL, error)) == NULL)
    return NULL;
  p->hostname = vfm_sysroot_is_real (sr) ? g_strdup (g_get_host_name ()) : read_small (hostname_path);
  p->kernel_release = g_strdup (vfm_sysroot_kernel_release (sr));
  p->iommu_mode = iommu_mode (sr);
  p->cpu_model = cpu_model (sr);
  p->vfmig_version = g_strdup (VFM_VERSION);
  p->created_at = g_get_real_time () / G_USEC_PER_SEC;
  claimed = vfm_claim_store_taken (vfm_host_sysroot (host));
  for (guint i = 0; i < devices->len; i++) {
    VfmPciDevice *dev = g_ptr_array_index (devices, i);
    g_autoptr (VfmSelection) sel = vfm_host_select (host, dev, NULL);
    if (sel != NULL && profiled (host, dev, sel))
      g_ptr_array_add (p->devices, device_profile (host, dev, sel, claimed, firmware));
  }
  add_mdevs (host, p, claimed);
  return g_steal_pointer (&p);
}

VfmMdevProfile *
vfm_host_profile_mdev (const VfmHostProfile *p, const char *uuid)
{
  for (guint i = 0; i < p->mdevs->len; i++) {
    VfmMdevProfile *m = g_ptr_array_index (p->mdevs, i);
    if (g_strcmp0 (m->uuid, uuid) == 0)
      return m;
  }
  return NULL;
}

VfmDeviceProfile *
vfm_host_profile_device (const VfmHostProfile *p, const char *bdf)
{
  for (guint i = 0; i < p->devices->len; i++) {
    VfmDeviceProfile *d = g_ptr_array_index (p->devices, i);
    if (g_strcmp0 (d->bdf, bdf) == 0)
      return d;
  }
  return NULL;
}

/* ---- JSON ---- */

static void
put_version (JsonBuilder *b, const char *k, gulong v)
{
  g_autofree char *s = v ? g_strdup_printf ("%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000) : NULL;
  vfm_json_add_str (b, k, s);
}

JsonNode *
vfm_host_profile_to_json (const VfmHostProfile *p)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  json_builder_begin_object (b);
  vfm_json_add_int (b, "format", p->format);
  vfm_json_add_str (b, "hostname", p->hostname);
  vfm_json_add_str (b, "kernel_release", p->kernel_release);
  vfm_json_add_str (b, "iommu_mode", p->iommu_mode);
  vfm_json_add_str (b, "cpu_model", p->cpu_model);
  vfm_json_add_str (b, "vfmig_version", p->vfmig_version);
  put_version (b, "libvirt_version", p->libvirt_version);
  put_version (b, "qemu_version", p->qemu_version);
  vfm_json_add_int (b, "created_at", p->created_at);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  for (guint i = 0; i < p->devices->len; i++) {
    const VfmDeviceProfile *d = g_ptr_array_index (p->devices, i);
    json_builder_begin_object (b);
    vfm_json_add_str (b, "bdf", d->bdf);
    vfm_json_add_hex (b, "vendor", d->vendor, 4);
    vfm_json_add_hex (b, "device", d->device, 4);
    vfm_json_add_hex (b, "subsystem_vendor", d->subsystem_vendor, 4);
    vfm_json_add_hex (b, "subsystem_device", d->subsystem_device, 4);
    vfm_json_add_hex (b, "class", d->class_code, 6);
    if (d->revision >= 0)
      vfm_json_add_hex (b, "revision", (guint) d->revision, 2);
    else
      vfm_json_add_str (b, "revision", NULL);
    vfm_json_add_str (b, "driver", d->driver);
    vfm_json_add_str (b, "module", d->module);
    vfm_json_add_str (b, "module_version", d->module_version);
    vfm_json_add_str (b, "module_srcversion", d->module_srcversion);
    vfm_json_add_str (b, "selected_driver", d->selected_driver);
    vfm_json_add_str (b, "selected_module", d->selected_module);
    vfm_json_add_str (b, "selection_kind", d->selection_kind);
    vfm_json_add_str (b, "physfn", d->physfn);
    vfm_json_add_str (b, "pf_driver", d->pf_driver);
    vfm_json_add_int (b, "numa_node", d->numa_node);
    json_builder_set_member_name (b, "iommu_group");
    if (d->iommu_group >= 0)
      json_builder_add_int_value (b, d->iommu_group);
    else
      json_builder_add_null_value (b);
    vfm_json_add_bool (b, "group_viable", d->group_viable);
    vfm_json_add_bool (b, "vfio_bound", d->vfio_bound);
    vfm_json_add_bool (b, "in_use", d->in_use);
    vfm_json_add_bool (b, "claimed", d->claimed);
    json_builder_set_member_name (b, "vfio_migration");
    if (d->probed) {
      json_builder_begin_object (b);
      vfm_json_add_bool (b, "supported", d->migration);
      vfm_json_add_bool (b, "stop_copy", d->stop_copy);
      vfm_json_add_bool (b, "p2p", d->p2p);
      vfm_json_add_bool (b, "pre_copy", d->pre_copy);
      vfm_json_add_str (b, "dirty_tracking", vfm_dirty_tracking_name (d->dirty_tracking));
      vfm_json_add_str (b, "source", d->probe_source);
      vfm_json_add_str (b, "detail", d->probe_detail);
      vfm_json_add_int (b, "probed_at", d->probed_at);
      vfm_json_add_int (b, "age_s", MAX (0, now - d->probed_at));
      json_builder_end_object (b);
    } else {
      json_builder_add_null_value (b);
    }
    json_builder_set_member_name (b, "facts_migration");
    if (d->facts_supported == VFM_FACT_UNKNOWN)
      json_builder_add_null_value (b);
    else
      json_builder_add_boolean_value (b, d->facts_supported == VFM_FACT_YES);
    vfm_json_add_str (b, "facts_dirty_tracking", d->facts_dirty_tracking);
    json_builder_set_member_name (b, "facts_same_firmware");
    if (d->facts_same_firmware == VFM_FACT_UNKNOWN)
      json_builder_add_null_value (b);
    else
      json_builder_add_boolean_value (b, d->facts_same_firmware == VFM_FACT_YES);
    vfm_json_add_str (b, "firmware", d->firmware);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "mdevs");
  json_builder_begin_array (b);
  for (guint i = 0; i < p->mdevs->len; i++) {
    const VfmMdevProfile *m = g_ptr_array_index (p->mdevs, i);
    json_builder_begin_object (b);
    vfm_json_add_str (b, "uuid", m->uuid);
    vfm_json_add_str (b, "parent", m->parent);
    vfm_json_add_str (b, "type", m->type);
    vfm_json_add_int_or_null (b, "iommu_group", m->iommu_group);
    vfm_json_add_bool (b, "in_use", m->in_use);
    vfm_json_add_bool (b, "claimed", m->claimed);
    json_builder_set_member_name (b, "vfio_migration");
    if (m->probed) {
      json_builder_begin_object (b);
      vfm_json_add_bool (b, "supported", m->migration);
      vfm_json_add_bool (b, "stop_copy", m->stop_copy);
      vfm_json_add_bool (b, "p2p", m->p2p);
      vfm_json_add_bool (b, "pre_copy", m->pre_copy);
      vfm_json_add_str (b, "dirty_tracking", vfm_dirty_tracking_name (m->dirty_tracking));
      vfm_json_add_str (b, "detail", m->probe_detail);
      vfm_json_add_int (b, "probed_at", m->probed_at);
      json_builder_end_object (b);
    } else {
      json_builder_add_null_value (b);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  vfm_host_profile_add_mdev_types (b, p, "name");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

void
vfm_host_profile_add_mdev_types (JsonBuilder *b, const VfmHostProfile *p, const char *name_key)
{
  json_builder_set_member_name (b, "mdev_types");
  json_builder_begin_array (b);
  for (guint i = 0; i < p->mdev_types->len; i++) {
    const VfmMdevTypeProfile *t = g_ptr_array_index (p->mdev_types, i);
    json_builder_begin_object (b);
    vfm_json_add_str (b, "parent", t->parent);
    vfm_json_add_str (b, name_key, t->name);
    vfm_json_add_str (b, "device_api", t->device_api);
    vfm_json_add_int_or_null (b, "available_instances", t->available_instances);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
}

static gboolean
get_hex (JsonObject *o, const char *k, guint max, guint *out, const char *origin, const char *bdf, GError **error)
{
  const char *s = vfm_json_get_str_or (o, k, NULL);
  char *end = NULL;
  guint64 v;
  if (s == NULL || *s == '\0' || (v = g_ascii_strtoull (s, &end, 16), end == NULL || *end != '\0') || v > max) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: device %s: \"%s\" must be a hex string", origin,
                 bdf ? bdf : "?", k);
    return FALSE;
  }
  *out = (guint) v;
  return TRUE;
}

static gulong
get_version (JsonObject *o, const char *k)
{
  const char *s = vfm_json_get_str_or (o, k, NULL);
  guint a = 0, b = 0, c = 0;
  if (s == NULL || sscanf (s, "%u.%u.%u", &a, &b, &c) < 2)
    return 0;
  return a * 1000000ul + b * 1000ul + c;
}

static char *
get_str (JsonObject *o, const char *k)
{
  JsonNode *n = json_object_get_member (o, k);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (n));
}

/* "mdevs" and "mdev_types" are optional (profiles from before 0.2 have
 * none); present, they must be arrays of objects. */
static gboolean
mdevs_from_json (JsonObject *o, VfmHostProfile *p, const char *origin, GError **error)
{
  JsonNode *mn = json_object_get_member (o, "mdevs");
  JsonNode *tn = json_object_get_member (o, "mdev_types");

  if ((mn != NULL && !JSON_NODE_HOLDS_ARRAY (mn) && !JSON_NODE_HOLDS_NULL (mn)) ||
      (tn != NULL && !JSON_NODE_HOLDS_ARRAY (tn) && !JSON_NODE_HOLDS_NULL (tn))) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: \"mdevs\" and \"mdev_types\" must be arrays", origin);
    return FALSE;
  }
  for (guint i = 0; mn != NULL && JSON_NODE_HOLDS_ARRAY (mn) && i < json_array_get_length (json_node_get_array (mn)); i++) {
    JsonNode *e = json_array_get_element (json_node_get_array (mn), i);
    JsonObject *m, *mig;
    VfmMdevProfile *mp;
    if (!JSON_NODE_HOLDS_OBJECT (e)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: mdevs[%u] is not an object", origin, i);
      return FALSE;
    }
    m = json_node_get_object (e);
    mp = g_new0 (VfmMdevProfile, 1);
    g_ptr_array_add (p->mdevs, mp);
    mp->uuid = get_str (m, "uuid");
    if (mp->uuid == NULL || !g_uuid_string_is_valid (mp->uuid)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: mdevs[%u]: \"uuid\" is not a UUID", origin, i);
      return FALSE;
    }
    mp->parent = get_str (m, "parent");
    mp->type = get_str (m, "type");
    mp->iommu_group = (gint) vfm_json_get_int_or (m, "iommu_group", -1);
    mp->in_use = vfm_json_get_bool_or (m, "in_use", FALSE);
    mp->claimed = vfm_json_get_bool_or (m, "claimed", FALSE);
    if (json_object_has_member (m, "vfio_migration") &&
        JSON_NODE_HOLDS_OBJECT (json_object_get_member (m, "vfio_migration"))) {
      mig = json_object_get_object_member (m, "vfio_migration");
      mp->probed = TRUE;
      mp->migration = vfm_json_get_bool_or (mig, "supported", FALSE);
      mp->stop_copy = vfm_json_get_bool_or (mig, "stop_copy", FALSE);
      mp->p2p = vfm_json_get_bool_or (mig, "p2p", FALSE);
      mp->pre_copy = vfm_json_get_bool_or (mig, "pre_copy", FALSE);
      mp->dirty_tracking = vfm_dirty_tracking_from_json (mig, "dirty_tracking");
      mp->probe_detail = get_str (mig, "detail");
      mp->probed_at = vfm_json_get_int_or (mig, "probed_at", 0);
    }
  }
  for (guint i = 0; tn != NULL && JSON_NODE_HOLDS_ARRAY (tn) && i < json_array_get_length (json_node_get_array (tn)); i++) {
    JsonNode *e = json_array_get_element (json_node_get_array (tn), i);
    JsonObject *t;
    VfmMdevTypeProfile *tp;
    if (!JSON_NODE_HOLDS_OBJECT (e)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: mdev_types[%u] is not an object", origin, i);
      return FALSE;
    }
    t = json_node_get_object (e);
    tp = g_new0 (VfmMdevTypeProfile, 1);
    g_ptr_array_add (p->mdev_types, tp);
    tp->parent = get_str (t, "parent");
    tp->name = get_str (t, "name");
    tp->device_api = get_str (t, "device_api");
    tp->available_instances = (gint) vfm_json_get_int_or (t, "available_instances", -1);
    if (tp->name == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: mdev_types[%u] has no name", origin, i);
      return FALSE;
    }
  }
  return TRUE;
}

/* A true/false member as a fact; absent, null or another type: unknown. */
static gint
json_fact (JsonObject *o, const char *name)
{
  JsonNode *f = json_object_get_member (o, name);
  if (f == NULL || !JSON_NODE_HOLDS_VALUE (f) || json_node_get_value_type (f) != G_TYPE_BOOLEAN)
    return VFM_FACT_UNKNOWN;
  return json_node_get_boolean (f) ? VFM_FACT_YES : VFM_FACT_NO;
}

VfmHostProfile *
vfm_host_profile_from_json (JsonNode *node, const char *origin, GError **error)
{
  g_autoptr (VfmHostProfile) p = profile_new ();
  JsonObject *o;
  JsonArray *devices;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: not a vfmig profile (a JSON object)", origin);
    return NULL;
  }
  o = json_node_get_object (node);
  p->format = (gint) vfm_json_get_int_or (o, "format", 0);
  if (p->format != VFM_PROFILE_FORMAT) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: profile format %d, this vfmig reads format %d", origin,
                 p->format, VFM_PROFILE_FORMAT);
    return NULL;
  }
  p->hostname = get_str (o, "hostname");
  p->kernel_release = get_str (o, "kernel_release");
  p->iommu_mode = get_str (o, "iommu_mode");
  p->cpu_model = get_str (o, "cpu_model");
  p->vfmig_version = get_str (o, "vfmig_version");
  p->libvirt_version = get_version (o, "libvirt_version");
  p->qemu_version = get_version (o, "qemu_version");
  p->created_at = vfm_json_get_int_or (o, "created_at", 0);
  if (!json_object_has_member (o, "devices") || !JSON_NODE_HOLDS_ARRAY (json_object_get_member (o, "devices"))) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: \"devices\" must be an array", origin);
    return NULL;
  }
  devices = json_object_get_array_member (o, "devices");
  for (guint i = 0; i < json_array_get_length (devices); i++) {
    JsonNode *dn = json_array_get_element (devices, i);
    JsonObject *d;
    VfmDeviceProfile *dp;
    guint v;
    JsonNode *mig;

    if (!JSON_NODE_HOLDS_OBJECT (dn)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: devices[%u] is not an object", origin, i);
      return NULL;
    }
    d = json_node_get_object (dn);
    dp = g_new0 (VfmDeviceProfile, 1);
    g_ptr_array_add (p->devices, dp);
    dp->bdf = get_str (d, "bdf");
    if (!vfm_bdf_is_valid (dp->bdf)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: devices[%u]: \"bdf\" is not a PCI address", origin, i);
      return NULL;
    }
    if (!get_hex (d, "vendor", 0xffff, &v, origin, dp->bdf, error))
      return NULL;
    dp->vendor = v;
    if (!get_hex (d, "device", 0xffff, &v, origin, dp->bdf, error))
      return NULL;
    dp->device = v;
    if (!get_hex (d, "subsystem_vendor", 0xffff, &v, origin, dp->bdf, error))
      return NULL;
    dp->subsystem_vendor = v;
    if (!get_hex (d, "subsystem_device", 0xffff, &v, origin, dp->bdf, error))
      return NULL;
    dp->subsystem_device = v;
    if (!get_hex (d, "class", 0xffffff, &dp->class_code, origin, dp->bdf, error))
      return NULL;
    dp->revision = -1;
    if (vfm_json_get_str_or (d, "revision", NULL) != NULL) {
      if (!get_hex (d, "revision", 0xff, &v, origin, dp->bdf, error))
        return NULL;
      dp->revision = (gint) v;
    }
    dp->driver = get_str (d, "driver");
    dp->module = get_str (d, "module");
    dp->module_version = get_str (d, "module_version");
    dp->module_srcversion = get_str (d, "module_srcversion");
    dp->selected_driver = get_str (d, "selected_driver");
    dp->selected_module = get_str (d, "selected_module");
    dp->selection_kind = get_str (d, "selection_kind");
    dp->physfn = get_str (d, "physfn");
    dp->pf_driver = get_str (d, "pf_driver");
    dp->numa_node = (gint) vfm_json_get_int_or (d, "numa_node", -1);
    /* absent, null or not a number: unknown (json_object_get_null_member
     * is a critical on an absent member; found by the fuzzer) */
    dp->iommu_group = (gint) vfm_json_get_int_or (d, "iommu_group", -1);
    dp->group_viable = vfm_json_get_bool_or (d, "group_viable", FALSE);
    dp->vfio_bound = vfm_json_get_bool_or (d, "vfio_bound", FALSE);
    dp->in_use = vfm_json_get_bool_or (d, "in_use", FALSE);
    dp->claimed = vfm_json_get_bool_or (d, "claimed", FALSE);
    mig = json_object_get_member (d, "vfio_migration");
    if (mig != NULL && JSON_NODE_HOLDS_OBJECT (mig)) {
      JsonObject *m = json_node_get_object (mig);
      dp->probed = TRUE;
      dp->migration = vfm_json_get_bool_or (m, "supported", FALSE);
      dp->stop_copy = vfm_json_get_bool_or (m, "stop_copy", FALSE);
      dp->p2p = vfm_json_get_bool_or (m, "p2p", FALSE);
      dp->pre_copy = vfm_json_get_bool_or (m, "pre_copy", FALSE);
      dp->dirty_tracking = vfm_dirty_tracking_from_json (m, "dirty_tracking");
      dp->probe_source = get_str (m, "source");
      dp->probe_detail = get_str (m, "detail");
      dp->probed_at = vfm_json_get_int_or (m, "probed_at", 0);
    }
    dp->facts_supported = json_fact (d, "facts_migration");
    /* absent in profiles written before it existed: unknown */
    dp->facts_same_firmware = json_fact (d, "facts_same_firmware");
    dp->facts_dirty_tracking = get_str (d, "facts_dirty_tracking");
    dp->firmware = get_str (d, "firmware");
  }
  if (!mdevs_from_json (o, p, origin, error))
    return NULL;
  return g_steal_pointer (&p);
}

VfmHostProfile *
vfm_host_profile_load (const char *path, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  if (!vfm_json_load_file (parser, path, 64 * 1024 * 1024, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: %s", path, local->message);
    return NULL;
  }
  return vfm_host_profile_from_json (json_parser_get_root (parser), path, error);
}
