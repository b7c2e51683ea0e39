/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* A stable identity for this host (io.vfmig.Hello's host_uuid), made once and
 * kept with vfmig's state, so that a migration can tell two hosts apart even
 * when their names agree. */
char *vfm_host_uuid (VfmSysroot *sr, GError **error);

G_END_DECLS
