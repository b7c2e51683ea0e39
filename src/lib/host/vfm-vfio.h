/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-host.h"
#include "vfm-mdev.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* What the kernel says about a VFIO-bound device's migration support
 * (DESIGN.md, Decisions 7): VFIO_DEVICE_FEATURE GET of MIGRATION (ENOTTY: the
 * driver has no migration ops) and PROBE of DMA_LOGGING_START (the device
 * tracks dirty pages itself), else iommufd's IOMMU_GET_HW_INFO through the
 * device's VFIO cdev (the IOMMU tracks them). Opening a VFIO device resets it, so this never
 * runs on the bind path, never on a device in use, and its answer is cached
 * under /var/lib/vfmig/probe, keyed by what could change it. */
/* Who tracks the pages a device writes while the guest runs - what QEMU
 * decides on (MIGRATION-FACTS §1): the device itself (DMA logging), the IOMMU
 * (iommufd's IOMMU_HW_CAP_DIRTY_TRACKING, usable only with QEMU's iommufd
 * backend), or nobody. NONE is 0: "if (caps->dirty_tracking)" reads "someone
 * tracks". */
typedef enum {
  VFM_DIRTY_NONE = 0,
  VFM_DIRTY_DEVICE,
  VFM_DIRTY_IOMMU,
} VfmDirtyTracking;

const char      *vfm_dirty_tracking_name (VfmDirtyTracking t);
/* member of o: "device", "iommu", "none", or (files written before the
 * tri-state) a boolean for device tracking; absent or unknown: none. */
VfmDirtyTracking vfm_dirty_tracking_from_json (JsonObject *o, const char *member);

typedef struct {
  char *bdf;
  gboolean migration;       /* GET of MIGRATION succeeded */
  gboolean stop_copy, p2p, pre_copy;
  VfmDirtyTracking dirty_tracking;
  guint64 flags;            /* the raw migration flags */
  char *detail;             /* the kernel's answer in words */
  char *source;             /* "kernel" or "synthetic" (a --sysroot host's declaration) */
  gint64 probed_at;         /* unix seconds */
  char *key;                /* driver, module srcversion, ids: the cache key */
} VfmVfioCaps;

void         vfm_vfio_caps_free  (VfmVfioCaps *caps);
VfmVfioCaps *vfm_vfio_probe      (VfmHost       *host,
                                  VfmPciDevice  *dev,
                                  GError       **error);
VfmVfioCaps *vfm_vfio_cached     (VfmHost       *host,
                                  VfmPciDevice  *dev);
void         vfm_vfio_forget     (VfmSysroot    *sr,
                                  const char    *bdf);
/* The processes holding a VFIO device ("PID (COMM)"), read from /proc, never
 * by opening it. name: the BDF or mdev UUID; cdev: "vfioN" or NULL. */
GPtrArray   *vfm_vfio_holders    (VfmSysroot    *sr,
                                  const char    *name,
                                  gint           group,
                                  const char    *cdev);
gboolean     vfm_vfio_in_use     (VfmSysroot    *sr,
                                  const char    *bdf,
                                  gint           group);
char        *vfm_vfio_cache_key  (VfmHost       *host,
                                  VfmPciDevice  *dev);
/* The same for a mediated device (its caps' bdf member holds the UUID). */
VfmVfioCaps *vfm_vfio_probe_mdev  (VfmHost       *host,
                                   const VfmMdev *m,
                                   GError       **error);
VfmVfioCaps *vfm_vfio_cached_mdev (VfmHost       *host,
                                   const VfmMdev *m);
/* Whether a free mediated device can take an incoming migration: its VFIO
 * migration state is RUNNING, or it was left in another one (a QEMU that
 * died while RESUMING, with a driver that keeps the state across close) and
 * VFIO_DEVICE_RESET brought it back (*note says so). FALSE with error when
 * a process holds it or the state stays wrong. */
gboolean     vfm_vfio_mdev_ready  (VfmHost       *host,
                                   const VfmMdev *m,
                                   char         **note,
                                   GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmVfioCaps, vfm_vfio_caps_free)

G_END_DECLS
