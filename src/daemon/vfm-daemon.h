/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What vfmigd was started with; read-only once the main loop runs, so worker
 * threads may read it. */
typedef struct {
  char *sysroot;        /* NULL: the real host */
  char *socket_path;    /* NULL: the default under the sysroot's run directory */
  char *group;          /* members may call mutating methods */
  gboolean udev;        /* watch udev for PCI events */
  char *host_uuid;      /* this host's identity for peers (Hello) */
  guint request_timeout;/* seconds a message may take to arrive whole, once begun */
} VfmDaemonConfig;

/* Structured logging: journald shows VFMIG_OP and VFMIG_DEVICE as fields
 * (`journalctl VFMIG_DEVICE=0000:3b:00.2`). device may be NULL. */
void vfm_daemon_log (GLogLevelFlags level,
                     const char    *op,
                     const char    *device,
                     const char    *format,
                     ...) G_GNUC_PRINTF (4, 5);

G_END_DECLS
