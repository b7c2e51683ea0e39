/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-host-uuid.h"
#include "vfm-error.h"

#include <errno.h>

/* A stable identity for this host, made once and kept with vfmig's state. */
char *
vfm_host_uuid (VfmSysroot *sr, GError **error)
{
  g_autofree char *dir = vfm_sysroot_state_dir (sr);
  g_autofree char *path = g_build_filename (dir, "host-uuid", NULL);
  g_autofree char *text = NULL;
  g_autofree char *fresh = NULL;

  if (g_file_get_contents (path, &text, NULL, NULL) && g_uuid_string_is_valid (g_strstrip (text)))
    return g_steal_pointer (&text);
  fresh = g_uuid_string_random ();
  if (g_mkdir_with_parents (dir, 0755) < 0) {
    int saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot keep the host uuid: cannot create %s: %s", dir,
                 g_strerror (saved));
    return NULL;
  }
  if (!g_file_set_contents_full (path, fresh, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, error)) {
    g_prefix_error (error, "cannot keep the host uuid: ");
    return NULL;
  }
  return g_steal_pointer (&fresh);
}
