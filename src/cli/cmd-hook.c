/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hook qemu: the libvirt hook (/etc/libvirt/hooks/qemu.d/vfmig), serving
 * migrations someone else starts (virsh, Nova, Proxmox) through the
 * library's vfm_migrate_incoming. It never calls back into libvirt (that
 * deadlocks) and is a quick no-op for domains without PCI passthrough.
 * udev-query: the udev rule's helper. */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-incoming.h"

#include <stdio.h>
#include <string.h>

#define HOOK_MAX_XML (16 * 1024 * 1024)

static char *
read_stdin (gsize *len)
{
  g_autoptr (GString) s = g_string_new (NULL);
  char buf[65536];
  size_t n;
  while ((n = fread (buf, 1, sizeof buf, stdin)) > 0 && s->len < HOOK_MAX_XML)
    g_string_append_len (s, buf, (gssize) n);
  *len = s->len;
  return g_string_free (g_steal_pointer (&s), FALSE);
}

gboolean
vfm_cmd_hook (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autofree char *xml = NULL;
  const char *op, *subop;
  gsize len = 0;

  if (!vfm_cli_parse_options (cli, "hook", "qemu DOMAIN OPERATION SUB-OPERATION EXTRA", NULL, &argc, &argv, error))
    return FALSE;
  if (argc < 5 || strcmp (argv[1], "qemu") != 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "hook: expected qemu DOMAIN OPERATION SUB-OPERATION [EXTRA]");
    return FALSE;
  }
  op = argv[3];
  subop = argv[4];
  /* only these operations concern vfmig; the rest return at once */
  if (strcmp (op, "migrate") != 0 && strcmp (op, "prepare") != 0 && strcmp (op, "started") != 0 &&
      strcmp (op, "release") != 0)
    return TRUE;
  xml = read_stdin (&len);
  if (strcmp (op, "migrate") == 0) {
    g_autofree char *out = vfm_migrate_incoming (cli->sysroot, xml, len, error);
    if (out == NULL)
      return FALSE;
    fputs (out, stdout);
    return TRUE;
  }
  return vfm_migrate_incoming_event (cli->sysroot, op, subop, xml, len, error);
}

/* udev-query KERNEL_NAME: for a device a policy binds at hotplug, print
 * VFMIG_DRIVER=NAME for the rule to put in driver_override. Never fails:
 * udev must not be held up or broken by vfmig (errors go to stderr, which
 * udev logs). */
gboolean
vfm_cmd_udev_query (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (VfmSelection) sel = NULL;
  VfmPciDevice *dev;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "udev-query", "KERNEL_NAME", NULL, &argc, &argv, error))
    return FALSE;
  if (argc != 2)
    return TRUE;
  if ((host = vfm_cli_host (cli, &local)) == NULL || (dev = vfm_host_device (host, argv[1], &local)) == NULL ||
      (sel = vfm_host_select (host, dev, &local)) == NULL) {
    fprintf (stderr, "vfmig: %s\n", local->message);
    return TRUE;
  }
  if (sel->managed && sel->auto_bind && sel->selected != NULL)
    printf ("VFMIG_DRIVER=%s\n", sel->selected->driver);
  return TRUE;
}
