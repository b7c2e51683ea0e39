/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-datafile.h"
#include "vfm-error.h"
#include "vfm-sysroot.h"

GKeyFile *
vfm_datafile_load_keyfile (const char *sub, const char *name, char **path_out, GError **error)
{
  g_autofree char *dir = vfm_sysroot_data_dir (sub);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local = NULL;

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: %s", path, local->message);
    return NULL;
  }
  if (path_out != NULL)
    *path_out = g_steal_pointer (&path);
  return g_steal_pointer (&kf);
}
