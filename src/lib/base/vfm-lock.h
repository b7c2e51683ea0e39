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

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmLock, vfm_lock_release)

G_END_DECLS
