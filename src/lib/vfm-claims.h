/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-binder.h"
#include "vfm-profile.h"

G_BEGIN_DECLS

/* Claims on a migration's destination (DESIGN.md, Decisions 12): a lease on
 * free devices matching the source's, so that two migrations never get the
 * same device. Kept in /var/lib/vfmig/claims.json, changed only under the
 * "claims" lock; expired leases are dropped on every access. A claim with no
 * expiry belongs to a running domain until it is released. */

typedef struct {
  char *source_bdf;   /* the device on the source */
  char *bdf;          /* the device claimed here */
  char *driver;       /* the driver it must be bound to */
  gboolean bound;     /* prepare bound it (release --restore returns only these) */
} VfmClaimDevice;

typedef struct {
  char *id;
  char *domain_uuid;
  char *domain_name;
  char *state;        /* "claimed", "prepared", "running" */
  gint64 created_at;
  gint64 expires_at;  /* 0: no expiry (adopted by a running domain) */
  GPtrArray *devices; /* VfmClaimDevice */
} VfmClaim;

/* What a migration wants: the identity of each source device. */
typedef struct {
  char *source_bdf;
  guint16 vendor, device, subsystem_vendor, subsystem_device;
  guint32 class_code;
  char *driver;
} VfmClaimWant;

void       vfm_claim_free        (VfmClaim *c);
void       vfm_claim_want_free   (VfmClaimWant *w);
JsonNode  *vfm_claim_to_json     (const VfmClaim *c);
VfmClaim  *vfm_claim_from_json   (JsonNode *node, GError **error);
GPtrArray *vfm_claim_wants_from_json (JsonNode *node, GError **error);
JsonNode  *vfm_claim_wants_to_json   (GPtrArray *wants);

VfmClaim  *vfm_claims_claim      (VfmHost     *host,
                                  const char  *domain_uuid,
                                  const char  *domain_name,
                                  GPtrArray   *wants,
                                  guint        ttl_s,
                                  GError     **error);
gboolean   vfm_claims_renew      (VfmHost *host, const char *id, guint ttl_s, GError **error);
gboolean   vfm_claims_adopt      (VfmHost *host, const char *id, GError **error);
GPtrArray *vfm_claims_prepare    (VfmHost *host, const char *id, GError **error);
gboolean   vfm_claims_release    (VfmHost *host, const char *id, gboolean restore,
                                  GPtrArray *results, GError **error);
VfmClaim  *vfm_claims_get        (VfmHost *host, const char *id, GError **error);
GPtrArray *vfm_claims_list       (VfmHost *host, GError **error);
GHashTable *vfm_claims_taken     (VfmHost *host);
char      *vfm_claims_problem    (VfmHost *host);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmClaim, vfm_claim_free)

G_END_DECLS
