/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-match.h"

G_BEGIN_DECLS

typedef enum {
  VFM_KIND_GENERIC,  /* plain vfio-pci */
  VFM_KIND_IGD,      /* vfio-pci with Intel IGD QEMU options */
  VFM_KIND_VENDOR,   /* a variant driver built on vfio-pci-core */
} VfmDriverKind;

typedef enum { VFM_FACT_UNKNOWN = -1, VFM_FACT_NO = 0, VFM_FACT_YES = 1 } VfmFact;

/* One curated entry (data/drivers/ID.conf): facts the kernel's alias file
 * does not carry. See vfmig-drivers(5). */
typedef struct {
  char *id;            /* file basename without .conf */
  char *path;
  char *driver;        /* name in /sys/bus/pci/drivers */
  char *module;        /* module name, '_' form */
  VfmDriverKind kind;
  char *summary;
  char *notes;
  GPtrArray *matches;  /* VfmMatch; empty only for Kind=generic (matches all) */

  /* [Migration] */
  VfmFact migratable;
  VfmFact stop_copy, pre_copy, p2p;
  char *dirty_tracking;  /* "device" | "iommu" | "none" | NULL */
  VfmFact same_firmware; /* SameFirmware: the device state needs equal PF firmware on both ends */
  char *migration_since; /* kernel release that brought migration */
  char *migration_notes;

  /* [Prerequisites] */
  char **pf_drivers;
  gboolean devlink_migratable;
  char *min_kernel;
  char *min_qemu;
  char *min_libvirt;
  char *firmware;
  char *prereq_notes;

  /* [Qemu] */
  char **qemu_properties; /* "name=value" for -device vfio-pci */
  char *qemu_machine;
  char *qemu_guest_address;
  gboolean qemu_rom_required;
  char *qemu_notes;
} VfmDriverEntry;

typedef struct {
  GPtrArray *entries;  /* VfmDriverEntry, sorted by id */
  GPtrArray *errors;   /* char *: "FILE:LINE: …" for files that did not load */
} VfmDriverDb;

const char     *vfm_driver_kind_to_string (VfmDriverKind kind);
gboolean        vfm_keyfile_group_get_fact (VfmKeyfileGroup *g,
                                            const char      *key,
                                            const char      *path,
                                            VfmFact         *out,
                                            GError         **error);
VfmDriverDb    *vfm_driver_db_new         (void);
void            vfm_driver_db_free        (VfmDriverDb *db);
void            vfm_driver_db_load_dirs   (VfmDriverDb        *db,
                                           const char * const *dirs);
VfmDriverEntry *vfm_driver_entry_parse    (const char *path,
                                           const char *text,
                                           GError    **error);
void            vfm_driver_entry_free     (VfmDriverEntry *entry);
VfmDriverEntry *vfm_driver_db_lookup      (VfmDriverDb *db,
                                           const char  *id_or_driver);
VfmDriverEntry *vfm_driver_db_by_module   (VfmDriverDb *db,
                                           const char  *module,
                                           VfmDriverKind kind);
gboolean        vfm_driver_entry_matches  (const VfmDriverEntry *entry,
                                           const VfmDeviceIds   *ids,
                                           guint                *specificity);

/* Shared by drivers and policies: *.conf of each directory, sorted by name;
 * a later directory's file replaces an earlier one of the same name. */
GPtrArray      *vfm_conf_dir_list         (const char * const *dirs);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmDriverDb, vfm_driver_db_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmDriverEntry, vfm_driver_entry_free)

G_END_DECLS
