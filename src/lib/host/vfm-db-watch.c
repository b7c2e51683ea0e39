/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Has the driver database's source changed? (vfm-db-watch.h)
 *
 * Why inotify first: the key (a stat of every file) is cheap on a local
 * disk, but vfmigd asks at every hotplug round, on the way from the add
 * event to the bind, and where the files are slow to reach (the lab VM's 9p
 * root under TCG: 20-40 ms for the twenty-odd files) the asking was a
 * tenth of the hotplug time. A read of an inotify descriptor costs nothing
 * anywhere; the key stays for where inotify cannot see every change. */
#include "vfm-db-watch.h"
#include "vfm-strings.h"

#include <errno.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

/* what changes a directory's files, or the directory itself */
#define DIR_EVENTS                                                                                                \
  (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | \
   IN_MOVE_SELF)
/* a file reached through a symbolic link: its target's changes */
#define FILE_EVENTS (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
/* the parent of a directory that does not exist (yet) */
#define PARENT_EVENTS (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

struct _VfmDbWatch {
  GPtrArray *dirs; /* what the database is read from */
  int fd;          /* inotify, or -1: the key */
  gboolean changed; /* an event was read: stays so */
  char *key;
  char *description;
};

/* File systems where a change made elsewhere (another machine, the other
 * side of a virtual machine's share) raises no inotify event here. */
static const struct {
  unsigned long magic;
  const char *name;
} remote_fs[] = {
  { 0x6969, "NFS" },           { 0x517b, "SMB" },         { 0xfe534d42, "SMB2" },
  { 0xff534d42, "CIFS" },      { 0x01021997, "9p" },      { 0x65735546, "FUSE" },
  { 0x00c36400, "Ceph" },      { 0x5346414f, "AFS" },     { 0x6b414653, "kAFS" },
  { 0x0bd00bd0, "Lustre" },    { 0x01161970, "GFS2" },    { 0x7461636f, "OCFS2" },
  { 0x47504653, "GPFS" },
};

static const char *
remote_name (const char *path)
{
  struct statfs sfs;
  if (statfs (path, &sfs) != 0)
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (remote_fs); i++)
    if ((unsigned long) sfs.f_type == remote_fs[i].magic)
      return remote_fs[i].name;
  return NULL;
}

/* One directory's files as a key: name, identity, size and mtime of each,
 * sorted (readdir's order is no promise). */
static void
append_dir_key (GString *key, const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  struct stat st;

  if (stat (dir, &st) != 0 || d == NULL) {
    g_string_append_printf (key, "%s:-;", dir);
    return;
  }
  g_string_append_printf (key, "%s:%lu:%lu:%ld.%09ld;", dir, (unsigned long) st.st_dev, (unsigned long) st.st_ino,
                          (long) st.st_mtim.tv_sec, (long) st.st_mtim.tv_nsec);
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  vfm_strings_sort (names);
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *path = g_build_filename (dir, g_ptr_array_index (names, i), NULL);
    if (stat (path, &st) == 0)
      g_string_append_printf (key, "%s:%lu:%lu:%lld:%ld.%09ld;", (char *) g_ptr_array_index (names, i),
                              (unsigned long) st.st_dev, (unsigned long) st.st_ino, (long long) st.st_size,
                              (long) st.st_mtim.tv_sec, (long) st.st_mtim.tv_nsec);
  }
}

static char *
dirs_key (GPtrArray *dirs)
{
  GString *key = g_string_new (NULL);
  for (guint i = 0; i < dirs->len; i++)
    append_dir_key (key, g_ptr_array_index (dirs, i));
  return g_string_free (key, FALSE);
}

/* Watches on DIR: itself, and the targets of its symbolic links; when it
 * does not exist, its nearest existing parent. FALSE (WHY set) when a
 * watch cannot be had or cannot be trusted. */
static gboolean
watch_dir (int fd, const char *dir, char **why)
{
  g_autofree char *at = g_strdup (dir);
  g_autoptr (GDir) d = NULL;
  const char *name, *remote;
  struct stat st;

  while (stat (at, &st) != 0 || !S_ISDIR (st.st_mode)) {
    char *parent = g_path_get_dirname (at);
    if (strcmp (parent, at) == 0) {
      g_free (parent);
      *why = g_strdup_printf ("no existing parent of %s", dir);
      return FALSE;
    }
    g_free (at);
    at = parent;
  }
  if ((remote = remote_name (at)) != NULL) {
    *why = g_strdup_printf ("%s is on %s, where a change made elsewhere raises no inotify event", at, remote);
    return FALSE;
  }
  if (inotify_add_watch (fd, at, strcmp (at, dir) == 0 ? DIR_EVENTS : PARENT_EVENTS) < 0) {
    *why = g_strdup_printf ("cannot watch %s: %s", at, g_strerror (errno));
    return FALSE;
  }
  if (strcmp (at, dir) != 0)
    return TRUE;
  d = g_dir_open (dir, 0, NULL);
  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *path = g_build_filename (dir, name, NULL);
    if (lstat (path, &st) != 0 || !S_ISLNK (st.st_mode))
      continue;
    /* the target's own changes. A dangling link's target may appear
     * anywhere later, which no watch here would see: the key instead */
    if (stat (path, &st) != 0) {
      *why = g_strdup_printf ("%s is a link to nothing (yet)", path);
      return FALSE;
    }
    if ((remote = remote_name (path)) != NULL) {
      *why = g_strdup_printf ("%s leads to %s, where a change made elsewhere raises no inotify event", path, remote);
      return FALSE;
    }
    if (inotify_add_watch (fd, path, FILE_EVENTS) < 0) {
      *why = g_strdup_printf ("cannot watch %s: %s", path, g_strerror (errno));
      return FALSE;
    }
  }
  return TRUE;
}

VfmDbWatch *
vfm_db_watch_new (VfmHost *host, VfmDbWatchMode mode)
{
  VfmDbWatch *w = g_new0 (VfmDbWatch, 1);
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autofree char *alias = vfm_sysroot_modules_file (sr, "modules.alias");
  g_autofree char *why = NULL;

  w->fd = -1;
  w->dirs = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (w->dirs, g_path_get_dirname (alias));
  g_ptr_array_add (w->dirs, vfm_sysroot_data_dir ("drivers"));
  g_ptr_array_add (w->dirs, vfm_sysroot_config_dir (sr, "drivers.d"));
  g_ptr_array_add (w->dirs, vfm_sysroot_data_dir ("policies"));
  g_ptr_array_add (w->dirs, vfm_sysroot_config_dir (sr, "policies.d"));

  if (mode == VFM_DB_WATCH_KEY) {
    why = g_strdup ("asked for");
  } else if ((w->fd = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC)) < 0) {
    why = g_strdup_printf ("no inotify: %s", g_strerror (errno));
  } else {
    for (guint i = 0; i < w->dirs->len && why == NULL; i++)
      (void) watch_dir (w->fd, g_ptr_array_index (w->dirs, i), &why);
    if (why != NULL) {
      close (w->fd);
      w->fd = -1;
    }
  }
  if (w->fd < 0) {
    w->key = dirs_key (w->dirs);
    w->description = g_strdup_printf ("a stat of each file (%s)", why);
  } else {
    w->description = g_strdup ("inotify");
  }
  return w;
}

gboolean
vfm_db_watch_unchanged (VfmDbWatch *w)
{
  char buf[4096] __attribute__ ((aligned (__alignof__ (struct inotify_event))));
  ssize_t n;

  if (w->fd < 0) {
    g_autofree char *now = dirs_key (w->dirs);
    return strcmp (now, w->key) == 0;
  }
  if (w->changed)
    return FALSE;
  /* any event is a change, an overflow too */
  while ((n = read (w->fd, buf, sizeof buf)) < 0 && errno == EINTR)
    ;
  w->changed = !(n < 0 && errno == EAGAIN);
  return !w->changed;
}

gboolean
vfm_db_watch_uses_key (VfmDbWatch *w)
{
  return w->fd < 0;
}

const char *
vfm_db_watch_describe (VfmDbWatch *w)
{
  return w->description;
}

void
vfm_db_watch_free (VfmDbWatch *w)
{
  if (w == NULL)
    return;
  if (w->fd >= 0)
    close (w->fd);
  g_ptr_array_unref (w->dirs);
  g_free (w->key);
  g_free (w->description);
  g_free (w);
}
