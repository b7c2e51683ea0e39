/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-host.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* An IOMMU group is viable for VFIO when every device in it is owned by a
 * VFIO driver or bound to none; bridges do not count (the kernel lets
 * pcieport keep them). A group half owned by the host cannot be opened. */
typedef struct {
  char *bdf;
  char *driver;          /* NULL: unbound */
  gboolean is_bridge;
  gboolean vfio_owned;
} VfmGroupMember;

typedef struct {
  gint group;            /* -1: no IOMMU group (no IOMMU, or not enabled) */
  gboolean viable;
  GPtrArray *members;    /* VfmGroupMember */
  GPtrArray *blockers;   /* char *: "0000:3b:00.1 is bound to snd_hda_intel" */
} VfmGroupStatus;

VfmGroupStatus *vfm_iommu_group_status (VfmHost      *host,
                                        VfmPciDevice *dev);
/* The same, without reading again the driver of the members named in FRESH
 * (BDFs whose driver link the caller has just read). */
VfmGroupStatus *vfm_iommu_group_status_fresh (VfmHost      *host,
                                              VfmPciDevice *dev,
                                              GHashTable   *fresh);
VfmGroupStatus *vfm_group_status_copy  (const VfmGroupStatus *st);
void            vfm_group_status_free  (VfmGroupStatus *st);
gboolean        vfm_host_is_vfio_driver (VfmHost    *host,
                                         const char *driver);

JsonNode       *vfm_group_status_to_json (const VfmGroupStatus *st);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmGroupStatus, vfm_group_status_free)

G_END_DECLS
