/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-claims.h"

G_BEGIN_DECLS

/* The destination's vfmig, as a migration sees it (DESIGN.md, "Remote peer";
 * Decisions 19: only vfmigctl talks to other hosts, with the caller's own ssh
 * keys). "ssh://HOST" speaks the io.vfmig varlink methods - the ones vfmigd
 * serves - to `ssh HOST vfmigctl bridge`, one connection per peer;
 * "sysroot:DIR" (tests, the two-host lab) and "local" are this machine,
 * called in process through the same library functions the methods call. */
typedef struct _VfmPeer VfmPeer;

VfmPeer        *vfm_peer_new      (const char *spec,
                                   GError    **error);
void            vfm_peer_free     (VfmPeer *peer);
const char     *vfm_peer_spec     (VfmPeer *peer);
VfmHostProfile *vfm_peer_profile  (VfmPeer *peer, GError **error);
VfmClaim       *vfm_peer_claim    (VfmPeer *peer, const char *domain_uuid, const char *domain_name,
                                   GPtrArray *wants, guint ttl_s, GError **error);
gboolean        vfm_peer_prepare  (VfmPeer *peer, const char *claim_id, GError **error);
gboolean        vfm_peer_release  (VfmPeer *peer, const char *claim_id, gboolean restore, GError **error);
gboolean        vfm_peer_renew    (VfmPeer *peer, const char *claim_id, guint ttl_s, GError **error);
gboolean        vfm_peer_adopt    (VfmPeer *peer, const char *claim_id, gboolean *adopted, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmPeer, vfm_peer_free)

G_END_DECLS
