/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the per-layer unit tests: throwaway directories,
 * synthetic hosts from tests/hosts/gen-host.py (GEN_HOST, set by meson) and
 * the kernel mock (KMOCK), preloaded by re-executing the test program. */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>

#include <dlfcn.h>
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int
vfm_test_rm_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  return remove (path);
}

/* rm -rf, for the directories a test made */
G_GNUC_UNUSED static void
vfm_test_rm_rf (const char *path)
{
  if (path != NULL)
    nftw (path, vfm_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new temporary directory. On tmpfs when there is one: a test tree is a
 * few hundred small files and links, which a disk-backed /tmp under load
 * makes take seconds. */
G_GNUC_UNUSED static char *
vfm_test_make_tmp (const char *prefix)
{
  const char *base = g_getenv ("VFMIG_TEST_TMPDIR");
  char *dir;
  if (base == NULL || *base == '\0')
    base = access ("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : g_get_tmp_dir ();
  dir = g_strdup_printf ("%s/%s-XXXXXX", base, prefix);
  g_assert_nonnull (g_mkdtemp (dir));
  return dir;
}

G_GNUC_UNUSED static void
vfm_test_write (const char *path, const char *text)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

G_GNUC_UNUSED static char *
vfm_test_read (const char *path)
{
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  return text;
}

static char *vfm_test_generate (const char *profile, int pfs, int vfs_per_pf, const char *dir);

/* nftw has no user data: the copy in progress */
static const char *vfm_test_copy_src, *vfm_test_copy_dst;

static int
vfm_test_copy_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  g_autofree char *to = g_strconcat (vfm_test_copy_dst, path + strlen (vfm_test_copy_src), NULL);
  if (flag == FTW_D)
    return g_mkdir (to, st->st_mode & 07777) == 0 || errno == EEXIST ? 0 : -1;
  if (flag == FTW_SL) {
    char target[4096];
    ssize_t n = readlink (path, target, sizeof target - 1);
    if (n < 0)
      return -1;
    target[n] = '\0';
    return symlink (target, to);
  }
  if (flag == FTW_F) {
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents (path, &text, &len, NULL) || !g_file_set_contents (to, text, (gssize) len, NULL))
      return -1;
    return g_chmod (to, st->st_mode & 07777);
  }
  return -1;
}

/* Pristine hosts, made once per program (a python start costs more than a
 * test) and copied for each test. */
static char *vfm_test_cache_dir;

static void
vfm_test_cache_remove (void)
{
  vfm_test_rm_rf (vfm_test_cache_dir);
}

/* A fresh synthetic host (LAYOUT.md) in a new temporary directory; the
 * caller removes it with vfm_test_rm_rf. */
G_GNUC_UNUSED static char *
vfm_test_gen_host (const char *profile, int pfs, int vfs_per_pf)
{
  g_autofree char *name = g_strdup_printf ("%s-%d-%d", profile, pfs, vfs_per_pf);
  g_autofree char *pristine = NULL;
  char *dir;

  if (vfm_test_cache_dir == NULL) {
    vfm_test_cache_dir = vfm_test_make_tmp ("vfm-hosts");
    atexit (vfm_test_cache_remove);
  }
  pristine = g_build_filename (vfm_test_cache_dir, name, NULL);
  if (!g_file_test (pristine, G_FILE_TEST_IS_DIR))
    g_free (vfm_test_generate (profile, pfs, vfs_per_pf, pristine));
  dir = vfm_test_make_tmp ("vfm-unit");
  vfm_test_copy_src = pristine;
  vfm_test_copy_dst = dir;
  g_assert_cmpint (nftw (pristine, vfm_test_copy_one, 16, FTW_PHYS), ==, 0);
  return dir;
}

/* gen-host.py PROFILE into dir, started; it runs without the mock (its own
 * writes are not kernel writes). */
static GPid
vfm_test_generate_start (const char *profile, int pfs, int vfs_per_pf, const char *dir)
{
  const char *gen = g_getenv ("GEN_HOST");
  g_autoptr (GError) error = NULL;
  g_autofree char *pfs_s = g_strdup_printf ("%d", pfs);
  g_autofree char *vfs_s = g_strdup_printf ("%d", vfs_per_pf);
  g_auto (GStrv) envp = g_environ_unsetenv (g_get_environ (), "LD_PRELOAD");
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  GPid pid = 0;

  g_assert_nonnull (gen);
  g_ptr_array_add (argv, (char *) gen);
  g_ptr_array_add (argv, "--profile");
  g_ptr_array_add (argv, (char *) profile);
  if (g_strcmp0 (profile, "server") == 0) { /* --pfs/--vfs-per-pf apply to server only */
    g_ptr_array_add (argv, "--pfs");
    g_ptr_array_add (argv, pfs_s);
    g_ptr_array_add (argv, "--vfs-per-pf");
    g_ptr_array_add (argv, vfs_s);
  }
  g_ptr_array_add (argv, (char *) dir);
  g_ptr_array_add (argv, NULL);
  g_spawn_async (NULL, (char **) argv->pdata, envp, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error);
  g_assert_no_error (error);
  return pid;
}

static void
vfm_test_generate_wait (GPid pid)
{
  int status = -1;
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_spawn_close_pid (pid);
}

static char *
vfm_test_generate (const char *profile, int pfs, int vfs_per_pf, const char *dir)
{
  vfm_test_generate_wait (vfm_test_generate_start (profile, pfs, vfs_per_pf, dir));
  return g_strdup (dir);
}

/* Makes the pristine copies of several hosts at once ("server:2:2",
 * "laptop", …): the generators' start-up costs overlap. */
G_GNUC_UNUSED static void
vfm_test_prefetch_hosts (const char * const *specs)
{
  GPid pids[16];
  guint n = 0;

  if (vfm_test_cache_dir == NULL) {
    vfm_test_cache_dir = vfm_test_make_tmp ("vfm-hosts");
    atexit (vfm_test_cache_remove);
  }
  for (guint i = 0; specs[i] != NULL && n < G_N_ELEMENTS (pids); i++) {
    g_auto (GStrv) f = g_strsplit (specs[i], ":", 3);
    int pfs = f[1] ? atoi (f[1]) : 0, vfs = f[1] && f[2] ? atoi (f[2]) : 0;
    g_autofree char *name = g_strdup_printf ("%s-%d-%d", f[0], pfs, vfs);
    g_autofree char *pristine = g_build_filename (vfm_test_cache_dir, name, NULL);
    if (!g_file_test (pristine, G_FILE_TEST_IS_DIR))
      pids[n++] = vfm_test_generate_start (f[0], pfs, vfs, pristine);
  }
  for (guint i = 0; i < n; i++)
    vfm_test_generate_wait (pids[i]);
}

/* The kernel mock is an LD_PRELOAD library: when it is not loaded yet, run
 * this program again with it preloaded (after the ASan runtime, which must
 * come first under the 'asan' test setup). */
G_GNUC_UNUSED static void
vfm_test_preload_mock (char **argv)
{
  const char *kmock = g_getenv ("KMOCK");
  const char *asan = g_getenv ("VFMIG_ASAN_RUNTIME");
  const char *old = g_getenv ("LD_PRELOAD");
  g_autofree char *preload = NULL;

  if (dlsym (RTLD_DEFAULT, "vfm_mock_load_module") != NULL)
    return;
  if (kmock == NULL || g_getenv ("VFM_TEST_REEXECUTED") != NULL) {
    g_printerr ("the kernel mock is not preloaded (KMOCK=%s)\n", kmock ? kmock : "unset");
    exit (99);
  }
  preload = g_strjoin (" ", asan && *asan ? asan : "", kmock, old ? old : "", NULL);
  g_setenv ("LD_PRELOAD", g_strstrip (preload), TRUE);
  g_setenv ("VFM_TEST_REEXECUTED", "1", TRUE);
  {
    /* the program's own path (under valgrind, readlink of /proc/self/exe
     * names the client, not the tool) */
    g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
    execv (self ? self : argv[0], argv);
  }
  g_printerr ("cannot re-execute with the kernel mock: %s\n", g_strerror (errno));
  exit (99);
}

/* The mock's log of applied kernel operations (LAYOUT.md, "Mock control"). */
G_GNUC_UNUSED static char *
vfm_test_mock_log (const char *root)
{
  g_autofree char *path = g_build_filename (root, ".kmock", "log", NULL);
  char *text = vfm_test_read (path);
  return text ? text : g_strdup ("");
}
