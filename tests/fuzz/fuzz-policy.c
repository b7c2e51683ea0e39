/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A policy file (data/policies, /etc/vfmig/policies.d): parsed all or
 * nothing, then evaluated for fixed devices. */
#include "fuzz-common.h"
#include "vfm-policy.h"

static const VfmDeviceIds devices[] = {
  { .bdf = "0000:3b:00.2", .vendor = 0x15b3, .device = 0x101e, .subsystem_vendor = 0x15b3,
    .subsystem_device = 0x0001, .class_code = 0x020000, .revision = 0, .is_vf = TRUE,
    .pf_driver = "mlx5_core", .pci_path = "pci0000:3a/0000:3a:00.0/0000:3b:00.2" },
  { .bdf = "0000:00:1c.0", .vendor = 0x8086, .device = 0xa33c, .class_code = 0x060400,
    .revision = 0xf0, .pci_path = "pci0000:00/0000:00:1c.0" },
  { .bdf = "0000:3b:00.0", .vendor = 0x15b3, .device = 0x101d, .class_code = 0x020000,
    .revision = -1, .has_vfs = TRUE, .pci_path = NULL },
};

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vfm_fuzz_init_logging ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = vfm_fuzz_cstring (data, size);
  g_autoptr (VfmPolicySet) set = vfm_policy_set_new ();
  g_autoptr (GError) error = NULL;
  gboolean ok = vfm_policy_set_parse (set, "fuzz/policies.d/50-fuzz.conf", text, &error);

  VFM_FUZZ_CHECK (ok == (error == NULL), "ok %d, error %p", ok, (void *) error);
  if (!ok) {
    /* all or nothing: a file that fails adds no policy */
    VFM_FUZZ_CHECK (set->policies->len == 0, "%u policies kept from a bad file", set->policies->len);
    return 0;
  }
  for (guint i = 0; i < set->policies->len; i++) {
    const VfmPolicy *p = g_ptr_array_index (set->policies, i);
    g_autofree char *d = vfm_match_describe (p->match);
    VFM_FUZZ_CHECK (d != NULL && *d, "empty description");
    VFM_FUZZ_CHECK (g_str_has_prefix (p->id, "50-fuzz/"), "id %s", p->id);
    VFM_FUZZ_CHECK (p->prefer == NULL || (*p->prefer && strchr (p->prefer, '/') == NULL),
                    "prefer %s", p->prefer);
  }
  for (guint i = 0; i < G_N_ELEMENTS (devices); i++) {
    VfmPolicyOutcome out;
    vfm_policy_evaluate (set, &devices[i], &out);
    VFM_FUZZ_CHECK (out.deny->len == out.deny_by->len, "deny lists differ");
    vfm_policy_outcome_clear (&out);
  }
  return 0;
}
