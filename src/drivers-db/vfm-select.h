/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-alias.h"
#include "vfm-driver-db.h"
#include "vfm-policy.h"

G_BEGIN_DECLS

/* Whether a module is installed beyond what modules.alias says (its driver is
 * registered in sysfs). Supplied by the library, which knows the host. */
typedef gboolean (*VfmModuleProbeFunc) (const char *module, gpointer user_data);

/* The PCI driver a module registers, as the host shows it (sysfs), or NULL
 * when the host cannot tell (module not loaded). Supplied by the library. */
typedef char *(*VfmDriverNameFunc) (const char *module, gpointer user_data);

/* The three sources, merged (DESIGN.md, "Driver database"). */
typedef struct {
  VfmAliasTable *aliases;       /* NULL when the kernel has no modules.alias */
  VfmDriverDb *curated;
  VfmPolicySet *policies;
  VfmModuleProbeFunc module_probe;
  gpointer module_probe_data;
  VfmDriverNameFunc driver_name;
  gpointer driver_name_data;
  GHashTable *alias_cache;      /* modalias -> GPtrArray of VfmAlias matches */
  gint uses_revision;           /* -1 not computed yet; see vfm_db_uses_revision */
} VfmDb;

typedef struct {
  char *driver;
  char *module;
  VfmDriverKind kind;
  char *source;                 /* "modules.alias:LINE", "curated:ID", "policy:ID" */
  int score;                    /* higher is better; < 0: not eligible */
  char *reason;
  gboolean chosen;
  const VfmDriverEntry *entry;  /* curated facts for this driver, or NULL */
  guint alias_line;             /* its best modules.alias line; 0: not from the alias file */
} VfmCandidate;

/* What libvirt (>= 10.0, virPCIDeviceFindBestVFIOVariant) would bind the
 * device to when the domain names no driver: the vfio_pci alias with the
 * fewest wildcards (first line among equals), else plain vfio-pci. */
typedef struct {
  gboolean decided;             /* FALSE: no modules.alias, libvirt fails the detach */
  char *module;                 /* '_' form */
  char *driver;                 /* as resolved on this host */
  char *source;                 /* "modules.alias:LINE" or "fallback" */
  char *reason;
  gboolean agrees;              /* vfmig selects the same module */
} VfmLibvirtPick;

typedef struct {
  VfmCandidate *selected;       /* points into candidates, or NULL */
  GPtrArray *candidates;        /* VfmCandidate, best first */
  char *reason;                 /* why the winner won, or why nothing did */
  gboolean managed;
  gboolean auto_bind;
  char *managed_reason;
  VfmLibvirtPick libvirt;
} VfmSelection;

VfmDb        *vfm_db_new            (void);
void          vfm_db_free           (VfmDb *db);
gboolean      vfm_db_module_exists  (VfmDb *db, const char *module);
gboolean      vfm_db_uses_revision  (VfmDb *db);
char         *vfm_db_driver_name    (VfmDb *db, const char *module);
gboolean      vfm_driver_name_equal (const char *a, const char *b);
VfmSelection *vfm_select            (VfmDb *db, const VfmDeviceIds *ids);
void          vfm_selection_free    (VfmSelection *sel);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmDb, vfm_db_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmSelection, vfm_selection_free)

G_END_DECLS
