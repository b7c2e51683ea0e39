/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The corpus replayer: a main() for builds without libFuzzer. Runs every
 * regular file of each directory argument (or each file argument) through
 * the target once, in name order. A crash, sanitizer report or fatal
 * critical fails the meson test; an empty corpus fails it too. */
#include "fuzz-common.h"

#include <stdio.h>
#include <stdlib.h>

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void
collect (const char *arg, GPtrArray *files)
{
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GPtrArray) names = NULL;
  const char *name;

  if (!g_file_test (arg, G_FILE_TEST_IS_DIR)) {
    g_ptr_array_add (files, g_strdup (arg));
    return;
  }
  dir = g_dir_open (arg, 0, NULL);
  names = g_ptr_array_new_with_free_func (g_free);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (name[0] != '.')
      g_ptr_array_add (names, g_build_filename (arg, name, NULL));
  g_ptr_array_sort (names, compare_strings);
  for (guint i = 0; i < names->len; i++)
    if (g_file_test (g_ptr_array_index (names, i), G_FILE_TEST_IS_REGULAR))
      g_ptr_array_add (files, g_strdup (g_ptr_array_index (names, i)));
}

int
main (int argc, char **argv)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);

  LLVMFuzzerInitialize (&argc, &argv);
  for (int i = 1; i < argc; i++)
    collect (argv[i], files);
  if (files->len == 0) {
    fprintf (stderr, "%s: no inputs (usage: %s DIR|FILE...)\n", argv[0], argv[0]);
    return 1;
  }
  for (guint i = 0; i < files->len; i++) {
    const char *path = g_ptr_array_index (files, i);
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr (GError) error = NULL;

    if (!g_file_get_contents (path, &data, &len, &error)) {
      fprintf (stderr, "%s\n", error->message);
      return 1;
    }
    printf ("%s (%" G_GSIZE_FORMAT " bytes)\n", path, len);
    fflush (stdout);
    LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
  }
  printf ("%u inputs replayed\n", files->len);
  return 0;
}
