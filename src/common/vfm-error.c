/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-error.h"

G_DEFINE_QUARK (vfm-error-quark, vfm_error)

static const struct {
  VfmError code;
  const char *name;
  int exit_code;
} error_table[] = {
  { VFM_ERROR_FAILED, "io.vfmig.Failed", 1 },
  { VFM_ERROR_INVALID_ARGUMENT, "io.vfmig.InvalidArgument", 1 },
  { VFM_ERROR_USAGE, "io.vfmig.Usage", 2 },
  { VFM_ERROR_NOT_FOUND, "io.vfmig.NotFound", 1 },
  { VFM_ERROR_PARSE, "io.vfmig.ParseError", 1 },
  { VFM_ERROR_BUSY, "io.vfmig.Busy", 1 },
  { VFM_ERROR_REFUSED, "io.vfmig.Refused", 1 },
  { VFM_ERROR_PERMISSION, "io.vfmig.PermissionDenied", 1 },
  { VFM_ERROR_UNSUPPORTED, "io.vfmig.Unsupported", 1 },
  { VFM_ERROR_BIND, "io.vfmig.BindFailed", 1 },
  { VFM_ERROR_NOT_MIGRATABLE, "io.vfmig.NotMigratable", 3 },
};

const char *
vfm_error_name (const GError *error)
{
  if (error != NULL && error->domain == VFM_ERROR) {
    for (gsize i = 0; i < G_N_ELEMENTS (error_table); i++)
      if (error_table[i].code == (VfmError) error->code)
        return error_table[i].name;
  }
  return "io.vfmig.Failed";
}

int
vfm_error_exit_code (const GError *error)
{
  if (error == NULL)
    return 0;
  if (error->domain == G_OPTION_ERROR)
    return 2;
  if (error->domain == VFM_ERROR) {
    for (gsize i = 0; i < G_N_ELEMENTS (error_table); i++)
      if (error_table[i].code == (VfmError) error->code)
        return error_table[i].exit_code;
  }
  return 1;
}
