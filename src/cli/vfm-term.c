/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Terminal output: colour only where someone looks at it (https://no-color.org),
 * and text laid out to fit the width, in characters as the terminal counts
 * them, not bytes. */
#include "vfm-term.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

gboolean
vfm_color_mode_from_string (const char *s, VfmColorMode *mode)
{
  if (g_strcmp0 (s, "auto") == 0)
    *mode = VFM_COLOR_AUTO;
  else if (g_strcmp0 (s, "always") == 0)
    *mode = VFM_COLOR_ALWAYS;
  else if (g_strcmp0 (s, "never") == 0)
    *mode = VFM_COLOR_NEVER;
  else
    return FALSE;
  return TRUE;
}

/* The order is documented in vfmigctl(8): --color=always|never, then
 * NO_COLOR (set and not empty), then TERM (unset or "dumb": no colour, as
 * systemd does), then whether the stream is a terminal. */
static gboolean
wants_color (VfmColorMode mode, int fd)
{
  const char *no_color = g_getenv ("NO_COLOR");
  const char *term = g_getenv ("TERM");

  if (mode != VFM_COLOR_AUTO)
    return mode == VFM_COLOR_ALWAYS;
  if (no_color != NULL && *no_color != '\0')
    return FALSE;
  if (term == NULL || *term == '\0' || strcmp (term, "dumb") == 0)
    return FALSE;
  return isatty (fd);
}

/* 80 columns unless the stream is a terminal: then COLUMNS, else the
 * terminal's own size. A pipe never gets more than 80, whatever the
 * environment says, so that what is captured looks the same everywhere. */
static guint
output_width (int fd)
{
  const char *columns = g_getenv ("COLUMNS");
  struct winsize ws = { 0 };
  guint64 n;

  if (!isatty (fd))
    return 80;
  if (columns != NULL && g_ascii_string_to_unsigned (columns, 10, 20, 4096, &n, NULL))
    return (guint) n;
  if (ioctl (fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
    return ws.ws_col;
  return 80;
}

void
vfm_term_init (VfmTerm *term, int fd, VfmColorMode mode)
{
  term->color = wants_color (mode, fd);
  term->width = output_width (fd);
}

const char *
vfm_term_on (const VfmTerm *term, VfmStyle style)
{
  if (term == NULL || !term->color)
    return "";
  switch (style) {
  case VFM_STYLE_PLAIN: return "";
  case VFM_STYLE_BOLD: return "\033[1m";
  case VFM_STYLE_GOOD: return "\033[32m";
  case VFM_STYLE_WARN: return "\033[33m";
  case VFM_STYLE_BAD: return "\033[1;31m";
  }
  return "";
}

const char *
vfm_term_off (const VfmTerm *term, VfmStyle style)
{
  return *vfm_term_on (term, style) ? "\033[0m" : "";
}

static glong
char_width (gunichar c)
{
  if (g_unichar_iszerowidth (c))
    return 0;
  return g_unichar_iswide (c) ? 2 : 1;
}

/* Columns the text takes on a terminal (invalid UTF-8: one per byte). */
glong
vfm_term_text_width (const char *text)
{
  glong w = 0;

  if (!g_utf8_validate (text, -1, NULL))
    return (glong) strlen (text);
  for (const char *p = text; *p; p = g_utf8_next_char (p))
    w += char_width (g_utf8_get_char (p));
  return w;
}

/* At most width columns; a cut is marked with "…" at the end. */
char *
vfm_term_truncate (const char *text, glong width)
{
  GString *s;
  glong used = 0;

  if (vfm_term_text_width (text) <= width)
    return g_strdup (text);
  if (width <= 0)
    return g_strdup ("");
  s = g_string_new (NULL);
  if (g_utf8_validate (text, -1, NULL)) {
    for (const char *p = text; *p; p = g_utf8_next_char (p)) {
      glong w = char_width (g_utf8_get_char (p));
      if (used + w > width - 1)
        break;
      g_string_append_len (s, p, g_utf8_next_char (p) - p);
      used += w;
    }
  } else {
    g_string_append_len (s, text, width - 1);
  }
  while (s->len > 0 && s->str[s->len - 1] == ' ')
    g_string_truncate (s, s->len - 1);
  g_string_append (s, "…");
  return g_string_free (s, FALSE);
}

/* Splits a word wider than a whole line. */
static void
add_long_word (GPtrArray *lines, GString *line, glong *used, const char *word, glong width)
{
  for (const char *p = word; *p; p = g_utf8_next_char (p)) {
    glong w = char_width (g_utf8_get_char (p));
    if (*used + w > width) {
      g_ptr_array_add (lines, g_strdup (line->str));
      g_string_truncate (line, 0);
      *used = 0;
    }
    g_string_append_len (line, p, g_utf8_next_char (p) - p);
    *used += w;
  }
}

/* The text in lines of at most width columns, broken at spaces; at least
 * one line. */
GPtrArray *
vfm_term_wrap (const char *text, glong width)
{
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) words = g_strsplit (text, " ", -1);
  g_autoptr (GString) line = g_string_new (NULL);
  gboolean started = FALSE;
  glong used = 0;

  width = MAX (width, 1);
  if (!g_utf8_validate (text, -1, NULL)) {
    g_ptr_array_add (lines, g_strdup (text));
    return lines;
  }
  for (guint i = 0; words[i] != NULL; i++) {
    const char *word = words[i];
    glong ww = vfm_term_text_width (word);

    if (started && used + 1 + ww > width) {
      while (line->len > 0 && line->str[line->len - 1] == ' ')
        g_string_truncate (line, line->len - 1);
      g_ptr_array_add (lines, g_strdup (line->str));
      g_string_truncate (line, 0);
      used = 0;
      started = FALSE;
    }
    if (!started && *word == '\0')
      continue; /* no line starts with the space of a double space */
    if (started) {
      g_string_append_c (line, ' ');
      used++;
    }
    if (ww > width - used)
      add_long_word (lines, line, &used, word, width);
    else {
      g_string_append (line, word);
      used += ww;
    }
    started = TRUE;
  }
  if (line->len > 0 || lines->len == 0)
    g_ptr_array_add (lines, g_strdup (line->str));
  return lines;
}

/* "  MARK text…" with the text wrapped to the width, its further lines
 * indented under the text's start. */
void
vfm_term_print_item (const VfmTerm *term, FILE *out, guint indent, const char *mark, VfmStyle mark_style,
                     const char *text)
{
  glong hang = (glong) indent + (mark != NULL ? vfm_term_text_width (mark) + 1 : 0);
  g_autoptr (GPtrArray) lines = vfm_term_wrap (text, MAX ((glong) term->width - hang, 20));

  for (guint i = 0; i < lines->len; i++) {
    const char *l = g_ptr_array_index (lines, i);
    if (i == 0) {
      fprintf (out, "%*s", (int) indent, "");
      if (mark != NULL)
        fprintf (out, "%s%s%s%s", vfm_term_on (term, mark_style), mark, vfm_term_off (term, mark_style),
                 *l ? " " : "");
    } else {
      fprintf (out, "%*s", (int) hang, "");
    }
    fprintf (out, "%s\n", l);
  }
}
