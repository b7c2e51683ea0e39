/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-keyfile.h"
#include "vfm-error.h"

#include <string.h>

static void
entry_free (gpointer data)
{
  VfmKeyfileEntry *e = data;
  g_free (e->key);
  g_free (e->value);
  g_free (e);
}

static void
group_free (gpointer data)
{
  VfmKeyfileGroup *g = data;
  g_free (g->name);
  g_ptr_array_unref (g->entries);
  g_free (g);
}

void
vfm_keyfile_free (VfmKeyfile *kf)
{
  if (kf == NULL)
    return;
  g_free (kf->path);
  g_ptr_array_unref (kf->groups);
  g_free (kf);
}

static gboolean
valid_key (const char *key)
{
  if (*key == '\0')
    return FALSE;
  for (const char *p = key; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

VfmKeyfile *
vfm_keyfile_parse (const char *path, const char *text, GError **error)
{
  g_autoptr (VfmKeyfile) kf = g_new0 (VfmKeyfile, 1);
  g_auto (GStrv) lines = NULL;
  VfmKeyfileGroup *group = NULL;

  kf->path = g_strdup (path);
  kf->groups = g_ptr_array_new_with_free_func (group_free);

  if (!g_utf8_validate (text, -1, NULL)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: not valid UTF-8", path);
    return NULL;
  }

  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    guint lineno = i + 1;
    char *line = g_strstrip (lines[i]);

    if (*line == '\0' || *line == '#' || *line == ';')
      continue;

    if (*line == '[') {
      gsize len = strlen (line);
      if (len < 3 || line[len - 1] != ']') {
        g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                     "%s:%u: malformed group header \"%s\"", path, lineno, line);
        return NULL;
      }
      group = g_new0 (VfmKeyfileGroup, 1);
      group->name = g_strndup (line + 1, len - 2);
      g_strstrip (group->name);
      group->line = lineno;
      group->entries = g_ptr_array_new_with_free_func (entry_free);
      g_ptr_array_add (kf->groups, group);
      continue;
    }

    char *eq = strchr (line, '=');
    if (eq == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                   "%s:%u: expected \"Key=Value\", got \"%s\"", path, lineno, line);
      return NULL;
    }
    if (group == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                   "%s:%u: key outside of any [Group]", path, lineno);
      return NULL;
    }
    *eq = '\0';
    g_autofree char *key = g_strdup (g_strstrip (line));
    if (!valid_key (key)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                   "%s:%u: invalid key name \"%s\"", path, lineno, key);
      return NULL;
    }
    if (vfm_keyfile_group_lookup (group, key) != NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                   "%s:%u: duplicate key \"%s\" in [%s]", path, lineno, key, group->name);
      return NULL;
    }
    VfmKeyfileEntry *e = g_new0 (VfmKeyfileEntry, 1);
    e->key = g_steal_pointer (&key);
    e->value = g_strdup (g_strstrip (eq + 1));
    e->line = lineno;
    g_ptr_array_add (group->entries, e);
  }
  return g_steal_pointer (&kf);
}

VfmKeyfileEntry *
vfm_keyfile_group_lookup (VfmKeyfileGroup *group, const char *key)
{
  for (guint i = 0; i < group->entries->len; i++) {
    VfmKeyfileEntry *e = g_ptr_array_index (group->entries, i);
    if (g_strcmp0 (e->key, key) == 0)
      return e;
  }
  return NULL;
}

const char *
vfm_keyfile_group_get (VfmKeyfileGroup *group, const char *key)
{
  VfmKeyfileEntry *e = vfm_keyfile_group_lookup (group, key);
  if (e == NULL)
    return NULL;
  e->used = TRUE;
  return e->value;
}

gboolean
vfm_keyfile_group_get_bool (VfmKeyfileGroup *group,
                            const char *key,
                            gboolean fallback,
                            const char *path,
                            gboolean *out,
                            GError **error)
{
  VfmKeyfileEntry *e = vfm_keyfile_group_lookup (group, key);
  *out = fallback;
  if (e == NULL)
    return TRUE;
  e->used = TRUE;
  if (g_ascii_strcasecmp (e->value, "true") == 0 || g_strcmp0 (e->value, "yes") == 0) {
    *out = TRUE;
    return TRUE;
  }
  if (g_ascii_strcasecmp (e->value, "false") == 0 || g_strcmp0 (e->value, "no") == 0) {
    *out = FALSE;
    return TRUE;
  }
  g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
               "%s:%u: %s must be true or false, not \"%s\"", path, e->line, key, e->value);
  return FALSE;
}

/* Lists are separated by ';' or ',' with optional spaces: "15b3:101e; 15b3:101f". */
char **
vfm_keyfile_split_list (const char *value)
{
  g_auto (GStrv) parts = g_strsplit_set (value, ";,", -1);
  g_autoptr (GPtrArray) out = g_ptr_array_new ();
  for (guint i = 0; parts[i] != NULL; i++) {
    char *p = g_strstrip (parts[i]);
    if (*p != '\0')
      g_ptr_array_add (out, g_strdup (p));
  }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

/* After a loader has read every key it knows, anything left is a typo or a
 * key from a newer vfmig: report the first one with its line. */
gboolean
vfm_keyfile_check_unused (VfmKeyfile *kf, GError **error)
{
  for (guint i = 0; i < kf->groups->len; i++) {
    VfmKeyfileGroup *g = g_ptr_array_index (kf->groups, i);
    for (guint j = 0; j < g->entries->len; j++) {
      VfmKeyfileEntry *e = g_ptr_array_index (g->entries, j);
      if (!e->used) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                     "%s:%u: unknown key \"%s\" in [%s]", kf->path, e->line, e->key, g->name);
        return FALSE;
      }
    }
  }
  return TRUE;
}
