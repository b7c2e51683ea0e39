/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The keyfiles vfmig ships in its datadir (vfm_sysroot_data_dir: the
 * installed one, VFMIG_DATADIR, or the source tree when run uninstalled).
 * SUB/NAME is read whole; a file that is missing or not a keyfile is
 * VFM_ERROR_PARSE "PATH: cause". path_out, when given, receives the path,
 * for the caller's own messages about the file's contents. */
GKeyFile *vfm_datafile_load_keyfile (const char *sub,
                                     const char *name,
                                     char      **path_out,
                                     GError    **error);

G_END_DECLS
