/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-daemon.h"
#include "vfm-hotplug.h"

G_BEGIN_DECLS

/* udev events in, library calls out (lib/bind/vfm-autobind): a remove runs
 * in a worker thread with its own host; adds go to the hotplug worker
 * (lib/bind/vfm-hotplug), which binds those of one sriov_numvfs write as
 * one request. Their events go to the daemon's log. */
void        vfm_worker_start       (const VfmDaemonConfig *config,
                                    VfmHotplug            *hotplug);
VfmHotplug *vfm_worker_hotplug_new (const VfmDaemonConfig *config);
void        vfm_worker_removed     (const VfmDaemonConfig *config, const char *bdf);

G_END_DECLS
