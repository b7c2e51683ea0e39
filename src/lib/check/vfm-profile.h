/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-vfio.h"

#include <json-glib/json-glib.h>

#include "vfm-host.h"

G_BEGIN_DECLS

/* What check compares (DESIGN.md, "Profiles"). A host profile is built from
 * the host's own vfmig (kernel, IOMMU, devices) plus, when a libvirt
 * connection is at hand, libvirt's and QEMU's versions (Decisions 23). It
 * serialises to versioned JSON so that check can run between two files. */

#define VFM_PROFILE_FORMAT 1

typedef struct {
  char *bdf;
  guint16 vendor, device, subsystem_vendor, subsystem_device;
  guint32 class_code;
  gint revision;
  char *driver;              /* bound now, or NULL */
  char *module;
  char *module_version;
  char *module_srcversion;
  char *selected_driver;
  char *selected_module;
  char *selection_kind;      /* generic | igd | vendor */
  char *physfn;
  char *pf_driver;
  gint numa_node;
  gint iommu_group;
  gboolean group_viable;
  gboolean vfio_bound;
  gboolean in_use;           /* its VFIO group is open (a VM holds it) */
  gboolean claimed;          /* held by a migration's claim */
  /* the kernel's answer (probe cache); probed FALSE: never asked */
  gboolean probed;
  gboolean migration, stop_copy, p2p, pre_copy;
  VfmDirtyTracking dirty_tracking;
  char *probe_source;
  char *probe_detail;
  gint64 probed_at;
  /* curated facts of the selected driver */
  gint facts_supported;      /* VfmFact */
  char *facts_dirty_tracking;
  gint facts_same_firmware;  /* VfmFact: the device state depends on the PF firmware */
  char *firmware;            /* PF firmware from devlink info, or NULL (unknown) */
} VfmDeviceProfile;

/* A mediated device instance as check compares it (identity: parent + type,
 * DESIGN.md Decisions 31). */
typedef struct {
  char *uuid;
  char *parent;
  char *type;
  gint iommu_group;
  gboolean in_use;           /* a process (QEMU) holds it */
  gboolean claimed;          /* held by a migration's claim */
  gboolean probed;           /* the kernel's answer (probe cache) is known */
  gboolean migration, stop_copy, p2p, pre_copy;
  VfmDirtyTracking dirty_tracking;
  char *probe_detail;
  gint64 probed_at;
} VfmMdevProfile;

/* A type a parent offers, and how many more instances it can make. */
typedef struct {
  char *parent;
  char *name;
  char *device_api;
  gint available_instances;  /* -1: unknown */
} VfmMdevTypeProfile;

typedef struct {
  gint format;
  char *hostname;
  char *kernel_release;
  char *iommu_mode;          /* "on", "on (passthrough default)", "off" */
  char *cpu_model;
  char *vfmig_version;
  gulong libvirt_version;    /* 0: unknown */
  gulong qemu_version;       /* 0: unknown */
  gint64 created_at;
  GPtrArray *devices;        /* VfmDeviceProfile */
  GPtrArray *mdevs;          /* VfmMdevProfile */
  GPtrArray *mdev_types;     /* VfmMdevTypeProfile */
} VfmHostProfile;

void              vfm_host_profile_free   (VfmHostProfile *p);
VfmHostProfile   *vfm_host_profile_build  (VfmHost  *host,
                                           GError  **error);
JsonNode         *vfm_host_profile_to_json (const VfmHostProfile *p);
/* The "mdev_types" member into the object b is building: each type's
 * parent, name, device_api and available_instances. name_key is the name's
 * key: "name" in a profile (saved profiles have it), "type" in the
 * inventory (as its mdevs). */
void              vfm_host_profile_add_mdev_types (JsonBuilder          *b,
                                                   const VfmHostProfile *p,
                                                   const char           *name_key);
VfmHostProfile   *vfm_host_profile_from_json (JsonNode   *node,
                                              const char *origin,
                                              GError    **error);
VfmHostProfile   *vfm_host_profile_load   (const char *path,
                                           GError    **error);
VfmDeviceProfile *vfm_host_profile_device (const VfmHostProfile *p,
                                           const char           *bdf);
VfmMdevProfile   *vfm_host_profile_mdev   (const VfmHostProfile *p,
                                           const char           *uuid);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmHostProfile, vfm_host_profile_free)

G_END_DECLS
