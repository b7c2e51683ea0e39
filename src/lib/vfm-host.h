/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-pci.h"
#include "vfm-select.h"
#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* The context passed down through vfmig: one host (real or synthetic), its
 * driver database, loaded on first use, and the devices read so far. */
typedef struct _VfmHost VfmHost;

VfmHost      *vfm_host_new            (const char *sysroot,
                                       GError    **error);
void          vfm_host_free           (VfmHost *host);
VfmSysroot   *vfm_host_sysroot        (VfmHost *host);
VfmDb        *vfm_host_db             (VfmHost *host,
                                       GError **error);
GPtrArray    *vfm_host_db_warnings    (VfmHost *host);
GPtrArray    *vfm_host_devices        (VfmHost *host,
                                       GPtrArray *warnings,
                                       GError **error);
VfmPciDevice *vfm_host_device         (VfmHost    *host,
                                       const char *bdf,
                                       GError    **error);
VfmSelection *vfm_host_select         (VfmHost      *host,
                                       VfmPciDevice *dev,
                                       GError      **error);
gboolean      vfm_host_parse_bdf      (const char *input,
                                       char        out[13],
                                       GError    **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmHost, vfm_host_free)

G_END_DECLS
