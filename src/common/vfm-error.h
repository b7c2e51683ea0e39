/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One error domain for all of vfmig. Each code has a stable varlink/JSON name
 * (io.vfmig.NAME) and maps to one exit status, so the CLI, the JSON output and
 * the daemon agree on what went wrong. */
#define VFM_ERROR (vfm_error_quark ())

typedef enum {
  VFM_ERROR_FAILED,           /* generic failure, exit 1 */
  VFM_ERROR_INVALID_ARGUMENT, /* a bad value (malformed BDF, bad path), exit 1 */
  VFM_ERROR_USAGE,            /* command-line syntax, exit 2 */
  VFM_ERROR_NOT_FOUND,        /* absent device, driver or entry, exit 1 */
  VFM_ERROR_PARSE,            /* a data file that does not parse, exit 1 */
  VFM_ERROR_BUSY,             /* device in use or locked, exit 1 */
  VFM_ERROR_REFUSED,          /* host-safety refusal, exit 1 */
  VFM_ERROR_PERMISSION,       /* not allowed, exit 1 */
  VFM_ERROR_UNSUPPORTED,      /* cannot be done on this host, exit 1 */
  VFM_ERROR_BIND,             /* a bind/unbind step failed (rolled back), exit 1 */
  VFM_ERROR_NOT_MIGRATABLE,   /* check: no strategy works, exit 3 */
} VfmError;

GQuark       vfm_error_quark      (void);
const char  *vfm_error_name       (const GError *error);
int          vfm_error_exit_code  (const GError *error);

G_END_DECLS
