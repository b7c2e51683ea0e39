/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-config.h"
#include "vfm-sysroot.h"
#include "vfm-error.h"

#include <string.h>
#include <sys/utsname.h>

struct _VfmSysroot {
  char *root;     /* "" for the real host, else an absolute directory */
  char *release;  /* kernel release, read once */
};

VfmSysroot *
vfm_sysroot_new (const char *root, GError **error)
{
  g_autoptr (VfmSysroot) sr = g_new0 (VfmSysroot, 1);

  if (root == NULL || *root == '\0')
    root = g_getenv ("VFMIG_SYSROOT");
  if (root == NULL || *root == '\0' || strcmp (root, "/") == 0) {
    sr->root = g_strdup ("");
    return g_steal_pointer (&sr);
  }
  if (!g_file_test (root, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "sysroot %s is not a directory", root);
    return NULL;
  }
  sr->root = g_canonicalize_filename (root, NULL);
  /* "/x/" and "/x" are the same root; keep no trailing slash */
  if (g_str_has_suffix (sr->root, "/") && strlen (sr->root) > 1)
    sr->root[strlen (sr->root) - 1] = '\0';
  return g_steal_pointer (&sr);
}

void
vfm_sysroot_free (VfmSysroot *sr)
{
  if (sr == NULL)
    return;
  g_free (sr->root);
  g_free (sr->release);
  g_free (sr);
}

gboolean
vfm_sysroot_is_real (VfmSysroot *sr)
{
  return sr->root[0] == '\0';
}

const char *
vfm_sysroot_root (VfmSysroot *sr)
{
  return sr->root[0] ? sr->root : "/";
}

/* Under a sysroot the release is the synthetic host's (proc/sys/kernel/osrelease);
 * on the real host, uname(2). */
const char *
vfm_sysroot_kernel_release (VfmSysroot *sr)
{
  if (sr->release == NULL) {
    if (vfm_sysroot_is_real (sr)) {
      struct utsname u;
      sr->release = g_strdup (uname (&u) == 0 ? u.release : "unknown");
    } else {
      g_autofree char *path = g_strconcat (sr->root, "/proc/sys/kernel/osrelease", NULL);
      g_autofree char *text = NULL;
      if (g_file_get_contents (path, &text, NULL, NULL) && strchr (g_strstrip (text), '/') == NULL &&
          strcmp (text, "..") != 0 && *text != '\0')
        sr->release = g_steal_pointer (&text);
      else
        sr->release = g_strdup ("unknown");
    }
  }
  return sr->release;
}

static char *
build (VfmSysroot *sr, const char *first, ...)
{
  va_list ap;
  GString *s = g_string_new (sr->root);
  const char *part = first;

  va_start (ap, first);
  while (part != NULL) {
    if (part[0] != '/')
      g_string_append_c (s, '/');
    g_string_append (s, part);
    part = va_arg (ap, const char *);
  }
  va_end (ap);
  return g_string_free (s, FALSE);
}

char *vfm_sysroot_pci_devices_dir (VfmSysroot *sr) { return build (sr, "/sys/bus/pci/devices", NULL); }
char *vfm_sysroot_pci_device_dir (VfmSysroot *sr, const char *bdf) { return build (sr, "/sys/bus/pci/devices", bdf, NULL); }
char *vfm_sysroot_pci_device_attr (VfmSysroot *sr, const char *bdf, const char *attr) { return build (sr, "/sys/bus/pci/devices", bdf, attr, NULL); }
char *vfm_sysroot_pci_drivers_dir (VfmSysroot *sr) { return build (sr, "/sys/bus/pci/drivers", NULL); }
char *vfm_sysroot_pci_driver_dir (VfmSysroot *sr, const char *driver) { return build (sr, "/sys/bus/pci/drivers", driver, NULL); }
char *vfm_sysroot_pci_driver_attr (VfmSysroot *sr, const char *driver, const char *attr) { return build (sr, "/sys/bus/pci/drivers", driver, attr, NULL); }
char *vfm_sysroot_pci_drivers_probe (VfmSysroot *sr) { return build (sr, "/sys/bus/pci/drivers_probe", NULL); }
char *vfm_sysroot_sys_devices_dir (VfmSysroot *sr) { return build (sr, "/sys/devices", NULL); }
char *vfm_sysroot_sys_module_dir (VfmSysroot *sr, const char *module) { return build (sr, "/sys/module", module, NULL); }
char *vfm_sysroot_state_dir (VfmSysroot *sr) { return build (sr, "/var/lib/vfmig", NULL); }
char *vfm_sysroot_run_dir (VfmSysroot *sr) { return build (sr, "/run/vfmig", NULL); }

char *
vfm_sysroot_iommu_group_dir (VfmSysroot *sr, int group)
{
  char num[16];
  g_snprintf (num, sizeof num, "%d", group);
  return build (sr, "/sys/kernel/iommu_groups", num, NULL);
}

char *
vfm_sysroot_dev_vfio (VfmSysroot *sr, int group)
{
  char num[16];
  if (group < 0)
    return build (sr, "/dev/vfio/vfio", NULL);
  g_snprintf (num, sizeof num, "%d", group);
  return build (sr, "/dev/vfio", num, NULL);
}

char *
vfm_sysroot_modules_file (VfmSysroot *sr, const char *name)
{
  return build (sr, "/lib/modules", vfm_sysroot_kernel_release (sr), name, NULL);
}

/* /etc/vfmig/SUB, under the sysroot: the host's own configuration. */
char *
vfm_sysroot_config_dir (VfmSysroot *sr, const char *sub)
{
  return build (sr, "/etc/vfmig", sub, NULL);
}

/* Whether this process runs a binary of the build tree (meson's build
 * directory), not an installed copy: its executable lies under the build
 * root it was compiled in. */
static gboolean
running_uninstalled (void)
{
  static gint uninstalled = -1;
  if (uninstalled < 0) {
    g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
    uninstalled = exe != NULL && g_str_has_prefix (exe, VFM_BUILD_ROOT "/");
  }
  return uninstalled == 1;
}

/* The installed data (curated database, default policies) belongs to vfmig,
 * not to the host, so it is not under the sysroot: VFMIG_DATADIR when set,
 * else the source tree's data/ for a binary run from the build directory,
 * else the datadir it was installed with. *how (optional) says which. */
const char *
vfm_sysroot_data_root (const char **how)
{
  const char *dir = g_getenv ("VFMIG_DATADIR");
  const char *unused;

  if (how == NULL)
    how = &unused;
  if (dir != NULL && *dir != '\0') {
    *how = "VFMIG_DATADIR";
    return dir;
  }
  if (running_uninstalled ()) {
    *how = "the source tree: this binary runs from the build directory " VFM_BUILD_ROOT;
    return VFM_SOURCE_DATADIR;
  }
  *how = "the installed datadir";
  return VFM_DATADIR;
}

char *
vfm_sysroot_data_dir (const char *sub)
{
  return g_build_filename (vfm_sysroot_data_root (NULL), sub, NULL);
}

char *
vfm_sysroot_dev_vfio_cdev (VfmSysroot *sr, const char *name)
{
  return build (sr, "/dev/vfio/devices", name, NULL);
}

/* iommufd's character device (IOMMU_GET_HW_INFO and friends). */
char *
vfm_sysroot_dev_iommu (VfmSysroot *sr)
{
  return build (sr, "/dev/iommu", NULL);
}

/* Mediated devices: parents register under /sys/class/mdev_bus, instances
 * appear under /sys/bus/mdev/devices/UUID. */
char *
vfm_sysroot_mdev_bus_dir (VfmSysroot *sr)
{
  return build (sr, "/sys/class/mdev_bus", NULL);
}

char *
vfm_sysroot_mdev_devices_dir (VfmSysroot *sr)
{
  return build (sr, "/sys/bus/mdev/devices", NULL);
}

/* /proc/NAME ("self/mountinfo", "swaps"): a synthetic host carries its own. */
char *
vfm_sysroot_proc_file (VfmSysroot *sr, const char *name)
{
  return build (sr, "/proc", name, NULL);
}

/* Facts a real host keeps outside the filesystem (netdev addresses come from
 * netlink) are declared by a synthetic host under ROOT/.kmock/ (see
 * tests/hosts/LAYOUT.md). Only meaningful under a sysroot. */
char *
vfm_sysroot_synthetic_file (VfmSysroot *sr, const char *name)
{
  return build (sr, "/.kmock", name, NULL);
}

/* driverctl's persistent overrides: /etc/driverctl.d/pci-BDF, each holding a
 * driver name (what `vfmigctl import-driverctl` reads). */
char *
vfm_sysroot_driverctl_dir (VfmSysroot *sr)
{
  return build (sr, "/etc/driverctl.d", NULL);
}

/* mdevctl's persistent mediated devices: /etc/mdevctl.d/PARENT/UUID, each a
 * JSON definition (vfmig only asks whether a UUID has one). */
char *
vfm_sysroot_mdevctl_dir (VfmSysroot *sr)
{
  return build (sr, "/etc/mdevctl.d", NULL);
}

/* /sys/class/CLS ("iommu": one entry per IOMMU unit, dmarN or ivhdN). */
char *
vfm_sysroot_class_dir (VfmSysroot *sr, const char *cls)
{
  return build (sr, "/sys/class", cls, NULL);
}

/* The firmware's ACPI tables as the kernel exposes them: DMAR (Intel VT-d)
 * and IVRS (AMD-Vi) exist when the firmware describes an IOMMU. */
char *
vfm_sysroot_acpi_table (VfmSysroot *sr, const char *name)
{
  return build (sr, "/sys/firmware/acpi/tables", name, NULL);
}

/* systemd's unit directories, highest precedence first (systemd.unit(5)):
 * a unit file in an earlier one hides the same name in a later one, and
 * drop-ins (NAME.d/\*.conf) of every directory apply. */
char **
vfm_sysroot_unit_dirs (VfmSysroot *sr)
{
  static const char * const dirs[] = { "/etc/systemd/system", "/run/systemd/system", "/usr/local/lib/systemd/system",
                                       "/usr/lib/systemd/system", "/lib/systemd/system" };
  char **out = g_new0 (char *, G_N_ELEMENTS (dirs) + 1);
  for (gsize i = 0; i < G_N_ELEMENTS (dirs); i++)
    out[i] = build (sr, dirs[i], NULL);
  return out;
}

/* What the initramfs step (data/initramfs/vfmig-early.sh) bound before any
 * host driver, one JSON object per line: /run survives the switch to the
 * real root (initramfs-tools and dracut move it). */
char *
vfm_sysroot_early_boot_file (VfmSysroot *sr)
{
  return build (sr, "/run/vfmig/early-boot.json", NULL);
}

/* The early-boot plan an initramfs hook embedded in the image of kernel
 * RELEASE (a validated release: no '/'), recorded on the host so that
 * `vfmigctl early-boot status` can compare it with the policies' plan now. */
char *
vfm_sysroot_early_plan_record (VfmSysroot *sr, const char *release)
{
  g_autofree char *name = g_strconcat (release, ".plan", NULL);
  return build (sr, "/var/lib/vfmig/early-boot", name, NULL);
}

/* An absolute path a data file names on the host (an initramfs generator's
 * program, its image in /boot), under the sysroot. */
char *
vfm_sysroot_host_path (VfmSysroot *sr, const char *abs_path)
{
  return build (sr, abs_path, NULL);
}

/* /lib/modules/RELEASE (a validated release) of any installed kernel, not
 * only the running one's. */
char *
vfm_sysroot_release_modules_dir (VfmSysroot *sr, const char *release)
{
  return build (sr, "/lib/modules", release, NULL);
}
