/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The base layer (src/lib/base): paths through the sysroot, sysfs I/O,
 * strict JSON from outside, typed getters, locks. */
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-lock.h"
#include "vfm-strings.h"
#include "vfm-sysfs.h"
#include "vfm-sysroot.h"

#include "vfm-test-host.h"

#include <sys/wait.h>

typedef struct {
  char *root;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->root = vfm_test_make_tmp ("vfm-base");
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  vfm_test_rm_rf (f->root);
  g_free (f->root);
}

static void
assert_under_root (const char *root, const char *path, const char *rest)
{
  g_autofree char *want = g_strconcat (root, rest, NULL);
  g_assert_cmpstr (path, ==, want);
}

/* ---- sysroot ---- */

static void
test_sysroot_paths (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmSysroot) sr = NULL;
  g_autofree char *os = g_build_filename (f->root, "proc/sys/kernel/osrelease", NULL);

  vfm_test_write (os, "6.12.0-unit\n");
  sr = vfm_sysroot_new (f->root, &error);
  g_assert_no_error (error);
  g_assert_false (vfm_sysroot_is_real (sr));
  g_assert_cmpstr (vfm_sysroot_root (sr), ==, f->root);
  g_assert_cmpstr (vfm_sysroot_kernel_release (sr), ==, "6.12.0-unit");

#define UNDER(expr, rest)                          \
  do {                                             \
    g_autofree char *p_ = (expr);                  \
    assert_under_root (f->root, p_, rest);         \
  } while (0)
  UNDER (vfm_sysroot_pci_devices_dir (sr), "/sys/bus/pci/devices");
  UNDER (vfm_sysroot_pci_device_dir (sr, "0000:3b:00.2"), "/sys/bus/pci/devices/0000:3b:00.2");
  UNDER (vfm_sysroot_pci_device_attr (sr, "0000:3b:00.2", "driver_override"),
         "/sys/bus/pci/devices/0000:3b:00.2/driver_override");
  UNDER (vfm_sysroot_pci_driver_attr (sr, "vfio-pci", "unbind"), "/sys/bus/pci/drivers/vfio-pci/unbind");
  UNDER (vfm_sysroot_pci_drivers_probe (sr), "/sys/bus/pci/drivers_probe");
  UNDER (vfm_sysroot_sys_module_dir (sr, "vfio_pci"), "/sys/module/vfio_pci");
  UNDER (vfm_sysroot_iommu_group_dir (sr, 17), "/sys/kernel/iommu_groups/17");
  UNDER (vfm_sysroot_dev_vfio (sr, 17), "/dev/vfio/17");
  UNDER (vfm_sysroot_dev_vfio (sr, -1), "/dev/vfio/vfio");
  UNDER (vfm_sysroot_modules_file (sr, "modules.alias"), "/lib/modules/6.12.0-unit/modules.alias");
  UNDER (vfm_sysroot_config_dir (sr, "policies.d"), "/etc/vfmig/policies.d");
  UNDER (vfm_sysroot_state_dir (sr), "/var/lib/vfmig");
  UNDER (vfm_sysroot_run_dir (sr), "/run/vfmig");
  UNDER (vfm_sysroot_proc_file (sr, "self/mountinfo"), "/proc/self/mountinfo");
  UNDER (vfm_sysroot_driverctl_dir (sr), "/etc/driverctl.d");
  UNDER (vfm_sysroot_synthetic_file (sr, "in-use/0000:3b:00.2"), "/.kmock/in-use/0000:3b:00.2");
#undef UNDER
}

/* "/x/", "/x/sub/.." and "/x" are one root; "/" and "" are the real host */
static void
test_sysroot_canonical (Fixture *f, gconstpointer data)
{
  g_autofree char *sub = g_build_filename (f->root, "sub", NULL);
  g_autofree char *dotdot = g_strconcat (sub, "/../", NULL);
  g_autofree char *slash = g_strconcat (f->root, "/", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  {
    g_autoptr (VfmSysroot) a = vfm_sysroot_new (dotdot, &error);
    g_autoptr (VfmSysroot) b = vfm_sysroot_new (slash, &error);
    g_autofree char *state = NULL;
    g_assert_no_error (error);
    g_assert_cmpstr (vfm_sysroot_root (a), ==, f->root);
    g_assert_cmpstr (vfm_sysroot_root (b), ==, f->root);
    state = vfm_sysroot_state_dir (a);
    assert_under_root (f->root, state, "/var/lib/vfmig");
  }
  {
    g_autoptr (VfmSysroot) real = vfm_sysroot_new ("/", &error);
    g_autoptr (VfmSysroot) empty = vfm_sysroot_new ("", &error);
    g_autofree char *probe = NULL;
    g_assert_no_error (error);
    g_assert_true (vfm_sysroot_is_real (real));
    g_assert_true (vfm_sysroot_is_real (empty));
    g_assert_cmpstr (vfm_sysroot_root (real), ==, "/");
    probe = vfm_sysroot_pci_drivers_probe (real);
    g_assert_cmpstr (probe, ==, "/sys/bus/pci/drivers_probe");
  }
}

static void
test_sysroot_not_a_directory (Fixture *f, gconstpointer data)
{
  g_autofree char *file = g_build_filename (f->root, "file", NULL);
  g_autofree char *missing = g_build_filename (f->root, "missing", NULL);
  g_autoptr (GError) error = NULL;
  VfmSysroot *sr;

  vfm_test_write (file, "x");
  sr = vfm_sysroot_new (file, &error);
  g_assert_null (sr);
  g_assert_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  sr = vfm_sysroot_new (missing, &error);
  g_assert_null (sr);
  g_assert_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT);
}

/* The kernel release names a directory (lib/modules/REL): a synthetic host
 * cannot point it outside its tree with ".." or a slash. */
static void
test_sysroot_release_refused (Fixture *f, gconstpointer data)
{
  const char *bad[] = { "..", " ..\n", "../../../etc", "a/b", "", "\n" };
  g_autofree char *os = g_build_filename (f->root, "proc/sys/kernel/osrelease", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (VfmSysroot) sr = NULL;
    g_autofree char *alias = NULL;
    vfm_test_write (os, bad[i]);
    sr = vfm_sysroot_new (f->root, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (vfm_sysroot_kernel_release (sr), ==, "unknown");
    alias = vfm_sysroot_modules_file (sr, "modules.alias");
    assert_under_root (f->root, alias, "/lib/modules/unknown/modules.alias");
  }
  {
    g_autoptr (VfmSysroot) sr = NULL;
    g_assert_cmpint (g_unlink (os), ==, 0);
    sr = vfm_sysroot_new (f->root, NULL);
    g_assert_cmpstr (vfm_sysroot_kernel_release (sr), ==, "unknown");
  }
}

/* ---- sysfs ---- */

static void
test_sysfs_read (Fixture *f, gconstpointer data)
{
  g_autofree char *p = g_build_filename (f->root, "attr", NULL);
  g_autofree char *big = g_strnfill (100 * 1024, '1');
  char buf[32];
  guint32 hex = 0;
  gint num = 0;

  vfm_test_write (p, "0x15b3\n");
  g_assert_true (vfm_sysfs_read (p, buf, sizeof buf));
  g_assert_cmpstr (buf, ==, "0x15b3");
  g_assert_true (vfm_sysfs_read_hex (p, &hex));
  g_assert_cmphex (hex, ==, 0x15b3);
  g_assert_false (vfm_sysfs_read_int (p, &num));

  /* garbage never turns into a plausible value */
  const char *bad_hex[] = { "0xZZZZ\n", "", "0x\n", "0x1g\n", "0x100000000\n" };
  for (guint i = 0; i < G_N_ELEMENTS (bad_hex); i++) {
    vfm_test_write (p, bad_hex[i]);
    hex = 0xdead;
    g_assert_false (vfm_sysfs_read_hex (p, &hex));
  }
  vfm_test_write (p, big);
  g_assert_false (vfm_sysfs_read (p, buf, sizeof buf));
  g_assert_false (vfm_sysfs_read_hex (p, &hex));
  g_assert_false (vfm_sysfs_read_int (p, &num));

  vfm_test_write (p, "-1\n");
  g_assert_true (vfm_sysfs_read_int (p, &num));
  g_assert_cmpint (num, ==, -1);
  vfm_test_write (p, "1 2\n");
  g_assert_false (vfm_sysfs_read_int (p, &num));
}

/* A symlink where an attribute belongs could send a root write outside the
 * sysroot: refused, and the target is untouched. */
static void
test_sysfs_write_no_symlink (Fixture *f, gconstpointer data)
{
  g_autofree char *target = g_build_filename (f->root, "outside", NULL);
  g_autofree char *attr = g_build_filename (f->root, "sys", "driver_override", NULL);
  g_autofree char *plain = g_build_filename (f->root, "sys", "plain", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;

  vfm_test_write (target, "keep\n");
  vfm_test_write (plain, "");
  g_assert_cmpint (symlink (target, attr), ==, 0);
  g_assert_false (vfm_sysfs_write (attr, "vfio-pci\n", &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_PERMISSION);
  text = vfm_test_read (target);
  g_assert_cmpstr (text, ==, "keep\n");

  g_clear_error (&error);
  g_assert_true (vfm_sysfs_write (plain, "vfio-pci\n", &error));
  g_assert_no_error (error);
  g_free (text);
  text = vfm_test_read (plain);
  g_assert_cmpstr (text, ==, "vfio-pci\n");

  /* the link name is the driver */
  {
    g_autofree char *link = g_build_filename (f->root, "driver", NULL);
    g_autofree char *name = NULL;
    g_assert_cmpint (symlink ("../../../bus/pci/drivers/mlx5_vfio_pci", link), ==, 0);
    name = vfm_sysfs_link_name (link);
    g_assert_cmpstr (name, ==, "mlx5_vfio_pci");
    g_assert_null (vfm_sysfs_link_name (plain));
  }
}

/* ---- JSON text from outside ---- */

static char *
nested (guint depth)
{
  GString *s = g_string_new (NULL);
  /* {"a":[{"a":[…1…]}]}: objects and arrays both count */
  for (guint i = 0; i < depth; i++)
    g_string_append (s, i % 2 ? "[" : "{\"a\":");
  g_string_append (s, "1");
  for (guint i = depth; i > 0; i--)
    g_string_append_c (s, (i - 1) % 2 ? ']' : '}');
  return g_string_free (s, FALSE);
}

static void
test_json_depth (void)
{
  g_autofree char *ok = nested (VFM_JSON_MAX_DEPTH);
  g_autofree char *deep = nested (VFM_JSON_MAX_DEPTH + 1);
  g_autofree char *very_deep = g_strnfill (200000, '[');
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();

  g_assert_true (vfm_json_check_text (ok, strlen (ok), &error));
  g_assert_no_error (error);
  g_assert_true (vfm_json_load_data (parser, ok, strlen (ok), &error));
  g_assert_no_error (error);

  g_assert_false (vfm_json_check_text (deep, strlen (deep), &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
  g_assert_nonnull (strstr (error->message, "64"));
  g_clear_error (&error);

  /* what would overflow json-glib's recursion never reaches it */
  g_assert_false (vfm_json_load_data (parser, very_deep, strlen (very_deep), &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
  g_clear_error (&error);

  /* closing brackets count: many shallow siblings are fine */
  {
    g_autoptr (GString) s = g_string_new ("[");
    for (guint i = 0; i < 200; i++)
      g_string_append (s, i ? ",[[1]]" : "[[1]]");
    g_string_append_c (s, ']');
    g_assert_true (vfm_json_check_text (s->str, s->len, &error));
    g_assert_no_error (error);
  }
}

/* Brackets inside strings are text, not nesting; an escaped quote does not
 * end the string. */
static void
test_json_strings (void)
{
  g_autoptr (GString) s = g_string_new ("{\"k\": \"\\\"");
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();

  for (guint i = 0; i < 500; i++)
    g_string_append (s, "[{");
  g_string_append (s, "'#/* x */ \xc3\xa9\"}");
  g_assert_true (vfm_json_check_text (s->str, s->len, &error));
  g_assert_no_error (error);
  g_assert_true (vfm_json_load_data (parser, s->str, s->len, &error));
  g_assert_no_error (error);

  const char *literals = "{\"a\": [true, false, null, -1.5e+3, 0, 2E-2], \"b\": {}}\r\n\t";
  g_assert_true (vfm_json_check_text (literals, strlen (literals), &error));
  g_assert_no_error (error);
}

static void
test_json_refused_bytes (void)
{
  static const struct {
    const char *text;
    gsize len;
    gsize offset;
  } cases[] = {
    { "{'a': 1}", 8, 1 },                    /* single quotes (json-glib takes them) */
    { "[1, /* c */ 2]", 14, 4 },             /* comments */
    { "[1] // c", 8, 4 },
    { "[1,\0 2]", 6, 3 },                    /* a NUL outside a string */
    { "{\"a\": \xff}", 8, 6 },               /* binary */
    { "{\"a\": #1}", 9, 6 },
    { "[Infinity]", 10, 1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_autofree char *where = g_strdup_printf ("offset %" G_GSIZE_FORMAT, cases[i].offset);
    g_test_message ("case %u", i);
    g_assert_false (vfm_json_check_text (cases[i].text, cases[i].len, &error));
    g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
    g_assert_nonnull (strstr (error->message, where));
    g_clear_error (&error);
    g_assert_false (vfm_json_load_data (parser, cases[i].text, cases[i].len, &error));
    g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
  }
}

static void
test_json_load_file (Fixture *f, gconstpointer data)
{
  g_autofree char *p = g_build_filename (f->root, "x.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  vfm_test_write (p, "{\"a\": 1}");
  g_assert_true (vfm_json_load_file (parser, p, 64, &error));
  g_assert_no_error (error);
  g_assert_false (vfm_json_load_file (parser, p, 4, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
  g_clear_error (&error);
  vfm_test_write (p, "{'a': 1}");
  g_assert_false (vfm_json_load_file (parser, p, 64, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
  g_clear_error (&error);
  g_assert_cmpint (g_unlink (p), ==, 0);
  g_assert_false (vfm_json_load_file (parser, p, 64, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_FAILED);
}

/* ---- typed getters ---- */

static void
test_json_getters (void)
{
  const char *text = "{\"s\": \"x\", \"i\": 5, \"b\": true, \"d\": 2.5, \"n\": null, \"o\": {\"s\": \"y\"},"
                     " \"a\": [1], \"is\": \"5\", \"bs\": \"true\"}";
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *o;

  g_assert_true (vfm_json_load_data (parser, text, strlen (text), &error));
  o = json_node_get_object (json_parser_get_root (parser));

  /* the right type: the value */
  g_assert_cmpstr (vfm_json_get_str_or (o, "s", "def"), ==, "x");
  g_assert_cmpint (vfm_json_get_int_or (o, "i", -7), ==, 5);
  g_assert_true (vfm_json_get_bool_or (o, "b", FALSE));
  g_assert_cmpfloat (vfm_json_get_double_or (o, "d", -1), ==, 2.5);
  g_assert_cmpfloat (vfm_json_get_double_or (o, "i", -1), ==, 5.0); /* an integer is a number */

  /* another type, null, absent, an object or array member: the default,
   * never a conversion and never a critical (G_DEBUG=fatal-criticals) */
  const char *not_str[] = { "i", "b", "d", "n", "o", "a", "missing" };
  for (guint i = 0; i < G_N_ELEMENTS (not_str); i++)
    g_assert_cmpstr (vfm_json_get_str_or (o, not_str[i], "def"), ==, "def");
  const char *not_int[] = { "s", "is", "b", "d", "n", "o", "a", "missing" };
  for (guint i = 0; i < G_N_ELEMENTS (not_int); i++)
    g_assert_cmpint (vfm_json_get_int_or (o, not_int[i], -7), ==, -7);
  const char *not_bool[] = { "s", "bs", "i", "d", "n", "o", "a", "missing" };
  for (guint i = 0; i < G_N_ELEMENTS (not_bool); i++) {
    g_assert_false (vfm_json_get_bool_or (o, not_bool[i], FALSE));
    g_assert_true (vfm_json_get_bool_or (o, not_bool[i], TRUE));
  }
  const char *not_double[] = { "s", "is", "b", "bs", "n", "o", "a", "missing" };
  for (guint i = 0; i < G_N_ELEMENTS (not_double); i++)
    g_assert_cmpfloat (vfm_json_get_double_or (o, not_double[i], -1.5), ==, -1.5);

  /* no object at all */
  g_assert_cmpstr (vfm_json_get_str_or (NULL, "s", "def"), ==, "def");
  g_assert_cmpint (vfm_json_get_int_or (NULL, "i", 3), ==, 3);
}

/* ---- locks ---- */

static void
test_lock_exclusive (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmSysroot) sr = vfm_sysroot_new (f->root, &error);
  g_autoptr (VfmLock) first = vfm_lock_named (sr, "claims", 0, &error);
  g_autoptr (VfmLock) other = NULL;
  g_autofree char *file = g_build_filename (f->root, "run/vfmig/lock/claims", NULL);
  VfmLock *second;
  gint64 t0;

  g_assert_no_error (error);
  g_assert_nonnull (first);
  g_assert_true (g_file_test (file, G_FILE_TEST_IS_REGULAR));

  /* a second holder waits out its timeout and fails with BUSY */
  t0 = g_get_monotonic_time ();
  second = vfm_lock_named (sr, "claims", 60, &error);
  g_assert_null (second);
  g_assert_error (error, VFM_ERROR, VFM_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, "claims"));
  g_assert_cmpint (g_get_monotonic_time () - t0, >=, 55 * 1000);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 3 * G_USEC_PER_SEC);
  g_clear_error (&error);

  /* timeout 0: one try */
  g_assert_null (vfm_lock_named (sr, "claims", 0, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_BUSY);
  g_clear_error (&error);

  /* other names are independent */
  other = vfm_lock_named (sr, "0000:3b:00.2", 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (other);
  /* a device lock is the lock named by its BDF */
  g_assert_null (vfm_lock_device (sr, "0000:3b:00.2", 0, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_BUSY);
  g_clear_error (&error);

  /* released: free again */
  g_clear_pointer (&first, vfm_lock_release);
  second = vfm_lock_named (sr, "claims", 0, &error);
  g_assert_no_error (error);
  g_assert_nonnull (second);
  vfm_lock_release (second);
}

/* The kernel drops the lock of a holder that dies: a crash never leaves a
 * device locked. A waiter gets it as soon as the holder is gone. */
static void
test_lock_holder_dies (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmSysroot) sr = vfm_sysroot_new (f->root, &error);
  int ready[2], go[2];
  char c;
  pid_t pid;
  int status;

  g_assert_cmpint (pipe (ready), ==, 0);
  g_assert_cmpint (pipe (go), ==, 0);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0) {
    VfmLock *held = vfm_lock_device (sr, "0000:3b:00.2", 0, NULL);
    char r = held ? 'y' : 'n';
    if (write (ready[1], &r, 1) != 1 || read (go[0], &c, 1) != 1)
      _exit (2);
    _exit (0); /* dies holding it */
  }
  g_assert_cmpint (read (ready[0], &c, 1), ==, 1);
  g_assert_cmpint (c, ==, 'y');
  g_assert_null (vfm_lock_device (sr, "0000:3b:00.2", 20, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_BUSY);
  g_clear_error (&error);

  g_assert_cmpint (write (go[1], "x", 1), ==, 1);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  {
    g_autoptr (VfmLock) again = vfm_lock_device (sr, "0000:3b:00.2", 0, &error);
    g_assert_no_error (error);
    g_assert_nonnull (again);
  }
  close (ready[0]);
  close (ready[1]);
  close (go[0]);
  close (go[1]);
}

/* Versions in the data files: X.Y or X.Y.Z and nothing else. */
static void
test_version_parse (void)
{
  gulong v = 0;
  g_assert_true (vfm_version_parse ("8.1", &v));
  g_assert_cmpuint (v, ==, 8001000);
  g_assert_true (vfm_version_parse ("10.0.2", &v));
  g_assert_cmpuint (v, ==, 10000002);
  g_assert_true (vfm_version_parse ("6.12.95", &v));
  g_assert_cmpuint (v, ==, 6012095);
  for (const char *const *bad = (const char *const[]) { "8", "8.", "8.1.", "8.1junk", "8.1.2.3", "10.0.2-deb", "v8.1",
                                                         " 8.1", "8. 1", "8.+1", "8.1000", "8.1.1000", "", NULL };
       *bad != NULL; bad++) {
    g_test_message ("refused: \"%s\"", *bad);
    g_assert_false (vfm_version_parse (*bad, &v));
  }
  g_assert_false (vfm_version_parse (NULL, &v));
}

int
main (int argc, char **argv)
{
  g_unsetenv ("VFMIG_SYSROOT"); /* "" must mean the real host here */
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/base/sysroot/paths-under-root", test_sysroot_paths);
  ADD ("/base/sysroot/canonical-root", test_sysroot_canonical);
  ADD ("/base/sysroot/not-a-directory", test_sysroot_not_a_directory);
  ADD ("/base/sysroot/release-dotdot-refused", test_sysroot_release_refused);
  ADD ("/base/sysfs/read-garbage", test_sysfs_read);
  ADD ("/base/sysfs/write-refuses-symlink", test_sysfs_write_no_symlink);
  g_test_add_func ("/base/strings/version", test_version_parse);
  g_test_add_func ("/base/json/depth", test_json_depth);
  g_test_add_func ("/base/json/strings", test_json_strings);
  g_test_add_func ("/base/json/refused-bytes", test_json_refused_bytes);
  ADD ("/base/json/load-file", test_json_load_file);
  g_test_add_func ("/base/json/typed-getters", test_json_getters);
  ADD ("/base/lock/exclusive", test_lock_exclusive);
  ADD ("/base/lock/holder-dies", test_lock_holder_dies);
#undef ADD
  return g_test_run ();
}
