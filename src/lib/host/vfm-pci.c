/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-pci.h"
#include "vfm-error.h"
#include "vfm-sysfs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  LOADED_DRIVER = 1 << 0,
  LOADED_GROUP = 1 << 1,
  LOADED_PHYSFN = 1 << 2,
  LOADED_SRIOV = 1 << 3,
  LOADED_PATH = 1 << 4,
  LOADED_REVISION = 1 << 5,
  LOADED_NUMA = 1 << 6,
  LOADED_OVERRIDE = 1 << 7,
  LOADED_MODULE = 1 << 8,
  LOADED_BOOT_VGA = 1 << 9,
};

struct _VfmPciDevice {
  VfmSysroot *sr;   /* not owned */
  char bdf[13];
  char *dir;
  guint loaded;

  guint16 vendor, device, subsystem_vendor, subsystem_device;
  guint32 class_code;
  gint revision;
  char *driver;
  char *module;
  char *override;
  gint group;
  char *physfn;
  gint vf_index;
  gint totalvfs, numvfs;
  gint numa;
  gint boot_vga;
  char *pci_path;
};

void
vfm_pci_device_free (VfmPciDevice *dev)
{
  if (dev == NULL)
    return;
  g_free (dev->dir);
  g_free (dev->driver);
  g_free (dev->module);
  g_free (dev->override);
  g_free (dev->physfn);
  g_free (dev->pci_path);
  g_free (dev);
}

static char *
attr (VfmPciDevice *dev, const char *name)
{
  return g_build_filename (dev->dir, name, NULL);
}

static gboolean
read_id (VfmPciDevice *dev, const char *name, guint32 max, guint32 *out, GError **error)
{
  g_autofree char *path = attr (dev, name);
  if (!vfm_sysfs_read_hex (path, out) || *out > max) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED,
                 "%s: cannot read %s (missing or malformed %s)", dev->bdf, name, path);
    return FALSE;
  }
  return TRUE;
}

/* The kernel's uevent carries the identity in one read (pci_uevent():
 * PCI_CLASS=%04X, PCI_ID=%04X:%04X, PCI_SUBSYS_ID=%04X:%04X); listing a host
 * with thousands of VFs then costs one read per device instead of five. The
 * driver is not taken from it: the driver link is the authority. */
static gboolean
read_identity_uevent (VfmPciDevice *dev)
{
  g_autofree char *path = attr (dev, "uevent");
  char buf[1024];
  guint have = 0;
  char *line, *save = NULL;

  if (!vfm_sysfs_read (path, buf, sizeof buf))
    return FALSE;
  for (line = strtok_r (buf, "\n", &save); line != NULL; line = strtok_r (NULL, "\n", &save)) {
    guint a, b;
    char tail;
    if (sscanf (line, "PCI_CLASS=%x%c", &a, &tail) == 1 && a <= 0xffffff) {
      dev->class_code = a;
      have |= 1;
    } else if (sscanf (line, "PCI_ID=%x:%x%c", &a, &b, &tail) == 2 && a <= 0xffff && b <= 0xffff) {
      dev->vendor = a;
      dev->device = b;
      have |= 2;
    } else if (sscanf (line, "PCI_SUBSYS_ID=%x:%x%c", &a, &b, &tail) == 2 && a <= 0xffff && b <= 0xffff) {
      dev->subsystem_vendor = a;
      dev->subsystem_device = b;
      have |= 4;
    }
  }
  return have == 7;
}

static gboolean
read_identity_files (VfmPciDevice *dev, GError **error)
{
  guint32 v;

  if (!read_id (dev, "vendor", 0xffff, &v, error))
    return FALSE;
  dev->vendor = v;
  if (!read_id (dev, "device", 0xffff, &v, error))
    return FALSE;
  dev->device = v;
  if (!read_id (dev, "class", 0xffffff, &dev->class_code, error))
    return FALSE;
  /* subsystem ids are absent on some bridges; 0 is what the modalias shows then */
  {
    g_autofree char *p1 = attr (dev, "subsystem_vendor");
    g_autofree char *p2 = attr (dev, "subsystem_device");
    if (vfm_sysfs_read_hex (p1, &v) && v <= 0xffff)
      dev->subsystem_vendor = v;
    if (vfm_sysfs_read_hex (p2, &v) && v <= 0xffff)
      dev->subsystem_device = v;
  }
  return TRUE;
}

VfmPciDevice *
vfm_pci_device_open (VfmSysroot *sr, const char *bdf, GError **error)
{
  g_autoptr (VfmPciDevice) dev = NULL;

  if (!vfm_bdf_is_valid (bdf)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "\"%s\" is not a PCI address (expected dddd:bb:ss.f, e.g. 0000:3b:00.2)", bdf);
    return NULL;
  }
  dev = g_new0 (VfmPciDevice, 1);
  dev->sr = sr;
  g_strlcpy (dev->bdf, bdf, sizeof dev->bdf);
  dev->dir = vfm_sysroot_pci_device_dir (sr, bdf);
  dev->group = -1;
  dev->vf_index = -1;
  dev->revision = -1;
  /* uevent first: one open that also says the device exists (a list of
   * 2048 VFs saves as many stat calls) */
  if (read_identity_uevent (dev))
    return g_steal_pointer (&dev);
  if (!g_file_test (dev->dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no PCI device %s on this host", bdf);
    return NULL;
  }
  if (!read_identity_files (dev, error))
    return NULL;
  return g_steal_pointer (&dev);
}

static gint
compare_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char **) a, *(const char **) b);
}

/* The BDFs under /sys/bus/pci/devices, sorted; names that are not BDFs are
 * skipped (they cannot be devices, and must never reach path building). */
GPtrArray *
vfm_pci_list_bdfs (VfmSysroot *sr, GError **error)
{
  g_autofree char *path = vfm_sysroot_pci_devices_dir (sr);
  g_autoptr (GError) local = NULL;
  g_autoptr (GDir) dir = g_dir_open (path, 0, &local);
  GPtrArray *out;
  const char *name;

  if (dir == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "cannot list PCI devices: %s", local->message);
    return NULL;
  }
  out = g_ptr_array_new_with_free_func (g_free);
  while ((name = g_dir_read_name (dir)) != NULL)
    if (vfm_bdf_is_valid (name))
      g_ptr_array_add (out, g_strdup (name));
  g_ptr_array_sort (out, compare_str);
  return out;
}

const char *vfm_pci_device_bdf (VfmPciDevice *dev) { return dev->bdf; }
guint16 vfm_pci_device_vendor (VfmPciDevice *dev) { return dev->vendor; }
guint16 vfm_pci_device_device (VfmPciDevice *dev) { return dev->device; }
guint16 vfm_pci_device_subsystem_vendor (VfmPciDevice *dev) { return dev->subsystem_vendor; }
guint16 vfm_pci_device_subsystem_device (VfmPciDevice *dev) { return dev->subsystem_device; }
guint32 vfm_pci_device_class (VfmPciDevice *dev) { return dev->class_code; }

gboolean
vfm_pci_device_is_bridge (VfmPciDevice *dev)
{
  return (dev->class_code >> 16) == 0x06;
}

gint
vfm_pci_device_revision (VfmPciDevice *dev)
{
  if (!(dev->loaded & LOADED_REVISION)) {
    g_autofree char *p = attr (dev, "revision");
    guint32 v;
    dev->revision = vfm_sysfs_read_hex (p, &v) && v <= 0xff ? (gint) v : -1;
    dev->loaded |= LOADED_REVISION;
  }
  return dev->revision;
}

const char *
vfm_pci_device_driver (VfmPciDevice *dev)
{
  if (!(dev->loaded & LOADED_DRIVER)) {
    g_autofree char *p = attr (dev, "driver");
    g_free (dev->driver);
    dev->driver = vfm_sysfs_link_name (p);
    dev->loaded |= LOADED_DRIVER;
  }
  return dev->driver;
}

/* The module behind the bound driver (drivers/NAME/module link); NULL for
 * built-in drivers without one, or when unbound. */
const char *
vfm_pci_device_module (VfmPciDevice *dev)
{
  if (!(dev->loaded & LOADED_MODULE)) {
    const char *driver = vfm_pci_device_driver (dev);
    g_free (dev->module);
    dev->module = NULL;
    if (driver != NULL) {
      g_autofree char *p = vfm_sysroot_pci_driver_attr (dev->sr, driver, "module");
      dev->module = vfm_sysfs_link_name (p);
    }
    dev->loaded |= LOADED_MODULE;
  }
  return dev->module;
}

const char *
vfm_pci_device_driver_override (VfmPciDevice *dev)
{
  if (!(dev->loaded & LOADED_OVERRIDE)) {
    g_autofree char *p = attr (dev, "driver_override");
    char buf[256];
    g_free (dev->override);
    dev->override = NULL;
    if (vfm_sysfs_read (p, buf, sizeof buf) && buf[0] != '\0' && strcmp (buf, "(null)") != 0)
      dev->override = g_strdup (buf);
    dev->loaded |= LOADED_OVERRIDE;
  }
  return dev->override;
}

gint
vfm_pci_device_iommu_group (VfmPciDevice *dev)
{
  if (!(dev->loaded & LOADED_GROUP)) {
    g_autofree char *p = attr (dev, "iommu_group");
    g_autofree char *name = vfm_sysfs_link_name (p);
    gint64 v;
    dev->group = -1;
    if (name != NULL && g_ascii_string_to_signed (name, 10, 0, G_MAXINT, &v, NULL))
      dev->group = (gint) v;
    dev->loaded |= LOADED_GROUP;
  }
  return dev->group;
}

/* BDFs of every device in this device's IOMMU group (itself included). */
GPtrArray *
vfm_pci_device_group_members (VfmPciDevice *dev)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  gint group = vfm_pci_device_iommu_group (dev);
  g_autofree char *gdir = NULL;
  g_autofree char *ddir = NULL;
  g_autoptr (GDir) dir = NULL;
  const char *name;

  if (group < 0)
    return out;
  gdir = vfm_sysroot_iommu_group_dir (dev->sr, group);
  ddir = g_build_filename (gdir, "devices", NULL);
  dir = g_dir_open (ddir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (vfm_bdf_is_valid (name))
      g_ptr_array_add (out, g_strdup (name));
  g_ptr_array_sort (out, compare_str);
  return out;
}

gint
vfm_pci_device_numa_node (VfmPciDevice *dev)
{
  if (!(dev->loaded & LOADED_NUMA)) {
    g_autofree char *p = attr (dev, "numa_node");
    if (!vfm_sysfs_read_int (p, &dev->numa))
      dev->numa = -1;
    dev->loaded |= LOADED_NUMA;
  }
  return dev->numa;
}

gint
vfm_pci_device_boot_vga (VfmPciDevice *dev)
{
  if (!(dev->loaded & LOADED_BOOT_VGA)) {
    g_autofree char *p = attr (dev, "boot_vga");
    if (!vfm_sysfs_read_int (p, &dev->boot_vga))
      dev->boot_vga = -1;
    dev->loaded |= LOADED_BOOT_VGA;
  }
  return dev->boot_vga;
}

/* For a VF: its PF and its index among the PF's virtfnN links. */
const char *
vfm_pci_device_physfn (VfmPciDevice *dev)
{
  if (!(dev->loaded & LOADED_PHYSFN)) {
    g_autofree char *p = attr (dev, "physfn");
    g_autofree char *pf = vfm_sysfs_link_name (p);
    g_free (dev->physfn);
    dev->physfn = NULL;
    dev->vf_index = -1;
    if (pf != NULL && vfm_bdf_is_valid (pf))
      dev->physfn = g_steal_pointer (&pf);
    dev->loaded |= LOADED_PHYSFN;
  }
  return dev->physfn;
}

static gboolean
parse_rid (const char *bdf, guint *domain, guint *rid)
{
  guint bus, slot, fn;
  if (sscanf (bdf, "%4x:%2x:%2x.%1u", domain, &bus, &slot, &fn) != 4)
    return FALSE;
  *rid = (bus << 8) | (slot << 3) | fn;
  return TRUE;
}

/* The VF's index from routing IDs, as the kernel numbers VFs
 * (pci_iov_virtfn_bus/devfn): RID(VFn) = RID(PF) + sriov_offset + n * sriov_stride.
 * Two reads of the PF instead of a scan of its virtfn links for every VF. */
gint
vfm_pci_device_vf_index (VfmPciDevice *dev)
{
  const char *pf = vfm_pci_device_physfn (dev);
  if (pf != NULL && dev->vf_index < 0) {
    g_autofree char *off_path = vfm_sysroot_pci_device_attr (dev->sr, pf, "sriov_offset");
    g_autofree char *stride_path = vfm_sysroot_pci_device_attr (dev->sr, pf, "sriov_stride");
    gint offset, stride;
    guint pf_dom, pf_rid, vf_dom, vf_rid;
    if (vfm_sysfs_read_int (off_path, &offset) && vfm_sysfs_read_int (stride_path, &stride) &&
        stride > 0 && parse_rid (pf, &pf_dom, &pf_rid) && parse_rid (dev->bdf, &vf_dom, &vf_rid) &&
        pf_dom == vf_dom && vf_rid >= pf_rid + (guint) offset &&
        (vf_rid - pf_rid - (guint) offset) % (guint) stride == 0)
      dev->vf_index = (gint) ((vf_rid - pf_rid - (guint) offset) / (guint) stride);
  }
  return dev->vf_index;
}

static void
load_sriov (VfmPciDevice *dev)
{
  if (!(dev->loaded & LOADED_SRIOV) && vfm_pci_device_physfn (dev) != NULL) {
    /* a VF has no SR-IOV capability of its own */
    dev->totalvfs = dev->numvfs = 0;
    dev->loaded |= LOADED_SRIOV;
  }
  if (!(dev->loaded & LOADED_SRIOV)) {
    g_autofree char *t = attr (dev, "sriov_totalvfs");
    g_autofree char *n = attr (dev, "sriov_numvfs");
    if (!vfm_sysfs_read_int (t, &dev->totalvfs))
      dev->totalvfs = 0;
    if (dev->totalvfs == 0 || !vfm_sysfs_read_int (n, &dev->numvfs))
      dev->numvfs = 0;
    dev->loaded |= LOADED_SRIOV;
  }
}

gint vfm_pci_device_sriov_totalvfs (VfmPciDevice *dev) { load_sriov (dev); return dev->totalvfs; }
gint vfm_pci_device_sriov_numvfs (VfmPciDevice *dev) { load_sriov (dev); return dev->numvfs; }

/* BDFs of this PF's VFs, in virtfn order. */
GPtrArray *
vfm_pci_device_vfs (VfmPciDevice *dev)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  gint n = vfm_pci_device_sriov_numvfs (dev);
  for (gint i = 0; i < n; i++) {
    char name[32];
    g_snprintf (name, sizeof name, "virtfn%d", i);
    g_autofree char *link = attr (dev, name);
    char *vf = vfm_sysfs_link_name (link);
    if (vf != NULL && vfm_bdf_is_valid (vf))
      g_ptr_array_add (out, vf);
    else
      g_free (vf);
  }
  return out;
}

/* The stable identity of a slot: the chain of bridges from the host bridge,
 * "pci0000:00/0000:00:01.0/0000:3b:00.2". Unlike the BDF alone it survives
 * bus renumbering when cards are added elsewhere (policies match on it). */
const char *
vfm_pci_device_pci_path (VfmPciDevice *dev)
{
  if (!(dev->loaded & LOADED_PATH)) {
    /* bus/pci/devices/BDF is a link "../../../devices/pci0000:00/…/BDF":
     * one readlink instead of a realpath walk per device */
    char buf[4096];
    ssize_t n = readlink (dev->dir, buf, sizeof buf - 1);
    const char *p = NULL;
    g_free (dev->pci_path);
    dev->pci_path = NULL;
    if (n > 0) {
      buf[n] = '\0';
      p = strstr (buf, "devices/");
      while (p != NULL && strstr (p + 1, "/devices/") != NULL)
        p = strstr (p + 1, "/devices/") + 1;
    }
    if (p != NULL && strstr (p, "/..") == NULL)
      dev->pci_path = g_strdup (p + strlen ("devices/"));
    dev->loaded |= LOADED_PATH;
  }
  return dev->pci_path;
}

static GPtrArray *
children (VfmPciDevice *dev, const char *sub)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *p = attr (dev, sub);
  g_autoptr (GDir) dir = g_dir_open (p, 0, NULL);
  const char *name;
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (out, g_strdup (name));
  g_ptr_array_sort (out, compare_str);
  return out;
}

/* Only network controllers (class 02) have netdevs. */
GPtrArray *
vfm_pci_device_net (VfmPciDevice *dev)
{
  if ((dev->class_code >> 16) != 0x02)
    return g_ptr_array_new_with_free_func (g_free);
  return children (dev, "net");
}

/* Block devices below the function: "block/NAME" directly, or through an NVMe
 * controller "nvme/nvmeN/nvmeNnM". */
GPtrArray *
vfm_pci_device_block (VfmPciDevice *dev)
{
  GPtrArray *out;
  /* only mass-storage controllers (class 01) have block devices */
  if ((dev->class_code >> 16) != 0x01)
    return g_ptr_array_new_with_free_func (g_free);
  out = children (dev, "block");
  g_autoptr (GPtrArray) ctrls = children (dev, "nvme");
  for (guint i = 0; i < ctrls->len; i++) {
    const char *ctrl = g_ptr_array_index (ctrls, i);
    g_autofree char *sub = g_build_filename ("nvme", ctrl, NULL);
    g_autoptr (GPtrArray) ns = children (dev, sub);
    for (guint j = 0; j < ns->len; j++)
      if (g_str_has_prefix (g_ptr_array_index (ns, j), ctrl))
        g_ptr_array_add (out, g_strdup (g_ptr_array_index (ns, j)));
  }
  return out;
}

/* Forget what was read lazily (after a bind or unbind changed it). */
void
vfm_pci_device_reload (VfmPciDevice *dev)
{
  dev->loaded = 0;
}

void
vfm_pci_device_ids (VfmPciDevice *dev, const char *pf_driver, gboolean with_revision,
                    VfmDeviceIds *out)
{
  memset (out, 0, sizeof *out);
  out->bdf = dev->bdf;
  out->vendor = dev->vendor;
  out->device = dev->device;
  out->subsystem_vendor = dev->subsystem_vendor;
  out->subsystem_device = dev->subsystem_device;
  out->class_code = dev->class_code;
  out->revision = with_revision ? vfm_pci_device_revision (dev) : -1;
  out->is_vf = vfm_pci_device_physfn (dev) != NULL;
  out->has_vfs = vfm_pci_device_sriov_numvfs (dev) > 0;
  out->pf_driver = pf_driver;
  out->pci_path = vfm_pci_device_pci_path (dev);
}
