/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* The claims file, /var/lib/vfmig/claims.json (DESIGN.md, Decisions 12): the
 * record of which devices on this host migrations hold, with their leases.
 * This is only the store - read, write, edit under the "claims" lock; what a
 * claim means (choosing devices, preparing, returning them) is migrate's
 * vfm-claims. A damaged file is an error naming it: claims are never
 * silently forgotten. */

/* A claimed PCI device (bdf set), or a mediated device (uuid set). */
typedef struct {
  char *source_bdf;   /* the device on the source */
  char *bdf;          /* the device claimed here */
  char *driver;       /* the driver it must be bound to */
  gboolean bound;     /* prepare bound it (release --restore returns only these) */
  char *source_uuid;  /* mdev: the instance on the source */
  char *uuid;         /* mdev: the instance claimed here */
  char *mdev_parent;  /* mdev: where it lives (or will be created) */
  char *mdev_type;
  gboolean created;   /* mdev: the claim created it (release removes it) */
} VfmClaimDevice;

typedef struct {
  char *id;
  char *domain_uuid;
  char *domain_name;
  char *state;        /* "claimed", "prepared", "running" */
  gint64 created_at;
  gint64 expires_at;  /* 0: no expiry (adopted by a running domain) */
  /* adopted: who held its devices then, and from which PID namespace that
   * was seen (a later look from another namespace cannot see the holder) */
  char *held_by;      /* "0000:5e:00.4: 1234 (qemu-system-x86)", or NULL */
  char *pid_ns;       /* "pid:[4026531836]", or NULL */
  gint64 held_pid;    /* the holder's PID (0: not known): another process holding
                       * the devices later is another guest */
  GPtrArray *devices; /* VfmClaimDevice */
} VfmClaim;

#define VFM_CLAIMS_LOCK_MS 10000

VfmClaim  *vfm_claim_new         (void);
void       vfm_claim_device_free (VfmClaimDevice *d);
void       vfm_claim_free        (VfmClaim *c);
VfmClaim  *vfm_claim_copy        (const VfmClaim *c);
JsonNode  *vfm_claim_to_json     (const VfmClaim *c);
VfmClaim  *vfm_claim_from_json   (JsonNode *node, GError **error);

/* Every claim in the file; the expired ones go to expired (when not NULL)
 * or are dropped from the result. The caller holds the claims lock when it
 * will write back. */
GPtrArray *vfm_claim_store_load  (VfmSysroot *sr, GPtrArray *expired, GError **error);
gboolean   vfm_claim_store_save  (VfmSysroot *sr, GPtrArray *claims, GError **error);
VfmClaim  *vfm_claim_store_find  (GPtrArray *claims, const char *id);

/* Changes one claim under the lock: edit (may be NULL) then, with remove,
 * drops it. VFM_ERROR_NOT_FOUND when there is no such live claim. */
typedef gboolean (*VfmClaimEdit) (VfmClaim *c, gpointer data, GError **error);
gboolean   vfm_claim_store_edit  (VfmSysroot *sr, const char *id, VfmClaimEdit edit, gpointer data,
                                  gboolean remove, GError **error);
VfmClaim  *vfm_claim_store_get   (VfmSysroot *sr, const char *id, GError **error);
/* BDFs and mdev UUIDs held by a live claim (read-only; a damaged file holds none). */
GHashTable *vfm_claim_store_taken  (VfmSysroot *sr);
/* Why the claims file cannot be read, or NULL. */
char       *vfm_claim_store_problem (VfmSysroot *sr);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmClaim, vfm_claim_free)

G_END_DECLS
