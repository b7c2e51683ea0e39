/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* devlink over generic netlink (libnl-genl): the port function
 * capabilities of a PF's VF ports (kernel >= 6.3). Netlink talks to the
 * running kernel, so under a sysroot these fail clearly instead. */
gboolean vfm_devlink_set_vf_migratable (VfmSysroot  *sr,
                                        const char  *pf,
                                        gint         vf_index,
                                        gboolean     allow_switchdev,
                                        gboolean     dry_run,
                                        GPtrArray   *steps,
                                        GError     **error);

G_END_DECLS
