/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-sysfs.h"
#include "vfm-error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a whole attribute into buf, without the trailing newline. An
 * attribute longer than buf is refused rather than truncated: a garbage file
 * in a broken tree must not turn into a plausible value. */
gboolean
vfm_sysfs_read (const char *path, char *buf, gsize size)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n;

  if (fd < 0)
    return FALSE;
  do
    n = read (fd, buf, size);
  while (n < 0 && errno == EINTR);
  close (fd);
  if (n < 0 || (gsize) n >= size)
    return FALSE;
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  return TRUE;
}

gboolean
vfm_sysfs_read_hex (const char *path, guint32 *out)
{
  char buf[32];
  char *end = NULL;
  const char *p = buf;
  guint64 v;

  if (!vfm_sysfs_read (path, buf, sizeof buf))
    return FALSE;
  if (g_str_has_prefix (p, "0x"))
    p += 2;
  if (*p == '\0')
    return FALSE;
  v = g_ascii_strtoull (p, &end, 16);
  if (end == NULL || *end != '\0' || v > G_MAXUINT32)
    return FALSE;
  *out = (guint32) v;
  return TRUE;
}

gboolean
vfm_sysfs_read_int (const char *path, gint *out)
{
  char buf[32];
  gint64 v;
  if (!vfm_sysfs_read (path, buf, sizeof buf) || buf[0] == '\0')
    return FALSE;
  if (!g_ascii_string_to_signed (buf, 10, G_MININT, G_MAXINT, &v, NULL))
    return FALSE;
  *out = (gint) v;
  return TRUE;
}

/* The last component of a symlink's target ("driver" -> ".../drivers/vfio-pci"
 * gives "vfio-pci"), or NULL when the link is absent. */
char *
vfm_sysfs_link_name (const char *path)
{
  char buf[4096];
  ssize_t n = readlink (path, buf, sizeof buf - 1);
  const char *slash;

  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  slash = strrchr (buf, '/');
  return g_strdup (slash ? slash + 1 : buf);
}

/* One write(2) of the whole value, as the kernel's store functions expect;
 * the errno of open or write is the kernel's answer and goes into the error. */
gboolean
vfm_sysfs_write (const char *path, const char *value, GError **error)
{
  gsize len = strlen (value);
  ssize_t n;
  int saved;
  /* sysfs attributes are never symlinks: one in a tree is a trick to make
   * root write elsewhere (a --sysroot host, a tampered mount), refused */
  int fd = open (path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

  if (fd < 0) {
    saved = errno;
    if (saved == ELOOP) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PERMISSION, "refusing to write %s: it is a symlink, not a sysfs attribute",
                   path);
      return FALSE;
    }
    g_set_error (error, VFM_ERROR, saved == EACCES || saved == EPERM ? VFM_ERROR_PERMISSION : VFM_ERROR_FAILED,
                 "cannot open %s: %s", path, g_strerror (saved));
    return FALSE;
  }
  do
    n = write (fd, value, len);
  while (n < 0 && errno == EINTR);
  saved = errno;
  if (close (fd) < 0 && n >= 0) {
    saved = errno;
    n = -1;
  }
  if (n < 0 || (gsize) n != len) {
    g_autofree char *shown = g_strchomp (g_strdup (value));
    g_set_error (error, VFM_ERROR, saved == EBUSY ? VFM_ERROR_BUSY : VFM_ERROR_FAILED,
                 "writing \"%s\" to %s failed: %s", shown, path,
                 n < 0 ? g_strerror (saved) : "short write");
    return FALSE;
  }
  return TRUE;
}
