/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-pci.h"
#include "vfm-select.h"
#include "vfm-sysroot.h"

#include <json-glib/json-glib.h>

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
/* For a process that keeps the parsed database across hosts (vfmigd's
 * hotplug worker; vfm-db-watch says when its files changed): the database
 * taken out of a host, and given to another (its warnings stay behind). */
VfmDb        *vfm_host_steal_db       (VfmHost *host);
void          vfm_host_adopt_db       (VfmHost *host,
                                       VfmDb   *db);
char         *vfm_host_db_origin      (VfmHost *host);
char         *vfm_host_module_driver  (VfmHost *host, const char *module);
/* What the host remembers of loaded modules and their drivers, forgotten
 * (after a module was loaded). */
void          vfm_host_forget_modules (VfmHost *host);
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

/* JSON shapes (the CLI's --json and the daemon's replies). The list shape
 * reads about five attributes per device; `full` adds what explain and status
 * show. */
JsonNode     *vfm_device_to_json      (VfmHost      *host,
                                       VfmPciDevice *dev,
                                       VfmSelection *sel,
                                       gboolean      full);
JsonNode     *vfm_selection_to_json   (VfmPciDevice *dev,
                                       VfmSelection *sel);
JsonNode     *vfm_driver_entry_to_json (const VfmDriverEntry *entry);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmHost, vfm_host_free)

G_END_DECLS
