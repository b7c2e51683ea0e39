/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-autobind.h"
#include "vfm-db-watch.h"

G_BEGIN_DECLS

/* vfmigd's "add" events, applied as few requests as the kernel allows: one
 * worker thread (there while there is work, gone when idle) takes every
 * device announced so far and applies policy to them as ONE request
 * (vfm_autobind_devices: one host, one selection pass, one lock pass, one
 * journal record). The VFs of one sriov_numvfs write are gathered into one
 * such request without a timed wait: the worker waits for the write itself
 * (a read of the PF's sriov_numvfs, which the kernel serializes with the
 * write), and then for the add events of the VFs the write created (the
 * kernel sent them all before the write returned; they are in the monitor's
 * socket, which the worker reads then (vfm_hotplug_set_drain), or on their
 * way through vfm_hotplug_added). Events that come later
 * are the worker's next round. See vfm-hotplug.c for the details. */

typedef struct _VfmHotplug VfmHotplug;

/* Called from the worker thread for each event of a round (including
 * G_LOG_LEVEL_DEBUG "hotplug" ones saying what it waits for); it may call
 * vfm_hotplug_added. */
typedef void (*VfmHotplugFunc) (const VfmPolicyEvent *event, gpointer user_data);

VfmHotplug *vfm_hotplug_new       (const char     *sysroot,
                                   VfmHotplugFunc  func,
                                   gpointer        user_data);
/* A device's "add" (any thread; returns at once). */
void        vfm_hotplug_added     (VfmHotplug *hp,
                                   const char *bdf);
/* Takes HOST's database (loaded) for the worker's first round, as if the
 * worker had read it (the daemon's start-up scan has): kept while WATCH,
 * made before HOST read them, says its files are unchanged. Takes WATCH;
 * a no-op while the worker runs. */
void        vfm_hotplug_keep_db   (VfmHotplug *hp,
                                   VfmHost    *host,
                                   VfmDbWatch *watch);
/* Reads the add events already sent and not yet read (the daemon's uevent
 * monitor), passing them to vfm_hotplug_added before it returns; called by
 * the worker once a write is over, from its thread, never with the
 * worker's lock held. TRUE when it read all there was (the write's VFs not
 * announced by then never will be: they are not waited for). */
typedef gboolean (*VfmHotplugDrain) (gpointer user_data);
void        vfm_hotplug_set_drain (VfmHotplug      *hp,
                                   VfmHotplugDrain  drain,
                                   gpointer         user_data);
/* Until the worker has nothing left to do (tests; vfm_hotplug_free). */
void        vfm_hotplug_wait_idle (VfmHotplug *hp);
/* How long a round waits for the add events of VFs a write created, at
 * most (default 1000 ms): past it, the round goes on without them. */
void        vfm_hotplug_set_announce_timeout (VfmHotplug *hp,
                                              guint       ms);
void        vfm_hotplug_free      (VfmHotplug *hp);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmHotplug, vfm_hotplug_free)

G_END_DECLS
