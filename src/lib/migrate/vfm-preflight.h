/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-compat.h"
#include "vfm-peer.h"

G_BEGIN_DECLS

/* Check against live hosts, in one place: what `vfmigctl check DOMAIN --to
 * URI` and migrate's pre-flight both gather before the rules (check/) run -
 * this host's profile with its libvirt's versions, the destination's profile
 * from its vfmig (a peer, or a profile file) with its libvirt's versions.
 * Versions a libvirt cannot give are left unknown; the rules say so. */

VfmHostProfile *vfm_preflight_source (VfmHost    *host,
                                      const char *source_uri,
                                      GError    **error);
/* peer: a vfm-peer spec ("ssh://H", "sysroot:DIR", "local"), or a profile
 * file ("file:PATH" or a plain path) */
VfmHostProfile *vfm_preflight_destination (const char *peer,
                                           const char *dest_uri,
                                           GError    **error);
/* check --ask-qemu: the QEMU properties VFIO migration depends on (the
 * curated data's names), as the running QEMU of domain has them on each
 * hostdev's alias (qom-get), into each hostdev's "running"; the rules then
 * judge those rather than the XML's <qemu:override>. Asking QEMU's monitor
 * makes libvirt mark the domain tainted: only on request. */
gboolean        vfm_preflight_running_properties (const char    *uri,
                                                  VfmDomainInfo *domain,
                                                  GError       **error);
VfmCheckResult *vfm_preflight_check  (VfmHost             *host,
                                      const char          *source_uri,
                                      const char          *peer,
                                      const char          *dest_uri,
                                      const VfmDomainInfo *domain,
                                      VfmStrategy          strategy,
                                      VfmHostProfile     **source_out,
                                      VfmHostProfile     **dest_out,
                                      GError             **error);

G_END_DECLS
