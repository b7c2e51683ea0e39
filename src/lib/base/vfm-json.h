/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>


G_BEGIN_DECLS

/* JSON as every layer reads and writes it: strict parsing of text from
 * outside, typed getters, builder helpers. A leaf: each type's own
 * _to_json/_from_json lives beside the type. Keys are snake_case; ids are
 * lowercase hex without 0x (DESIGN.md, Decisions 4). */

/* json-glib parses by recursion (a deep enough [[[… overflows the stack)
 * and takes more than JSON (single-quoted strings, comments). Before text
 * from outside - a socket, a file anyone but root could have touched, a
 * peer - reaches it: nesting at most VFM_JSON_MAX_DEPTH, and nothing strict
 * JSON does not have outside strings (it could hide brackets from the
 * count). VFM_ERROR_PARSE with the offset when not. */
#define VFM_JSON_MAX_DEPTH 64
gboolean  vfm_json_check_text  (const char *text, gsize len, GError **error);
/* Members of JSON from outside, by type: the value, or def when the member is
 * absent, null or of another type (json-glib's *_with_default functions are
 * a critical on an object or array member). */
const char *vfm_json_get_str_or    (JsonObject *o, const char *key, const char *def);
gint64      vfm_json_get_int_or    (JsonObject *o, const char *key, gint64 def);
gboolean    vfm_json_get_bool_or   (JsonObject *o, const char *key, gboolean def);
gdouble     vfm_json_get_double_or (JsonObject *o, const char *key, gdouble def);

/* Reads PATH whole (at most max_bytes), checks it, parses it into parser. */
gboolean  vfm_json_load_file   (JsonParser *parser, const char *path, gsize max_bytes, GError **error);
gboolean  vfm_json_load_data   (JsonParser *parser, const char *text, gsize len, GError **error);
/* Builder helpers shared by every JSON shape of the library. */
void      vfm_json_add_str       (JsonBuilder *b, const char *key, const char *v);
void      vfm_json_add_hex       (JsonBuilder *b, const char *key, guint32 v, int width);
void      vfm_json_add_bool      (JsonBuilder *b, const char *key, gboolean v);
void      vfm_json_add_int       (JsonBuilder *b, const char *key, gint64 v);
/* v < 0: null */
void      vfm_json_add_int_or_null (JsonBuilder *b, const char *key, gint64 v);
void      vfm_json_add_strv      (JsonBuilder *b, const char *key, GPtrArray *list);
void      vfm_json_add_cstrv     (JsonBuilder *b, const char *key, char **v);

JsonNode *vfm_error_to_json      (const GError *error);
char     *vfm_json_to_string     (JsonNode *node,
                                  gboolean  pretty);

G_END_DECLS
