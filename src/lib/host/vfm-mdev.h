/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* Mediated devices (the kernel's mdev bus): a parent device offers types
 * (/sys/class/mdev_bus/PARENT/mdev_supported_types/TYPE), each with a count
 * of instances it can still create; an instance is /sys/bus/mdev/devices/UUID
 * with its type, parent, IOMMU group and driver (vfio_mdev). A mediated
 * device is identified across hosts by its parent's identity and its type
 * name (DESIGN.md, Decisions 31); its UUID is only this host's name for it. */

typedef struct {
  char *parent;              /* the parent's device name: "mtty", or a PCI BDF */
  char *name;                /* the type's directory name: "mtty-1", "nvidia-63" */
  char *pretty_name;         /* its "name" attribute, or NULL */
  char *device_api;          /* "vfio-pci", … */
  char *description;         /* or NULL */
  gint available_instances;  /* -1: unknown */
} VfmMdevType;

typedef struct {
  char *uuid;
  char *parent;
  char *type;                /* the type's directory name */
  gint iommu_group;          /* -1: none */
  char *driver;              /* the parent driver's mdev driver ("mtty"; vfio_mdev before 5.16), or NULL */
} VfmMdev;

void        vfm_mdev_type_free    (VfmMdevType *t);
void        vfm_mdev_free         (VfmMdev *m);

/* Parent names, sorted. */
GPtrArray  *vfm_mdev_parents      (VfmSysroot *sr);
/* Types (VfmMdevType) of one parent, or of all when parent is NULL. */
GPtrArray  *vfm_mdev_types        (VfmSysroot *sr, const char *parent);
/* Instances (VfmMdev), sorted by UUID. */
GPtrArray  *vfm_mdev_list         (VfmSysroot *sr);
VfmMdev    *vfm_mdev_get          (VfmSysroot *sr, const char *uuid, GError **error);
gboolean    vfm_mdev_uuid_is_valid (const char *uuid);

/* The kernel's own operations, verified: create writes the UUID to the
 * type's "create" and waits for the instance to appear; remove writes 1 to
 * the instance's "remove". Neither is journaled here (bind/ does that). */
gboolean    vfm_mdev_create       (VfmSysroot *sr, const char *parent, const char *type, const char *uuid,
                                   GError **error);
gboolean    vfm_mdev_remove       (VfmSysroot *sr, const char *uuid, GError **error);

JsonNode   *vfm_mdev_to_json      (const VfmMdev *m);
JsonNode   *vfm_mdev_type_to_json (const VfmMdevType *t);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmMdev, vfm_mdev_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmMdevType, vfm_mdev_type_free)

G_END_DECLS
