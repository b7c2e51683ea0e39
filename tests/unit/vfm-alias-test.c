/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-alias.h"
#include "vfm-ids.h"

#include <string.h>

static const char *alias_text =
  "# Aliases extracted from modules themselves.\n"
  "alias pci:v00008086d00001889sv*sd*bc*sc*i* iavf\n"
  "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
  "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n"
  "alias vfio_pci:v000019e5d0000a256sv*sd*bc*sc*i* hisi_acc_vfio_pci\n"
  "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* other_vfio_pci\n"
  "this line is garbage\n"
  "alias only-two-words\n"
  "alias vfio_pci:v000010DEd*sv*sd*bc03sc*i* xe-vfio-pci\n";

static VfmAliasTable *
load (void)
{
  VfmAliasTable *t = vfm_alias_table_new ();
  g_assert_true (vfm_alias_table_parse (t, "modules.alias", alias_text, NULL));
  return t;
}

static void
test_parse (void)
{
  g_autoptr (VfmAliasTable) t = load ();
  const VfmAlias *a;

  /* only vfio_pci: lines are aliases of interest, in file order */
  g_assert_cmpuint (t->vfio->len, ==, 5);
  a = g_ptr_array_index (t->vfio, 0);
  g_assert_cmpstr (a->module, ==, "vfio_pci");
  g_assert_cmpuint (a->wildcards, ==, 7);
  g_assert_cmpuint (a->line, ==, 3);
  a = g_ptr_array_index (t->vfio, 1);
  g_assert_cmpstr (a->module, ==, "mlx5_vfio_pci");
  g_assert_cmpuint (a->wildcards, ==, 5);
  /* module names are normalised to '_' */
  a = g_ptr_array_index (t->vfio, 4);
  g_assert_cmpstr (a->module, ==, "xe_vfio_pci");
  /* every module an alias names exists, pci: ones too */
  g_assert_true (vfm_alias_table_has_module (t, "iavf"));
  g_assert_true (vfm_alias_table_has_module (t, "xe-vfio-pci"));
  g_assert_false (vfm_alias_table_has_module (t, "pds_vfio_pci"));
  /* malformed lines are reported with their line, not fatal; a lower-case
   * line is kept (and never matches) but lint says why */
  g_assert_cmpuint (t->warnings->len, ==, 3);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (t->warnings, 0), "modules.alias:5: field v"));
  g_assert_true (strstr (g_ptr_array_index (t->warnings, 0), "lower-case") != NULL);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (t->warnings, 1), "modules.alias:7:"));
  g_assert_true (g_str_has_prefix (g_ptr_array_index (t->warnings, 2), "modules.alias:8:"));
  /* fields are kept as written */
  a = g_ptr_array_index (t->vfio, 1);
  g_assert_cmpstr (a->fields[0], ==, "000015B3");
  g_assert_cmpstr (a->fields[1], ==, "0000101E");
  g_assert_cmpstr (a->fields[4], ==, "*");
}

static void
test_match (void)
{
  g_autoptr (VfmAliasTable) t = load ();
  VfmDeviceIds mlx = { .vendor = 0x15b3, .device = 0x101e, .class_code = 0x020000 };
  VfmDeviceIds hisi = { .vendor = 0x19e5, .device = 0xa256, .class_code = 0x100000 };
  VfmDeviceIds nv_gpu = { .vendor = 0x10de, .device = 0x20b5, .class_code = 0x030200 };
  VfmDeviceIds nv_net = { .vendor = 0x10de, .device = 0x20b5, .class_code = 0x020000 };
  g_autofree char *m1 = vfm_ids_modalias (&mlx);
  g_autofree char *m2 = vfm_ids_modalias (&hisi);
  g_autofree char *m3 = vfm_ids_modalias (&nv_gpu);
  g_autofree char *m4 = vfm_ids_modalias (&nv_net);
  g_autoptr (GPtrArray) h1 = NULL, h2 = NULL, h3 = NULL, h4 = NULL;

  g_assert_cmpstr (m1, ==, "pci:v000015B3d0000101Esv00000000sd00000000bc02sc00i00");
  h1 = vfm_alias_table_match (t, m1);
  g_assert_cmpuint (h1->len, ==, 3); /* vfio_pci, mlx5, other: file order */
  g_assert_cmpstr (((VfmAlias *) g_ptr_array_index (h1, 1))->module, ==, "mlx5_vfio_pci");
  /* lower-case hex in the alias file does not match: libvirt compares
   * case-sensitively, and so does vfmig (the kernel writes upper case) */
  h2 = vfm_alias_table_match (t, m2);
  g_assert_cmpuint (h2->len, ==, 1);
  g_assert_cmpstr (((VfmAlias *) g_ptr_array_index (h2, 0))->module, ==, "vfio_pci");
  /* class fields are matched too */
  h3 = vfm_alias_table_match (t, m3);
  g_assert_cmpuint (h3->len, ==, 2);
  h4 = vfm_alias_table_match (t, m4);
  g_assert_cmpuint (h4->len, ==, 1);
}

/* libvirt's rule, case by case (src/util/virpci.c,
 * virPCIDeviceFindBestVFIOVariant): whole-field '*' only, fewest wildcards,
 * the first line among equals, no match -> NULL (plain vfio-pci). */
static void
test_best (void)
{
  static const char *text =
    "# Aliases extracted from modules themselves.\n"
    "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
    "alias vfio_pci:v00008086d*sv*sd*bc03sc*i* b_vfio_pci\n"          /* 5 wildcards, line 3 */
    "alias vfio_pci:v00008086d0000E2*sv*sd*bc*sc*i* partial_vfio_pci\n" /* never matches */
    "alias vfio_pci:v00008086d0000E223sv*sd*bc*sc*i* c_vfio_pci\n"    /* 5 wildcards, line 5 */
    "alias vfio_pci:v00008086d0000E223sv*sd*bc*sc*i* a_vfio_pci\n"    /* 5 wildcards, line 6 */
    "alias vfio_pci:v00008086d0000E223sv*sd*bc03sc*i* d_vfio_pci\n"   /* 4 wildcards */
    "alias vfio_pci:v00008086d0000B080sv*sd*bc*sc*i* e_vfio_pci\n"
    "alias vfio_pci:v00008086d0000B080sv*sd*bc*sc*i* b_vfio_pci\n";
  g_autoptr (VfmAliasTable) t = vfm_alias_table_new ();
  const VfmAlias *a;

  g_assert_true (vfm_alias_table_parse (t, "modules.alias", text, NULL));
  /* the partial wildcard parses (as libvirt's parser does), counts no
   * wildcard there, and is linted */
  g_assert_cmpuint (t->warnings->len, ==, 1);
  g_assert_true (strstr (g_ptr_array_index (t->warnings, 0), "inside a value") != NULL);

  /* E223 class 03: d (4 wildcards) beats b, c, a (5) */
  a = vfm_alias_table_best (t, "pci:v00008086d0000E223sv00008086sd00000000bc03sc00i00");
  g_assert_cmpstr (a->module, ==, "d_vfio_pci");
  /* E223 class 12: b is out; c and a tie at 5: the first line, c, not a */
  a = vfm_alias_table_best (t, "pci:v00008086d0000E223sv00008086sd00000000bc12sc00i00");
  g_assert_cmpstr (a->module, ==, "c_vfio_pci");
  g_assert_cmpuint (a->line, ==, 5);
  /* E220 class 03: b (line 3, 5 wildcards); the partial E2* line never */
  a = vfm_alias_table_best (t, "pci:v00008086d0000E220sv00008086sd00000000bc03sc00i00");
  g_assert_cmpstr (a->module, ==, "b_vfio_pci");
  /* B080 class 12: e and b tie; e is the first line, although b appeared
   * earlier in the file for another device */
  a = vfm_alias_table_best (t, "pci:v00008086d0000B080sv00008086sd00000000bc12sc00i00");
  g_assert_cmpstr (a->module, ==, "e_vfio_pci");
  /* the generic line for anything else */
  a = vfm_alias_table_best (t, "pci:v00001234d00005678sv00000000sd00000000bc02sc00i00");
  g_assert_cmpstr (a->module, ==, "vfio_pci");
  /* case: a lower-case device string does not match an upper-case line */
  a = vfm_alias_table_best (t, "pci:v00008086d0000e223sv00008086sd00000000bc12sc00i00");
  g_assert_cmpstr (a->module, ==, "vfio_pci");
  /* a modalias that does not parse matches nothing */
  g_assert_null (vfm_alias_table_best (t, "pci:garbage"));
}

static void
test_split (void)
{
  char *f[VFM_ALIAS_FIELDS];
  g_assert_true (vfm_alias_split ("v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci", f));
  g_assert_cmpstr (f[0], ==, "000015B3");
  g_assert_cmpstr (f[2], ==, "*");
  g_assert_cmpstr (f[6], ==, "*");
  vfm_alias_fields_clear (f);
  g_assert_false (vfm_alias_split ("v000015B3", f));
  g_assert_false (vfm_alias_split ("x*d*sv*sd*bc*sc*i*", f));
  g_assert_false (vfm_alias_split ("", f));
}

static void
test_modules_files (void)
{
  g_autoptr (VfmAliasTable) t = load ();
  vfm_alias_table_add_modules (t, "kernel/drivers/vfio/pci/pds/pds-vfio-pci.ko.xz: kernel/drivers/vfio/vfio.ko.xz\n"
                                  "kernel/drivers/vfio/pci/vfio-pci-core.ko:\n");
  vfm_alias_table_add_modules (t, "kernel/drivers/vfio/pci/qat/qat_vfio_pci.ko\n");
  g_assert_true (vfm_alias_table_has_module (t, "pds_vfio_pci"));
  g_assert_true (vfm_alias_table_has_module (t, "vfio_pci_core"));
  g_assert_true (vfm_alias_table_has_module (t, "qat_vfio_pci"));
  g_assert_false (vfm_alias_table_has_module (t, "vfio"));
}

static void
test_bdf (void)
{
  char out[13];
  g_assert_true (vfm_bdf_is_valid ("0000:3b:00.2"));
  g_assert_false (vfm_bdf_is_valid ("0000:3B:00.2"));
  g_assert_false (vfm_bdf_is_valid ("0000:3b:00.8"));
  g_assert_false (vfm_bdf_is_valid ("0000:3b:20.0"));
  g_assert_false (vfm_bdf_is_valid ("../../../etc"));
  g_assert_false (vfm_bdf_is_valid ("0000:3b/00.2"));
  g_assert_false (vfm_bdf_is_valid (""));
  g_assert_true (vfm_bdf_normalize ("3B:00.2", out, sizeof out));
  g_assert_cmpstr (out, ==, "0000:3b:00.2");
  g_assert_false (vfm_bdf_normalize ("0000:3b:00.2/..", out, sizeof out));
  g_assert_false (vfm_bdf_normalize ("..", out, sizeof out));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/alias/parse", test_parse);
  g_test_add_func ("/alias/match", test_match);
  g_test_add_func ("/alias/best", test_best);
  g_test_add_func ("/alias/split", test_split);
  g_test_add_func ("/alias/modules-files", test_modules_files);
  g_test_add_func ("/ids/bdf", test_bdf);
  return g_test_run ();
}
