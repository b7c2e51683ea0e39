/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-ids.h"
#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* A PCI device as sysfs shows it. Identity is read when the device is
 * opened; everything else on first use, so listing a host with thousands of
 * VFs reads only what the listing shows. */
typedef struct _VfmPciDevice VfmPciDevice;

VfmPciDevice *vfm_pci_device_open       (VfmSysroot  *sr,
                                         const char  *bdf,
                                         GError     **error);
void          vfm_pci_device_free       (VfmPciDevice *dev);
GPtrArray    *vfm_pci_list_bdfs         (VfmSysroot  *sr,
                                         GError     **error);

const char   *vfm_pci_device_bdf        (VfmPciDevice *dev);
guint16       vfm_pci_device_vendor     (VfmPciDevice *dev);
guint16       vfm_pci_device_device     (VfmPciDevice *dev);
guint16       vfm_pci_device_subsystem_vendor (VfmPciDevice *dev);
guint16       vfm_pci_device_subsystem_device (VfmPciDevice *dev);
guint32       vfm_pci_device_class      (VfmPciDevice *dev);
gint          vfm_pci_device_revision   (VfmPciDevice *dev);
const char   *vfm_pci_device_driver     (VfmPciDevice *dev);
const char   *vfm_pci_device_driver_override (VfmPciDevice *dev);
const char   *vfm_pci_device_module     (VfmPciDevice *dev);
gint          vfm_pci_device_iommu_group (VfmPciDevice *dev);
GPtrArray    *vfm_pci_device_group_members (VfmPciDevice *dev);
gint          vfm_pci_device_numa_node  (VfmPciDevice *dev);
const char   *vfm_pci_device_physfn     (VfmPciDevice *dev);
gint          vfm_pci_device_vf_index   (VfmPciDevice *dev);
GPtrArray    *vfm_pci_device_vfs        (VfmPciDevice *dev);
gint          vfm_pci_device_sriov_totalvfs (VfmPciDevice *dev);
gint          vfm_pci_device_sriov_numvfs   (VfmPciDevice *dev);
const char   *vfm_pci_device_pci_path   (VfmPciDevice *dev);
GPtrArray    *vfm_pci_device_net        (VfmPciDevice *dev);
GPtrArray    *vfm_pci_device_block      (VfmPciDevice *dev);
gint          vfm_pci_device_boot_vga   (VfmPciDevice *dev);
gboolean      vfm_pci_device_is_bridge  (VfmPciDevice *dev);
void          vfm_pci_device_reload     (VfmPciDevice *dev);
void          vfm_pci_device_ids        (VfmPciDevice *dev,
                                         const char   *pf_driver,
                                         gboolean      with_revision,
                                         VfmDeviceIds *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmPciDevice, vfm_pci_device_free)

G_END_DECLS
