/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-json.h"
#include "vfm-error.h"

#include <string.h>

gboolean
vfm_json_check_text (const char *text, gsize len, GError **error)
{
  guint depth = 0;

  for (gsize i = 0; i < len; i++) {
    char c = text[i];
    if (c == '"') {
      for (i++; i < len && text[i] != '"'; i++)
        if (text[i] == '\\')
          i++;
      if (i >= len)
        return TRUE; /* unterminated: the parser says so */
    } else if (c == '[' || c == '{') {
      if (++depth > VFM_JSON_MAX_DEPTH) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "nested deeper than %d levels", VFM_JSON_MAX_DEPTH);
        return FALSE;
      }
    } else if (c == ']' || c == '}') {
      if (depth > 0)
        depth--;
    } else if (c == '\0' || strchr (" \t\r\n:,-+.0123456789Eaeflnrstu", c) == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "not JSON: byte 0x%02x outside a string at offset %" G_GSIZE_FORMAT,
                   (guint8) c, i);
      return FALSE;
    }
  }
  return TRUE;
}

static JsonNode *
value_of (JsonObject *o, const char *key, GType type)
{
  JsonNode *n = o ? json_object_get_member (o, key) : NULL;
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return NULL;
  if (json_node_get_value_type (n) == type || (type == G_TYPE_DOUBLE && json_node_get_value_type (n) == G_TYPE_INT64))
    return n;
  return NULL;
}

const char *
vfm_json_get_str_or (JsonObject *o, const char *key, const char *def)
{
  JsonNode *n = value_of (o, key, G_TYPE_STRING);
  return n ? json_node_get_string (n) : def;
}

gint64
vfm_json_get_int_or (JsonObject *o, const char *key, gint64 def)
{
  JsonNode *n = value_of (o, key, G_TYPE_INT64);
  return n ? json_node_get_int (n) : def;
}

gboolean
vfm_json_get_bool_or (JsonObject *o, const char *key, gboolean def)
{
  JsonNode *n = value_of (o, key, G_TYPE_BOOLEAN);
  return n ? json_node_get_boolean (n) : def;
}

gdouble
vfm_json_get_double_or (JsonObject *o, const char *key, gdouble def)
{
  JsonNode *n = value_of (o, key, G_TYPE_DOUBLE);
  return n ? json_node_get_double (n) : def;
}

gboolean
vfm_json_load_data (JsonParser *parser, const char *text, gsize len, GError **error)
{
  g_autoptr (GError) local = NULL;
  if (!vfm_json_check_text (text, len, error))
    return FALSE;
  if (!json_parser_load_from_data (parser, text, (gssize) len, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s", local->message);
    return FALSE;
  }
  return TRUE;
}

gboolean
vfm_json_load_file (JsonParser *parser, const char *path, gsize max_bytes, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *text = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &text, &len, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "%s", local->message);
    return FALSE;
  }
  if (len > max_bytes) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "larger than %" G_GSIZE_FORMAT " bytes", max_bytes);
    return FALSE;
  }
  return vfm_json_load_data (parser, text, len, error);
}

void
vfm_json_add_str (JsonBuilder *b, const char *key, const char *v)
{
  json_builder_set_member_name (b, key);
  if (v != NULL)
    json_builder_add_string_value (b, v);
  else
    json_builder_add_null_value (b);
}

/* PCI ids as lowercase hex without 0x (DESIGN.md, Decisions 4). */
void
vfm_json_add_hex (JsonBuilder *b, const char *key, guint32 v, int width)
{
  char buf[16];
  g_snprintf (buf, sizeof buf, "%0*x", width, v);
  vfm_json_add_str (b, key, buf);
}

void
vfm_json_add_bool (JsonBuilder *b, const char *key, gboolean v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_boolean_value (b, v);
}

void
vfm_json_add_int (JsonBuilder *b, const char *key, gint64 v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, v);
}


void
vfm_json_add_int_or_null (JsonBuilder *b, const char *key, gint64 v)
{
  json_builder_set_member_name (b, key);
  if (v >= 0)
    json_builder_add_int_value (b, v);
  else
    json_builder_add_null_value (b);
}

void
vfm_json_add_strv (JsonBuilder *b, const char *key, GPtrArray *list)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; list != NULL && i < list->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (list, i));
  json_builder_end_array (b);
}

void
vfm_json_add_cstrv (JsonBuilder *b, const char *key, char **v)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; v != NULL && v[i] != NULL; i++)
    json_builder_add_string_value (b, v[i]);
  json_builder_end_array (b);
}

JsonNode *
vfm_error_to_json (const GError *error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "error");
  json_builder_begin_object (b);
  vfm_json_add_str (b, "name", vfm_error_name (error));
  vfm_json_add_str (b, "message", error->message);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

char *
vfm_json_to_string (JsonNode *node, gboolean pretty)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_pretty (gen, pretty);
  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}
