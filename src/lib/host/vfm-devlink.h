/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-sysroot.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* What devlink says of one instance ("pci/0000:3b:00.0"): the driver's
 * versions (`devlink dev info`), the eswitch mode and the port function
 * "migratable" capability of its VF ports (`devlink port show`). Read from
 * the running kernel over generic netlink; on a --sysroot host from
 * ROOT/.kmock/devlink/BUS/DEV.json, the same shape as
 * vfm_devlink_info_to_json() writes (tests/hosts/LAYOUT.md). */
typedef struct {
  gint vf;                 /* DEVLINK_ATTR_PORT_PCI_VF_NUMBER */
  guint32 port_index;
  gint migratable;         /* VfmFact: -1 when the driver does not report it */
} VfmDevlinkVfPort;

typedef struct {
  char *handle;            /* BUS/DEV */
  char *driver;            /* DEVLINK_ATTR_INFO_DRIVER_NAME */
  char *serial;
  char *eswitch;           /* "legacy", "switchdev", or NULL (no eswitch) */
  /* name -> value, in the kernel's order (GPtrArray of char*[2]) */
  GPtrArray *fixed, *running, *stored;
  GArray *vf_ports;        /* VfmDevlinkVfPort, by VF number */
  gboolean any_port;       /* the instance has devlink ports at all */
} VfmDevlinkInfo;

void             vfm_devlink_info_free    (VfmDevlinkInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmDevlinkInfo, vfm_devlink_info_free)

/* NULL with VFM_ERROR_NOT_FOUND when BUS/DEV has no devlink instance (its
 * driver registers none), VFM_ERROR_UNSUPPORTED when the kernel has no
 * devlink. */
VfmDevlinkInfo  *vfm_devlink_read         (VfmSysroot  *sr,
                                           const char  *bus,
                                           const char  *dev,
                                           GError     **error);
const VfmDevlinkVfPort *vfm_devlink_vf_port (const VfmDevlinkInfo *info, gint vf);
/* The value of a version by name, or NULL. */
const char      *vfm_devlink_version      (GPtrArray   *versions,
                                           const char  *name);
/* The firmware identity check compares between hosts: the "fw*" fixed
 * versions (PSID) and every running version, "name value" joined by ", "
 * in the kernel's order; NULL when devlink reports none. */
char            *vfm_devlink_firmware     (const VfmDevlinkInfo *info);
/* The stored versions that differ from the running ones (flashed, not yet
 * active), "name running -> stored" joined by ", "; NULL when none. */
char            *vfm_devlink_pending      (const VfmDevlinkInfo *info);
JsonNode        *vfm_devlink_info_to_json (const VfmDevlinkInfo *info);

/* devlink over generic netlink (libnl-genl): the port function
 * capabilities of a PF's VF ports (kernel >= 6.3). Netlink talks to the
 * running kernel, so under a sysroot these fail clearly instead. */
gboolean vfm_devlink_set_vf_migratable (VfmSysroot  *sr,
                                        const char  *bus,
                                        const char  *pf,
                                        gint         vf_index,
                                        gboolean     allow_switchdev,
                                        gboolean     dry_run,
                                        GPtrArray   *steps,
                                        GError     **error);

G_END_DECLS
