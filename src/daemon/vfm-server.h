/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gio/gio.h>

#include "vfm-daemon.h"

G_BEGIN_DECLS

/* vfmigd's varlink endpoint: a unix socket (the one systemd passed, or one
 * made at the configured path, mode 0666), one state per connection, calls
 * run one at a time per connection in worker threads, replies in order. A
 * malformed, oversized or too deeply nested message, or one that has not
 * arrived whole config->request_timeout seconds after its first byte, closes
 * that connection only. A uid other than 0 holds at most 32 connections.
 * Nothing here wakes up while no client talks (a connection idle between
 * messages has no deadline). */
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
