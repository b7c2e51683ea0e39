/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The only place that knows where the host's files are. Every path vfmig
 * reads or writes is built here, under an optional root prefix
 * (--sysroot DIR / VFMIG_SYSROOT) so whole synthetic hosts run from a
 * directory. Callers pass validated names (BDFs, driver names) only. */
typedef struct _VfmSysroot VfmSysroot;

VfmSysroot *vfm_sysroot_new               (const char *root,
                                           GError    **error);
void        vfm_sysroot_free              (VfmSysroot *sr);
gboolean    vfm_sysroot_is_real           (VfmSysroot *sr);
const char *vfm_sysroot_root              (VfmSysroot *sr);
const char *vfm_sysroot_kernel_release    (VfmSysroot *sr);

char *vfm_sysroot_pci_devices_dir   (VfmSysroot *sr);
char *vfm_sysroot_pci_device_dir    (VfmSysroot *sr, const char *bdf);
char *vfm_sysroot_pci_device_attr   (VfmSysroot *sr, const char *bdf, const char *attr);
char *vfm_sysroot_pci_drivers_dir   (VfmSysroot *sr);
char *vfm_sysroot_pci_driver_dir    (VfmSysroot *sr, const char *driver);
char *vfm_sysroot_pci_driver_attr   (VfmSysroot *sr, const char *driver, const char *attr);
char *vfm_sysroot_pci_drivers_probe (VfmSysroot *sr);
char *vfm_sysroot_sys_devices_dir   (VfmSysroot *sr);
char *vfm_sysroot_sys_module_dir    (VfmSysroot *sr, const char *module);
char *vfm_sysroot_iommu_group_dir   (VfmSysroot *sr, int group);
char *vfm_sysroot_dev_vfio          (VfmSysroot *sr, int group);
char *vfm_sysroot_dev_vfio_cdev     (VfmSysroot *sr, const char *name);
char *vfm_sysroot_dev_iommu         (VfmSysroot *sr);
char *vfm_sysroot_mdev_bus_dir      (VfmSysroot *sr);
char *vfm_sysroot_mdev_devices_dir  (VfmSysroot *sr);
char *vfm_sysroot_modules_file      (VfmSysroot *sr, const char *name);
char *vfm_sysroot_config_dir        (VfmSysroot *sr, const char *sub);
char *vfm_sysroot_data_dir          (const char *sub);
const char *vfm_sysroot_data_root   (const char **how);
char *vfm_sysroot_state_dir         (VfmSysroot *sr);
char *vfm_sysroot_run_dir           (VfmSysroot *sr);
char *vfm_sysroot_proc_file         (VfmSysroot *sr, const char *name);
char *vfm_sysroot_driverctl_dir     (VfmSysroot *sr);
char *vfm_sysroot_mdevctl_dir       (VfmSysroot *sr);
char *vfm_sysroot_synthetic_file    (VfmSysroot *sr, const char *name);
char *vfm_sysroot_class_dir         (VfmSysroot *sr, const char *cls);
char *vfm_sysroot_acpi_table        (VfmSysroot *sr, const char *name);
char **vfm_sysroot_unit_dirs        (VfmSysroot *sr);
char *vfm_sysroot_early_boot_file   (VfmSysroot *sr);
char *vfm_sysroot_early_plan_record (VfmSysroot *sr, const char *release);
char *vfm_sysroot_host_path         (VfmSysroot *sr, const char *abs_path);
char *vfm_sysroot_release_modules_dir (VfmSysroot *sr, const char *release);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmSysroot, vfm_sysroot_free)

G_END_DECLS
