/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-devlink.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <errno.h>
#include <linux/devlink.h>
#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>
#include <string.h>
#include <sys/socket.h>

/* Debian 12's headers predate port function capabilities (DESIGN.md,
 * Decisions 7): the values from the kernel's uAPI (6.3+). */
#define VFM_DEVLINK_PORT_FN_ATTR_CAPS 4            /* bitfield32, nested in PORT_FUNCTION */
#define VFM_DEVLINK_PORT_FN_CAP_MIGRATABLE (1u << 1)

typedef struct nl_sock VfmNlSock;
typedef struct nl_msg VfmNlMsg;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmNlSock, nl_socket_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmNlMsg, nlmsg_free)

/* ------------------------------------------------------------ the socket */

/* One generic netlink socket to devlink. The kernel's extended ack is asked
 * for, so that a refusal carries the kernel's own sentence ("Port doesn't
 * support migratable function attribute") into vfmig's error. */
typedef struct {
  VfmNlSock *sk;
  int family;
  char *extack;    /* the kernel's message of the last error, or NULL */
} Devlink;

static void
devlink_close (Devlink *d)
{
  g_clear_pointer (&d->sk, nl_socket_free);
  g_clear_pointer (&d->extack, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Devlink, devlink_close)

/* The NLMSGERR_ATTR_MSG of an error: the TLVs follow the copy of the
 * request (only its header when the kernel capped it). */
static int
on_error (struct sockaddr_nl *who, struct nlmsgerr *err, void *arg)
{
  Devlink *d = arg;
  struct nlmsghdr *hdr = (struct nlmsghdr *) ((char *) err - NLMSG_HDRLEN);
  struct nlattr *tb[NLMSGERR_ATTR_MAX + 1] = { 0 };
  gsize copied, total;
  (void) who;

  g_clear_pointer (&d->extack, g_free);
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS))
    return NL_STOP;
  copied = (hdr->nlmsg_flags & NLM_F_CAPPED) ? NLMSG_HDRLEN : NLMSG_ALIGN (err->msg.nlmsg_len);
  total = hdr->nlmsg_len - NLMSG_HDRLEN;
  if (G_STRUCT_OFFSET (struct nlmsgerr, msg) + copied >= total)
    return NL_STOP;
  if (nla_parse (tb, NLMSGERR_ATTR_MAX, (struct nlattr *) ((char *) &err->msg + copied),
                 (int) (total - G_STRUCT_OFFSET (struct nlmsgerr, msg) - copied), NULL) == 0 &&
      tb[NLMSGERR_ATTR_MSG] != NULL)
    d->extack = g_strndup (nla_data (tb[NLMSGERR_ATTR_MSG]), nla_len (tb[NLMSGERR_ATTR_MSG]));
  return NL_STOP;
}

static gboolean
devlink_open (Devlink *d, GError **error)
{
  int one = 1;

  d->sk = nl_socket_alloc ();
  if (d->sk == NULL || genl_connect (d->sk) < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot open a generic netlink socket");
    return FALSE;
  }
  /* reads ask for no ack: a reply, or an error, ends each request */
  nl_socket_disable_auto_ack (d->sk);
  (void) setsockopt (nl_socket_get_fd (d->sk), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  nl_socket_modify_err_cb (d->sk, NL_CB_CUSTOM, on_error, d);
  d->family = genl_ctrl_resolve (d->sk, DEVLINK_GENL_NAME);
  if (d->family < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED, "this kernel has no devlink");
    return FALSE;
  }
  return TRUE;
}

/* A request naming BUS/DEV. */
static VfmNlMsg *
request (Devlink *d, int cmd, int flags, const char *bus, const char *dev)
{
  VfmNlMsg *msg = nlmsg_alloc ();
  genlmsg_put (msg, NL_AUTO_PORT, NL_AUTO_SEQ, d->family, 0, flags, cmd, 1);
  if (bus != NULL) {
    nla_put_string (msg, DEVLINK_ATTR_BUS_NAME, bus);
    nla_put_string (msg, DEVLINK_ATTR_DEV_NAME, dev);
  }
  return msg;
}

/* Send MSG and read the replies into CB; the kernel's error as a negative
 * libnl code (0 on success). */
static int
exchange (Devlink *d, VfmNlMsg *msg, nl_recvmsg_msg_cb_t cb, void *arg, gboolean ack)
{
  int r;

  g_clear_pointer (&d->extack, g_free);
  if (cb != NULL)
    nl_socket_modify_cb (d->sk, NL_CB_VALID, NL_CB_CUSTOM, cb, arg);
  if ((r = nl_send_auto (d->sk, msg)) < 0)
    return r;
  if (cb != NULL && (r = nl_recvmsgs_default (d->sk)) < 0)
    return r;
  return ack ? nl_wait_for_ack (d->sk) : 0;
}

static char *
kernel_said (Devlink *d, int r)
{
  return d->extack != NULL ? g_strdup_printf ("%s (%s)", d->extack, nl_geterror (r)) : g_strdup (nl_geterror (r));
}

static struct nlattr **
parse (struct nl_msg *msg, struct nlattr **tb)
{
  struct genlmsghdr *gh = nlmsg_data (nlmsg_hdr (msg));
  if (nla_parse (tb, DEVLINK_ATTR_MAX, genlmsg_attrdata (gh, 0), genlmsg_attrlen (gh, 0), NULL) < 0)
    return NULL;
  return tb;
}

static gboolean
is_handle (struct nlattr **tb, const char *bus, const char *dev)
{
  return tb[DEVLINK_ATTR_BUS_NAME] != NULL && tb[DEVLINK_ATTR_DEV_NAME] != NULL &&
         g_strcmp0 (nla_get_string (tb[DEVLINK_ATTR_BUS_NAME]), bus) == 0 &&
         g_strcmp0 (nla_get_string (tb[DEVLINK_ATTR_DEV_NAME]), dev) == 0;
}

/* ------------------------------------------------------------ the facts */

void
vfm_devlink_info_free (VfmDevlinkInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->handle);
  g_free (info->driver);
  g_free (info->serial);
  g_free (info->eswitch);
  g_clear_pointer (&info->fixed, g_ptr_array_unref);
  g_clear_pointer (&info->running, g_ptr_array_unref);
  g_clear_pointer (&info->stored, g_ptr_array_unref);
  g_clear_pointer (&info->vf_ports, g_array_unref);
  g_free (info);
}

static VfmDevlinkInfo *
info_new (const char *bus, const char *dev)
{
  VfmDevlinkInfo *info = g_new0 (VfmDevlinkInfo, 1);
  info->handle = g_strdup_printf ("%s/%s", bus, dev);
  info->fixed = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  info->running = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  info->stored = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  info->vf_ports = g_array_new (FALSE, FALSE, sizeof (VfmDevlinkVfPort));
  return info;
}

static void
add_version (GPtrArray *to, const char *name, const char *value)
{
  char **pair = g_new0 (char *, 3);
  pair[0] = g_strdup (name);
  pair[1] = g_strdup (value);
  g_ptr_array_add (to, pair);
}

static gint
cmp_port (gconstpointer a, gconstpointer b)
{
  return ((const VfmDevlinkVfPort *) a)->vf - ((const VfmDevlinkVfPort *) b)->vf;
}

/* DEVLINK_CMD_INFO_GET: the versions come as repeated nests, so the
 * attributes are walked rather than parsed into a table. */
static int
on_info (struct nl_msg *msg, void *arg)
{
  VfmDevlinkInfo *info = arg;
  struct genlmsghdr *gh = nlmsg_data (nlmsg_hdr (msg));
  struct nlattr *a;
  int rem;

  nla_for_each_attr (a, genlmsg_attrdata (gh, 0), genlmsg_attrlen (gh, 0), rem) {
    struct nlattr *v[DEVLINK_ATTR_MAX + 1];
    GPtrArray *to = NULL;
    switch (nla_type (a)) {
    case DEVLINK_ATTR_INFO_DRIVER_NAME:
      g_free (info->driver);
      info->driver = g_strdup (nla_get_string (a));
      break;
    case DEVLINK_ATTR_INFO_SERIAL_NUMBER:
      g_free (info->serial);
      info->serial = g_strdup (nla_get_string (a));
      break;
    case DEVLINK_ATTR_INFO_VERSION_FIXED: to = info->fixed; break;
    case DEVLINK_ATTR_INFO_VERSION_RUNNING: to = info->running; break;
    case DEVLINK_ATTR_INFO_VERSION_STORED: to = info->stored; break;
    default: break;
    }
    if (to != NULL && nla_parse_nested (v, DEVLINK_ATTR_MAX, a, NULL) == 0 &&
        v[DEVLINK_ATTR_INFO_VERSION_NAME] != NULL && v[DEVLINK_ATTR_INFO_VERSION_VALUE] != NULL)
      add_version (to, nla_get_string (v[DEVLINK_ATTR_INFO_VERSION_NAME]),
                   nla_get_string (v[DEVLINK_ATTR_INFO_VERSION_VALUE]));
  }
  return NL_OK;
}

static int
on_eswitch (struct nl_msg *msg, void *arg)
{
  VfmDevlinkInfo *info = arg;
  struct nlattr *tb[DEVLINK_ATTR_MAX + 1];

  if (parse (msg, tb) != NULL && tb[DEVLINK_ATTR_ESWITCH_MODE] != NULL) {
    guint16 mode = nla_get_u16 (tb[DEVLINK_ATTR_ESWITCH_MODE]);
    g_free (info->eswitch);
    info->eswitch = g_strdup (mode == DEVLINK_ESWITCH_MODE_SWITCHDEV ? "switchdev"
                              : mode == DEVLINK_ESWITCH_MODE_LEGACY  ? "legacy"
                                                                     : "unknown");
  }
  return NL_OK;
}

typedef struct {
  const char *bus, *dev;
  VfmDevlinkInfo *info;
} PortDump;

/* DEVLINK_CMD_PORT_GET, dumped: the ports of one instance; a VF port's
 * function carries the capabilities the driver reports (a selector bit per
 * capability it knows, the value beside it). */
static int
on_port (struct nl_msg *msg, void *arg)
{
  PortDump *p = arg;
  struct nlattr *tb[DEVLINK_ATTR_MAX + 1];
  VfmDevlinkVfPort port = { .migratable = -1 };

  if (parse (msg, tb) == NULL || !is_handle (tb, p->bus, p->dev) || tb[DEVLINK_ATTR_PORT_INDEX] == NULL)
    return NL_SKIP;
  p->info->any_port = TRUE;
  if (tb[DEVLINK_ATTR_PORT_FLAVOUR] == NULL || nla_get_u16 (tb[DEVLINK_ATTR_PORT_FLAVOUR]) != DEVLINK_PORT_FLAVOUR_PCI_VF ||
      tb[DEVLINK_ATTR_PORT_PCI_VF_NUMBER] == NULL)
    return NL_OK;
  port.vf = nla_get_u16 (tb[DEVLINK_ATTR_PORT_PCI_VF_NUMBER]);
  port.port_index = nla_get_u32 (tb[DEVLINK_ATTR_PORT_INDEX]);
  if (tb[DEVLINK_ATTR_PORT_FUNCTION] != NULL) {
    struct nlattr *fn[VFM_DEVLINK_PORT_FN_ATTR_CAPS + 1];
    if (nla_parse_nested (fn, VFM_DEVLINK_PORT_FN_ATTR_CAPS, tb[DEVLINK_ATTR_PORT_FUNCTION], NULL) == 0 &&
        fn[VFM_DEVLINK_PORT_FN_ATTR_CAPS] != NULL &&
        nla_len (fn[VFM_DEVLINK_PORT_FN_ATTR_CAPS]) >= (int) sizeof (struct nla_bitfield32)) {
      struct nla_bitfield32 caps;
      memcpy (&caps, nla_data (fn[VFM_DEVLINK_PORT_FN_ATTR_CAPS]), sizeof caps);
      if (caps.selector & VFM_DEVLINK_PORT_FN_CAP_MIGRATABLE)
        port.migratable = (caps.value & VFM_DEVLINK_PORT_FN_CAP_MIGRATABLE) ? 1 : 0;
    }
  }
  g_array_append_val (p->info->vf_ports, port);
  return NL_OK;
}

static gboolean
read_ports (Devlink *d, VfmDevlinkInfo *info, const char *bus, const char *dev, GError **error)
{
  g_autoptr (VfmNlMsg) msg = request (d, DEVLINK_CMD_PORT_GET, NLM_F_DUMP, NULL, NULL);
  PortDump p = { .bus = bus, .dev = dev, .info = info };
  int r;

  g_array_set_size (info->vf_ports, 0);
  info->any_port = FALSE;
  if ((r = exchange (d, msg, on_port, &p, FALSE)) < 0) {
    g_autofree char *why = kernel_said (d, r);
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "devlink port dump failed: %s", why);
    return FALSE;
  }
  g_array_sort (info->vf_ports, cmp_port);
  return TRUE;
}

static VfmDevlinkInfo *
read_kernel (Devlink *d, const char *bus, const char *dev, GError **error)
{
  g_autoptr (VfmDevlinkInfo) info = info_new (bus, dev);
  g_autoptr (VfmNlMsg) im = request (d, DEVLINK_CMD_INFO_GET, 0, bus, dev);
  g_autoptr (VfmNlMsg) em = request (d, DEVLINK_CMD_ESWITCH_GET, 0, bus, dev);
  int r;

  if ((r = exchange (d, im, on_info, info, FALSE)) < 0) {
    g_autofree char *why = kernel_said (d, r);
    g_set_error (error, VFM_ERROR, r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND ? VFM_ERROR_NOT_FOUND : VFM_ERROR_FAILED,
                 r == -NLE_NODEV || r == -NLE_OBJ_NOTFOUND ? "%s has no devlink instance (its driver registers none)"
                                                           : "devlink dev info %s failed: %s",
                 info->handle, why);
    return NULL;
  }
  /* no eswitch (a driver without eswitch ops): the mode stays unknown */
  if ((r = exchange (d, em, on_eswitch, info, FALSE)) < 0 && r != -NLE_OPNOTSUPP)
    g_debug ("devlink dev eswitch show %s: %s", info->handle, nl_geterror (r));
  if (!read_ports (d, info, bus, dev, error))
    return NULL;
  return g_steal_pointer (&info);
}

/* ROOT/.kmock/devlink/BUS/DEV.json: what vfm_devlink_info_to_json writes. */
static void
read_versions (JsonObject *versions, const char *kind, GPtrArray *to)
{
  JsonObject *o = versions && json_object_has_member (versions, kind) ? json_object_get_object_member (versions, kind) : NULL;
  g_autoptr (GList) names = o ? json_object_get_members (o) : NULL;
  for (GList *l = names; l != NULL; l = l->next)
    add_version (to, l->data, json_object_get_string_member (o, l->data));
}

static VfmDevlinkInfo *
read_synthetic (VfmSysroot *sr, const char *bus, const char *dev, GError **error)
{
  g_autofree char *rel = g_strdup_printf ("devlink/%s/%s.json", bus, dev);
  g_autofree char *path = vfm_sysroot_synthetic_file (sr, rel);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (VfmDevlinkInfo) info = info_new (bus, dev);
  JsonObject *o, *versions;
  JsonArray *ports;

  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "%s has no devlink instance (its driver registers none)",
                 info->handle);
    return NULL;
  }
  if (!vfm_json_load_file (parser, path, 1 << 20, error))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: not a JSON object", path);
    return NULL;
  }
  o = json_node_get_object (json_parser_get_root (parser));
  info->driver = g_strdup (vfm_json_get_str_or (o, "driver", NULL));
  info->serial = g_strdup (vfm_json_get_str_or (o, "serial", NULL));
  info->eswitch = g_strdup (vfm_json_get_str_or (o, "eswitch", NULL));
  versions = json_object_has_member (o, "versions") ? json_object_get_object_member (o, "versions") : NULL;
  read_versions (versions, "fixed", info->fixed);
  read_versions (versions, "running", info->running);
  read_versions (versions, "stored", info->stored);
  info->any_port = vfm_json_get_bool_or (o, "any_port", FALSE);
  ports = json_object_has_member (o, "vf_ports") ? json_object_get_array_member (o, "vf_ports") : NULL;
  for (guint i = 0; ports != NULL && i < json_array_get_length (ports); i++) {
    JsonObject *po = json_array_get_object_element (ports, i);
    JsonNode *m = po ? json_object_get_member (po, "migratable") : NULL;
    VfmDevlinkVfPort port = { .migratable = -1 };
    if (po == NULL)
      continue;
    port.vf = (gint) vfm_json_get_int_or (po, "vf", -1);
    port.port_index = (guint32) vfm_json_get_int_or (po, "port", 0);
    if (m != NULL && JSON_NODE_HOLDS_VALUE (m))
      port.migratable = json_node_get_boolean (m) ? 1 : 0;
    g_array_append_val (info->vf_ports, port);
    info->any_port = TRUE;
  }
  g_array_sort (info->vf_ports, cmp_port);
  return g_steal_pointer (&info);
}

VfmDevlinkInfo *
vfm_devlink_read (VfmSysroot *sr, const char *bus, const char *dev, GError **error)
{
  g_auto (Devlink) d = { 0 };

  if (!vfm_sysroot_is_real (sr))
    return read_synthetic (sr, bus, dev, error);
  if (!devlink_open (&d, error))
    return NULL;
  return read_kernel (&d, bus, dev, error);
}

const VfmDevlinkVfPort *
vfm_devlink_vf_port (const VfmDevlinkInfo *info, gint vf)
{
  for (guint i = 0; i < info->vf_ports->len; i++)
    if (g_array_index (info->vf_ports, VfmDevlinkVfPort, i).vf == vf)
      return &g_array_index (info->vf_ports, VfmDevlinkVfPort, i);
  return NULL;
}

const char *
vfm_devlink_version (GPtrArray *versions, const char *name)
{
  for (guint i = 0; versions != NULL && i < versions->len; i++) {
    char **pair = g_ptr_array_index (versions, i);
    if (strcmp (pair[0], name) == 0)
      return pair[1];
  }
  return NULL;
}

char *
vfm_devlink_firmware (const VfmDevlinkInfo *info)
{
  g_autoptr (GString) s = g_string_new (NULL);
  for (guint i = 0; i < info->fixed->len; i++) {
    char **pair = g_ptr_array_index (info->fixed, i);
    if (g_str_has_prefix (pair[0], "fw"))
      g_string_append_printf (s, "%s%s %s", s->len ? ", " : "", pair[0], pair[1]);
  }
  for (guint i = 0; i < info->running->len; i++) {
    char **pair = g_ptr_array_index (info->running, i);
    g_string_append_printf (s, "%s%s %s", s->len ? ", " : "", pair[0], pair[1]);
  }
  return s->len ? g_string_free (g_steal_pointer (&s), FALSE) : NULL;
}

char *
vfm_devlink_pending (const VfmDevlinkInfo *info)
{
  g_autoptr (GString) s = g_string_new (NULL);
  for (guint i = 0; i < info->stored->len; i++) {
    char **pair = g_ptr_array_index (info->stored, i);
    const char *running = vfm_devlink_version (info->running, pair[0]);
    if (running != NULL && strcmp (running, pair[1]) != 0)
      g_string_append_printf (s, "%s%s %s -> %s", s->len ? ", " : "", pair[0], running, pair[1]);
  }
  return s->len ? g_string_free (g_steal_pointer (&s), FALSE) : NULL;
}

static void
add_versions (JsonBuilder *b, const char *kind, GPtrArray *versions)
{
  json_builder_set_member_name (b, kind);
  json_builder_begin_object (b);
  for (guint i = 0; i < versions->len; i++) {
    char **pair = g_ptr_array_index (versions, i);
    vfm_json_add_str (b, pair[0], pair[1]);
  }
  json_builder_end_object (b);
}

JsonNode *
vfm_devlink_info_to_json (const VfmDevlinkInfo *info)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  vfm_json_add_str (b, "handle", info->handle);
  vfm_json_add_str (b, "driver", info->driver);
  vfm_json_add_str (b, "serial", info->serial);
  vfm_json_add_str (b, "eswitch", info->eswitch);
  json_builder_set_member_name (b, "versions");
  json_builder_begin_object (b);
  add_versions (b, "fixed", info->fixed);
  add_versions (b, "running", info->running);
  add_versions (b, "stored", info->stored);
  json_builder_end_object (b);
  vfm_json_add_bool (b, "any_port", info->any_port);
  json_builder_set_member_name (b, "vf_ports");
  json_builder_begin_array (b);
  for (guint i = 0; i < info->vf_ports->len; i++) {
    const VfmDevlinkVfPort *p = &g_array_index (info->vf_ports, VfmDevlinkVfPort, i);
    json_builder_begin_object (b);
    vfm_json_add_int (b, "vf", p->vf);
    vfm_json_add_int (b, "port", p->port_index);
    json_builder_set_member_name (b, "migratable");
    if (p->migratable < 0)
      json_builder_add_null_value (b);
    else
      json_builder_add_boolean_value (b, p->migratable == 1);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ------------------------------------------------------------ setting */

static gboolean
set_eswitch (Devlink *d, const char *bus, const char *pf, guint16 mode, GError **error)
{
  g_autoptr (VfmNlMsg) msg = request (d, DEVLINK_CMD_ESWITCH_SET, NLM_F_REQUEST | NLM_F_ACK, bus, pf);
  int r;

  nla_put_u16 (msg, DEVLINK_ATTR_ESWITCH_MODE, mode);
  if ((r = exchange (d, msg, NULL, NULL, TRUE)) < 0) {
    g_autofree char *why = kernel_said (d, r);
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "switching the eswitch of %s/%s to %s failed: %s", bus, pf,
                 mode == DEVLINK_ESWITCH_MODE_SWITCHDEV ? "switchdev" : "legacy", why);
    return FALSE;
  }
  return TRUE;
}

gboolean
vfm_devlink_set_vf_migratable (VfmSysroot *sr, const char *bus, const char *pf, gint vf, gboolean allow_switchdev,
                               gboolean dry_run, GPtrArray *steps, GError **error)
{
  g_auto (Devlink) d = { 0 };
  g_autoptr (VfmNlMsg) msg = NULL;
  g_autoptr (VfmDevlinkInfo) info = info_new (bus, pf);
  const VfmDevlinkVfPort *port;
  struct nla_bitfield32 caps = { .value = VFM_DEVLINK_PORT_FN_CAP_MIGRATABLE,
                                 .selector = VFM_DEVLINK_PORT_FN_CAP_MIGRATABLE };
  struct nlattr *fn;
  gboolean switched = FALSE;
  int r;

  g_ptr_array_add (steps, g_strdup_printf ("devlink port function set %s/%s vf %d migratable enable", bus, pf, vf));
  if (dry_run)
    return TRUE;
  if (!vfm_sysroot_is_real (sr)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                 "devlink is netlink to the running kernel, not sysfs: it cannot be set on a --sysroot host");
    return FALSE;
  }
  if (!devlink_open (&d, error) || !read_ports (&d, info, bus, pf, error))
    goto fail;
  if (vfm_devlink_vf_port (info, vf) == NULL && allow_switchdev) {
    /* mlx5 creates VF representor ports only in switchdev mode (Decisions 18) */
    g_ptr_array_add (steps, g_strdup_printf ("devlink dev eswitch set %s/%s mode switchdev", bus, pf));
    if (!set_eswitch (&d, bus, pf, DEVLINK_ESWITCH_MODE_SWITCHDEV, error))
      goto fail;
    switched = TRUE;
    if (!read_ports (&d, info, bus, pf, error))
      goto fail;
  }
  if ((port = vfm_devlink_vf_port (info, vf)) == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                 info->any_port
                   ? "no devlink port for VF %d (VF ports exist only in switchdev mode: add --switchdev to switch the eswitch)"
                   : "the PF has no devlink ports, so it cannot mark VF %d migratable",
                 vf);
    goto fail;
  }
  msg = request (&d, DEVLINK_CMD_PORT_SET, NLM_F_REQUEST | NLM_F_ACK, bus, pf);
  nla_put_u32 (msg, DEVLINK_ATTR_PORT_INDEX, port->port_index);
  fn = nla_nest_start (msg, DEVLINK_ATTR_PORT_FUNCTION);
  nla_put (msg, VFM_DEVLINK_PORT_FN_ATTR_CAPS, sizeof caps, &caps);
  nla_nest_end (msg, fn);
  if ((r = exchange (&d, msg, NULL, NULL, TRUE)) < 0) {
    g_autofree char *why = kernel_said (&d, r);
    g_set_error (error, VFM_ERROR, r == -NLE_OPNOTSUPP ? VFM_ERROR_UNSUPPORTED : VFM_ERROR_FAILED,
                 "the kernel refused the migratable capability of VF %d: %s (kernel >= 6.3 and a PF driver that "
                 "supports it are needed; the VF must be unbound)", vf, why);
    goto fail;
  }
  return TRUE;
fail:
  /* the eswitch goes back to the mode it had: a refusal changes nothing */
  if (switched) {
    g_autoptr (GError) back = NULL;
    if (set_eswitch (&d, bus, pf, DEVLINK_ESWITCH_MODE_LEGACY, &back))
      g_ptr_array_add (steps, g_strdup_printf ("devlink dev eswitch set %s/%s mode legacy (undone)", bus, pf));
    else
      g_prefix_error (error, "%s; ", back->message);
  }
  g_prefix_error (error, "devlink on %s/%s: ", bus, pf);
  return FALSE;
}
