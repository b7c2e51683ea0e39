/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hook qemu: the libvirt hook (/etc/libvirt/hooks/qemu.d/vfmig), serving
 * migrations someone else starts (virsh, Nova, Proxmox). It never calls back
 * into libvirt (that deadlocks) and is a quick no-op for domains without
 * PCI passthrough. udev-query: the udev rule's helper. */
#include "vfm-cli.h"
#include "vfm-claims.h"
#include "vfm-domain-xml.h"
#include "vfm-error.h"

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

/* migrate begin, on the destination: a filter. Claims a free local device
 * for each hostdev, unless vfmigctl migrate already did (its claim id is in
 * the XML); what it prints replaces the incoming XML. The source's device
 * identity is not in the XML: the wanted ids are those of the local device at
 * the same address (identical hosts), the usual case for virsh migrate. */
static gboolean
hook_migrate (VfmCli *cli, const char *xml, gsize len, GError **error)
{
  g_autoptr (VfmDomainInfo) info = vfm_domain_parse (xml, len, error);
  g_autoptr (GPtrArray) wants = NULL;
  g_autoptr (GHashTable) moves = NULL;
  g_autoptr (VfmClaim) claim = NULL;
  g_autofree char *claim_id = NULL, *out = NULL;
  VfmHost *host;

  if (info == NULL)
    return FALSE;
  claim_id = vfm_domain_claim_id (xml, len);
  if (info->hostdevs->len == 0 || claim_id != NULL) {
    fwrite (xml, 1, len, stdout);
    return TRUE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  wants = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_want_free);
  for (guint i = 0; i < info->hostdevs->len; i++) {
    const VfmHostdev *h = g_ptr_array_index (info->hostdevs, i);
    g_autoptr (GError) local = NULL;
    VfmPciDevice *dev = vfm_host_device (host, h->bdf, &local);
    g_autoptr (VfmSelection) sel = NULL;
    VfmClaimWant *w;
    if (dev == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND,
                   "hostdev %s of %s: this host has no device at that address to learn its ids from "
                   "(use vfmigctl migrate, which sends them)", h->bdf, info->name);
      return FALSE;
    }
    sel = vfm_host_select (host, dev, NULL);
    w = g_new0 (VfmClaimWant, 1);
    w->source_bdf = g_strdup (h->bdf);
    w->vendor = vfm_pci_device_vendor (dev);
    w->device = vfm_pci_device_device (dev);
    w->subsystem_vendor = vfm_pci_device_subsystem_vendor (dev);
    w->subsystem_device = vfm_pci_device_subsystem_device (dev);
    w->class_code = vfm_pci_device_class (dev);
    w->driver = g_strdup (sel && sel->selected ? sel->selected->driver : NULL);
    g_ptr_array_add (wants, w);
  }
  if ((claim = vfm_claims_claim (host, info->uuid, info->name, wants, 300, error)) == NULL)
    return FALSE;
  moves = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < claim->devices->len; i++) {
    const VfmClaimDevice *d = g_ptr_array_index (claim->devices, i);
    g_hash_table_insert (moves, d->source_bdf, d->bdf);
  }
  if ((out = vfm_domain_rewrite (xml, len, moves, NULL, claim->id, error)) == NULL) {
    vfm_claims_release (host, claim->id, FALSE, NULL, NULL);
    return FALSE;
  }
  fputs (out, stdout);
  return TRUE;
}

gboolean
vfm_cmd_hook (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autofree char *xml = NULL, *claim_id = NULL;
  const char *op, *subop;
  gsize len = 0;
  VfmHost *host;

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
  if (strcmp (op, "migrate") == 0)
    return hook_migrate (cli, xml, len, error);
  /* the others act only on a claim this host holds for the domain */
  if (len == 0 || strstr (xml, VFM_XML_NAMESPACE) == NULL || (claim_id = vfm_domain_claim_id (xml, len)) == NULL)
    return TRUE;
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  if (strcmp (op, "prepare") == 0 && strcmp (subop, "begin") == 0) {
    g_autoptr (VfmClaim) c = vfm_claim_store_get (vfm_host_sysroot (host), claim_id, NULL);
    g_autoptr (GPtrArray) results = NULL;
    if (c == NULL || g_strcmp0 (c->state, "claimed") != 0)
      return TRUE; /* vfmigctl migrate prepared it already, or it is not ours */
    results = vfm_claims_prepare (host, claim_id, error);
    return results != NULL;
  }
  if (strcmp (op, "started") == 0) {
    g_autoptr (GError) local = NULL;
    vfm_claims_adopt (host, claim_id, &local); /* gone already: vfmigctl migrate released it */
    return TRUE;
  }
  if (strcmp (op, "release") == 0 && strcmp (subop, "end") == 0) {
    g_autoptr (GError) local = NULL;
    vfm_claims_release (host, claim_id, FALSE, NULL, &local);
    return TRUE;
  }
  return TRUE;
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
