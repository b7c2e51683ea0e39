/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-pci.h"

G_BEGIN_DECLS

/* Is the host using this device? Each reason names what is in use, e.g.
 * "eth0 is up with 192.0.2.4/24", "nvme0n1p2 is mounted on /". An empty
 * list means nothing vfmig can see uses it. Binding refuses a device with
 * reasons unless --force. */
GPtrArray *vfm_safety_check (VfmSysroot   *sr,
                             VfmPciDevice *dev);

G_END_DECLS
