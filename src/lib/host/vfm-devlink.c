/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-devlink.h"
#include "vfm-error.h"

#include <errno.h>
#include <linux/devlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

/* Debian 12's headers predate port function capabilities (DESIGN.md,
 * Decisions 7): the values from the kernel's uAPI (6.3+). */
#define VFM_DEVLINK_PORT_FN_ATTR_CAPS 4            /* bitfield32, nested in PORT_FUNCTION */
#define VFM_DEVLINK_PORT_FN_CAP_MIGRATABLE (1u << 1)

typedef struct nl_sock VfmNlSock;
typedef struct nl_msg VfmNlMsg;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmNlSock, nl_socket_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmNlMsg, nlmsg_free)

typedef struct {
  const char *pf;
  gint vf;
  gint64 port_index;   /* -1 until found */
  gboolean any_port;   /* the PF has devlink ports at all */
} PortSearch;

static int
on_port (struct nl_msg *msg, void *arg)
{
  PortSearch *s = arg;
  struct nlattr *tb[DEVLINK_ATTR_MAX + 1];
  struct genlmsghdr *gh = nlmsg_data (nlmsg_hdr (msg));

  if (nla_parse (tb, DEVLINK_ATTR_MAX, genlmsg_attrdata (gh, 0), genlmsg_attrlen (gh, 0), NULL) < 0)
    return NL_SKIP;
  if (!tb[DEVLINK_ATTR_BUS_NAME] || !tb[DEVLINK_ATTR_DEV_NAME] || !tb[DEVLINK_ATTR_PORT_INDEX])
    return NL_SKIP;
  if (g_strcmp0 (nla_get_string (tb[DEVLINK_ATTR_BUS_NAME]), "pci") != 0 ||
      g_strcmp0 (nla_get_string (tb[DEVLINK_ATTR_DEV_NAME]), s->pf) != 0)
    return NL_SKIP;
  s->any_port = TRUE;
  if (tb[DEVLINK_ATTR_PORT_FLAVOUR] && nla_get_u16 (tb[DEVLINK_ATTR_PORT_FLAVOUR]) == DEVLINK_PORT_FLAVOUR_PCI_VF &&
      tb[DEVLINK_ATTR_PORT_PCI_VF_NUMBER] && nla_get_u16 (tb[DEVLINK_ATTR_PORT_PCI_VF_NUMBER]) == s->vf)
    s->port_index = nla_get_u32 (tb[DEVLINK_ATTR_PORT_INDEX]);
  return NL_OK;
}

static VfmNlSock *
devlink_socket (int *family, GError **error)
{
  g_autoptr (VfmNlSock) sk = nl_socket_alloc ();
  int r;

  if (sk == NULL || (r = genl_connect (sk)) < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot open a generic netlink socket");
    return NULL;
  }
  *family = genl_ctrl_resolve (sk, DEVLINK_GENL_NAME);
  if (*family < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED, "this kernel has no devlink");
    return NULL;
  }
  return g_steal_pointer (&sk);
}

static gboolean
find_vf_port (VfmNlSock *sk, int family, PortSearch *s, GError **error)
{
  g_autoptr (VfmNlMsg) msg = nlmsg_alloc ();
  int r;

  genlmsg_put (msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_DUMP, DEVLINK_CMD_PORT_GET, 1);
  nl_socket_modify_cb (sk, NL_CB_VALID, NL_CB_CUSTOM, on_port, s);
  if ((r = nl_send_auto (sk, msg)) < 0 || (r = nl_recvmsgs_default (sk)) < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "devlink port dump failed: %s", nl_geterror (r));
    return FALSE;
  }
  return TRUE;
}

static gboolean
set_switchdev (VfmNlSock *sk, int family, const char *pf, GError **error)
{
  g_autoptr (VfmNlMsg) msg = nlmsg_alloc ();
  int r;

  genlmsg_put (msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_REQUEST | NLM_F_ACK, DEVLINK_CMD_ESWITCH_SET, 1);
  nla_put_string (msg, DEVLINK_ATTR_BUS_NAME, "pci");
  nla_put_string (msg, DEVLINK_ATTR_DEV_NAME, pf);
  nla_put_u16 (msg, DEVLINK_ATTR_ESWITCH_MODE, DEVLINK_ESWITCH_MODE_SWITCHDEV);
  if ((r = nl_send_auto (sk, msg)) < 0 || (r = nl_wait_for_ack (sk)) < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "switching the eswitch of %s to switchdev failed: %s",
                 pf, nl_geterror (r));
    return FALSE;
  }
  return TRUE;
}

gboolean
vfm_devlink_set_vf_migratable (VfmSysroot *sr, const char *pf, gint vf, gboolean allow_switchdev,
                               gboolean dry_run, GPtrArray *steps, GError **error)
{
  g_autoptr (VfmNlSock) sk = NULL;
  g_autoptr (VfmNlMsg) msg = NULL;
  PortSearch search = { .pf = pf, .vf = vf, .port_index = -1 };
  struct nla_bitfield32 caps = { .value = VFM_DEVLINK_PORT_FN_CAP_MIGRATABLE,
                                 .selector = VFM_DEVLINK_PORT_FN_CAP_MIGRATABLE };
  struct nlattr *fn;
  int family, r;

  g_ptr_array_add (steps, g_strdup_printf ("devlink port function set pci/%s vf %d migratable enable", pf, vf));
  if (dry_run)
    return TRUE;
  if (!vfm_sysroot_is_real (sr)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                 "devlink is netlink to the running kernel, not sysfs: it cannot be set on a --sysroot host");
    return FALSE;
  }
  if ((sk = devlink_socket (&family, error)) == NULL || !find_vf_port (sk, family, &search, error))
    goto fail;
  if (search.port_index < 0 && allow_switchdev) {
    /* mlx5 creates VF representor ports only in switchdev mode (Decisions 18) */
    g_ptr_array_add (steps, g_strdup_printf ("devlink dev eswitch set pci/%s mode switchdev", pf));
    if (!set_switchdev (sk, family, pf, error) || !find_vf_port (sk, family, &search, error))
      goto fail;
  }
  if (search.port_index < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                 search.any_port
                   ? "no devlink port for VF %d (VF ports exist only in switchdev mode: add --switchdev to switch the eswitch)"
                   : "the PF has no devlink ports, so it cannot mark VF %d migratable",
                 vf);
    goto fail;
  }
  msg = nlmsg_alloc ();
  genlmsg_put (msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_REQUEST | NLM_F_ACK, DEVLINK_CMD_PORT_SET, 1);
  nla_put_string (msg, DEVLINK_ATTR_BUS_NAME, "pci");
  nla_put_string (msg, DEVLINK_ATTR_DEV_NAME, pf);
  nla_put_u32 (msg, DEVLINK_ATTR_PORT_INDEX, (guint32) search.port_index);
  fn = nla_nest_start (msg, DEVLINK_ATTR_PORT_FUNCTION);
  nla_put (msg, VFM_DEVLINK_PORT_FN_ATTR_CAPS, sizeof caps, &caps);
  nla_nest_end (msg, fn);
  if ((r = nl_send_auto (sk, msg)) < 0 || (r = nl_wait_for_ack (sk)) < 0) {
    g_set_error (error, VFM_ERROR, r == -NLE_OPNOTSUPP ? VFM_ERROR_UNSUPPORTED : VFM_ERROR_FAILED,
                 "the kernel refused the migratable capability: %s (kernel >= 6.3 and a PF driver that "
                 "supports it are needed; the VF must be unbound)", nl_geterror (r));
    goto fail;
  }
  return TRUE;
fail:
  g_prefix_error (error, "devlink on %s: ", pf);
  return FALSE;
}
