/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* BDFs are the only user input that becomes part of a path (sysfs device
 * directories, journal and lock files), so whatever the checks accept must be
 * a canonical, 12-character name with no '/' and no "..". */
#include "fuzz-common.h"
#include "vfm-ids.h"

static void
check_canonical (const char *what, const char *input, const char *bdf)
{
  VFM_FUZZ_CHECK (strlen (bdf) == 12, "%s accepted \"%s\" as \"%s\" (length %zu)",
                  what, input, bdf, strlen (bdf));
  VFM_FUZZ_CHECK (strchr (bdf, '/') == NULL, "%s accepted \"%s\": contains '/'", what, input);
  VFM_FUZZ_CHECK (strstr (bdf, "..") == NULL, "%s accepted \"%s\": contains \"..\"", what, input);
  for (const char *c = bdf; *c; c++)
    VFM_FUZZ_CHECK (g_ascii_isdigit (*c) || (*c >= 'a' && *c <= 'f') || *c == ':' || *c == '.',
                    "%s accepted \"%s\": character 0x%02x", what, input, (guchar) *c);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vfm_fuzz_init_logging ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *input = vfm_fuzz_cstring (data, size);
  /* exactly the size the API asks for, on the heap, so ASan sees overruns */
  g_autofree char *out = g_malloc (13);
  g_autofree char *again = g_malloc (13);
  g_autofree char *with_domain = g_strdup_printf ("0000:%s", input);

  if (vfm_bdf_is_valid (input)) {
    check_canonical ("vfm_bdf_is_valid", input, input);
    VFM_FUZZ_CHECK (vfm_bdf_normalize (input, out, 13) && strcmp (out, input) == 0,
                    "valid \"%s\" does not normalise to itself", input);
  }
  if (vfm_bdf_normalize (input, out, 13)) {
    check_canonical ("vfm_bdf_normalize", input, out);
    VFM_FUZZ_CHECK (vfm_bdf_is_valid (out), "normalised \"%s\" to invalid \"%s\"", input, out);
    VFM_FUZZ_CHECK (vfm_bdf_normalize (out, again, 13) && strcmp (out, again) == 0,
                    "normalising \"%s\" is not idempotent", input);
    VFM_FUZZ_CHECK (g_ascii_strcasecmp (out + strlen (out) - strlen (input), input) == 0,
                    "normalised \"%s\" to \"%s\": not the same device", input, out);
  }
  /* too small an output buffer is refused, not overrun */
  VFM_FUZZ_CHECK (!vfm_bdf_normalize (input, out, 12), "accepted a 12-byte buffer");
  /* [Match] Function= validates "0000:" + the value the same way */
  if (vfm_bdf_is_valid (with_domain))
    check_canonical ("Function=", input, with_domain);
  return 0;
}
