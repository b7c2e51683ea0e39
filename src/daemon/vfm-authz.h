/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

#include "vfm-methods.h"

G_BEGIN_DECLS

/* Who is on the other end of a connection, from SO_PEERCRED: the kernel's
 * word, taken when the peer connected (DESIGN.md, Decisions 10). */
typedef struct {
  uid_t uid;
  gid_t gid;
  pid_t pid;
} VfmCredentials;

gboolean vfm_authz_peer_of   (GSocket  *socket,
                              VfmCredentials  *peer,
                              GError  **error);
gboolean vfm_authz_check     (const VfmCredentials *peer,
                              const char    *group,
                              const char    *method,
                              VfmAccess      access,
                              GError       **error);

G_END_DECLS
