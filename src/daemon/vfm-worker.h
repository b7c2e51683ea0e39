/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-daemon.h"

G_BEGIN_DECLS

/* udev events in, library calls out (lib/bind/vfm-autobind): each runs in a
 * worker thread with its own host, and its events go to the daemon's log. */
void vfm_worker_start   (const VfmDaemonConfig *config);
void vfm_worker_added   (const VfmDaemonConfig *config, const char *bdf);
void vfm_worker_removed (const VfmDaemonConfig *config, const char *bdf);

G_END_DECLS
