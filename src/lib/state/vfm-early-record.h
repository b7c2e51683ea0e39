/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* What the initramfs step (data/initramfs/vfmig-early.sh) did this boot,
 * read from /run/vfmig/early-boot.json: JSON objects, one a line. The first
 * says the step ran ({"step":"vfmig-early","plan":ID,"devices":N}); each
 * further one is a device of the plan:
 *   {"bdf", "pci_path", "vendor", "device", "driver", "module",
 *    "host_driver", "policy", "result"}
 * result: "bound" (on DRIVER before any host driver), "held" (a driver
 * already had it: left alone), "absent" (no device with that identity),
 * "failed" (override set, DRIVER did not bind). */
typedef struct {
  char *bdf;
  char *pci_path;
  char *vendor, *device;    /* "1b36", as the policy plan says */
  char *driver;             /* the VFIO driver the step set */
  char *module;
  char *host_driver;        /* the driver it had when the plan was made, or NULL */
  char *policy;             /* the policy id that manages it */
  char *result;
  char *held_by;            /* result "held": the driver that had it */
} VfmEarlyDevice;

typedef struct {
  char *plan;               /* the plan's id (a hash of its lines) */
  GPtrArray *devices;       /* VfmEarlyDevice */
  GPtrArray *problems;      /* char *: lines that could not be read */
} VfmEarlyBoot;

/* NULL and no error when the step did not run this boot (no file). */
VfmEarlyBoot *vfm_early_boot_read      (VfmSysroot *sr, GError **error);
void          vfm_early_boot_free      (VfmEarlyBoot *eb);
void          vfm_early_device_free    (VfmEarlyDevice *d);
JsonNode     *vfm_early_device_to_json (const VfmEarlyDevice *d);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmEarlyBoot, vfm_early_boot_free)

G_END_DECLS
