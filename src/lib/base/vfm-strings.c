/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-strings.h"

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
