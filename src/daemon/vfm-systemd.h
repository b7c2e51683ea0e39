/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The two parts of systemd's service protocol vfmigd needs, written from
 * sd_notify(3) and sd_listen_fds(3) so that no libsystemd is needed. */

/* Sends state ("READY=1", "STOPPING=1") to $NOTIFY_SOCKET when set. */
gboolean vfm_sd_notify     (const char *state,
                            GError    **error);
/* The listening socket systemd passed (LISTEN_PID/LISTEN_FDS), or -1 when
 * none was passed; -1 with error set when the passed set is not one socket. */
int      vfm_sd_listen_fd  (GError **error);

G_END_DECLS
