/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-systemd.h"
#include "vfm-error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SD_LISTEN_FDS_START 3

gboolean
vfm_sd_notify (const char *state, GError **error)
{
  const char *path = g_getenv ("NOTIFY_SOCKET");
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  gsize len;
  socklen_t salen;
  int fd, saved;

  if (path == NULL || *path == '\0')
    return TRUE;
  len = strlen (path);
  /* "@name" is an abstract socket; anything else must be an absolute path */
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof sa.sun_path) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "NOTIFY_SOCKET=%s is not a socket address", path);
    return FALSE;
  }
  memcpy (sa.sun_path, path, len);
  if (path[0] == '@')
    sa.sun_path[0] = '\0';
  salen = offsetof (struct sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1);
  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || sendto (fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *) &sa, salen) < 0) {
    saved = errno;
    if (fd >= 0)
      close (fd);
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot notify systemd (%s): %s", path, g_strerror (saved));
    return FALSE;
  }
  close (fd);
  return TRUE;
}

int
vfm_sd_listen_fd (GError **error)
{
  const char *pid = g_getenv ("LISTEN_PID");
  const char *fds = g_getenv ("LISTEN_FDS");
  gint64 n;

  if (pid == NULL || fds == NULL || g_ascii_strtoll (pid, NULL, 10) != getpid ())
    return -1;
  n = g_ascii_strtoll (fds, NULL, 10);
  /* the variables are for this process only, not for anything it runs */
  g_unsetenv ("LISTEN_PID");
  g_unsetenv ("LISTEN_FDS");
  g_unsetenv ("LISTEN_FDNAMES");
  if (n == 0)
    return -1;
  if (n != 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "systemd passed %" G_GINT64_FORMAT " sockets; vfmigd.socket declares one", n);
    return -1;
  }
  if (fcntl (SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC) < 0) {
    int saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "the socket systemd passed is unusable: %s", g_strerror (saved));
    return -1;
  }
  return SD_LISTEN_FDS_START;
}
