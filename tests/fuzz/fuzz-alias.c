/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* modules.alias (and modules.dep/modules.builtin) text: the kernel's file,
 * read as root at every selection. Parse it, then match a few fixed
 * modaliases the way selection does. */
#include "fuzz-common.h"
#include "vfm-alias.h"

#include <string.h>

static const char * const modaliases[] = {
  "pci:v000015B3d0000101Esv000015B3sd00000001bc02sc00i00",  /* mlx5 VF */
  "pci:v00008086d00004941sv00008086sd00000000bc0Bsc40i00",  /* QAT VF */
  "pci:v000010DEd00002342sv000010DEsd000016C1bc03sc02i00",  /* Grace Hopper */
  "pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00",  /* virtio-net */
  "v000019e5d0000a256sv000019E5sd00000000bc10sc80i00",      /* no "pci:", lower case */
  "",
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
  g_autoptr (VfmAliasTable) t = vfm_alias_table_new ();
  g_autoptr (GError) error = NULL;

  VFM_FUZZ_CHECK (vfm_alias_table_parse (t, "fuzz/modules.alias", text, &error),
                  "parse failed on text: %s", error->message);
  for (guint i = 0; i < t->vfio->len; i++) {
    const VfmAlias *a = g_ptr_array_index (t->vfio, i);
    g_autoptr (GString) joined = g_string_new (NULL);
    static const char *const names[VFM_ALIAS_FIELDS] = { "v", "d", "sv", "sd", "bc", "sc", "i" };
    guint stars = 0;
    /* the seven fields, with their names, give back the pattern up to white space */
    for (guint f = 0; f < VFM_ALIAS_FIELDS; f++) {
      VFM_FUZZ_CHECK (a->fields[f] != NULL, "field %u missing: %s", f, a->pattern);
      g_string_append_printf (joined, "%s%s", names[f], a->fields[f]);
      stars += strcmp (a->fields[f], "*") == 0;
    }
    VFM_FUZZ_CHECK (g_str_has_prefix (a->pattern, joined->str), "fields %s do not make %s", joined->str, a->pattern);
    VFM_FUZZ_CHECK (stars == a->wildcards, "wildcards %u, counted %u", a->wildcards, stars);
    VFM_FUZZ_CHECK (strchr (a->module, '-') == NULL, "module not normalised: %s", a->module);
    VFM_FUZZ_CHECK (vfm_alias_table_has_module (t, a->module), "module %s not recorded", a->module);
    VFM_FUZZ_CHECK (a->line >= 1, "line 0");
  }
  for (guint i = 0; i < G_N_ELEMENTS (modaliases); i++) {
    g_autoptr (GPtrArray) hits = vfm_alias_table_match (t, modaliases[i]);
    const VfmAlias *best = vfm_alias_table_best (t, modaliases[i]);
    for (guint j = 0; j < hits->len; j++) {
      const VfmAlias *a = g_ptr_array_index (hits, j);
      VFM_FUZZ_CHECK (a->pattern != NULL && a->module != NULL, "incomplete alias");
      /* libvirt's pick: no hit has fewer wildcards, none as few on an earlier line */
      VFM_FUZZ_CHECK (best != NULL && (a->wildcards > best->wildcards ||
                                       (a->wildcards == best->wildcards && a->line >= best->line)),
                      "best is not libvirt's pick for %s", modaliases[i]);
    }
    VFM_FUZZ_CHECK ((best == NULL) == (hits->len == 0), "best without hits for %s", modaliases[i]);
  }
  vfm_alias_table_has_module (t, "mlx5-vfio-pci");
  /* the same bytes as modules.dep / modules.builtin */
  vfm_alias_table_add_modules (t, text);
  return 0;
}
