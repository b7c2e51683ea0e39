/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host layer (src/lib/host) on synthetic hosts from gen-host.py: device
 * listing, identity, PF/VF relations, IOMMU groups, driver selection. The
 * tree is changed by hand here (no kernel mock): this layer only reads. */
#include "vfm-db-watch.h"
#include "vfm-error.h"
#include "vfm-host.h"
#include "vfm-iommu.h"
#include "vfm-safety.h"

#include "vfm-test-host.h"

#include <stdio.h>
#include <unistd.h>

/* gen-host.py --profile server --pfs 2 --vfs-per-pf 2: PF 0 is a ConnectX
 * (mlx5_core) behind root port 00:01.0, PF 1 an E810 (ice) behind 00:02.0,
 * each with two unbound VFs in groups of their own. */
#define MLX_PF "0000:10:00.0"
#define MLX_VF0 "0000:10:00.2"
#define MLX_VF1 "0000:10:00.3"
#define ICE_PF "0000:11:00.0"
#define ICE_VF0 "0000:11:01.0"
#define ICE_VF1 "0000:11:01.1"

typedef struct {
  char *root;
  VfmHost *host;
} Fixture;

static void
server_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->root = vfm_test_gen_host ("server", 2, 2);
  f->host = vfm_host_new (f->root, &error);
  g_assert_no_error (error);
}

static void
laptop_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->root = vfm_test_gen_host ("laptop", 0, 0);
  f->host = vfm_host_new (f->root, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  vfm_host_free (f->host);
  vfm_test_rm_rf (f->root);
  g_free (f->root);
}

static char *
dev_path (Fixture *f, const char *bdf, const char *attr)
{
  return g_build_filename (f->root, "sys/bus/pci/devices", bdf, attr, NULL);
}

/* An id file as the kernel writes it ("0x15b3\n"), read without the library. */
static guint
file_hex (Fixture *f, const char *bdf, const char *attr)
{
  g_autofree char *path = dev_path (f, bdf, attr);
  g_autofree char *text = vfm_test_read (path);
  guint v = 0;
  g_assert_nonnull (text);
  g_assert_cmpint (sscanf (text, "0x%x", &v), ==, 1);
  return v;
}

/* A driver link as the kernel makes it, set or removed by hand. */
static void
set_driver_link (Fixture *f, const char *bdf, const char *driver)
{
  g_autofree char *link = dev_path (f, bdf, "driver");
  g_unlink (link);
  if (driver != NULL) {
    g_autofree char *target = g_build_filename (f->root, "sys/bus/pci/drivers", driver, NULL);
    g_assert_cmpint (symlink (target, link), ==, 0);
  }
}

static gint
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static GPtrArray *
sorted_dir (const char *path)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  const char *name;
  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (out, g_strdup (name));
  g_ptr_array_sort (out, cmp_str);
  return out;
}

/* ---- listing ---- */

static void
test_list_devices (Fixture *f, gconstpointer data)
{
  g_autofree char *dir = g_build_filename (f->root, "sys/bus/pci/devices", NULL);
  g_autofree char *junk = g_build_filename (dir, "not-a-bdf", NULL);
  g_autoptr (GPtrArray) want = sorted_dir (dir);
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) devs = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_cmpuint (want->len, ==, 15);
  /* a name that is not a BDF is never a device (nor a path component) */
  g_assert_cmpint (symlink ("../../../devices/pci0000:00/0000:00:01.0", junk), ==, 0);

  devs = vfm_host_devices (f->host, warnings, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (warnings->len, ==, 0);
  g_assert_cmpuint (devs->len, ==, want->len);
  for (guint i = 0; i < devs->len; i++)
    g_assert_cmpstr (vfm_pci_device_bdf (g_ptr_array_index (devs, i)), ==, g_ptr_array_index (want, i));

  /* one object per device: the host keeps what it read */
  g_assert_true (vfm_host_device (f->host, MLX_VF0, NULL) == vfm_host_device (f->host, "10:00.2", NULL));
}

static void
test_device_lookup (Fixture *f, gconstpointer data)
{
  const char *bad[] = { "../../../etc", "0000:10:00.8", "0000:10:20.0", "10:0.2", "", "0000:10:00.2/.." };
  g_autoptr (GError) error = NULL;
  char out[13];

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_assert_null (vfm_host_device (f->host, bad[i], &error));
    g_assert_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
  }
  g_assert_null (vfm_host_device (f->host, "0000:99:00.0", &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (vfm_host_parse_bdf ("0000:3B:00.2", out, &error));
  g_assert_cmpstr (out, ==, "0000:3b:00.2");
  g_assert_true (vfm_host_parse_bdf ("3b:00.2", out, &error));
  g_assert_cmpstr (out, ==, "0000:3b:00.2");
  g_assert_no_error (error);
}

/* A broken tree lists what it can and says what it could not. */
static void
test_list_broken (void)
{
  static const struct {
    const char *profile;
    const char *bad;
  } cases[] = {
    { "broken-missing", "0000:00:04.0" },
    { "broken-dangling", "0000:00:07.0" },
    { "broken-garbage", "0000:00:0a.0" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *root = vfm_test_gen_host (cases[i].profile, 0, 0);
    g_autoptr (GError) error = NULL;
    g_autoptr (VfmHost) host = vfm_host_new (root, &error);
    g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GPtrArray) devs = vfm_host_devices (host, warnings, &error);

    g_test_message ("%s", cases[i].profile);
    g_assert_no_error (error);
    g_assert_cmpuint (devs->len, >=, 2);
    g_assert_cmpuint (warnings->len, ==, 1);
    g_assert_nonnull (strstr (g_ptr_array_index (warnings, 0), cases[i].bad));
    for (guint j = 0; j < devs->len; j++) {
      VfmPciDevice *d = g_ptr_array_index (devs, j);
      g_autoptr (VfmSelection) sel = vfm_host_select (host, d, NULL);
      g_autoptr (VfmGroupStatus) st = vfm_iommu_group_status (host, d);
      g_assert_cmpstr (vfm_pci_device_bdf (d), !=, cases[i].bad);
      g_assert_cmpuint (vfm_pci_device_vendor (d), !=, 0);
      g_assert_nonnull (sel);
      g_assert_nonnull (st);
    }
    vfm_test_rm_rf (root);
  }
}

/* ---- identity ---- */

static void
test_ids_match_files (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) devs = vfm_host_devices (f->host, NULL, NULL);

  for (guint i = 0; i < devs->len; i++) {
    VfmPciDevice *d = g_ptr_array_index (devs, i);
    const char *bdf = vfm_pci_device_bdf (d);
    g_test_message ("%s", bdf);
    g_assert_cmphex (vfm_pci_device_vendor (d), ==, file_hex (f, bdf, "vendor"));
    g_assert_cmphex (vfm_pci_device_device (d), ==, file_hex (f, bdf, "device"));
    g_assert_cmphex (vfm_pci_device_subsystem_vendor (d), ==, file_hex (f, bdf, "subsystem_vendor"));
    g_assert_cmphex (vfm_pci_device_subsystem_device (d), ==, file_hex (f, bdf, "subsystem_device"));
    g_assert_cmphex (vfm_pci_device_class (d), ==, file_hex (f, bdf, "class"));
    g_assert_cmpint (vfm_pci_device_revision (d), ==, (gint) file_hex (f, bdf, "revision"));
  }
  {
    VfmPciDevice *pf = vfm_host_device (f->host, MLX_PF, NULL);
    VfmPciDevice *vf = vfm_host_device (f->host, ICE_VF0, NULL);
    VfmPciDevice *rp = vfm_host_device (f->host, "0000:00:01.0", NULL);
    g_assert_cmphex (vfm_pci_device_vendor (pf), ==, 0x15b3);
    g_assert_cmphex (vfm_pci_device_device (pf), ==, 0x101d);
    g_assert_cmphex (vfm_pci_device_class (pf), ==, 0x020000);
    g_assert_cmphex (vfm_pci_device_vendor (vf), ==, 0x8086);
    g_assert_cmphex (vfm_pci_device_device (vf), ==, 0x1889);
    g_assert_cmpstr (vfm_pci_device_driver (pf), ==, "mlx5_core");
    g_assert_cmpstr (vfm_pci_device_module (pf), ==, "mlx5_core");
    g_assert_null (vfm_pci_device_driver (vf));
    g_assert_null (vfm_pci_device_driver_override (vf));
    g_assert_cmpint (vfm_pci_device_numa_node (pf), ==, 0);
    g_assert_cmpint (vfm_pci_device_numa_node (vfm_host_device (f->host, ICE_PF, NULL)), ==, 1);
    g_assert_true (vfm_pci_device_is_bridge (rp));
    g_assert_false (vfm_pci_device_is_bridge (pf));
    g_assert_cmpstr (vfm_pci_device_pci_path (vf), ==, "pci0000:00/0000:00:02.0/0000:11:01.0");
  }
}

/* The identity is read from uevent when it is whole, else from the id
 * files: both give the same device. */
static void
test_ids_without_uevent (Fixture *f, gconstpointer data)
{
  g_autofree char *uevent = dev_path (f, MLX_VF0, "uevent");
  g_autofree char *vendor = dev_path (f, MLX_VF1, "vendor");
  g_autofree char *uevent1 = dev_path (f, MLX_VF1, "uevent");
  g_autoptr (GError) error = NULL;
  VfmPciDevice *d;

  g_assert_cmpint (g_unlink (uevent), ==, 0);
  d = vfm_host_device (f->host, MLX_VF0, &error);
  g_assert_no_error (error);
  g_assert_cmphex (vfm_pci_device_vendor (d), ==, 0x15b3);
  g_assert_cmphex (vfm_pci_device_device (d), ==, 0x101e);
  g_assert_cmphex (vfm_pci_device_subsystem_vendor (d), ==, 0x15b3);
  g_assert_cmphex (vfm_pci_device_class (d), ==, 0x020000);

  /* no uevent and a malformed id file: not a device, with the file named */
  g_assert_cmpint (g_unlink (uevent1), ==, 0);
  vfm_test_write (vendor, "0xZZZZ\n");
  g_assert_null (vfm_host_device (f->host, MLX_VF1, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, vendor));
}

/* ---- PF/VF ---- */

static void
test_pf_vf (Fixture *f, gconstpointer data)
{
  VfmPciDevice *pf = vfm_host_device (f->host, MLX_PF, NULL);
  VfmPciDevice *vf0 = vfm_host_device (f->host, MLX_VF0, NULL);
  VfmPciDevice *vf1 = vfm_host_device (f->host, MLX_VF1, NULL);
  VfmPciDevice *ipf = vfm_host_device (f->host, ICE_PF, NULL);
  VfmPciDevice *ivf1 = vfm_host_device (f->host, ICE_VF1, NULL);
  VfmPciDevice *nic = vfm_host_device (f->host, "0000:05:00.0", NULL);
  g_autoptr (GPtrArray) vfs = vfm_pci_device_vfs (pf);
  g_autoptr (GPtrArray) ivfs = vfm_pci_device_vfs (ipf);
  g_autoptr (GPtrArray) none = vfm_pci_device_vfs (nic);
  VfmDeviceIds ids;

  g_assert_null (vfm_pci_device_physfn (pf));
  g_assert_cmpint (vfm_pci_device_vf_index (pf), ==, -1);
  g_assert_cmpint (vfm_pci_device_sriov_numvfs (pf), ==, 2);
  g_assert_cmpint (vfm_pci_device_sriov_totalvfs (pf), >=, 2);
  g_assert_cmpuint (vfs->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (vfs, 0), ==, MLX_VF0);
  g_assert_cmpstr (g_ptr_array_index (vfs, 1), ==, MLX_VF1);

  g_assert_cmpstr (vfm_pci_device_physfn (vf0), ==, MLX_PF);
  g_assert_cmpstr (vfm_pci_device_physfn (vf1), ==, MLX_PF);
  g_assert_cmpint (vfm_pci_device_vf_index (vf0), ==, 0);
  g_assert_cmpint (vfm_pci_device_vf_index (vf1), ==, 1);
  /* a VF has no SR-IOV capability of its own */
  g_assert_cmpint (vfm_pci_device_sriov_totalvfs (vf0), ==, 0);
  g_assert_cmpint (vfm_pci_device_sriov_numvfs (vf0), ==, 0);

  /* another offset and stride: 11:01.x are VFs 0 and 1 of 11:00.0 */
  g_assert_cmpuint (ivfs->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (ivfs, 0), ==, ICE_VF0);
  g_assert_cmpstr (vfm_pci_device_physfn (ivf1), ==, ICE_PF);
  g_assert_cmpint (vfm_pci_device_vf_index (ivf1), ==, 1);

  /* SR-IOV capable, no VFs now */
  g_assert_cmpuint (none->len, ==, 0);
  g_assert_cmpint (vfm_pci_device_sriov_numvfs (nic), ==, 0);
  g_assert_cmpint (vfm_pci_device_sriov_totalvfs (nic), >, 0);

  vfm_pci_device_ids (vf0, "mlx5_core", FALSE, &ids);
  g_assert_true (ids.is_vf);
  g_assert_false (ids.has_vfs);
  g_assert_cmpstr (ids.pf_driver, ==, "mlx5_core");
  g_assert_cmpint (ids.revision, ==, -1);
  vfm_pci_device_ids (pf, NULL, TRUE, &ids);
  g_assert_false (ids.is_vf);
  g_assert_true (ids.has_vfs);
  g_assert_cmpint (ids.revision, >=, 0);
}

/* ---- IOMMU groups ---- */

static const VfmGroupMember *
member (const VfmGroupStatus *st, const char *bdf)
{
  for (guint i = 0; i < st->members->len; i++) {
    const VfmGroupMember *m = g_ptr_array_index (st->members, i);
    if (strcmp (m->bdf, bdf) == 0)
      return m;
  }
  return NULL;
}

static void
test_group_single (Fixture *f, gconstpointer data)
{
  VfmPciDevice *vf = vfm_host_device (f->host, MLX_VF0, NULL);
  g_autoptr (VfmGroupStatus) st = vfm_iommu_group_status (f->host, vf);

  g_assert_cmpint (st->group, ==, vfm_pci_device_iommu_group (vf));
  g_assert_cmpint (st->group, >=, 0);
  g_assert_true (st->viable);
  g_assert_cmpuint (st->members->len, ==, 1);
  g_assert_cmpuint (st->blockers->len, ==, 0);
  g_assert_null (member (st, MLX_VF0)->driver);

  /* on a host driver: its own group is not viable */
  set_driver_link (f, MLX_VF0, "mlx5_core");
  g_clear_pointer (&st, vfm_group_status_free);
  st = vfm_iommu_group_status (f->host, vf);
  g_assert_false (st->viable);
  g_assert_cmpuint (st->blockers->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (st->blockers, 0), ==, MLX_VF0 " is bound to mlx5_core");
  g_assert_false (member (st, MLX_VF0)->vfio_owned);

  /* on vfio-pci (or a variant driver): viable, VFIO-owned */
  set_driver_link (f, MLX_VF0, "mlx5_vfio_pci");
  g_clear_pointer (&st, vfm_group_status_free);
  st = vfm_iommu_group_status (f->host, vf);
  g_assert_true (st->viable);
  g_assert_cmpstr (member (st, MLX_VF0)->driver, ==, "mlx5_vfio_pci");
  g_assert_true (member (st, MLX_VF0)->vfio_owned);
}

/* A bridge in the group does not block it (pcieport may keep it); an
 * endpoint on a host driver does. */
static void
test_group_bridge_and_endpoint (Fixture *f, gconstpointer data)
{
  VfmPciDevice *vf = vfm_host_device (f->host, MLX_VF0, NULL);
  gint group = vfm_pci_device_iommu_group (vf);
  g_autofree char *gdir = g_strdup_printf ("%s/sys/kernel/iommu_groups/%d/devices", f->root, group);
  g_autofree char *bridge_link = g_build_filename (gdir, "0000:00:01.0", NULL);
  g_autofree char *ep_link = g_build_filename (gdir, MLX_VF1, NULL);
  g_autofree char *bridge_dev = g_build_filename (f->root, "sys/devices/pci0000:00/0000:00:01.0", NULL);
  g_autofree char *ep_dev = g_build_filename (f->root, "sys/devices/pci0000:00/0000:00:01.0", MLX_VF1, NULL);
  g_autoptr (VfmGroupStatus) st = NULL;

  g_assert_cmpint (symlink (bridge_dev, bridge_link), ==, 0);
  st = vfm_iommu_group_status (f->host, vf);
  g_assert_cmpuint (st->members->len, ==, 2);
  g_assert_true (member (st, "0000:00:01.0")->is_bridge);
  g_assert_cmpstr (member (st, "0000:00:01.0")->driver, ==, "pcieport");
  g_assert_true (st->viable);
  g_assert_cmpuint (st->blockers->len, ==, 0);

  g_assert_cmpint (symlink (ep_dev, ep_link), ==, 0);
  set_driver_link (f, MLX_VF1, "mlx5_core");
  g_clear_pointer (&st, vfm_group_status_free);
  st = vfm_iommu_group_status (f->host, vf);
  g_assert_cmpuint (st->members->len, ==, 3);
  g_assert_false (st->viable);
  g_assert_cmpuint (st->blockers->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (st->blockers, 0), ==, MLX_VF1 " is bound to mlx5_core");

  /* pci-stub leaves a group viable, as the kernel's allowed list says */
  set_driver_link (f, MLX_VF1, "pci-stub");
  g_clear_pointer (&st, vfm_group_status_free);
  st = vfm_iommu_group_status (f->host, vf);
  g_assert_true (st->viable);
}

static void
test_group_none (Fixture *f, gconstpointer data)
{
  g_autofree char *link = dev_path (f, ICE_VF0, "iommu_group");
  VfmPciDevice *vf;
  g_autoptr (VfmGroupStatus) st = NULL;

  g_assert_cmpint (g_unlink (link), ==, 0);
  vf = vfm_host_device (f->host, ICE_VF0, NULL);
  st = vfm_iommu_group_status (f->host, vf);
  g_assert_cmpint (st->group, ==, -1);
  g_assert_false (st->viable);
  g_assert_cmpuint (st->members->len, ==, 0);
  g_assert_cmpuint (st->blockers->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (st->blockers, 0), "no IOMMU group"));
}

/* The laptop's PCH functions share one group (no ACS): the audio and SMBus
 * functions on host drivers block it; the ISA bridge does not. */
static void
test_group_shared_laptop (Fixture *f, gconstpointer data)
{
  VfmPciDevice *audio = vfm_host_device (f->host, "0000:00:1f.3", NULL);
  g_autoptr (VfmGroupStatus) st = vfm_iommu_group_status (f->host, audio);
  g_autoptr (GPtrArray) members = vfm_pci_device_group_members (audio);

  g_assert_cmpuint (members->len, ==, 3);
  g_assert_cmpstr (g_ptr_array_index (members, 0), ==, "0000:00:1f.0");
  g_assert_cmpstr (g_ptr_array_index (members, 2), ==, "0000:00:1f.4");
  g_assert_cmpuint (st->members->len, ==, 3);
  g_assert_false (st->viable);
  g_assert_cmpuint (st->blockers->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (st->blockers, 0), ==, "0000:00:1f.3 is bound to snd_hda_intel");
  g_assert_cmpstr (g_ptr_array_index (st->blockers, 1), ==, "0000:00:1f.4 is bound to i801_smbus");
  g_assert_true (member (st, "0000:00:1f.0")->is_bridge);

  /* the same answer from any member */
  {
    VfmPciDevice *smbus = vfm_host_device (f->host, "0000:00:1f.4", NULL);
    g_autoptr (VfmGroupStatus) st2 = vfm_iommu_group_status (f->host, smbus);
    g_assert_cmpint (st2->group, ==, st->group);
    g_assert_false (st2->viable);
    g_assert_cmpuint (st2->blockers->len, ==, 2);
  }
}

static void
test_vfio_driver_names (Fixture *f, gconstpointer data)
{
  g_assert_true (vfm_host_is_vfio_driver (f->host, "vfio-pci"));
  g_assert_true (vfm_host_is_vfio_driver (f->host, "pci-stub"));
  g_assert_true (vfm_host_is_vfio_driver (f->host, "mlx5_vfio_pci"));     /* curated */
  g_assert_true (vfm_host_is_vfio_driver (f->host, "hisi_acc_vfio_pci")); /* curated and alias */
  g_assert_false (vfm_host_is_vfio_driver (f->host, "mlx5_core"));
  g_assert_false (vfm_host_is_vfio_driver (f->host, "pcieport"));
  g_assert_false (vfm_host_is_vfio_driver (f->host, NULL));
}

/* ---- selection ---- */

static void
test_select (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmSelection) mlx = vfm_host_select (f->host, vfm_host_device (f->host, MLX_VF0, NULL), &error);
  g_autoptr (VfmSelection) ice = vfm_host_select (f->host, vfm_host_device (f->host, ICE_VF0, NULL), &error);

  g_assert_no_error (error);
  /* the variant driver beats vfio-pci, from the host's own modules.alias */
  g_assert_nonnull (mlx->selected);
  g_assert_cmpstr (mlx->selected->driver, ==, "mlx5_vfio_pci");
  g_assert_cmpint (mlx->selected->kind, ==, VFM_KIND_VENDOR);
  g_assert_true (g_str_has_prefix (mlx->selected->source, "modules.alias:"));
  g_assert_cmpuint (mlx->candidates->len, >=, 2);
  g_assert_false (mlx->managed); /* nothing is managed until a policy says so */
  /* no variant driver for E810 VFs upstream: plain vfio-pci */
  g_assert_nonnull (ice->selected);
  g_assert_cmpstr (ice->selected->driver, ==, "vfio-pci");
  g_assert_cmpint (ice->selected->kind, ==, VFM_KIND_GENERIC);
  g_assert_cmpuint (vfm_host_db_warnings (f->host)->len, ==, 0);
}

/* Site policies come from the sysroot's /etc/vfmig/policies.d, and the VF's
 * PF driver is the host's: a policy on PfDriver follows the PF's link. */
static void
test_select_policy (Fixture *f, gconstpointer data)
{
  g_autofree char *conf = g_build_filename (f->root, "etc/vfmig/policies.d/site.conf", NULL);
  g_autoptr (GError) error = NULL;

  vfm_test_write (conf,
                  "[Policy cx-vfs]\n"
                  "PfDriver=mlx5_core\n"
                  "Manage=true\n"
                  "AutoBind=true\n"
                  "\n"
                  "[Policy second-generic]\n"
                  "PciPath=pci0000:00/0000:00:01.0/" MLX_VF1 "\n"
                  "Deny=mlx5_vfio_pci\n");
  {
    g_autoptr (VfmHost) host = vfm_host_new (f->root, &error);
    g_autoptr (VfmSelection) a = vfm_host_select (host, vfm_host_device (host, MLX_VF0, NULL), &error);
    g_autoptr (VfmSelection) b = vfm_host_select (host, vfm_host_device (host, MLX_VF1, NULL), &error);
    g_autoptr (VfmSelection) i = vfm_host_select (host, vfm_host_device (host, ICE_VF0, NULL), &error);
    g_assert_no_error (error);
    g_assert_cmpuint (vfm_host_db_warnings (host)->len, ==, 0);
    g_assert_true (a->managed);
    g_assert_true (a->auto_bind);
    g_assert_nonnull (strstr (a->managed_reason, "cx-vfs"));
    g_assert_cmpstr (a->selected->driver, ==, "mlx5_vfio_pci");
    g_assert_true (b->managed);
    g_assert_cmpstr (b->selected->driver, ==, "vfio-pci");
    g_assert_false (i->managed); /* its PF is on ice */
  }
  /* the PF unbound: its VFs no longer match PfDriver=mlx5_core */
  set_driver_link (f, MLX_PF, NULL);
  {
    g_autoptr (VfmHost) host = vfm_host_new (f->root, &error);
    g_autoptr (VfmSelection) a = vfm_host_select (host, vfm_host_device (host, MLX_VF0, NULL), &error);
    g_assert_false (a->managed);
  }
  /* a policy file with an error is a warning naming it, and adds nothing */
  vfm_test_write (conf, "[Policy broken]\nManage=perhaps\n");
  {
    g_autoptr (VfmHost) host = vfm_host_new (f->root, &error);
    GPtrArray *w = vfm_host_db_warnings (host);
    g_assert_cmpuint (w->len, ==, 1);
    g_assert_nonnull (strstr (g_ptr_array_index (w, 0), conf));
  }
}

/* The laptop's integrated graphics gets the IGD profile of vfio-pci. */
static void
test_select_igd (Fixture *f, gconstpointer data)
{
  VfmPciDevice *igd = vfm_host_device (f->host, "0000:00:02.0", NULL);
  g_autoptr (VfmSelection) sel = vfm_host_select (f->host, igd, NULL);

  g_assert_cmpint (vfm_pci_device_boot_vga (igd), ==, 1);
  g_assert_nonnull (sel->selected);
  g_assert_cmpint (sel->selected->kind, ==, VFM_KIND_IGD);
  g_assert_cmpstr (sel->selected->driver, ==, "vfio-pci");
}

/* ---- host safety ---- */

/* A NIC that carries the host's addresses is in use; one without is not. */
static void
test_safety_netdev (Fixture *f, gconstpointer data)
{
  VfmPciDevice *nic = vfm_host_device (f->host, "0000:05:00.0", NULL);
  g_autofree char *addrs = g_build_filename (f->root, ".kmock/addresses/enp5s0f0", NULL);
  g_autoptr (GPtrArray) before = vfm_safety_check (vfm_host_sysroot (f->host), nic);
  g_autoptr (GPtrArray) after = NULL;

  g_assert_cmpuint (before->len, ==, 0);
  vfm_test_write (addrs, "192.0.2.4/24\n");
  after = vfm_safety_check (vfm_host_sysroot (f->host), nic);
  g_assert_cmpuint (after->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (after, 0), ==, "enp5s0f0 is up with 192.0.2.4/24");
}

/* ---- has the database's source changed (vfm-db-watch) ---- */

/* Rewrites PATH in place (same file: truncate and write), as an editor
 * that does not write a new file and rename it. */
static void
write_in_place (const char *path, const char *text)
{
  FILE *fp = fopen (path, "w");
  g_assert_nonnull (fp);
  g_assert_cmpint (fputs (text, fp), >=, 0);
  g_assert_cmpint (fclose (fp), ==, 0);
}

static VfmDbWatch *
watch_new (Fixture *f, VfmDbWatchMode mode)
{
  VfmDbWatch *w = vfm_db_watch_new (f->host, mode);
  g_test_message ("watch: %s", vfm_db_watch_describe (w));
  if (mode == VFM_DB_WATCH_KEY)
    g_assert_true (vfm_db_watch_uses_key (w));
  else
    g_assert_cmpstr (vfm_db_watch_describe (w), ==, "inotify"); /* the test's tmp is a local file system */
  return w;
}

/* Each way the sysroot's part of the database changes is seen, by inotify
 * and by the key alike: a policy edited in place, a new file where the
 * directory did not exist (no etc/ at all in the synthetic host: its
 * parent is watched), the target of a symbolic link edited, the kernel's
 * module table replaced by a rename (depmod); nothing changed is
 * "unchanged", as often as asked; a change stays a change. */
static void
test_db_watch (Fixture *f, gconstpointer data)
{
  VfmDbWatchMode mode = GPOINTER_TO_INT (data);
  g_autofree char *pol = g_build_filename (f->root, "etc/vfmig/policies.d/t.conf", NULL);
  g_autofree char *real = g_build_filename (f->root, "srv/policies/real.conf", NULL);
  g_autofree char *link = g_build_filename (f->root, "etc/vfmig/policies.d/linked.conf", NULL);
  g_autofree char *drv = g_build_filename (f->root, "etc/vfmig/drivers.d/x.conf", NULL);
  g_autofree char *alias = vfm_sysroot_modules_file (vfm_host_sysroot (f->host), "modules.alias");
  g_autofree char *alias_new = g_strconcat (alias, ".new", NULL);
  g_autoptr (VfmDbWatch) w = NULL;

  /* nothing changes */
  w = watch_new (f, mode);
  g_assert_true (vfm_db_watch_unchanged (w));
  g_assert_true (vfm_db_watch_unchanged (w));
  g_clear_pointer (&w, vfm_db_watch_free);

  /* etc/ appears with a policy: the nearest existing parent's event */
  w = watch_new (f, mode);
  vfm_test_write (pol, "[Policy a]\nIds=15b3:101e\nManage=true\n");
  g_assert_false (vfm_db_watch_unchanged (w));
  g_assert_false (vfm_db_watch_unchanged (w));
  g_clear_pointer (&w, vfm_db_watch_free);

  /* the policy edited in place (another size: the key sees size and mtime) */
  w = watch_new (f, mode);
  g_assert_true (vfm_db_watch_unchanged (w));
  write_in_place (pol, "[Policy a]\nIds=15b3:101e\nManage=true\nAutoBind=true\n");
  g_assert_false (vfm_db_watch_unchanged (w));
  g_clear_pointer (&w, vfm_db_watch_free);

  /* a policy that is a link: its target edited */
  vfm_test_write (real, "[Policy r]\nIds=8086:1889\nManage=true\n");
  g_assert_cmpint (symlink (real, link), ==, 0);
  w = watch_new (f, mode);
  g_assert_true (vfm_db_watch_unchanged (w));
  write_in_place (real, "[Policy r]\nIds=8086:1889\nManage=false\n");
  g_assert_false (vfm_db_watch_unchanged (w));
  g_clear_pointer (&w, vfm_db_watch_free);

  /* a curated entry where drivers.d did not exist */
  w = watch_new (f, mode);
  vfm_test_write (drv, "[Driver]\nName=x\n");
  g_assert_false (vfm_db_watch_unchanged (w));
  g_clear_pointer (&w, vfm_db_watch_free);

  /* a policy that links to nothing (yet): its target, once there, must be
   * seen, and no watch can be set on it: the key's way, which sees it */
  if (mode == VFM_DB_WATCH_AUTO) {
    g_autofree char *later = g_build_filename (f->root, "srv/policies/later.conf", NULL);
    g_autofree char *dangling = g_build_filename (f->root, "etc/vfmig/policies.d/later.conf", NULL);
    g_assert_cmpint (symlink (later, dangling), ==, 0);
    w = vfm_db_watch_new (f->host, mode);
    g_test_message ("watch: %s", vfm_db_watch_describe (w));
    g_assert_true (vfm_db_watch_uses_key (w));
    g_assert_true (strstr (vfm_db_watch_describe (w), "is a link to nothing") != NULL);
    g_assert_true (vfm_db_watch_unchanged (w));
    vfm_test_write (later, "[Policy l]\nIds=8086:1889\nManage=true\n");
    g_assert_false (vfm_db_watch_unchanged (w));
    g_clear_pointer (&w, vfm_db_watch_free);
    g_assert_cmpint (unlink (dangling), ==, 0);
  }

  /* depmod's way: a new modules.alias renamed over the old */
  vfm_test_write (alias_new, "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n");
  w = watch_new (f, mode);
  g_assert_true (vfm_db_watch_unchanged (w));
  g_assert_cmpint (rename (alias_new, alias), ==, 0);
  g_assert_false (vfm_db_watch_unchanged (w));
}

int
main (int argc, char **argv)
{
  static const char *hosts[] = { "server:2:2", "laptop", "broken-missing", "broken-dangling", "broken-garbage",
                                 NULL };

  g_test_init (&argc, &argv, NULL);
  vfm_test_prefetch_hosts (hosts);

#define SERVER(path, fn) g_test_add (path, Fixture, NULL, server_set_up, fn, fixture_tear_down)
#define LAPTOP(path, fn) g_test_add (path, Fixture, NULL, laptop_set_up, fn, fixture_tear_down)
  SERVER ("/host/list/devices", test_list_devices);
  SERVER ("/host/list/lookup", test_device_lookup);
  g_test_add_func ("/host/list/broken-trees", test_list_broken);
  SERVER ("/host/ids/match-files", test_ids_match_files);
  SERVER ("/host/ids/without-uevent", test_ids_without_uevent);
  SERVER ("/host/sriov/pf-vf", test_pf_vf);
  SERVER ("/host/iommu/single", test_group_single);
  SERVER ("/host/iommu/bridge-and-endpoint", test_group_bridge_and_endpoint);
  SERVER ("/host/iommu/no-group", test_group_none);
  LAPTOP ("/host/iommu/shared-group", test_group_shared_laptop);
  SERVER ("/host/iommu/vfio-drivers", test_vfio_driver_names);
  SERVER ("/host/select/variant-and-generic", test_select);
  SERVER ("/host/select/site-policy", test_select_policy);
  LAPTOP ("/host/select/igd", test_select_igd);
  SERVER ("/host/safety/netdev", test_safety_netdev);
  g_test_add ("/host/db-watch/inotify", Fixture, GINT_TO_POINTER (VFM_DB_WATCH_AUTO), server_set_up, test_db_watch,
              fixture_tear_down);
  g_test_add ("/host/db-watch/key", Fixture, GINT_TO_POINTER (VFM_DB_WATCH_KEY), server_set_up, test_db_watch,
              fixture_tear_down);
#undef SERVER
#undef LAPTOP
  return g_test_run ();
}
