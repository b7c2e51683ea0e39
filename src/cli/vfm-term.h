/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>
#include <stdio.h>

G_BEGIN_DECLS

/* --color=WHEN */
typedef enum {
  VFM_COLOR_AUTO,   /* on a terminal, unless NO_COLOR or TERM=dumb */
  VFM_COLOR_ALWAYS,
  VFM_COLOR_NEVER,
} VfmColorMode;

typedef enum {
  VFM_STYLE_PLAIN,
  VFM_STYLE_BOLD,   /* table headers */
  VFM_STYLE_GOOD,   /* done, changed, passed: green */
  VFM_STYLE_WARN,   /* refusals, warnings: yellow */
  VFM_STYLE_BAD,    /* "error:": red */
} VfmStyle;

/* What one output stream can show, decided once at start: colour, and the
 * width human output must fit (80 unless the stream is a terminal). */
typedef struct {
  gboolean color;
  guint width;
} VfmTerm;

gboolean    vfm_color_mode_from_string (const char *s, VfmColorMode *mode);
void        vfm_term_init       (VfmTerm *term, int fd, VfmColorMode mode);
const char *vfm_term_on         (const VfmTerm *term, VfmStyle style);
const char *vfm_term_off        (const VfmTerm *term, VfmStyle style);
glong       vfm_term_text_width (const char *text);
char       *vfm_term_truncate   (const char *text, glong width);
GPtrArray  *vfm_term_wrap       (const char *text, glong width);
void        vfm_term_print_item (const VfmTerm *term,
                                 FILE          *out,
                                 guint          indent,
                                 const char    *mark,
                                 VfmStyle       mark_style,
                                 const char    *text);

G_END_DECLS
