/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-match.h"
#include "vfm-error.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

void
vfm_match_free (VfmMatch *match)
{
  if (match == NULL)
    return;
  g_array_unref (match->ids);
  g_strfreev (match->classes);
  g_free (match->function);
  g_strfreev (match->pf_drivers);
  g_strfreev (match->bdfs);
  g_strfreev (match->pci_paths);
  g_free (match);
}

static gboolean
parse_hex16 (const char *s, gint *out)
{
  char *end = NULL;
  guint64 v;

  if (g_strcmp0 (s, "*") == 0) {
    *out = -1;
    return TRUE;
  }
  if (g_str_has_prefix (s, "0x"))
    s += 2;
  if (strlen (s) != 4)
    return FALSE;
  v = g_ascii_strtoull (s, &end, 16);
  if (end == NULL || *end != '\0')
    return FALSE;
  *out = (gint) v;
  return TRUE;
}

/* "vvvv:dddd" or "vvvv:dddd:ssvv:ssdd", each part hex or "*". */
static gboolean
parse_id_pattern (const char *s, VfmIdPattern *out)
{
  g_auto (GStrv) parts = g_strsplit (s, ":", -1);
  guint n = g_strv_length (parts);

  out->subsystem_vendor = out->subsystem_device = -1;
  if (n != 2 && n != 4)
    return FALSE;
  if (!parse_hex16 (parts[0], &out->vendor) || !parse_hex16 (parts[1], &out->device))
    return FALSE;
  if (n == 4 && (!parse_hex16 (parts[2], &out->subsystem_vendor) ||
                 !parse_hex16 (parts[3], &out->subsystem_device)))
    return FALSE;
  return TRUE;
}

static gboolean
parse_tristate (VfmKeyfileGroup *group, const char *key, const char *path,
                VfmTristate *out, GError **error)
{
  gboolean v;
  if (vfm_keyfile_group_lookup (group, key) == NULL) {
    *out = VFM_TRI_ANY;
    return TRUE;
  }
  if (!vfm_keyfile_group_get_bool (group, key, FALSE, path, &v, error))
    return FALSE;
  *out = v ? VFM_TRI_YES : VFM_TRI_NO;
  return TRUE;
}

#define LINE_OF(group, key) (vfm_keyfile_group_lookup ((group), (key))->line)

VfmMatch *
vfm_match_from_group (VfmKeyfileGroup *group, const char *path, GError **error)
{
  g_autoptr (VfmMatch) m = g_new0 (VfmMatch, 1);
  const char *v;

  m->ids = g_array_new (FALSE, FALSE, sizeof (VfmIdPattern));
  m->revision = -1;
  m->line = group->line;

  if ((v = vfm_keyfile_group_get (group, "Ids")) != NULL) {
    g_auto (GStrv) list = vfm_keyfile_split_list (v);
    for (guint i = 0; list[i]; i++) {
      VfmIdPattern p;
      if (!parse_id_pattern (list[i], &p)) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                     "%s:%u: Ids: \"%s\" is not vendor:device[:subvendor:subdevice] in 4-digit hex",
                     path, LINE_OF (group, "Ids"), list[i]);
        return NULL;
      }
      g_array_append_val (m->ids, p);
    }
  }
  if ((v = vfm_keyfile_group_get (group, "Class")) != NULL) {
    m->classes = vfm_keyfile_split_list (v);
    for (guint i = 0; m->classes[i]; i++) {
      char *c = m->classes[i];
      gsize len;
      if (g_str_has_prefix (c, "0x"))
        memmove (c, c + 2, strlen (c) - 1);
      len = strlen (c);
      for (char *p = c; *p; p++)
        *p = g_ascii_tolower (*p);
      if ((len != 2 && len != 4 && len != 6) || strspn (c, "0123456789abcdef") != len) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                     "%s:%u: Class: \"%s\" must be 2, 4 or 6 hex digits (base class, +subclass, +prog-if)",
                     path, LINE_OF (group, "Class"), c);
        return NULL;
      }
    }
  }
  if ((v = vfm_keyfile_group_get (group, "Revision")) != NULL) {
    char *end = NULL;
    guint64 r = g_ascii_strtoull (g_str_has_prefix (v, "0x") ? v + 2 : v, &end, 16);
    if (*v == '\0' || end == NULL || *end != '\0' || r > 0xff) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                   "%s:%u: Revision: \"%s\" is not a hex byte", path, LINE_OF (group, "Revision"), v);
      return NULL;
    }
    m->revision = (gint) r;
  }
  if ((v = vfm_keyfile_group_get (group, "Function")) != NULL) {
    /* bus:slot.fn without the domain, as in "00:02.0" */
    g_autofree char *full = g_strdup_printf ("0000:%s", v);
    if (!vfm_bdf_is_valid (full)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                   "%s:%u: Function: \"%s\" is not bus:slot.function like 00:02.0",
                   path, LINE_OF (group, "Function"), v);
      return NULL;
    }
    m->function = g_strdup (v);
  }
  if (!parse_tristate (group, "VirtualFunction", path, &m->vf, error) ||
      !parse_tristate (group, "HasVFs", path, &m->has_vfs, error))
    return NULL;
  if ((v = vfm_keyfile_group_get (group, "PfDriver")) != NULL)
    m->pf_drivers = vfm_keyfile_split_list (v);
  if ((v = vfm_keyfile_group_get (group, "Bdf")) != NULL)
    m->bdfs = vfm_keyfile_split_list (v);
  if ((v = vfm_keyfile_group_get (group, "PciPath")) != NULL)
    m->pci_paths = vfm_keyfile_split_list (v);

  return g_steal_pointer (&m);
}

static gboolean
id_matches (const VfmIdPattern *p, const VfmDeviceIds *ids)
{
  return (p->vendor < 0 || p->vendor == ids->vendor) &&
         (p->device < 0 || p->device == ids->device) &&
         (p->subsystem_vendor < 0 || p->subsystem_vendor == ids->subsystem_vendor) &&
         (p->subsystem_device < 0 || p->subsystem_device == ids->subsystem_device);
}

static gboolean
any_glob (char **globs, const char *s)
{
  if (s == NULL)
    return FALSE;
  for (guint i = 0; globs[i]; i++)
    if (fnmatch (globs[i], s, 0) == 0)
      return TRUE;
  return FALSE;
}

gboolean
vfm_match_test (const VfmMatch *m, const VfmDeviceIds *ids)
{
  if (m->ids->len > 0) {
    gboolean hit = FALSE;
    for (guint i = 0; i < m->ids->len && !hit; i++)
      hit = id_matches (&g_array_index (m->ids, VfmIdPattern, i), ids);
    if (!hit)
      return FALSE;
  }
  if (m->classes != NULL) {
    char cls[7];
    gboolean hit = FALSE;
    g_snprintf (cls, sizeof cls, "%06x", ids->class_code & 0xffffff);
    for (guint i = 0; m->classes[i] && !hit; i++)
      hit = strncmp (cls, m->classes[i], strlen (m->classes[i])) == 0;
    if (!hit)
      return FALSE;
  }
  if (m->revision >= 0 && m->revision != ids->revision)
    return FALSE;
  if (m->function != NULL && (ids->bdf == NULL || strlen (ids->bdf) != 12 ||
                              strcmp (ids->bdf + 5, m->function) != 0))
    return FALSE;
  if (m->vf != VFM_TRI_ANY && (m->vf == VFM_TRI_YES) != !!ids->is_vf)
    return FALSE;
  if (m->has_vfs != VFM_TRI_ANY && (m->has_vfs == VFM_TRI_YES) != !!ids->has_vfs)
    return FALSE;
  if (m->pf_drivers != NULL && !g_strv_contains ((const char * const *) m->pf_drivers,
                                                  ids->pf_driver ? ids->pf_driver : ""))
    return FALSE;
  if (m->bdfs != NULL && !any_glob (m->bdfs, ids->bdf))
    return FALSE;
  if (m->pci_paths != NULL && !any_glob (m->pci_paths, ids->pci_path))
    return FALSE;
  return TRUE;
}

/* How much a pattern pins down: used to rank curated entries and policies
 * the way alias wildcards rank modules.alias lines. */
guint
vfm_match_specificity (const VfmMatch *m)
{
  guint s = 0;
  if (m->ids->len > 0) {
    const VfmIdPattern *p = &g_array_index (m->ids, VfmIdPattern, 0);
    s += (p->vendor >= 0) + (p->device >= 0) + (p->subsystem_vendor >= 0) + (p->subsystem_device >= 0);
  }
  if (m->classes != NULL)
    s += strlen (m->classes[0]) / 2;
  s += (m->revision >= 0) + (m->function != NULL) * 2 + (m->vf != VFM_TRI_ANY) +
       (m->has_vfs != VFM_TRI_ANY) + (m->pf_drivers != NULL) + (m->bdfs != NULL) * 4 +
       (m->pci_paths != NULL) * 4;
  return s;
}

char *
vfm_match_describe (const VfmMatch *m)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < m->ids->len; i++) {
    const VfmIdPattern *p = &g_array_index (m->ids, VfmIdPattern, i);
    g_string_append_printf (s, "%s", i ? "," : "ids ");
    if (p->vendor >= 0) g_string_append_printf (s, "%04x", p->vendor); else g_string_append_c (s, '*');
    if (p->device >= 0) g_string_append_printf (s, ":%04x", p->device); else g_string_append (s, ":*");
  }
  if (m->classes) {
    g_autofree char *c = g_strjoinv (",", m->classes);
    g_string_append_printf (s, "%sclass %s", s->len ? " " : "", c);
  }
  if (m->function)
    g_string_append_printf (s, "%sfunction %s", s->len ? " " : "", m->function);
  if (m->vf != VFM_TRI_ANY)
    g_string_append_printf (s, "%s%s", s->len ? " " : "", m->vf == VFM_TRI_YES ? "VF" : "not VF");
  if (m->pf_drivers) {
    g_autofree char *c = g_strjoinv (",", m->pf_drivers);
    g_string_append_printf (s, "%sPF driver %s", s->len ? " " : "", c);
  }
  if (m->bdfs) {
    g_autofree char *c = g_strjoinv (",", m->bdfs);
    g_string_append_printf (s, "%sbdf %s", s->len ? " " : "", c);
  }
  if (m->pci_paths) {
    g_autofree char *c = g_strjoinv (",", m->pci_paths);
    g_string_append_printf (s, "%spath %s", s->len ? " " : "", c);
  }
  if (s->len == 0)
    g_string_append (s, "any device");
  return g_string_free (s, FALSE);
}
