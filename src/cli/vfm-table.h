/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

#include "vfm-term.h"

G_BEGIN_DECLS

/* A human table: columns as wide as their widest cell, two spaces apart,
 * every line within the terminal's width. Only the last column gives way:
 * cut with "…" at the end of the line, or wrapped under itself. */
typedef struct _VfmTable VfmTable;

VfmTable *vfm_table_new        (guint ncols, const char *header);
void      vfm_table_free       (VfmTable *table);
void      vfm_table_set_indent (VfmTable *table, guint indent);
void      vfm_table_set_wrap   (VfmTable *table, gboolean wrap);
void      vfm_table_take_row   (VfmTable *table, char **cells);
void      vfm_table_add_row    (VfmTable *table, const char *first, ...) G_GNUC_NULL_TERMINATED;
void      vfm_table_style      (VfmTable *table, guint col, VfmStyle style);
guint     vfm_table_rows       (VfmTable *table);
void      vfm_table_print      (VfmTable *table, const VfmTerm *term);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmTable, vfm_table_free)

G_END_DECLS
