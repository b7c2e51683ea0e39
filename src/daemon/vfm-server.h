/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "vfm-daemon.h"

G_BEGIN_DECLS

/* vfmigd's varlink endpoint: a unix socket (the one systemd passed, or one
 * made at the configured path, mode 0666), one state per connection, calls
 * run one at a time per connection in worker threads, replies in order. A
 * malformed or oversized message closes that connection only. Nothing here
 * wakes up while no client talks. */
typedef struct _VfmServer VfmServer;

VfmServer *vfm_server_new   (const VfmDaemonConfig *config,
                             GError               **error);
/* Stops accepting, lets running calls finish, then calls done. */
void       vfm_server_stop  (VfmServer  *server,
                             GSourceFunc done,
                             gpointer    user_data);
void       vfm_server_free  (VfmServer *server);
const char *vfm_server_address (VfmServer *server);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmServer, vfm_server_free)

G_END_DECLS
