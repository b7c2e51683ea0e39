/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-binder.h"
#include "vfm-claim-store.h"
#include "vfm-profile.h"

G_BEGIN_DECLS

/* Claims on a migration's destination (DESIGN.md, Decisions 12): a lease on
 * free devices matching the source's, so that two migrations never get the
 * same device. The record lives in the claim store (state/vfm-claim-store);
 * this is what a claim does: choose free devices, bind them (prepare), give
 * them back (release, or the lease running out - checked on every access).
 * A claim with no expiry belongs to a running domain until it is released or
 * nothing holds its devices any more (also checked on every access). */

/* What a migration wants: the identity of each source device - a PCI
 * device's ids, or a mediated device's type (mdev_type set) on a parent of
 * that name where there is one (Decisions 31). */
typedef struct {
  char *source_bdf;
  guint16 vendor, device, subsystem_vendor, subsystem_device;
  guint32 class_code;
  char *driver;
  char *source_uuid;   /* mdev */
  char *mdev_type;     /* mdev: NULL for a PCI device */
  char *mdev_parent;   /* mdev: the source's parent name, preferred here */
} VfmClaimWant;

void       vfm_claim_want_free   (VfmClaimWant *w);
/* What to ask for a source PCI device: its ids from its profile, and the
 * driver it is bound to (when VFIO holds it) or would be selected. */
VfmClaimWant *vfm_claim_want_for_device (const VfmDeviceProfile *d);
/* What to ask for a mediated device: its type, on a parent of that name
 * where there is one (either may be NULL: not known). */
VfmClaimWant *vfm_claim_want_for_mdev   (const char *source_uuid,
                                         const char *type,
                                         const char *parent);
GPtrArray *vfm_claim_wants_from_json (JsonNode *node, GError **error);
JsonNode  *vfm_claim_wants_to_json   (GPtrArray *wants);

VfmClaim  *vfm_claims_claim      (VfmHost     *host,
                                  const char  *domain_uuid,
                                  const char  *domain_name,
                                  GPtrArray   *wants,
                                  guint        ttl_s,
                                  GError     **error);
gboolean   vfm_claims_renew      (VfmHost *host, const char *id, guint ttl_s, GError **error);
/* The domain runs with the claimed devices: once a process holds one of
 * them, the claim is the domain's (state running, no lease, the holder and
 * the PID namespace recorded) until nothing holds them any more - the domain
 * stopped or left - or it is released. Before that the lease goes on,
 * renewed (adopted FALSE). */
gboolean   vfm_claims_adopt      (VfmHost *host, const char *id, gboolean *adopted, GError **error);
GPtrArray *vfm_claims_prepare    (VfmHost *host, const char *id, GError **error);
gboolean   vfm_claims_release    (VfmHost *host, const char *id, gboolean restore,
                                  GPtrArray *results, GError **error);
GPtrArray *vfm_claims_list       (VfmHost *host, GError **error);


G_END_DECLS
