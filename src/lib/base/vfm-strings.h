/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Sorts a GPtrArray of strings (directory listings, names) in byte order. */
void vfm_strings_sort (GPtrArray *strings);

/* A version written in one of vfmig's data files, "X.Y" or "X.Y.Z" and
 * nothing else (Y and Z below 1000), as X*1000000 + Y*1000 + Z: the form
 * QEMU and libvirt versions are compared in. FALSE for anything else. */
gboolean vfm_version_parse (const char *s, gulong *out);

G_END_DECLS
