/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-safety.h"
#include "vfm-sysfs.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

/* Addresses on an interface, as "ADDR/PREFIX". IPv6 link-local addresses are
 * left out: every up interface has one, and nothing routes through it. */
static GPtrArray *
netdev_addresses (VfmSysroot *sr, const char *ifname)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);

  if (!vfm_sysroot_is_real (sr)) {
    g_autofree char *name = g_build_filename ("addresses", ifname, NULL);
    g_autofree char *path = vfm_sysroot_synthetic_file (sr, name);
    g_autofree char *text = NULL;
    if (g_file_get_contents (path, &text, NULL, NULL)) {
      g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
      for (guint i = 0; lines[i]; i++)
        if (*g_strstrip (lines[i]))
          g_ptr_array_add (out, g_strdup (lines[i]));
    }
    return out;
  }

  struct ifaddrs *ifa = NULL;
  if (getifaddrs (&ifa) < 0)
    return out;
  for (struct ifaddrs *a = ifa; a != NULL; a = a->ifa_next) {
    char buf[INET6_ADDRSTRLEN];
    int prefix = 0;
    if (a->ifa_addr == NULL || g_strcmp0 (a->ifa_name, ifname) != 0)
      continue;
    if (a->ifa_addr->sa_family == AF_INET) {
      struct in_addr mask = ((struct sockaddr_in *) a->ifa_netmask)->sin_addr;
      inet_ntop (AF_INET, &((struct sockaddr_in *) a->ifa_addr)->sin_addr, buf, sizeof buf);
      prefix = __builtin_popcount (mask.s_addr);
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      struct in6_addr *in6 = &((struct sockaddr_in6 *) a->ifa_addr)->sin6_addr;
      if (IN6_IS_ADDR_LINKLOCAL (in6))
        continue;
      inet_ntop (AF_INET6, in6, buf, sizeof buf);
      if (a->ifa_netmask != NULL)
        for (int k = 0; k < 16; k++)
          prefix += __builtin_popcount (((struct sockaddr_in6 *) a->ifa_netmask)->sin6_addr.s6_addr[k]);
    } else {
      continue;
    }
    g_ptr_array_add (out, g_strdup_printf ("%s/%d", buf, prefix));
  }
  freeifaddrs (ifa);
  return out;
}

static void
check_netdevs (VfmSysroot *sr, VfmPciDevice *dev, GPtrArray *reasons)
{
  g_autoptr (GPtrArray) nets = vfm_pci_device_net (dev);
  for (guint i = 0; i < nets->len; i++) {
    const char *ifname = g_ptr_array_index (nets, i);
    g_autofree char *dir = vfm_sysroot_pci_device_attr (sr, vfm_pci_device_bdf (dev), "net");
    g_autofree char *flags_path = g_build_filename (dir, ifname, "flags", NULL);
    g_autofree char *oper = g_build_filename (dir, ifname, "operstate", NULL);
    char state[32] = "";
    guint32 flags;
    g_autoptr (GPtrArray) addrs = NULL;

    /* administratively up (IFF_UP), carrier or not: an interface that lost
     * its link still carries the host's addresses and routes */
    if (vfm_sysfs_read_hex (flags_path, &flags)) {
      if (!(flags & 0x1))
        continue;
    } else {
      vfm_sysfs_read (oper, state, sizeof state);
      if (strcmp (state, "up") != 0 && strcmp (state, "unknown") != 0)
        continue;
    }
    addrs = netdev_addresses (sr, ifname);
    if (addrs->len > 0) {
      g_ptr_array_add (addrs, NULL);
      g_autofree char *list = g_strjoinv (", ", (char **) addrs->pdata);
      g_ptr_array_add (reasons, g_strdup_printf ("%s is up with %s", ifname, list));
    }
  }
}

/* A block device of this controller is in use when it or a partition of it
 * ("nvme0n1p2", "sda1") is a mount source or a swap area. */
static gboolean
belongs_to (const char *source, const char *block)
{
  const char *base = strrchr (source, '/');
  gsize n = strlen (block);
  base = base ? base + 1 : source;
  if (strncmp (base, block, n) != 0)
    return FALSE;
  return base[n] == '\0' || g_ascii_isdigit (base[n]) || (base[n] == 'p' && g_ascii_isdigit (base[n + 1]));
}

static void
check_blocks (VfmSysroot *sr, VfmPciDevice *dev, GPtrArray *reasons)
{
  g_autoptr (GPtrArray) blocks = vfm_pci_device_block (dev);
  g_autofree char *mountinfo = NULL, *swaps = NULL;
  g_autofree char *mi_path = vfm_sysroot_proc_file (sr, "self/mountinfo");
  g_autofree char *sw_path = vfm_sysroot_proc_file (sr, "swaps");
  g_auto (GStrv) mlines = NULL, slines = NULL;

  if (blocks->len == 0)
    return;
  g_file_get_contents (mi_path, &mountinfo, NULL, NULL);
  g_file_get_contents (sw_path, &swaps, NULL, NULL);
  mlines = g_strsplit (mountinfo ? mountinfo : "", "\n", -1);
  slines = g_strsplit (swaps ? swaps : "", "\n", -1);

  for (guint b = 0; b < blocks->len; b++) {
    const char *block = g_ptr_array_index (blocks, b);
    /* mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL…] - FSTYPE SOURCE SUPER */
    for (guint i = 0; mlines[i]; i++) {
      g_auto (GStrv) f = g_strsplit (mlines[i], " ", -1);
      guint n = g_strv_length (f), dash = 0;
      for (guint k = 6; k < n; k++)
        if (strcmp (f[k], "-") == 0) {
          dash = k;
          break;
        }
      if (dash == 0 || dash + 2 >= n || n < 5)
        continue;
      if (belongs_to (f[dash + 2], block))
        g_ptr_array_add (reasons, g_strdup_printf ("%s is mounted on %s%s", f[dash + 2], f[4],
                                                   strcmp (f[4], "/") == 0 ? " (the root filesystem)" : ""));
    }
    /* /proc/swaps: a header line, then "FILENAME TYPE SIZE USED PRIORITY" */
    for (guint i = 0; slines[i]; i++) {
      g_auto (GStrv) f = NULL;
      if (i == 0)
        continue;
      f = g_strsplit_set (slines[i], " \t", 2);
      if (f[0] && *f[0] && belongs_to (f[0], block))
        g_ptr_array_add (reasons, g_strdup_printf ("%s holds active swap", f[0]));
    }
  }
}

GPtrArray *
vfm_safety_check (VfmSysroot *sr, VfmPciDevice *dev)
{
  GPtrArray *reasons = g_ptr_array_new_with_free_func (g_free);

  if (vfm_pci_device_boot_vga (dev) == 1)
    g_ptr_array_add (reasons, g_strdup ("it is the boot VGA device (the host's console)"));
  check_netdevs (sr, dev, reasons);
  check_blocks (sr, dev, reasons);
  return reasons;
}
