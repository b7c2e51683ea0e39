/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* Loads a kernel module so its driver registers. On the real host through
 * libkmod (modprobe's logic: dependencies, blacklist, options). Under a
 * sysroot it never touches the running kernel: it asks the kernel mock
 * (tests/mock), found by symbol, and fails clearly without it (DESIGN.md,
 * Decisions 20). */
gboolean vfm_kmod_load (VfmSysroot  *sr,
                        const char  *module,
                        GError     **error);

G_END_DECLS
