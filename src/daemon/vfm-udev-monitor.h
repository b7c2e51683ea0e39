/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* PCI uevents as the kernel sends them (before udev's rules run), as a
 * GSource on the netlink socket: it wakes only when the kernel announces a
 * PCI device. */
typedef struct _VfmUdevMonitor VfmUdevMonitor;

/* action: "add", "remove", "bind", "unbind", "change"…; bdf: the device. */
typedef void (*VfmUdevFunc) (const char *action,
                             const char *bdf,
                             gpointer    user_data);

VfmUdevMonitor *vfm_udev_monitor_new  (VfmUdevFunc func,
                                       gpointer    user_data,
                                       GError    **error);
/* Reads and passes on what the socket holds now, from any thread (vfmigd's
 * hotplug worker, once a sriov_numvfs write is over: the kernel sent that
 * write's add events before it returned). TRUE when it read all. */
gboolean        vfm_udev_monitor_drain (VfmUdevMonitor *monitor);
void            vfm_udev_monitor_free (VfmUdevMonitor *monitor);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmUdevMonitor, vfm_udev_monitor_free)

G_END_DECLS
