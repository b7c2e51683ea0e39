/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-varlink.h"

G_BEGIN_DECLS

/* Where a command's io.vfmig call goes, chosen once (the way fwupd's
 * FuEngine and its D-Bus client share one interface): vfmigd's socket, a
 * bridge on another host (`ssh HOST vfmigctl bridge`), or the method table in
 * this very process (api/vfm-local). Callers see the same replies and errors
 * from each: the reply's parameters, or NULL with error set and, when the
 * failure carries them (a bind that partly failed), *error_parameters. */

typedef struct _VfmBackend VfmBackend;

typedef JsonObject *(*VfmBackendCallFunc) (gpointer     data,
                                           const char  *method,
                                           JsonObject  *parameters,
                                           JsonObject **error_parameters,
                                           GError     **error);

VfmBackend *vfm_backend_new        (const char        *name,
                                    VfmBackendCallFunc call,
                                    gpointer           data,
                                    GDestroyNotify     free_data);
/* Takes the client. */
VfmBackend *vfm_backend_new_varlink (const char       *name,
                                     VfmVarlinkClient *client);
void        vfm_backend_free       (VfmBackend *backend);
/* "vfmigd", "in-process", "ssh://host" */
const char *vfm_backend_name       (VfmBackend *backend);
JsonObject *vfm_backend_call       (VfmBackend  *backend,
                                    const char  *method,
                                    JsonObject  *parameters,
                                    JsonObject **error_parameters,
                                    GError     **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmBackend, vfm_backend_free)

G_END_DECLS
