/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Selection against the shipped curated database and a kernel-like alias
 * file: the choices libvirt (>= 10.0) makes, plus the IGD profile. */
#include "vfm-select.h"

#include <string.h>

static const char *alias_text =
  "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
  "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n"
  "alias vfio_pci:v000019E5d0000A256sv*sd*bc*sc*i* hisi_acc_vfio_pci\n"
  "alias vfio_pci:v00001AF4d00001041sv*sd*bc*sc*i* virtio_vfio_pci\n"
  "alias vfio_pci:v00001AF4d00001041sv*sd*bc*sc*i* second_virtio_vfio_pci\n"
  "alias vfio_pci:v00001AF4d*sv*sd*bc*sc*i* broad_virtio_vfio_pci\n";

static VfmDb *
make_db (const char *aliases, const char *policy_text)
{
  VfmDb *db = vfm_db_new ();
  g_autofree char *dir = g_build_filename (g_getenv ("VFMIG_SOURCE_ROOT"), "data", "drivers", NULL);
  const char *dirs[] = { dir, NULL };

  if (aliases != NULL) {
    db->aliases = vfm_alias_table_new ();
    g_assert_true (vfm_alias_table_parse (db->aliases, "modules.alias", aliases, NULL));
  }
  db->curated = vfm_driver_db_new ();
  vfm_driver_db_load_dirs (db->curated, dirs);
  g_assert_cmpuint (db->curated->errors->len, ==, 0);
  g_assert_cmpuint (db->curated->entries->len, >=, 8);
  db->policies = vfm_policy_set_new ();
  if (policy_text != NULL) {
    g_autoptr (GError) error = NULL;
    g_assert_true (vfm_policy_set_parse (db->policies, "/etc/vfmig/policies.d/site.conf", policy_text, &error));
    g_assert_no_error (error);
  }
  return db;
}

static const VfmCandidate *
candidate (VfmSelection *sel, const char *module)
{
  for (guint i = 0; i < sel->candidates->len; i++) {
    const VfmCandidate *c = g_ptr_array_index (sel->candidates, i);
    if (g_strcmp0 (c->module, module) == 0)
      return c;
  }
  return NULL;
}

static void
test_variant_beats_vfio_pci (void)
{
  g_autoptr (VfmDb) db = make_db (alias_text, NULL);
  VfmDeviceIds vf = { .bdf = "0000:3b:00.2", .vendor = 0x15b3, .device = 0x101e,
                      .class_code = 0x020000, .revision = -1, .is_vf = TRUE, .pf_driver = "mlx5_core" };
  g_autoptr (VfmSelection) sel = vfm_select (db, &vf);

  g_assert_nonnull (sel->selected);
  g_assert_cmpstr (sel->selected->driver, ==, "mlx5_vfio_pci");
  g_assert_cmpint (sel->selected->kind, ==, VFM_KIND_VENDOR);
  g_assert_cmpstr (sel->selected->source, ==, "modules.alias:2");
  /* the curated facts ride along */
  g_assert_nonnull (sel->selected->entry);
  g_assert_true (sel->selected->entry->devlink_migratable);
  /* the loser is listed with its reason */
  g_assert_nonnull (candidate (sel, "vfio_pci"));
  g_assert_false (candidate (sel, "vfio_pci")->chosen);
  g_assert_cmpstr (candidate (sel, "vfio_pci")->driver, ==, "vfio-pci");
  g_assert_cmpint (candidate (sel, "vfio_pci")->score, <, sel->selected->score);
  g_assert_nonnull (strstr (candidate (sel, "vfio_pci")->reason, "7 wildcards"));
  g_assert_false (sel->managed);
}

static void
test_tie_first_line_wins (void)
{
  g_autoptr (VfmDb) db = make_db (alias_text, NULL);
  VfmDeviceIds vf = { .bdf = "0000:5e:00.1", .vendor = 0x1af4, .device = 0x1041,
                      .class_code = 0x020000, .revision = -1, .is_vf = TRUE };
  g_autoptr (VfmSelection) sel = vfm_select (db, &vf);

  /* virtio_vfio_pci and second_virtio_vfio_pci both have 5 wildcards: file order */
  g_assert_cmpstr (sel->selected->module, ==, "virtio_vfio_pci");
  g_assert_cmpint (candidate (sel, "second_virtio_vfio_pci")->score, ==, sel->selected->score);
  /* the broader one (more wildcards) loses */
  g_assert_cmpint (candidate (sel, "broad_virtio_vfio_pci")->score, <, sel->selected->score);
}

static void
test_igd_profile (void)
{
  g_autoptr (VfmDb) db = make_db (alias_text, NULL);
  VfmDeviceIds igd = { .bdf = "0000:00:02.0", .vendor = 0x8086, .device = 0x3e92,
                       .class_code = 0x030000, .revision = -1 };
  VfmDeviceIds igd_other = igd, xe_vf = igd, amd = igd, elsewhere = igd;
  g_autoptr (VfmSelection) s1 = NULL, s2 = NULL, s3 = NULL, s4 = NULL, s5 = NULL;

  s1 = vfm_select (db, &igd);
  g_assert_cmpint (s1->selected->kind, ==, VFM_KIND_IGD);
  g_assert_cmpstr (s1->selected->driver, ==, "vfio-pci");
  g_assert_cmpstr (s1->selected->source, ==, "curated:vfio-pci-igd");
  g_assert_nonnull (s1->selected->entry->qemu_properties);

  igd_other.class_code = 0x038000; /* display controller that does not decode VGA */
  s2 = vfm_select (db, &igd_other);
  g_assert_cmpint (s2->selected->kind, ==, VFM_KIND_IGD);

  xe_vf.bdf = "0000:00:02.1"; /* an Xe VF is not IGD */
  xe_vf.is_vf = TRUE;
  s3 = vfm_select (db, &xe_vf);
  g_assert_cmpint (s3->selected->kind, !=, VFM_KIND_IGD);

  amd.vendor = 0x1002;
  s4 = vfm_select (db, &amd);
  g_assert_cmpint (s4->selected->kind, ==, VFM_KIND_GENERIC);

  elsewhere.bdf = "0000:03:00.0";
  s5 = vfm_select (db, &elsewhere);
  g_assert_cmpint (s5->selected->kind, ==, VFM_KIND_GENERIC);
}

static void
test_no_alias_file (void)
{
  g_autoptr (VfmDb) db = make_db (NULL, NULL);
  VfmDeviceIds vf = { .bdf = "0000:3b:00.2", .vendor = 0x15b3, .device = 0x101e,
                      .class_code = 0x020000, .revision = -1, .is_vf = TRUE };
  g_autoptr (VfmSelection) sel = NULL;

  /* without modules.alias nothing says mlx5_vfio_pci is installed: the
   * curated generic entry stands in, and the variant is listed as missing */
  db->module_probe = NULL;
  sel = vfm_select (db, &vf);
  g_assert_nonnull (sel->selected);
  g_assert_cmpstr (sel->selected->driver, ==, "vfio-pci");
  g_assert_cmpint (sel->selected->kind, ==, VFM_KIND_GENERIC);
  g_assert_cmpint (candidate (sel, "mlx5_vfio_pci")->score, <, 0);
  g_assert_nonnull (strstr (candidate (sel, "mlx5_vfio_pci")->reason, "not installed"));
}

static gboolean
only_mlx5 (const char *module, gpointer data)
{
  return g_strcmp0 (module, "mlx5_vfio_pci") == 0;
}

static void
test_curated_only_module (void)
{
  /* an alias file without the mlx5 line, but the driver registered in sysfs */
  g_autoptr (VfmDb) db = make_db ("alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n", NULL);
  VfmDeviceIds vf = { .bdf = "0000:3b:00.2", .vendor = 0x15b3, .device = 0x101e,
                      .class_code = 0x020000, .revision = -1, .is_vf = TRUE };
  g_autoptr (VfmSelection) sel = NULL;

  db->module_probe = only_mlx5;
  sel = vfm_select (db, &vf);
  /* libvirt's rule holds: the kernel's alias outranks a curated-only entry */
  g_assert_cmpstr (sel->selected->module, ==, "vfio_pci");
  g_assert_cmpint (candidate (sel, "mlx5_vfio_pci")->score, >=, 0);
}

static void
test_policy (void)
{
  const char *policy =
    "[Policy mellanox]\n"
    "Ids=15b3:101e\n"
    "Manage=true\n"
    "AutoBind=true\n"
    "\n"
    "[Policy no-variant]\n"
    "PciPath=pci0000:00/0000:00:01.0/*\n"
    "Deny=mlx5_vfio_pci\n"
    "\n"
    "[Policy prefer-generic]\n"
    "Bdf=0000:5e:*\n"
    "Prefer=vfio-pci\n";
  g_autoptr (VfmDb) db = make_db (alias_text, policy);
  VfmDeviceIds a = { .bdf = "0000:3b:00.2", .vendor = 0x15b3, .device = 0x101e, .class_code = 0x020000,
                     .revision = -1, .is_vf = TRUE, .pci_path = "pci0000:00/0000:00:02.0/0000:3b:00.2" };
  VfmDeviceIds denied = a, preferred = a, pf = a;
  g_autoptr (VfmSelection) s1 = NULL, s2 = NULL, s3 = NULL, s4 = NULL;

  s1 = vfm_select (db, &a);
  g_assert_true (s1->managed);
  g_assert_true (s1->auto_bind);
  g_assert_cmpstr (s1->selected->driver, ==, "mlx5_vfio_pci");
  g_assert_nonnull (strstr (s1->managed_reason, "site/mellanox"));

  denied.pci_path = "pci0000:00/0000:00:01.0/0000:3b:00.2";
  s2 = vfm_select (db, &denied);
  g_assert_cmpstr (s2->selected->driver, ==, "vfio-pci");
  g_assert_nonnull (strstr (candidate (s2, "mlx5_vfio_pci")->reason, "denied by policy site/no-variant"));

  preferred.bdf = "0000:5e:00.2";
  s3 = vfm_select (db, &preferred);
  g_assert_cmpstr (s3->selected->driver, ==, "vfio-pci");
  g_assert_nonnull (strstr (s3->reason, "preferred by policy"));

  /* a PF that controls VFs is never managed, whatever a policy says */
  pf.is_vf = FALSE;
  pf.has_vfs = TRUE;
  s4 = vfm_select (db, &pf);
  g_assert_false (s4->managed);
  g_assert_false (s4->auto_bind);
}

static void
test_no_match (void)
{
  /* an alias file with no generic line: a device nothing matches */
  g_autoptr (VfmDb) db = make_db ("alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n", NULL);
  VfmDeviceIds dev = { .bdf = "0000:07:00.0", .vendor = 0x1234, .device = 0x5678,
                       .class_code = 0x020000, .revision = -1 };
  g_autoptr (VfmSelection) sel = vfm_select (db, &dev);
  g_assert_null (sel->selected);
  g_assert_cmpuint (sel->candidates->len, ==, 1); /* the generic entry, module missing */
  g_assert_cmpint (candidate (sel, "vfio_pci")->score, <, 0);
  g_assert_nonnull (sel->reason);
}

/* Two modules match with equal wildcards; the one whose equally specific
 * line comes first wins, even when the other module appeared earlier in the
 * file (with a broader line). libvirt keeps the first best line. */
static void
test_tie_is_by_line_not_module (void)
{
  g_autoptr (VfmDb) db = make_db ("# Aliases extracted from modules themselves.\n"
                                  "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
                                  "alias vfio_pci:v00001AF4d*sv*sd*bc*sc*i* a_vfio_pci\n"
                                  "alias vfio_pci:v00001AF4d00001041sv*sd*bc*sc*i* b_vfio_pci\n"
                                  "alias vfio_pci:v00001AF4d00001041sv*sd*bc*sc*i* a_vfio_pci\n",
                                  NULL);
  VfmDeviceIds vf = { .bdf = "0000:5e:00.1", .vendor = 0x1af4, .device = 0x1041,
                      .class_code = 0x020000, .revision = -1, .is_vf = TRUE };
  g_autoptr (VfmSelection) sel = vfm_select (db, &vf);

  g_assert_cmpstr (sel->selected->module, ==, "b_vfio_pci");
  g_assert_cmpstr (sel->selected->source, ==, "modules.alias:4");
  g_assert_cmpstr (candidate (sel, "a_vfio_pci")->source, ==, "modules.alias:5");
  g_assert_true (sel->libvirt.decided);
  g_assert_cmpstr (sel->libvirt.module, ==, "b_vfio_pci");
  g_assert_true (sel->libvirt.agrees);
}

/* A kernel with vfio-pci built in: modules.builtin lists it, no alias line
 * names it. Plain vfio-pci is still the fallback, as in libvirt. */
static void
test_builtin_vfio_pci (void)
{
  g_autoptr (VfmDb) db = make_db ("# Aliases extracted from modules themselves.\n"
                                  "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n",
                                  NULL);
  VfmDeviceIds dev = { .bdf = "0000:07:00.0", .vendor = 0x1234, .device = 0x5678,
                       .class_code = 0x020000, .revision = -1 };
  VfmDeviceIds mlx = { .bdf = "0000:3b:00.2", .vendor = 0x15b3, .device = 0x101e,
                       .class_code = 0x020000, .revision = -1, .is_vf = TRUE };
  g_autoptr (VfmSelection) sel = NULL, s2 = NULL;

  vfm_alias_table_add_modules (db->aliases, "kernel/drivers/vfio/pci/vfio-pci.ko\n");
  sel = vfm_select (db, &dev);
  g_assert_nonnull (sel->selected);
  g_assert_cmpstr (sel->selected->driver, ==, "vfio-pci");
  g_assert_cmpstr (sel->selected->module, ==, "vfio_pci");
  g_assert_cmpint (sel->selected->kind, ==, VFM_KIND_GENERIC);
  g_assert_cmpstr (sel->selected->source, ==, "fallback");
  g_assert_nonnull (sel->selected->entry); /* the curated facts of plain vfio-pci */
  g_assert_cmpstr (sel->libvirt.source, ==, "fallback");
  g_assert_true (sel->libvirt.agrees);
  /* a variant line still wins where it matches */
  s2 = vfm_select (db, &mlx);
  g_assert_cmpstr (s2->selected->module, ==, "mlx5_vfio_pci");
}

static char *
sysfs_names (const char *module, gpointer data)
{
  if (g_strcmp0 (module, "xe_vfio_pci") == 0)
    return g_strdup ("xe-vfio-pci");
  if (g_strcmp0 (module, "vfio_pci") == 0)
    return g_strdup ("vfio-pci");
  return NULL;
}

/* No curated database at all: the driver name comes from the host (the
 * module's drivers/pci:NAME link), and without it stays the module name
 * (bind resolves it once the module is loaded). Policies name either. */
static void
test_driver_names_without_curated (void)
{
  g_autoptr (VfmDb) db = vfm_db_new ();
  g_autoptr (GError) error = NULL;
  VfmDeviceIds vf = { .bdf = "0000:00:02.1", .vendor = 0x8086, .device = 0xe223,
                      .class_code = 0x030000, .revision = -1, .is_vf = TRUE };
  VfmDeviceIds other = { .bdf = "0000:07:00.0", .vendor = 0x1234, .device = 0x5678,
                         .class_code = 0x020000, .revision = -1 };
  g_autoptr (VfmSelection) s1 = NULL, s2 = NULL, s3 = NULL, s4 = NULL;

  db->aliases = vfm_alias_table_new ();
  g_assert_true (vfm_alias_table_parse (db->aliases, "modules.alias",
                                        "# Aliases extracted from modules themselves.\n"
                                        "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
                                        "alias vfio_pci:v00008086d0000E223sv*sd*bc*sc*i* xe_vfio_pci\n",
                                        NULL));
  db->curated = vfm_driver_db_new ();
  db->policies = vfm_policy_set_new ();

  s1 = vfm_select (db, &vf);
  g_assert_cmpstr (s1->selected->driver, ==, "xe_vfio_pci"); /* not known until loaded */
  db->driver_name = sysfs_names;
  s2 = vfm_select (db, &vf);
  g_assert_cmpstr (s2->selected->driver, ==, "xe-vfio-pci");
  g_assert_cmpstr (s2->libvirt.driver, ==, "xe-vfio-pci");
  s3 = vfm_select (db, &other);
  g_assert_cmpstr (s3->selected->driver, ==, "vfio-pci");
  g_assert_cmpint (s3->selected->kind, ==, VFM_KIND_GENERIC);

  /* Prefer= by module name picks the generic candidate called vfio-pci */
  g_assert_true (vfm_policy_set_parse (db->policies, "/etc/vfmig/policies.d/site.conf",
                                       "[Policy generic]\nIds=8086:e223\nPrefer=vfio_pci\n", &error));
  g_assert_no_error (error);
  s4 = vfm_select (db, &vf);
  g_assert_cmpstr (s4->selected->driver, ==, "vfio-pci");
  g_assert_nonnull (strstr (s4->reason, "preferred by policy"));
  /* and explain's libvirt line says libvirt differs, and why */
  g_assert_cmpstr (s4->libvirt.module, ==, "xe_vfio_pci");
  g_assert_false (s4->libvirt.agrees);
}

static void
test_policy_names_either_form (void)
{
  const char *policy =
    "[Policy deny-generic]\n"
    "Ids=1234:5678\n"
    "Deny=vfio_pci\n"
    "\n"
    "[Policy prefer-driver-name]\n"
    "Ids=8086:e223\n"
    "Prefer=vfio-pci\n";
  g_autoptr (VfmDb) db = make_db ("# Aliases extracted from modules themselves.\n"
                                  "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
                                  "alias vfio_pci:v00008086d0000E223sv*sd*bc*sc*i* xe_vfio_pci\n",
                                  policy);
  VfmDeviceIds vf = { .bdf = "0000:00:02.1", .vendor = 0x8086, .device = 0xe223,
                      .class_code = 0x030000, .revision = -1, .is_vf = TRUE, .pf_driver = "xe" };
  VfmDeviceIds other = { .bdf = "0000:07:00.0", .vendor = 0x1234, .device = 0x5678,
                         .class_code = 0x020000, .revision = -1 };
  g_autoptr (VfmSelection) s1 = vfm_select (db, &vf);
  g_autoptr (VfmSelection) s2 = vfm_select (db, &other);

  g_assert_cmpstr (s1->selected->module, ==, "vfio_pci");
  g_assert_nonnull (strstr (s1->reason, "preferred by policy"));
  g_assert_null (s2->selected);
  g_assert_nonnull (strstr (candidate (s2, "vfio_pci")->reason, "denied by policy"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/select/variant-beats-vfio-pci", test_variant_beats_vfio_pci);
  g_test_add_func ("/select/tie-first-line-wins", test_tie_first_line_wins);
  g_test_add_func ("/select/igd-profile", test_igd_profile);
  g_test_add_func ("/select/no-alias-file", test_no_alias_file);
  g_test_add_func ("/select/curated-only-module", test_curated_only_module);
  g_test_add_func ("/select/policy", test_policy);
  g_test_add_func ("/select/no-match", test_no_match);
  g_test_add_func ("/select/tie-is-by-line-not-module", test_tie_is_by_line_not_module);
  g_test_add_func ("/select/builtin-vfio-pci", test_builtin_vfio_pci);
  g_test_add_func ("/select/driver-names-without-curated", test_driver_names_without_curated);
  g_test_add_func ("/select/policy-names-either-form", test_policy_names_either_form);
  return g_test_run ();
}
