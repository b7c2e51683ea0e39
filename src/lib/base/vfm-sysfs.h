/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Small-attribute I/O for sysfs (paths come from vfm-sysroot). Reads use one
 * open/read/close, no stdio, no allocation for the common case: a list of a
 * 2048-VF host reads some 20 000 attributes. */

gboolean vfm_sysfs_read        (const char *path,
                                char       *buf,
                                gsize       size);
gboolean vfm_sysfs_read_hex    (const char *path,
                                guint32    *out);
gboolean vfm_sysfs_read_int    (const char *path,
                                gint       *out);
char    *vfm_sysfs_link_name   (const char *path);
gboolean vfm_sysfs_write       (const char *path,
                                const char *value,
                                GError    **error);

G_END_DECLS
