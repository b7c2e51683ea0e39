/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A curated driver entry (data/drivers/ID.conf, /etc/vfmig/drivers.d):
 * the keyfile reader, [Match] parsing and the entry's checks; an entry that
 * loads is matched against fixed devices and described. */
#include "fuzz-common.h"
#include "vfm-driver-db.h"

static const VfmDeviceIds devices[] = {
  { .bdf = "0000:3b:00.2", .vendor = 0x15b3, .device = 0x101e, .subsystem_vendor = 0x15b3,
    .subsystem_device = 0x0001, .class_code = 0x020000, .revision = 0, .is_vf = TRUE,
    .pf_driver = "mlx5_core", .pci_path = "pci0000:3a/0000:3a:00.0/0000:3b:00.2" },
  { .bdf = "0000:00:02.0", .vendor = 0x8086, .device = 0x3e92, .subsystem_vendor = 0x8086,
    .subsystem_device = 0x2212, .class_code = 0x030000, .revision = 2,
    .pci_path = "pci0000:00/0000:00:02.0" },
  { .bdf = NULL, .vendor = 0xffff, .device = 0xffff, .class_code = 0xffffff, .revision = -1 },
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
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmDriverEntry) e = vfm_driver_entry_parse ("fuzz/drivers.d/fuzz.conf", text, &error);

  VFM_FUZZ_CHECK ((e == NULL) == (error != NULL), "entry %p, error %p", (void *) e, (void *) error);
  if (e == NULL) {
    VFM_FUZZ_CHECK (g_str_has_prefix (error->message, "fuzz/drivers.d/fuzz.conf"),
                    "error does not name the file: %s", error->message);
    return 0;
  }
  VFM_FUZZ_CHECK (g_strcmp0 (e->id, "fuzz") == 0, "id %s", e->id);
  VFM_FUZZ_CHECK (e->driver != NULL && *e->driver && strchr (e->driver, '/') == NULL,
                  "driver name %s", e->driver);
  VFM_FUZZ_CHECK (e->module != NULL && *e->module, "no module");
  VFM_FUZZ_CHECK (e->kind == VFM_KIND_GENERIC || e->matches->len > 0, "vendor entry without match");
  vfm_driver_kind_to_string (e->kind);
  for (guint i = 0; i < G_N_ELEMENTS (devices); i++) {
    guint spec = 0;
    vfm_driver_entry_matches (e, &devices[i], &spec);
  }
  for (guint i = 0; i < e->matches->len; i++) {
    g_autofree char *d = vfm_match_describe (g_ptr_array_index (e->matches, i));
    VFM_FUZZ_CHECK (d != NULL && *d, "empty description");
  }
  return 0;
}
