/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-daemon.h"

G_BEGIN_DECLS

/* Policy applied by the daemon (DESIGN.md, Decisions 9): a PF whose VFs a
 * policy manages gets sriov_drivers_autoprobe=0, so that its driver does not
 * grab new VFs inside the sriov_numvfs write before udev runs; a device a
 * policy marks auto-bind gets its selected driver. Each opens its own host. */

/* At start: finish or roll back interrupted operations (the journal), then
 * apply policy to every device present. */
void vfm_autobind_start   (const VfmDaemonConfig *config);
/* At a udev "add": apply policy to that device, in a worker thread. */
void vfm_autobind_device  (const VfmDaemonConfig *config,
                           const char            *bdf);

/* At a udev "remove" (a VF gone with sriov_numvfs, a hot-unplug): the
 * record of a device vfmig owned goes too - there is nothing to give back,
 * and a new device at that address is a new device. */
void vfm_autobind_removed (const VfmDaemonConfig *config,
                           const char            *bdf);

G_END_DECLS
