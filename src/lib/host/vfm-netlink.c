/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-netlink.h"
#include "vfm-error.h"

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <stdio.h>
#include <string.h>

typedef struct nl_sock VfmNlSock;
typedef struct nl_msg VfmNlMsg;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmNlSock, nl_socket_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmNlMsg, nlmsg_free)

/* One IFLA_VF_INFO attribute (MAC or VLAN) for VF vf of ifname. */
static gboolean
set_vf_attr (VfmSysroot *sr, const char *ifname, int attr, const void *data, gsize len, GError **error)
{
  g_autoptr (VfmNlSock) sk = NULL;
  g_autoptr (VfmNlMsg) msg = NULL;
  struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
  struct nlattr *list, *info;
  int r;

  if (!vfm_sysroot_is_real (sr)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                 "VF MAC/VLAN go through rtnetlink to the running kernel: they cannot be set on a --sysroot host");
    return FALSE;
  }
  ifi.ifi_index = (int) if_nametoindex (ifname);
  if (ifi.ifi_index == 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no network interface %s", ifname);
    return FALSE;
  }
  sk = nl_socket_alloc ();
  if (sk == NULL || nl_connect (sk, NETLINK_ROUTE) < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot open a rtnetlink socket");
    return FALSE;
  }
  msg = nlmsg_alloc_simple (RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK);
  if (nlmsg_append (msg, &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
      (list = nla_nest_start (msg, IFLA_VFINFO_LIST)) == NULL ||
      (info = nla_nest_start (msg, IFLA_VF_INFO)) == NULL || nla_put (msg, attr, (int) len, data) < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot build the rtnetlink message");
    return FALSE;
  }
  nla_nest_end (msg, info);
  nla_nest_end (msg, list);
  if ((r = nl_send_auto (sk, msg)) < 0 || (r = nl_wait_for_ack (sk)) < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "the kernel refused it: %s", nl_geterror (r));
    return FALSE;
  }
  return TRUE;
}

gboolean
vfm_netlink_set_vf_mac (VfmSysroot *sr, const char *ifname, gint vf, const char *mac, gboolean dry_run,
                        GPtrArray *steps, GError **error)
{
  struct ifla_vf_mac m = { .vf = (guint32) vf };
  guint b[6];

  g_ptr_array_add (steps, g_strdup_printf ("ip link set %s vf %d mac %s", ifname, vf, mac));
  if (dry_run)
    return TRUE;
  if (sscanf (mac, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a MAC address", mac);
    return FALSE;
  }
  for (int i = 0; i < 6; i++)
    m.mac[i] = (guint8) b[i];
  if (!set_vf_attr (sr, ifname, IFLA_VF_MAC, &m, sizeof m, error)) {
    g_prefix_error (error, "setting VF %d MAC on %s: ", vf, ifname);
    return FALSE;
  }
  return TRUE;
}

gboolean
vfm_netlink_set_vf_vlan (VfmSysroot *sr, const char *ifname, gint vf, gint vlan, gboolean dry_run,
                         GPtrArray *steps, GError **error)
{
  struct ifla_vf_vlan v = { .vf = (guint32) vf, .vlan = (guint32) vlan, .qos = 0 };

  g_ptr_array_add (steps, g_strdup_printf ("ip link set %s vf %d vlan %d", ifname, vf, vlan));
  if (dry_run)
    return TRUE;
  if (!set_vf_attr (sr, ifname, IFLA_VF_VLAN, &v, sizeof v, error)) {
    g_prefix_error (error, "setting VF %d VLAN on %s: ", vf, ifname);
    return FALSE;
  }
  return TRUE;
}
