/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A minimal keyfile ("[Group]" / "Key=Value" / "# comment") reader that keeps
 * the line of every group and key, so that a bad value or an unknown key in a
 * database file is reported as FILE:LINE. GKeyFile does not keep lines. */

typedef struct {
  char *key;
  char *value;
  guint line;
  gboolean used;
} VfmKeyfileEntry;

typedef struct {
  char *name;
  guint line;
  GPtrArray *entries; /* VfmKeyfileEntry */
} VfmKeyfileGroup;

typedef struct {
  char *path;            /* for messages only */
  GPtrArray *groups;     /* VfmKeyfileGroup */
} VfmKeyfile;

VfmKeyfile      *vfm_keyfile_parse        (const char   *path,
                                           const char   *text,
                                           GError      **error);
void             vfm_keyfile_free         (VfmKeyfile   *kf);
VfmKeyfileEntry *vfm_keyfile_group_lookup (VfmKeyfileGroup *group,
                                           const char      *key);
const char      *vfm_keyfile_group_get    (VfmKeyfileGroup *group,
                                           const char      *key);
gboolean         vfm_keyfile_group_get_bool (VfmKeyfileGroup *group,
                                             const char      *key,
                                             gboolean         fallback,
                                             const char      *path,
                                             gboolean        *out,
                                             GError         **error);
char           **vfm_keyfile_split_list   (const char *value);
gboolean         vfm_keyfile_check_unused (VfmKeyfile  *kf,
                                           GError     **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmKeyfile, vfm_keyfile_free)

G_END_DECLS
