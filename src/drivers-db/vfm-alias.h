/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The kernel's modules.alias, as far as vfmig cares: the `vfio_pci:` aliases
 * by which VFIO variant drivers advertise the devices they serve, and the set
 * of installed modules (every module an alias line names). */
/* The seven fields of a PCI modalias, in order: v d sv sd bc sc i. */
#define VFM_ALIAS_FIELDS 7

typedef struct {
  char *pattern;     /* as in the file, after "vfio_pci:", e.g. "v000015B3d0000101Esv*sd*bc*sc*i*" */
  char *fields[VFM_ALIAS_FIELDS];
  char *module;      /* '_' form */
  guint line;
  guint wildcards;   /* fields that are exactly "*": fewer is more specific */
} VfmAlias;

typedef struct {
  gint ref;              /* read-only once parsed: shared between threads */
  char *path;
  GPtrArray *vfio;       /* VfmAlias, in file order */
  GHashTable *modules;   /* module name (with '-' as '_') -> NULL */
  GPtrArray *warnings;   /* char *: "FILE:LINE: …" for lines that do not parse */
} VfmAliasTable;

VfmAliasTable *vfm_alias_table_new         (void);
gboolean       vfm_alias_table_parse       (VfmAliasTable *table,
                                            const char    *path,
                                            const char    *text,
                                            GError       **error);
void           vfm_alias_table_add_modules (VfmAliasTable *table,
                                            const char    *text);
VfmAliasTable *vfm_alias_table_ref         (VfmAliasTable *table);
/* drops a reference; the last frees the table */
void           vfm_alias_table_free        (VfmAliasTable *table);
gboolean       vfm_alias_table_has_module  (VfmAliasTable *table,
                                            const char    *module);
GPtrArray     *vfm_alias_table_match       (VfmAliasTable *table,
                                            const char    *modalias);
const VfmAlias *vfm_alias_table_best       (VfmAliasTable *table,
                                            const char    *modalias);
gboolean       vfm_alias_split             (const char    *text,
                                            char          *fields[VFM_ALIAS_FIELDS]);
void           vfm_alias_fields_clear      (char          *fields[VFM_ALIAS_FIELDS]);
char          *vfm_module_normalize        (const char *module);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmAliasTable, vfm_alias_table_free)

G_END_DECLS
