/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-authz.h"
#include "vfm-error.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

gboolean
vfm_authz_peer_of (GSocket *socket, VfmCredentials *peer, GError **error)
{
  struct ucred cred;
  socklen_t len = sizeof cred;

  if (getsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
    int saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_PERMISSION, "cannot read the peer's credentials: %s",
                 g_strerror (saved));
    return FALSE;
  }
  peer->uid = cred.uid;
  peer->gid = cred.gid;
  peer->pid = cred.pid;
  return TRUE;
}

/* The user's groups as the group database says now, supplementary included
 * (getgrouplist), so adding a user to the group takes effect at their next
 * call without a new login. */
static gboolean
uid_in_group (uid_t uid, gid_t primary, gid_t wanted)
{
  g_autofree char *buf = NULL;
  g_autofree gid_t *groups = NULL;
  struct passwd pw, *found = NULL;
  gsize size = 1024;
  int n = 32, rc;

  if (primary == wanted)
    return TRUE;
  /* the _r lookups say ERANGE until the buffer holds the whole entry */
  do {
    size *= 2;
    buf = g_realloc (buf, size);
  } while ((rc = getpwuid_r (uid, &pw, buf, size, &found)) == ERANGE && size < (1 << 24));
  if (rc != 0 || found == NULL)
    return FALSE;
  groups = g_new (gid_t, n);
  while (getgrouplist (pw.pw_name, primary, groups, &n) < 0) {
    if (n > 65536)
      return FALSE;
    groups = g_renew (gid_t, groups, n);
  }
  for (int i = 0; i < n; i++)
    if (groups[i] == wanted)
      return TRUE;
  return FALSE;
}

gboolean
vfm_authz_check (const VfmCredentials *peer, const char *group, const char *method, VfmAccess access,
                 GError **error)
{
  g_autofree char *buf = NULL;
  struct group gr, *found = NULL;
  gsize size = 1024;
  int rc;

  if (access == VFM_ACCESS_READ || peer->uid == 0)
    return TRUE;
  do {
    size *= 2;
    buf = g_realloc (buf, size);
  } while ((rc = getgrnam_r (group, &gr, buf, size, &found)) == ERANGE && size < (1 << 24));
  if (rc == 0 && found != NULL && uid_in_group (peer->uid, peer->gid, gr.gr_gid))
    return TRUE;
  g_set_error (error, VFM_ERROR, VFM_ERROR_PERMISSION,
               "%s is allowed only to root and members of group %s (caller uid %u)", method, group,
               (unsigned) peer->uid);
  return FALSE;
}
