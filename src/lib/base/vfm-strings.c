/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-strings.h"

#include <stdio.h>

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

void
vfm_strings_sort (GPtrArray *strings)
{
  g_ptr_array_sort (strings, compare_strings);
}

gboolean
vfm_version_parse (const char *s, gulong *out)
{
  guint a = 0, b = 0, c = 0;
  int n = 0;

  if (s == NULL || !g_ascii_isdigit (*s))
    return FALSE;
  for (const char *p = s; *p != '\0'; p++) /* sscanf alone takes " 1", "+1" */
    if (!g_ascii_isdigit (*p) && *p != '.')
      return FALSE;
  if (!(sscanf (s, "%u.%u.%u%n", &a, &b, &c, &n) == 3 && s[n] == '\0')) {
    n = 0;
    c = 0;
    if (!(sscanf (s, "%u.%u%n", &a, &b, &n) == 2 && s[n] == '\0'))
      return FALSE;
  }
  if (b > 999 || c > 999)
    return FALSE;
  *out = a * 1000000ul + b * 1000ul + c;
  return TRUE;
}
