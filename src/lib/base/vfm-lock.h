/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* One lock per device (flock on /run/vfmig/lock/BDF), taken by the daemon,
 * the CLI and the hook alike (DESIGN.md, Decisions 11). The kernel drops it
 * when the holder dies, so a crash never leaves a device locked. */
typedef struct _VfmLock VfmLock;

VfmLock *vfm_lock_device (VfmSysroot  *sr,
                          const char  *bdf,
                          guint        timeout_ms,
                          GError     **error);
VfmLock *vfm_lock_named  (VfmSysroot  *sr,
                          const char  *name,
                          guint        timeout_ms,
                          GError     **error);
void     vfm_lock_release (VfmLock *lock);

/* The locks of several devices in one pass, in BDF order (every batch takes
 * them in the same order, so two batches cannot deadlock): locks[i] is
 * BDFS[i]'s lock, or NULL with errors[i] set when it could not be had within
 * timeout_ms (counted from the start of the pass). Duplicates are the
 * caller's to remove: a process does not get a second flock of a file. */
void     vfm_lock_devices (VfmSysroot  *sr,
                           const char **bdfs,
                           guint        n,
                           guint        timeout_ms,
                           VfmLock    **locks,
                           GError     **errors);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmLock, vfm_lock_release)

G_END_DECLS
