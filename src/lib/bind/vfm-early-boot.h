/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-host.h"

G_BEGIN_DECLS

/* Binding before any host driver, in the initramfs (data/initramfs/).
 *
 * The plan: the devices the policies bind at hotplug (Manage=true,
 * AutoBind=true) among those present now, each by its stable identity (PCI
 * path and ids) with the VFIO driver and module selected for it and the
 * host driver it has now (what restore returns it to). The initramfs hook
 * writes it into the image (`vfmigctl early-boot plan`), the early step
 * (data/initramfs/vfmig-early.sh) sets driver_override from it before udev
 * loads any driver, and records what it did in /run/vfmig/early-boot.json.
 *
 * Adoption: at vfmigd's start and before bind/unbind/restore, each device
 * that record says was bound, and that is still on that driver with no
 * journal record, gets an owned record (origin "early-boot", the plan's host
 * driver as the original): status shows it, restore returns it. */

typedef struct {
  char *bdf;
  char *pci_path;
  guint16 vendor, device, subsystem_vendor, subsystem_device;
  char *driver;        /* the selected VFIO driver ("vfio-pci") */
  char *module;        /* its module ("vfio_pci") */
  char *host_driver;   /* the driver it has now, or had before vfmig; NULL unknown */
  char *policy;        /* the policy that binds it */
} VfmEarlyPlanEntry;

/* The plan, and (in warnings) the policies' devices left out and why. */
GPtrArray *vfm_early_boot_plan        (VfmHost   *host,
                                       GPtrArray *warnings,
                                       GError   **error);
/* The plan file the early step reads: "plan ID" then one "device …" line
 * per entry (see data/initramfs/vfmig-early.sh). */
char      *vfm_early_boot_plan_text   (GPtrArray *plan);
JsonNode  *vfm_early_boot_plan_to_json (GPtrArray *plan);
void       vfm_early_plan_entry_free  (VfmEarlyPlanEntry *e);

/* Adopts the devices the early step bound; returns one message per device
 * adopted (for logs). Never fails: what cannot be adopted stays as is. */
GPtrArray *vfm_early_boot_adopt       (VfmHost *host);

G_END_DECLS
