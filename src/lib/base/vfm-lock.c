/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-lock.h"
#include "vfm-error.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct _VfmLock {
  int fd;
  char *path;
};

static char *
lock_dir (VfmSysroot *sr, GError **error)
{
  g_autofree char *run = vfm_sysroot_run_dir (sr);
  g_autofree char *dir = g_build_filename (run, "lock", NULL);
  if (g_mkdir_with_parents (dir, 0755) < 0) {
    int saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot create lock directory %s: %s",
                 dir, g_strerror (saved));
    return NULL;
  }
  return g_steal_pointer (&dir);
}

static VfmLock *
lock_in (const char *dir, const char *name, gint64 deadline, guint timeout_ms, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  guint backoff_us = 1000;
  int fd;

  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    int saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot open lock %s: %s", path, g_strerror (saved));
    return NULL;
  }
  /* flock has no timeout: poll with a growing back-off up to the deadline */
  while (flock (fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      int saved = errno;
      close (fd);
      g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot lock %s: %s", path, g_strerror (saved));
      return NULL;
    }
    if (g_get_monotonic_time () >= deadline) {
      close (fd);
      g_set_error (error, VFM_ERROR, VFM_ERROR_BUSY,
                   "%s is locked by another vfmig operation (waited %u ms)", name, timeout_ms);
      return NULL;
    }
    g_usleep (backoff_us);
    backoff_us = MIN (backoff_us * 2, 50000);
  }
  VfmLock *lock = g_new0 (VfmLock, 1);
  lock->fd = fd;
  lock->path = g_steal_pointer (&path);
  return lock;
}

VfmLock *
vfm_lock_named (VfmSysroot *sr, const char *name, guint timeout_ms, GError **error)
{
  g_autofree char *dir = lock_dir (sr, error);
  if (dir == NULL)
    return NULL;
  return lock_in (dir, name, g_get_monotonic_time () + (gint64) timeout_ms * 1000, timeout_ms, error);
}

static gint
by_bdf (gconstpointer a, gconstpointer b, gpointer bdfs)
{
  return strcmp (((const char **) bdfs)[*(const guint *) a], ((const char **) bdfs)[*(const guint *) b]);
}

void
vfm_lock_devices (VfmSysroot *sr, const char **bdfs, guint n, guint timeout_ms, VfmLock **locks, GError **errors)
{
  g_autoptr (GError) dir_error = NULL;
  g_autofree char *dir = lock_dir (sr, &dir_error);
  g_autofree guint *order = g_new (guint, n);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (guint i = 0; i < n; i++)
    order[i] = i;
  g_qsort_with_data (order, n, sizeof *order, by_bdf, bdfs);
  for (guint k = 0; k < n; k++) {
    guint i = order[k];
    if (dir == NULL) {
      locks[i] = NULL;
      errors[i] = g_error_copy (dir_error);
      continue;
    }
    locks[i] = lock_in (dir, bdfs[i], deadline, timeout_ms, &errors[i]);
  }
}

VfmLock *
vfm_lock_device (VfmSysroot *sr, const char *bdf, guint timeout_ms, GError **error)
{
  return vfm_lock_named (sr, bdf, timeout_ms, error);
}

void
vfm_lock_release (VfmLock *lock)
{
  if (lock == NULL)
    return;
  close (lock->fd); /* releases the flock; the file stays for the next holder */
  g_free (lock->path);
  g_free (lock);
}
