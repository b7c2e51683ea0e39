/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loading curated entries and policies: errors name FILE:LINE, one bad file
 * does not stop the others, /etc overrides the shipped file of the same name. */
#include "vfm-driver-db.h"
#include "vfm-error.h"
#include "vfm-policy.h"

#include <glib/gstdio.h>
#include <string.h>

static void
expect_parse_error (const char *text, const char *where, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmDriverEntry) e = vfm_driver_entry_parse ("/x/bad.conf", text, &error);
  g_assert_null (e);
  g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
  if (!g_str_has_prefix (error->message, where) || strstr (error->message, what) == NULL)
    g_error ("expected \"%s… %s…\", got \"%s\"", where, what, error->message);
}

static void
test_entry_errors (void)
{
  expect_parse_error ("[Driver]\nName=x\nModule=x\nKind=weird\n[Match]\nIds=1234:5678\n",
                      "/x/bad.conf:4:", "Kind must be");
  expect_parse_error ("[Driver]\nName=x\nModule=x\nKind=vendor\n[Match]\nIds=12345:5678\n",
                      "/x/bad.conf:6:", "Ids");
  expect_parse_error ("[Driver]\nName=x\nModule=x\nKind=vendor\n[Match]\nIds=1234:5678\nColour=blue\n",
                      "/x/bad.conf:7:", "unknown key \"Colour\"");
  expect_parse_error ("[Driver]\nName=x\nModule=x\nKind=vendor\n", "/x/bad.conf:1:", "[Match]");
  expect_parse_error ("[Driver\nName=x\n", "/x/bad.conf:1:", "malformed group");
  expect_parse_error ("Name=x\n", "/x/bad.conf:1:", "outside of any");
  expect_parse_error ("[Driver]\nName=x\njust words\n", "/x/bad.conf:3:", "Key=Value");
  expect_parse_error ("[Driver]\nName=../x\nModule=x\nKind=generic\n", "/x/bad.conf:1:", "Name=");
  expect_parse_error ("[Driver]\nName=x\nModule=x\nKind=vendor\n[Match]\nClass=0x03000\n",
                      "/x/bad.conf:6:", "Class");
  expect_parse_error ("[Driver]\nName=x\nModule=x\nKind=vendor\n[Match]\nIds=1234:5678\n[Migration]\nStopCopy=maybe\n",
                      "/x/bad.conf:8:", "true or false");
  expect_parse_error ("[Driver]\nName=x\nModule=x\nKind=vendor\n[Match]\nIds=1234:5678\n[Surprise]\n",
                      "/x/bad.conf:7:", "unknown group");
  expect_parse_error ("[Driver]\nName=x\nModule=x\nKind=vendor\n[Match]\nFunction=../00.0\n",
                      "/x/bad.conf:6:", "Function");
}

static void
write_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

static void
test_dirs_override_and_isolation (void)
{
  g_autofree char *root = g_dir_make_tmp ("vfm-db-XXXXXX", NULL);
  g_autofree char *data = g_build_filename (root, "data", NULL);
  g_autofree char *etc = g_build_filename (root, "etc", NULL);
  const char *dirs[] = { data, etc, NULL };
  g_autoptr (VfmDriverDb) db = vfm_driver_db_new ();
  VfmDriverEntry *e;

  g_mkdir (data, 0755);
  g_mkdir (etc, 0755);
  write_file (data, "a.conf", "[Driver]\nName=a\nModule=a\nKind=vendor\n[Match]\nIds=1111:2222\n");
  write_file (data, "b.conf", "[Driver]\nName=b\nModule=b\nKind=vendor\n[Match]\nIds=1111:3333\n");
  write_file (etc, "b.conf", "[Driver]\nName=b-local\nModule=b\nKind=vendor\n[Match]\nIds=1111:4444\n");
  write_file (etc, "c.conf", "[Driver]\nName=c\nModule=c\nKind=nonsense\n");
  write_file (etc, "ignored.txt", "not a conf file");

  vfm_driver_db_load_dirs (db, dirs);
  g_assert_cmpuint (db->entries->len, ==, 2);
  e = vfm_driver_db_lookup (db, "b");
  g_assert_nonnull (e);
  g_assert_cmpstr (e->driver, ==, "b-local"); /* /etc replaced the shipped file */
  g_assert_nonnull (vfm_driver_db_lookup (db, "a"));
  g_assert_cmpuint (db->errors->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (db->errors, 0), "c.conf:4:"));

}

static void
test_policy_errors (void)
{
  g_autoptr (VfmPolicySet) set = vfm_policy_set_new ();
  g_autoptr (GError) error = NULL;

  g_assert_false (vfm_policy_set_parse (set, "p.conf", "[Policy a]\nIds=1234:5678\nManage=true\n[Policy b]\nManage=perhaps\n", &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
  g_assert_true (g_str_has_prefix (error->message, "p.conf:5:"));
  /* all or nothing: policy a from the broken file was not added */
  g_assert_cmpuint (set->policies->len, ==, 0);
  g_clear_error (&error);

  g_assert_false (vfm_policy_set_parse (set, "p.conf", "[Rule x]\nManage=true\n", &error));
  g_assert_true (g_str_has_prefix (error->message, "p.conf:1:"));
  g_clear_error (&error);

  g_assert_true (vfm_policy_set_parse (set, "p.conf", "[Policy x]\nClass=02\nManage=true\nDeny=vfio-pci, other\n", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (set->policies->len, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/db/entry-errors", test_entry_errors);
  g_test_add_func ("/db/dirs-override-and-isolation", test_dirs_override_and_isolation);
  g_test_add_func ("/db/policy-errors", test_policy_errors);
  return g_test_run ();
}
