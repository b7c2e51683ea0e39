/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Journal records (/var/lib/vfmig/{intent,owned,sriov}/BDF.json,
 * migrations/UUID.json and mdev/UUID.json), read at every
 * start for crash recovery. The input is written as a record of a temporary
 * sysroot and read back the way the binder and `vfmigctl restore` do; an
 * intent that reads must survive a write and a second read unchanged. */
#include "fuzz-common.h"
#include "vfm-journal.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#define BDF "0000:00:01.0"
#define UUID "6695eb01-f6a4-8304-79aa-97f2502e193f"

static char *root;
static VfmSysroot *sysroot;
static char *intent_path;
static char *owned_path;
static char *sriov_path;
static char *migration_path;
static char *mdev_path;

static void
remove_root (void)
{
  /* the tree holds only what this process created */
  static const char * const dirs[] = {
    "var/lib/vfmig/intent", "var/lib/vfmig/owned", "var/lib/vfmig/sriov", "var/lib/vfmig/migrations",
    "var/lib/vfmig/mdev", "var/lib/vfmig", "var/lib", "var", "",
  };
  g_unlink (intent_path);
  g_unlink (owned_path);
  g_unlink (sriov_path);
  g_unlink (migration_path);
  g_unlink (mdev_path);
  for (guint i = 0; i < G_N_ELEMENTS (dirs); i++) {
    g_autofree char *d = g_build_filename (root, dirs[i], NULL);
    g_rmdir (d);
  }
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *intent_dir = NULL;
  g_autofree char *owned_dir = NULL;
  g_autofree char *sriov_dir = NULL;
  g_autofree char *migration_dir = NULL;
  g_autofree char *mdev_dir = NULL;

  vfm_fuzz_init_logging ();
  root = g_dir_make_tmp ("vfm-fuzz-journal-XXXXXX", &error);
  if (root == NULL)
    g_error ("%s", error->message);
  intent_dir = g_build_filename (root, "var", "lib", "vfmig", "intent", NULL);
  owned_dir = g_build_filename (root, "var", "lib", "vfmig", "owned", NULL);
  g_mkdir_with_parents (intent_dir, 0755);
  g_mkdir_with_parents (owned_dir, 0755);
  sriov_dir = g_build_filename (root, "var", "lib", "vfmig", "sriov", NULL);
  migration_dir = g_build_filename (root, "var", "lib", "vfmig", "migrations", NULL);
  g_mkdir_with_parents (sriov_dir, 0755);
  g_mkdir_with_parents (migration_dir, 0755);
  mdev_dir = g_build_filename (root, "var", "lib", "vfmig", "mdev", NULL);
  g_mkdir_with_parents (mdev_dir, 0755);
  mdev_path = g_build_filename (mdev_dir, UUID ".json", NULL);
  sriov_path = g_build_filename (sriov_dir, BDF ".json", NULL);
  migration_path = g_build_filename (migration_dir, UUID ".json", NULL);
  intent_path = g_build_filename (intent_dir, BDF ".json", NULL);
  owned_path = g_build_filename (owned_dir, BDF ".json", NULL);
  sysroot = vfm_sysroot_new (root, &error);
  if (sysroot == NULL)
    g_error ("%s", error->message);
  atexit (remove_root);
  return 0;
}

static void
check_same (const char *field, const char *a, const char *b)
{
  VFM_FUZZ_CHECK (g_strcmp0 (a, b) == 0, "%s changed across write and read: \"%s\" -> \"%s\"",
                  field, a ? a : "(null)", b ? b : "(null)");
}

static void
fuzz_intent (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmIntent) it = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) list = NULL;

  if (!g_file_set_contents (intent_path, (const char *) data, size, &error))
    g_error ("%s", error->message);
  it = vfm_journal_read_intent (sysroot, BDF, &error);
  VFM_FUZZ_CHECK ((it == NULL) == (error != NULL), "intent %p, error %p", (void *) it, (void *) error);

  list = vfm_journal_list_intents (sysroot, warnings);
  VFM_FUZZ_CHECK (list->len == (it != NULL ? 1u : 0u), "listed %u intents", list->len);
  VFM_FUZZ_CHECK (warnings->len == (it != NULL ? 0u : 1u), "%u warnings", warnings->len);
  if (it == NULL)
    return;
  VFM_FUZZ_CHECK (g_strcmp0 (it->bdf, BDF) == 0, "bdf %s", it->bdf);

  /* round trip */
  g_autoptr (VfmIntent) back = NULL;
  g_clear_error (&error);
  VFM_FUZZ_CHECK (vfm_journal_write_intent (sysroot, it, &error), "write: %s", error->message);
  back = vfm_journal_read_intent (sysroot, BDF, &error);
  VFM_FUZZ_CHECK (back != NULL, "written intent does not read back: %s", error->message);
  VFM_FUZZ_CHECK (back->op == it->op, "op changed");
  check_same ("target_driver", it->target_driver, back->target_driver);
  check_same ("previous_driver", it->previous_driver, back->previous_driver);
  check_same ("previous_override", it->previous_override, back->previous_override);
  check_same ("original_driver", it->original_driver, back->original_driver);
  check_same ("original_override", it->original_override, back->original_override);
  VFM_FUZZ_CHECK (back->started_at == it->started_at && back->pid == it->pid, "numbers changed");
}

static void
fuzz_owned (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmOwned) o = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) list = NULL;

  if (!g_file_set_contents (owned_path, (const char *) data, size, &error))
    g_error ("%s", error->message);
  o = vfm_journal_read_owned (sysroot, BDF, &error);
  VFM_FUZZ_CHECK ((o == NULL) == (error != NULL), "owned %p, error %p", (void *) o, (void *) error);
  list = vfm_journal_list_owned (sysroot, warnings);
  VFM_FUZZ_CHECK (list->len == (o != NULL ? 1u : 0u), "listed %u owned", list->len);
}

static void
fuzz_sriov (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmSriovIntent) it = NULL, back = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) list = NULL;

  if (!g_file_set_contents (sriov_path, (const char *) data, size, &error))
    g_error ("%s", error->message);
  it = vfm_journal_read_sriov (sysroot, BDF, &error);
  VFM_FUZZ_CHECK ((it == NULL) == (error != NULL), "sriov %p, error %p", (void *) it, (void *) error);
  list = vfm_journal_list_sriov (sysroot, warnings);
  VFM_FUZZ_CHECK (list->len == (it != NULL ? 1u : 0u), "listed %u sriov intents", list->len);
  if (it == NULL)
    return;
  VFM_FUZZ_CHECK (vfm_journal_write_sriov (sysroot, it, &error), "write: %s", error->message);
  back = vfm_journal_read_sriov (sysroot, BDF, &error);
  VFM_FUZZ_CHECK (back != NULL, "written sriov intent does not read back: %s", error->message);
  VFM_FUZZ_CHECK (back->op == it->op && back->numvfs == it->numvfs && back->previous_numvfs == it->previous_numvfs &&
                  back->previous_autoprobe == it->previous_autoprobe, "sriov intent changed across write and read");
}

static void
fuzz_migration (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmMigrationRecord) m = NULL, back = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) list = NULL;

  if (!g_file_set_contents (migration_path, (const char *) data, size, &error))
    g_error ("%s", error->message);
  m = vfm_journal_read_migration (sysroot, UUID, &error);
  VFM_FUZZ_CHECK ((m == NULL) == (error != NULL), "migration %p, error %p", (void *) m, (void *) error);
  list = vfm_journal_list_migrations (sysroot, warnings);
  VFM_FUZZ_CHECK (list->len == (m != NULL ? 1u : 0u), "listed %u migrations", list->len);
  if (m == NULL)
    return;
  VFM_FUZZ_CHECK (vfm_journal_write_migration (sysroot, m, &error), "write: %s", error->message);
  back = vfm_journal_read_migration (sysroot, UUID, &error);
  VFM_FUZZ_CHECK (back != NULL, "written migration does not read back: %s", error->message);
  check_same ("domain_name", m->domain_name, back->domain_name);
  check_same ("peer", m->peer, back->peer);
  check_same ("claim_id", m->claim_id, back->claim_id);
  VFM_FUZZ_CHECK (back->devices->len == m->devices->len, "devices changed");
}

static void
fuzz_mdev (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmMdevRecord) r = NULL, back = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) list = NULL;

  if (!g_file_set_contents (mdev_path, (const char *) data, size, &error))
    g_error ("%s", error->message);
  r = vfm_journal_read_mdev (sysroot, UUID, &error);
  VFM_FUZZ_CHECK ((r == NULL) == (error != NULL), "mdev %p, error %p", (void *) r, (void *) error);
  list = vfm_journal_list_mdevs (sysroot, warnings);
  VFM_FUZZ_CHECK (list->len == (r != NULL ? 1u : 0u), "listed %u mdevs", list->len);
  VFM_FUZZ_CHECK (warnings->len == (r != NULL ? 0u : 1u), "%u warnings", warnings->len);
  if (r == NULL)
    return;
  /* parent and type name sysfs directories: never a path */
  VFM_FUZZ_CHECK (strchr (r->parent, '/') == NULL && strchr (r->type, '/') == NULL && r->parent[0] != '.' &&
                  r->type[0] != '.', "a path read as a name: %s %s", r->parent, r->type);
  VFM_FUZZ_CHECK (vfm_journal_write_mdev (sysroot, r, &error), "write: %s", error->message);
  back = vfm_journal_read_mdev (sysroot, UUID, &error);
  VFM_FUZZ_CHECK (back != NULL, "written mdev record does not read back: %s", error->message);
  check_same ("uuid", r->uuid, back->uuid);
  check_same ("parent", r->parent, back->parent);
  check_same ("type", r->type, back->type);
  VFM_FUZZ_CHECK (back->created_at == r->created_at && back->pid == r->pid, "numbers changed");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  fuzz_intent (data, size);
  fuzz_owned (data, size);
  fuzz_sriov (data, size);
  fuzz_migration (data, size);
  fuzz_mdev (data, size);
  return 0;
}
