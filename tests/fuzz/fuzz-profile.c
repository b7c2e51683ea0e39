/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host profiles (vfmigctl profile --json): what check --from/--to reads from
 * files and what migrate reads from the destination's vfmigctl over ssh - a
 * host the caller does not control. The input goes through the same strict
 * JSON check and loader; a profile that loads must survive a write and a
 * second load with the same devices. */
#include "fuzz-common.h"
#include "vfm-json.h"
#include "vfm-profile.h"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vfm_fuzz_init_logging ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonParser) parser2 = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmHostProfile) p = NULL, back = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *text = NULL;

  if (!vfm_json_load_data (parser, (const char *) data, size, &error))
    return 0;
  p = vfm_host_profile_from_json (json_parser_get_root (parser), "fuzz", &error);
  VFM_FUZZ_CHECK ((p == NULL) == (error != NULL), "profile %p, error %p", (void *) p, (void *) error);
  if (p == NULL)
    return 0;
  node = vfm_host_profile_to_json (p);
  text = vfm_json_to_string (node, FALSE);
  VFM_FUZZ_CHECK (vfm_json_load_data (parser2, text, strlen (text), &error), "written profile is not JSON: %s",
                  error->message);
  back = vfm_host_profile_from_json (json_parser_get_root (parser2), "fuzz", &error);
  VFM_FUZZ_CHECK (back != NULL, "written profile does not load: %s", error->message);
  VFM_FUZZ_CHECK (back->devices->len == p->devices->len, "%u devices, then %u", p->devices->len, back->devices->len);
  for (guint i = 0; i < p->devices->len; i++)
    VFM_FUZZ_CHECK (vfm_host_profile_device (back, ((VfmDeviceProfile *) g_ptr_array_index (p->devices, i))->bdf)
                      != NULL, "device %u lost", i);
  return 0;
}
