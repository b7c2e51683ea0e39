/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-backend.h"
#include "vfm-methods.h"

G_BEGIN_DECLS

/* The io.vfmig method table called in this process: the backend of a
 * vfmigctl with no daemon, and what `vfmigctl bridge` serves. Access checks
 * are the operating system's (the caller's own credentials), as when it runs
 * the library directly. call is a template: sysroot, product, log and
 * progress are copied into every call. */
VfmBackend *vfm_local_backend_new (const VfmMethodCall *call);

/* One call on the method table, errors as the daemon sends them: unknown
 * interface or method as org.varlink.service errors. */
JsonObject *vfm_local_call (const VfmMethodCall *tmpl,
                            const char          *method,
                            JsonObject          *parameters,
                            JsonObject         **error_parameters,
                            GError             **error);

G_END_DECLS
