/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-profile.h"

G_BEGIN_DECLS

/* What a scheduler needs to place guests with passthrough devices on this
 * host (issue 19; docs/schedulers.md): per device its identity (BDF, PCI
 * path, ids, PF and VF index, mediated type and parent), its driver, whether
 * it is free, claimed, held by a guest or on a host driver, and its
 * migration capability as traits (CUSTOM_VFMIG_*, names a Nova placement
 * trait may carry) with the strategies it allows. Built from the host's
 * profile (the kernel's probe answers, the claims) and its PCI devices. One
 * JSON shape for `vfmigctl inventory --json` and io.vfmig.Inventory. */

JsonNode *vfm_inventory_build (VfmHost  *host,
                               GError  **error);

G_END_DECLS
