/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-incoming.h"
#include "vfm-claims.h"
#include "vfm-domain-xml.h"
#include "vfm-error.h"
#include "vfm-mdev.h"

#include <string.h>

/* migrate begin, on the destination: a filter. Claims a free local device
 * for each hostdev, unless vfmigctl migrate already did (its claim id is in
 * the XML); what it prints replaces the incoming XML. The source's device
 * identity is not in the XML: the wanted ids are those of the local device at
 * the same address (identical hosts), the usual case for virsh migrate. */
char *
vfm_migrate_incoming (const char *sysroot, const char *xml, gsize len, GError **error)
{
  g_autoptr (VfmDomainInfo) info = vfm_domain_parse (xml, len, error);
  g_autoptr (GPtrArray) wants = NULL;
  g_autoptr (GHashTable) moves = NULL;
  g_autoptr (VfmClaim) claim = NULL;
  g_autofree char *claim_id = NULL;
  g_autoptr (VfmHost) host = NULL;
  char *out;

  if (info == NULL)
    return NULL;
  claim_id = vfm_domain_claim_id (xml, len);
  if ((info->hostdevs->len == 0 && info->mdevs->len == 0) || claim_id != NULL)
    return g_strndup (xml, len);
  if ((host = vfm_host_new (sysroot, error)) == NULL || vfm_host_db (host, error) == NULL)
    return NULL;
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
      return NULL;
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
  /* a mediated device: the type of the local instance with that UUID (the
   * source's, on one machine; or one made beforehand with the same UUID, as
   * orchestrators do); a free instance of it is claimed, or one created */
  for (guint i = 0; i < info->mdevs->len; i++) {
    const VfmMdevHostdev *m = g_ptr_array_index (info->mdevs, i);
    g_autoptr (VfmMdev) here = vfm_mdev_get (vfm_host_sysroot (host), m->uuid, NULL);
    if (here == NULL || here->type == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND,
                   "mediated device %s of %s: this host has no instance with that UUID to learn its type from "
                   "(use vfmigctl migrate, which sends it)", m->uuid, info->name);
      return NULL;
    }
    g_ptr_array_add (wants, vfm_claim_want_for_mdev (m->uuid, here->type, here->parent));
  }
  if ((claim = vfm_claims_claim (host, info->uuid, info->name, wants, 300, error)) == NULL) {
    g_prefix_error (error, "claiming devices for incoming %s: ", info->name ? info->name : "domain");
    return NULL;
  }
  moves = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < claim->devices->len; i++) {
    const VfmClaimDevice *d = g_ptr_array_index (claim->devices, i);
    if (d->uuid != NULL)
      g_hash_table_insert (moves, d->source_uuid, d->uuid);
    else
      g_hash_table_insert (moves, d->source_bdf, d->bdf);
  }
  if ((out = vfm_domain_rewrite (xml, len, moves, NULL, claim->id, error)) == NULL) {
    vfm_claims_release (host, claim->id, TRUE, NULL, NULL);
    return NULL;
  }
  return out;
}

gboolean
vfm_migrate_incoming_event (const char *sysroot, const char *op, const char *subop, const char *xml, gsize len,
                            GError **error)
{
  g_autofree char *claim_id = NULL;
  g_autoptr (VfmHost) host = NULL;

  if (len == 0 || strstr (xml, VFM_XML_NAMESPACE) == NULL || (claim_id = vfm_domain_claim_id (xml, len)) == NULL)
    return TRUE;
  if ((host = vfm_host_new (sysroot, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  if (strcmp (op, "prepare") == 0 && strcmp (subop, "begin") == 0) {
    g_autoptr (VfmClaim) c = vfm_claim_store_get (vfm_host_sysroot (host), claim_id, NULL);
    g_autoptr (GPtrArray) results = NULL;
    if (c == NULL || g_strcmp0 (c->state, "claimed") != 0)
      return TRUE; /* vfmigctl migrate prepared it already, or it is not ours */
    if ((results = vfm_claims_prepare (host, claim_id, error)) == NULL) {
      g_prefix_error (error, "preparing claim %s: ", claim_id);
      return FALSE;
    }
    return TRUE;
  }
  if (strcmp (op, "started") == 0) {
    g_autoptr (GError) local = NULL;
    vfm_claims_adopt (host, claim_id, NULL, &local); /* gone already: vfmigctl migrate released it */
    return TRUE;
  }
  if (strcmp (op, "release") == 0 && strcmp (subop, "end") == 0) {
    /* never started here (the incoming migration failed): what the claim
     * bound or created goes back; it ran here and left: its devices stay,
     * free for the next guest */
    g_autoptr (VfmClaim) c = vfm_claim_store_get (vfm_host_sysroot (host), claim_id, NULL);
    g_autoptr (GError) local = NULL;
    if (c != NULL)
      vfm_claims_release (host, claim_id, g_strcmp0 (c->state, "running") != 0, NULL, &local);
    return TRUE;
  }
  return TRUE;
}
