/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* VF settings through the PF's netdev (rtnetlink RTM_SETLINK with
 * IFLA_VFINFO_LIST, as `ip link set PF vf N mac|vlan` does). Netlink talks to
 * the running kernel, so under a sysroot these fail clearly instead. */
gboolean vfm_netlink_set_vf_mac  (VfmSysroot  *sr,
                                  const char  *pf_netdev,
                                  gint         vf_index,
                                  const char  *mac,
                                  gboolean     dry_run,
                                  GPtrArray   *steps,
                                  GError     **error);
gboolean vfm_netlink_set_vf_vlan (VfmSysroot  *sr,
                                  const char  *pf_netdev,
                                  gint         vf_index,
                                  gint         vlan,
                                  gboolean     dry_run,
                                  GPtrArray   *steps,
                                  GError     **error);

G_END_DECLS
