/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-table.h"

#include <stdarg.h>
#include <stdio.h>

struct _VfmTable {
  guint ncols;
  guint indent;
  gboolean wrap;
  GPtrArray *rows;  /* char **, ncols cells each; the header first when there is one */
  GArray *styles;   /* VfmStyle, ncols per row */
};

/* header: the column names separated by '|', or NULL for none. */
VfmTable *
vfm_table_new (guint ncols, const char *header)
{
  VfmTable *t;

  g_return_val_if_fail (ncols > 0, NULL);
  t = g_new0 (VfmTable, 1);
  t->ncols = ncols;
  t->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  t->styles = g_array_new (FALSE, TRUE, sizeof (VfmStyle));
  if (header != NULL) {
    char **cells = g_new0 (char *, ncols + 1);
    g_auto (GStrv) names = g_strsplit (header, "|", -1);
    for (guint c = 0; c < ncols && names[c] != NULL; c++)
      cells[c] = g_strdup (names[c]);
    vfm_table_take_row (t, cells);
    for (guint c = 0; c < ncols; c++)
      vfm_table_style (t, c, VFM_STYLE_BOLD);
  }
  return t;
}

void
vfm_table_free (VfmTable *t)
{
  if (t == NULL)
    return;
  g_ptr_array_unref (t->rows);
  g_array_unref (t->styles);
  g_free (t);
}

void
vfm_table_set_indent (VfmTable *t, guint indent)
{
  t->indent = indent;
}

/* Wrap the last column under itself instead of cutting it: for text that
 * is the point of the table (reasons). */
void
vfm_table_set_wrap (VfmTable *t, gboolean wrap)
{
  t->wrap = wrap;
}

/* cells: ncols strings (NULL for empty) in an array of at least ncols + 1;
 * the table owns them. */
void
vfm_table_take_row (VfmTable *t, char **cells)
{
  VfmStyle plain = VFM_STYLE_PLAIN;

  for (guint c = 0; c < t->ncols; c++)
    if (cells[c] == NULL)
      cells[c] = g_strdup ("");
  g_ptr_array_add (t->rows, cells);
  for (guint c = 0; c < t->ncols; c++)
    g_array_append_val (t->styles, plain);
}

/* The cells as strings, NULL after the last. */
void
vfm_table_add_row (VfmTable *t, const char *first, ...)
{
  char **cells = g_new0 (char *, t->ncols + 1);
  const char *cell = first;
  va_list ap;

  va_start (ap, first);
  for (guint c = 0; c < t->ncols && cell != NULL; c++) {
    cells[c] = g_strdup (cell);
    cell = va_arg (ap, const char *);
  }
  va_end (ap);
  vfm_table_take_row (t, cells);
}

/* Colours a cell of the row added last. */
void
vfm_table_style (VfmTable *t, guint col, VfmStyle style)
{
  g_return_if_fail (t->rows->len > 0 && col < t->ncols);
  g_array_index (t->styles, VfmStyle, (t->rows->len - 1) * t->ncols + col) = style;
}

guint
vfm_table_rows (VfmTable *t)
{
  return t->rows->len;
}

static void
append_cell (GString *plain, GString *styled, const VfmTerm *term, VfmStyle style, const char *text, glong pad)
{
  g_string_append (plain, text);
  g_string_append (styled, vfm_term_on (term, style));
  g_string_append (styled, text);
  g_string_append (styled, vfm_term_off (term, style));
  for (glong i = 0; i < pad; i++) {
    g_string_append_c (plain, ' ');
    g_string_append_c (styled, ' ');
  }
}

static void
print_line (const VfmTerm *term, GString *plain, GString *styled)
{
  while (plain->len > 0 && plain->str[plain->len - 1] == ' ')
    g_string_truncate (plain, plain->len - 1);
  while (styled->len > 0 && styled->str[styled->len - 1] == ' ')
    g_string_truncate (styled, styled->len - 1);
  if (vfm_term_text_width (plain->str) > (glong) term->width) {
    /* the fixed columns alone are too wide: cut the line, whatever it holds */
    g_autofree char *cut = vfm_term_truncate (plain->str, term->width);
    printf ("%s\n", cut);
  } else {
    printf ("%s\n", styled->str);
  }
}

void
vfm_table_print (VfmTable *t, const VfmTerm *term)
{
  g_autofree glong *width = g_new0 (glong, t->ncols);
  guint last = t->ncols - 1;
  glong start = t->indent, room;

  for (guint r = 0; r < t->rows->len; r++) {
    char **row = g_ptr_array_index (t->rows, r);
    for (guint c = 0; c < last; c++)
      width[c] = MAX (width[c], vfm_term_text_width (row[c]));
  }
  for (guint c = 0; c < last; c++)
    start += width[c] + 2;
  room = (glong) term->width - start;

  for (guint r = 0; r < t->rows->len; r++) {
    char **row = g_ptr_array_index (t->rows, r);
    VfmStyle *style = &g_array_index (t->styles, VfmStyle, r * t->ncols);
    g_autoptr (GString) plain = g_string_new (NULL);
    g_autoptr (GString) styled = g_string_new (NULL);
    g_autoptr (GPtrArray) lines = NULL;

    if (vfm_term_text_width (row[last]) <= room || (!t->wrap || room < 20)) {
      lines = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (lines, vfm_term_truncate (row[last], MAX (room, 1)));
    } else {
      lines = vfm_term_wrap (row[last], room);
    }
    append_cell (plain, styled, term, VFM_STYLE_PLAIN, "", t->indent);
    for (guint c = 0; c < last; c++)
      append_cell (plain, styled, term, style[c], row[c], width[c] + 2 - vfm_term_text_width (row[c]));
    append_cell (plain, styled, term, style[last], g_ptr_array_index (lines, 0), 0);
    print_line (term, plain, styled);
    for (guint i = 1; i < lines->len; i++) {
      g_string_truncate (plain, 0);
      g_string_truncate (styled, 0);
      append_cell (plain, styled, term, VFM_STYLE_PLAIN, "", start);
      append_cell (plain, styled, term, style[last], g_ptr_array_index (lines, i), 0);
      print_line (term, plain, styled);
    }
  }
}
