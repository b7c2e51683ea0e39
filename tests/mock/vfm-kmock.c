/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfm-kmock: an LD_PRELOAD kernel mock for synthetic hosts.
 *
 * A synthetic host (tests/hosts/LAYOUT.md, written by gen-host.py) is a
 * directory ROOT with a sysfs-like tree under ROOT/sys and mock control files
 * under ROOT/.kmock.  vfmig is pointed at ROOT and opens ROOT/sys/... itself,
 * so unlike libvirt's virpcimock nothing is redirected: this library only
 * recognises writes to the PCI attribute files the kernel reacts to
 * (driver_override, bind, unbind, drivers_probe, sriov_numvfs, ...) and to
 * the mdev bus's (a type's create, an instance's remove) and does what the
 * kernel would do to the tree.
 *
 * When: at write(2), not at close(2).  sysfs calls the attribute's store()
 * from write(2) and returns its error there; close(2) of a sysfs file never
 * fails.  Code that checks write() and ignores close() (most code, and every
 * shell) must see EBUSY/ENODEV/EINVAL where the real kernel returns them.
 * Each write(2) is one store() call, whatever the file offset, as in
 * sysfs_kf_write().
 *
 * Which fds: open/openat (and 64/fortify variants) and fopen classify the
 * path; fds that reach write(2) unclassified (inherited across exec, as with
 * "/bin/echo BDF > unbind" from a shell, or dup'ed through a path this
 * library does not see) are classified once through /proc/self/fd.
 *
 * Where: a path is handled only if it resolves below ROOT/sys where
 * ROOT/.kmock is a directory; VFMIG_SYSROOT, when set, is tried first.
 * The real /sys is never touched: "/" is refused as a root.  Everything
 * else passes straight through to libc.
 *
 * Mutations are serialised by a process mutex and flock(ROOT/.kmock/lock),
 * so several preloaded processes (daemon, CLI, shell) can share a host.
 */

/* Meson adds -D_FILE_OFFSET_BITS=64, which would rename open() to open64()
 * in the headers; this file defines both symbols itself. */
#undef _FILE_OFFSET_BITS
/* Likewise _FORTIFY_SOURCE would wrap open() in an inline of its own. */
#undef _FORTIFY_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define KMOCK_EXPORT __attribute__((visibility("default")))

/* sysfs rejects writes longer than one page (kernfs atomic_write_len). */
#define SYSFS_PAGE_SIZE 4096
#define PCI_ANY_ID 0xffffffffu
#define FD_TABLE_SIZE 65536

int vfm_mock_load_module (const char *root, const char *module) KMOCK_EXPORT;

/* glibc declares these only under _FORTIFY_SOURCE. */
int __open_2 (const char *path, int flags);
int __open64_2 (const char *path, int flags);
int __openat_2 (int dirfd, const char *path, int flags);
int __openat64_2 (int dirfd, const char *path, int flags);

/* ------------------------------------------------------------------------ */
/* Real libc entry points                                                    */

static int (*real_open) (const char *, int, ...);
static int (*real_open64) (const char *, int, ...);
static int (*real_openat) (int, const char *, int, ...);
static int (*real_openat64) (int, const char *, int, ...);
static int (*real___open_2) (const char *, int);
static int (*real___open64_2) (const char *, int);
static int (*real___openat_2) (int, const char *, int);
static int (*real___openat64_2) (int, const char *, int);
static ssize_t (*real_write) (int, const void *, size_t);
static int (*real_close) (int);
static int (*real_dup) (int);
static int (*real_dup2) (int, int);
static int (*real_dup3) (int, int, int);
static int (*real_fcntl) (int, int, ...);
static int (*real_fcntl64) (int, int, ...);
static FILE *(*real_fopen) (const char *, const char *);
static FILE *(*real_fopen64) (const char *, const char *);
static int (*real_fflush) (FILE *);
static int (*real_fclose) (FILE *);

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t op_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;

/* Set while the mock itself works, so nothing it calls is interpreted. */
static __thread int in_mock;

static void
resolve_real (void)
{
#define RESOLVE(sym) real_##sym = dlsym (RTLD_NEXT, #sym)
  RESOLVE (open);
  RESOLVE (open64);
  RESOLVE (openat);
  RESOLVE (openat64);
  RESOLVE (__open_2);
  RESOLVE (__open64_2);
  RESOLVE (__openat_2);
  RESOLVE (__openat64_2);
  RESOLVE (write);
  RESOLVE (close);
  RESOLVE (dup);
  RESOLVE (dup2);
  RESOLVE (dup3);
  RESOLVE (fcntl);
  RESOLVE (fcntl64);
  RESOLVE (fopen);
  RESOLVE (fopen64);
  RESOLVE (fflush);
  RESOLVE (fclose);
#undef RESOLVE
  /* Older C libraries have no separate LFS entry points. */
  if (!real_open64)
    real_open64 = real_open;
  if (!real_openat64)
    real_openat64 = real_openat;
  if (!real_fcntl64)
    real_fcntl64 = real_fcntl;
  if (!real_fopen64)
    real_fopen64 = real_fopen;
}

static void
init (void)
{
  pthread_once (&init_once, resolve_real);
}

/* ------------------------------------------------------------------------ */
/* Small file helpers; they use the real functions and never recurse.        */

static bool
path_fmt (char *out, size_t size, const char *fmt, ...)
  __attribute__((format (printf, 3, 4)));

static bool
path_fmt (char *out, size_t size, const char *fmt, ...)
{
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (out, size, fmt, ap);
  va_end (ap);
  return n >= 0 && (size_t) n < size;
}

static bool
is_dir (const char *path)
{
  struct stat st;

  return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

static bool
exists (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0;
}

/* Read the first line of PATH without its newline. */
static bool
read_line (const char *path, char *out, size_t size)
{
  ssize_t n;
  char *nl;
  int fd;

  fd = real_open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  n = read (fd, out, size - 1);
  real_close (fd);
  if (n < 0)
    return false;
  out[n] = '\0';
  nl = strchr (out, '\n');
  if (nl)
    *nl = '\0';
  return true;
}

static bool
write_text (const char *path, const char *text)
{
  size_t len = strlen (text);
  ssize_t n;
  int fd;

  fd = real_open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return false;
  n = real_write (fd, text, len);
  real_close (fd);
  return n == (ssize_t) len;
}

static bool
write_fmt (const char *path, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

static bool
write_fmt (const char *path, const char *fmt, ...)
{
  char buf[256];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  if (n < 0 || (size_t) n >= sizeof buf)
    return false;
  return write_text (path, buf);
}

static bool
read_ulong (const char *path, int base, unsigned long *out)
{
  char buf[64];
  char *end;

  if (!read_line (path, buf, sizeof buf))
    return false;
  errno = 0;
  *out = strtoul (buf, &end, base);
  return errno == 0 && end != buf;
}

static const char *
base_name (const char *path)
{
  const char *s = strrchr (path, '/');

  return s ? s + 1 : path;
}

/* The last component a symlink points at ("../../bus/pci/drivers/NAME"). */
static bool
link_base (const char *link, char *out, size_t size)
{
  char target[PATH_MAX];
  ssize_t n;

  n = readlink (link, target, sizeof target - 1);
  if (n < 0)
    return false;
  target[n] = '\0';
  return path_fmt (out, size, "%s", base_name (target));
}

/* Make LINK a relative symlink to TARGET, both absolute and canonical, the
 * way sysfs shows its links: "../" for each directory LINK's directory is
 * below their common ancestor, then the rest of TARGET. */
static bool
symlink_rel (const char *target, const char *link)
{
  char rel[PATH_MAX];
  const char *dir_end = strrchr (link, '/');
  size_t common = 0, i, pos = 0;

  if (!dir_end)
    return false;
  for (i = 0; link + i < dir_end && target[i] && link[i] == target[i]; i++)
    if (link[i] == '/')
      common = i;
  /* The whole directory of LINK is a prefix of TARGET. */
  if (link + i == dir_end && target[i] == '/')
    common = i;
  for (const char *p = link + common; p < dir_end; p++)
    if (*p == '/')
      {
        if (pos + 3 >= sizeof rel)
          return false;
        memcpy (rel + pos, "../", 3);
        pos += 3;
      }
  if (!path_fmt (rel + pos, sizeof rel - pos, "%s", target + common + 1))
    return false;
  unlink (link);
  return symlink (rel, link) == 0;
}

static void
remove_tree (const char *path)
{
  struct dirent *e;
  struct stat st;
  DIR *d;

  if (lstat (path, &st) != 0)
    return;
  if (!S_ISDIR (st.st_mode))
    {
      unlink (path);
      return;
    }
  d = opendir (path);
  if (d)
    {
      while ((e = readdir (d)))
        {
          char sub[PATH_MAX];

          if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
            continue;
          if (path_fmt (sub, sizeof sub, "%s/%s", path, e->d_name))
            remove_tree (sub);
        }
      closedir (d);
    }
  rmdir (path);
}

/* ------------------------------------------------------------------------ */
/* Kernel string parsing, as in lib/kstrtox.c and lib/string.c.              */

/* kstrtoull (s, 0, res): optional '+', "0x" hex or "0" octal prefix, at
 * least one digit, then only an optional single newline. */
static int
kstrtoull0 (const char *s, unsigned long long *res)
{
  unsigned long long v = 0;
  unsigned int base = 10;
  const char *p;

  if (*s == '+')
    s++;
  if (s[0] == '0')
    {
      if (tolower ((unsigned char) s[1]) == 'x' && isxdigit ((unsigned char) s[2]))
        {
          base = 16;
          s += 2;
        }
      else
        base = 8;
    }
  for (p = s; *p; p++)
    {
      unsigned int d;

      if (isdigit ((unsigned char) *p))
        d = *p - '0';
      else if (isxdigit ((unsigned char) *p))
        d = tolower ((unsigned char) *p) - 'a' + 10;
      else
        break;
      if (d >= base)
        break;
      if (v > (~0ULL - d) / base)
        return -ERANGE;
      v = v * base + d;
    }
  if (p == s)
    return -EINVAL;
  if (*p == '\n')
    p++;
  if (*p)
    return -EINVAL;
  *res = v;
  return 0;
}

static int
kstrtobool (const char *s, bool *res)
{
  switch (s[0])
    {
    case 'e': case 'E': case 'y': case 'Y': case 't': case 'T': case '1':
      *res = true;
      return 0;
    case 'd': case 'D': case 'n': case 'N': case 'f': case 'F': case '0':
      *res = false;
      return 0;
    case 'o': case 'O':
      if (s[1] == 'n' || s[1] == 'N')
        {
          *res = true;
          return 0;
        }
      if (s[1] == 'f' || s[1] == 'F')
        {
          *res = false;
          return 0;
        }
      return -EINVAL;
    default:
      return -EINVAL;
    }
}

/* bus_find_device_by_name() compares with sysfs_streq(): equal but for one
 * trailing newline.  Copy the name a write designates into OUT. */
static bool
sysfs_name (const char *buf, char *out, size_t size)
{
  size_t len = strlen (buf);

  if (len && buf[len - 1] == '\n')
    len--;
  if (len == 0 || len >= size || memchr (buf, '/', len))
    return false;
  memcpy (out, buf, len);
  out[len] = '\0';
  return strcmp (out, ".") && strcmp (out, "..");
}

static bool
parse_bdf (const char *name, unsigned *dom, unsigned *bus, unsigned *dev,
           unsigned *fn)
{
  int n = -1;

  if (sscanf (name, "%4x:%2x:%2x.%1x%n", dom, bus, dev, fn, &n) != 4)
    return false;
  return n == (int) strlen (name) && n == 12 && *dev < 32 && *fn < 8;
}

/* ------------------------------------------------------------------------ */
/* The synthetic host                                                        */

typedef struct
{
  char root[PATH_MAX]; /* canonical ROOT, no trailing slash */
} Host;

typedef struct
{
  const Host *host;
  char bdf[16];
  char path[PATH_MAX]; /* canonical device directory */
} Dev;

static bool
host_path (const Host *h, char *out, size_t size, const char *fmt, ...)
  __attribute__((format (printf, 4, 5)));

static bool
host_path (const Host *h, char *out, size_t size, const char *fmt, ...)
{
  char rel[PATH_MAX];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (rel, sizeof rel, fmt, ap);
  va_end (ap);
  if (n < 0 || (size_t) n >= sizeof rel)
    return false;
  return path_fmt (out, size, "%s/%s", h->root, rel);
}

/* Fault injection for crash tests: a countdown file under .kmock/ holds N;
 * the Nth event it counts from then on fires (true), and the file is
 * removed then, so the next process runs normally.
 *   kill_after: each operation applied (and logged) counts; the Nth is
 *     followed by SIGKILL, as a crash between two steps of a bind would be.
 *   kill_before: each store the mock is asked for counts, applied or not;
 *     the Nth kills the writer before it is applied, as a crash between a
 *     journal write and the kernel write would. */
static bool
countdown_fires (const Host *h, const char *file)
{
  char path[PATH_MAX], buf[32];
  unsigned long n;
  int fd;
  ssize_t r;

  if (!host_path (h, path, sizeof path, ".kmock/%s", file))
    return false;
  fd = real_open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  r = read (fd, buf, sizeof buf - 1);
  real_close (fd);
  if (r <= 0)
    return false;
  buf[r] = '\0';
  n = strtoul (buf, NULL, 10);
  if (n <= 1)
    {
      unlink (path);
      return true;
    }
  fd = real_open (path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0)
    return false;
  r = snprintf (buf, sizeof buf, "%lu\n", n - 1);
  if (real_write (fd, buf, r) < 0)
    {
      /* a failed count update only delays the kill */
    }
  real_close (fd);
  return false;
}

static void
kill_after_check (const Host *h)
{
  if (countdown_fires (h, "kill_after"))
    raise (SIGKILL);
}

static void
host_log (const Host *h, const char *fmt, ...)
  __attribute__((format (printf, 2, 3)));

static void
host_log (const Host *h, const char *fmt, ...)
{
  char path[PATH_MAX], line[512];
  va_list ap;
  int fd, n;

  va_start (ap, fmt);
  n = vsnprintf (line, sizeof line - 1, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  if ((size_t) n > sizeof line - 2)
    n = sizeof line - 2;
  line[n++] = '\n';
  if (!host_path (h, path, sizeof path, ".kmock/log"))
    return;
  fd = real_open (path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  if (real_write (fd, line, n) < 0)
    {
      /* Nothing to do: the log is for tests to read. */
    }
  real_close (fd);
  kill_after_check (h);
}

/* Is ROOT a synthetic host?  "/" never is: that is the real machine. */
static bool
host_init (Host *h, const char *root)
{
  char kmock[PATH_MAX];

  if (!root || !*root || !realpath (root, h->root) || !strcmp (h->root, "/"))
    return false;
  return path_fmt (kmock, sizeof kmock, "%s/.kmock", h->root) && is_dir (kmock);
}

static bool
dev_lookup (const Host *h, const char *name, Dev *d)
{
  char link[PATH_MAX];

  if (strlen (name) >= sizeof d->bdf)
    return false;
  if (!host_path (h, link, sizeof link, "sys/bus/pci/devices/%s", name)
      || !realpath (link, d->path) || !is_dir (d->path))
    return false;
  d->host = h;
  strcpy (d->bdf, name);
  return true;
}

static bool
dev_attr (const Dev *d, const char *attr, char *out, size_t size)
{
  char path[PATH_MAX];

  return path_fmt (path, sizeof path, "%s/%s", d->path, attr)
         && read_line (path, out, size);
}

static bool
dev_set_attr (const Dev *d, const char *attr, const char *value)
{
  char path[PATH_MAX];

  return path_fmt (path, sizeof path, "%s/%s", d->path, attr)
         && write_text (path, value);
}

static unsigned long
dev_ulong (const Dev *d, const char *attr, int base, unsigned long fallback)
{
  char path[PATH_MAX];
  unsigned long v;

  if (path_fmt (path, sizeof path, "%s/%s", d->path, attr)
      && read_ulong (path, base, &v))
    return v;
  return fallback;
}

/* The bound driver's name, or false when unbound. */
static bool
dev_driver (const Dev *d, char *out, size_t size)
{
  char link[PATH_MAX];

  return path_fmt (link, sizeof link, "%s/driver", d->path)
         && link_base (link, out, size);
}

/* driver_override, or false when unset ("(null)"). */
static bool
dev_override (const Dev *d, char *out, size_t size)
{
  return dev_attr (d, "driver_override", out, size) && *out
         && strcmp (out, "(null)");
}

static int
dev_group (const Dev *d)
{
  char link[PATH_MAX], name[32];
  char *end;
  long g;

  if (!path_fmt (link, sizeof link, "%s/iommu_group", d->path)
      || !link_base (link, name, sizeof name))
    return -1;
  g = strtol (name, &end, 10);
  return (*end || end == name || g < 0) ? -1 : (int) g;
}

/* The PF of a VF; false for anything else. */
static bool
dev_physfn (const Dev *d, Dev *pf)
{
  char link[PATH_MAX];

  if (!path_fmt (link, sizeof link, "%s/physfn", d->path)
      || !realpath (link, pf->path))
    return false;
  pf->host = d->host;
  return path_fmt (pf->bdf, sizeof pf->bdf, "%s", base_name (pf->path));
}

static bool
driver_registered (const Host *h, const char *name)
{
  char path[PATH_MAX];

  return *name && !strchr (name, '/')
         && host_path (h, path, sizeof path, "sys/bus/pci/drivers/%s", name)
         && is_dir (path);
}

static bool
is_vfio_driver (const char *name)
{
  return strstr (name, "vfio") != NULL;
}

static bool
kmock_read (const Host *h, const char *sub, const char *name, char *out,
            size_t size)
{
  char path[PATH_MAX];

  return host_path (h, path, sizeof path, ".kmock/%s/%s", sub, name)
         && read_line (path, out, size);
}

/* Fault injection: .kmock/fail/KIND/NAME exists; its content, if a number,
 * is the errno to fail with. */
static int
kmock_fail (const Host *h, const char *kind, const char *name, int fallback)
{
  char buf[32], sub[64];
  char *end;
  long e;


  if (!path_fmt (sub, sizeof sub, "fail/%s", kind)
      || !kmock_read (h, sub, name, buf, sizeof buf))
    return 0;
  e = strtol (buf, &end, 10);
  return (end != buf && e > 0 && e < 4096) ? (int) e : fallback;
}

/* ------------------------------------------------------------------------ */
/* Dynamic ids (new_id / remove_id), kept in .kmock/dynids/DRIVER, one
 * "vendor device subvendor subdevice class class_mask" line each (hex). */

typedef struct
{
  unsigned vendor, device, subvendor, subdevice, class, class_mask;
} PciId;

static bool
dev_id (const Dev *d, PciId *id)
{
  id->vendor = dev_ulong (d, "vendor", 16, 0xffff);
  id->device = dev_ulong (d, "device", 16, 0xffff);
  id->subvendor = dev_ulong (d, "subsystem_vendor", 16, 0xffff);
  id->subdevice = dev_ulong (d, "subsystem_device", 16, 0xffff);
  id->class = dev_ulong (d, "class", 16, 0);
  id->class_mask = 0;
  return true;
}

/* pci_match_one_device() */
static bool
pci_id_match (const PciId *id, const PciId *dev)
{
  return (id->vendor == PCI_ANY_ID || id->vendor == dev->vendor)
         && (id->device == PCI_ANY_ID || id->device == dev->device)
         && (id->subvendor == PCI_ANY_ID || id->subvendor == dev->subvendor)
         && (id->subdevice == PCI_ANY_ID || id->subdevice == dev->subdevice)
         && !((id->class ^ dev->class) & id->class_mask);
}

static bool
dynids_path (const Host *h, const char *driver, char *out, size_t size)
{
  char dir[PATH_MAX];

  if (!host_path (h, dir, sizeof dir, ".kmock/dynids"))
    return false;
  mkdir (dir, 0755);
  return path_fmt (out, size, "%s/%s", dir, driver);
}

static bool
dynid_matches (const Host *h, const char *driver, const PciId *dev)
{
  char path[PATH_MAX], line[256];
  bool found = false;
  FILE *f;

  if (!dynids_path (h, driver, path, sizeof path))
    return false;
  f = real_fopen (path, "re");
  if (!f)
    return false;
  while (!found && fgets (line, sizeof line, f))
    {
      PciId id;

      if (sscanf (line, "%x %x %x %x %x %x", &id.vendor, &id.device,
                  &id.subvendor, &id.subdevice, &id.class,
                  &id.class_mask) == 6)
        found = pci_id_match (&id, dev);
    }
  real_fclose (f);
  return found;
}

/* ------------------------------------------------------------------------ */
/* Binding                                                                   */

/* pci_match_device(): with driver_override set only that driver matches
 * (and always does); otherwise the device's id table match, which the mock
 * knows as .kmock/default_driver (BDF, else PF-BDF.vf for a VF) and the
 * dynamic ids added through new_id. */
static bool
dev_default_driver (const Dev *d, char *out, size_t size)
{
  char name[64];
  Dev pf;

  if (kmock_read (d->host, "default_driver", d->bdf, out, size) && *out)
    return true;
  return dev_physfn (d, &pf)
         && path_fmt (name, sizeof name, "%s.vf", pf.bdf)
         && kmock_read (d->host, "default_driver", name, out, size) && *out;
}

static bool
driver_matches (const Dev *d, const char *driver)
{
  char buf[SYSFS_PAGE_SIZE];
  PciId id;

  if (dev_override (d, buf, sizeof buf))
    return !strcmp (buf, driver);
  if (dev_default_driver (d, buf, sizeof buf) && !strcmp (buf, driver))
    return true;
  return dev_id (d, &id) && dynid_matches (d->host, driver, &id);
}

/* pci_device_can_probe(): a VF whose PF has sriov_drivers_autoprobe=0
 * probes only with driver_override set (since v5.3).  Without an override
 * every driver's probe returns -ENODEV, so drivers_probe leaves it unbound. */
static bool
dev_can_probe (const Dev *d)
{
  char buf[SYSFS_PAGE_SIZE];
  Dev pf;

  if (!dev_physfn (d, &pf))
    return true;
  return dev_ulong (&pf, "sriov_drivers_autoprobe", 10, 1) != 0
         || dev_override (d, buf, sizeof buf);
}

/* /dev/vfio/GROUP exists while a device of the group is bound to a VFIO
 * driver (vfio_register_group_dev() / the last unregister). */
static void
vfio_group_sync (const Host *h, int group)
{
  char dir[PATH_MAX], node[PATH_MAX];
  bool vfio = false;
  struct dirent *e;
  DIR *dd;

  if (group < 0
      || !host_path (h, dir, sizeof dir, "sys/kernel/iommu_groups/%d/devices", group)
      || !host_path (h, node, sizeof node, "dev/vfio/%d", group))
    return;
  dd = opendir (dir);
  while (dd && !vfio && (e = readdir (dd)))
    {
      char link[PATH_MAX], drv[256];

      if (e->d_name[0] != '.'
          && path_fmt (link, sizeof link, "%s/%s/driver", dir, e->d_name)
          && link_base (link, drv, sizeof drv))
        vfio = is_vfio_driver (drv);
    }
  if (dd)
    closedir (dd);
  if (vfio && !exists (node))
    write_text (node, "");
  else if (!vfio)
    unlink (node);
}

static void
dev_detach (const Dev *d)
{
  char drv[256], path[PATH_MAX];

  if (!dev_driver (d, drv, sizeof drv))
    return;
  if (path_fmt (path, sizeof path, "%s/driver", d->path))
    unlink (path);
  if (host_path (d->host, path, sizeof path, "sys/bus/pci/drivers/%s/%s",
                 drv, d->bdf))
    unlink (path);
  dev_set_attr (d, "enable", "0\n");
  vfio_group_sync (d->host, dev_group (d));
}

/* really_probe() for a device known to be unbound and matching DRIVER.
 * Returns 0 when bound, else the probe's -errno. */
static int
dev_probe_with (const Dev *d, const char *driver)
{
  char drvdir[PATH_MAX], link[PATH_MAX], class[32];
  int err;

  if (!dev_can_probe (d))
    return -ENODEV;
  err = kmock_fail (d->host, "probe", driver, EIO);
  if (err)
    return -err;
  if (is_vfio_driver (driver))
    {
      /* vfio_pci_probe(): only normal-header devices, and only with an
       * IOMMU group (no noiommu mode in the mock). */
      if (dev_attr (d, "class", class, sizeof class)
          && (strtoul (class, NULL, 16) >> 8) == 0x0604)
        return -EINVAL;
      if (dev_group (d) < 0)
        return -EINVAL;
    }
  if (!host_path (d->host, drvdir, sizeof drvdir, "sys/bus/pci/drivers/%s", driver)
      || !path_fmt (link, sizeof link, "%s/driver", d->path)
      || !symlink_rel (drvdir, link)
      || !path_fmt (link, sizeof link, "%s/%s", drvdir, d->bdf)
      || !symlink_rel (d->path, link))
    return -ENOMEM;
  dev_set_attr (d, "enable", "1\n");
  vfio_group_sync (d->host, dev_group (d));
  return 0;
}

/* device_attach() on an unbound device: the override's driver, else the
 * default driver, else a driver with a matching dynamic id. */
static void
dev_attach (const Dev *d)
{
  char drv[SYSFS_PAGE_SIZE];
  bool have;

  have = dev_override (d, drv, sizeof drv) ? driver_registered (d->host, drv)
         : (dev_default_driver (d, drv, sizeof drv)
            && driver_registered (d->host, drv));
  if (!have && !dev_override (d, drv, sizeof drv))
    {
      char dir[PATH_MAX];
      struct dirent *e;
      PciId id;
      DIR *dd;

      dev_id (d, &id);
      if (host_path (d->host, dir, sizeof dir, ".kmock/dynids")
          && (dd = opendir (dir)))
        {
          while (!have && (e = readdir (dd)))
            if (e->d_name[0] != '.' && driver_registered (d->host, e->d_name)
                && dynid_matches (d->host, e->d_name, &id))
              have = path_fmt (drv, sizeof drv, "%s", e->d_name);
          closedir (dd);
        }
    }
  if (have && dev_probe_with (d, drv) == 0)
    host_log (d->host, "probe %s -> %s", d->bdf, drv);
  else
    host_log (d->host, "probe %s -> none", d->bdf);
}

typedef void (*DevFunc) (const Dev *d, void *data);

static void
for_each_device (const Host *h, DevFunc func, void *data)
{
  char dir[PATH_MAX];
  struct dirent **names = NULL;
  int n;

  if (!host_path (h, dir, sizeof dir, "sys/bus/pci/devices"))
    return;
  n = scandir (dir, &names, NULL, alphasort);
  for (int i = 0; i < n; i++)
    {
      Dev d;

      if (names[i]->d_name[0] != '.' && dev_lookup (h, names[i]->d_name, &d))
        func (&d, data);
      free (names[i]);
    }
  free (names);
}

/* driver_attach(): a newly registered driver (or a new dynamic id) probes
 * every unbound device it matches. */
static void
attach_one (const Dev *d, void *data)
{
  const char *driver = data;
  char cur[256];

  if (dev_driver (d, cur, sizeof cur) || !driver_matches (d, driver))
    return;
  if (dev_probe_with (d, driver) == 0)
    host_log (d->host, "probe %s -> %s", d->bdf, driver);
  else
    host_log (d->host, "probe %s -> none", d->bdf);
}

/* ------------------------------------------------------------------------ */
/* IOMMU groups                                                              */

/* iommu_group_alloc() takes the lowest free id (ida_alloc()). */
static int
group_alloc (const Host *h, unsigned char **used, size_t *nused)
{
  char path[PATH_MAX];
  size_t g;

  if (!*used)
    {
      char dir[PATH_MAX];
      struct dirent *e;
      DIR *dd;

      *nused = 1024;
      *used = calloc (*nused, 1);
      if (!*used || !host_path (h, dir, sizeof dir, "sys/kernel/iommu_groups"))
        return -1;
      dd = opendir (dir);
      while (dd && (e = readdir (dd)))
        {
          char *end;
          unsigned long v = strtoul (e->d_name, &end, 10);

          if (*end || end == e->d_name)
            continue;
          while (v >= *nused)
            {
              unsigned char *n = realloc (*used, *nused * 2);

              if (!n)
                {
                  closedir (dd);
                  return -1;
                }
              memset (n + *nused, 0, *nused);
              *used = n;
              *nused *= 2;
            }
          (*used)[v] = 1;
        }
      if (dd)
        closedir (dd);
    }
  for (g = 0; g < *nused && (*used)[g]; g++)
    ;
  if (g == *nused)
    {
      unsigned char *n = realloc (*used, *nused * 2);

      if (!n)
        return -1;
      memset (n + *nused, 0, *nused);
      *used = n;
      *nused *= 2;
    }
  (*used)[g] = 1;
  if (!host_path (h, path, sizeof path, "sys/kernel/iommu_groups/%zu/devices", g))
    return -1;
  host_path (h, path, sizeof path, "sys/kernel/iommu_groups/%zu", g);
  mkdir (path, 0755);
  host_path (h, path, sizeof path, "sys/kernel/iommu_groups/%zu/devices", g);
  mkdir (path, 0755);
  host_path (h, path, sizeof path, "sys/kernel/iommu_groups/%zu/type", g);
  write_text (path, "DMA-FQ\n");
  return (int) g;
}

static bool
group_join (const Dev *d, int group)
{
  char gdir[PATH_MAX], link[PATH_MAX];

  return host_path (d->host, gdir, sizeof gdir, "sys/kernel/iommu_groups/%d", group)
         && path_fmt (link, sizeof link, "%s/iommu_group", d->path)
         && symlink_rel (gdir, link)
         && path_fmt (link, sizeof link, "%s/devices/%s", gdir, d->bdf)
         && symlink_rel (d->path, link);
}

/* iommu_group_remove_device(); the group goes with its last device. */
static void
group_leave (const Dev *d, bool keep_link)
{
  char gdir[PATH_MAX], path[PATH_MAX];
  int g = dev_group (d);

  if (g < 0
      || !host_path (d->host, gdir, sizeof gdir, "sys/kernel/iommu_groups/%d", g))
    return;
  if (path_fmt (path, sizeof path, "%s/devices/%s", gdir, d->bdf))
    unlink (path);
  if (!keep_link && path_fmt (path, sizeof path, "%s/iommu_group", d->path))
    unlink (path);
  if (path_fmt (path, sizeof path, "%s/devices", gdir) && rmdir (path) == 0)
    {
      if (path_fmt (path, sizeof path, "%s/type", gdir))
        unlink (path);
      rmdir (gdir);
    }
  if (host_path (d->host, path, sizeof path, "dev/vfio/%d", g))
    vfio_group_sync (d->host, g);
}

/* ------------------------------------------------------------------------ */
/* SR-IOV                                                                    */

static void
dev_unregister (const Dev *d, bool keep_group_link)
{
  char path[PATH_MAX];

  dev_detach (d);
  group_leave (d, keep_group_link);
  if (host_path (d->host, path, sizeof path, "sys/bus/pci/devices/%s", d->bdf))
    unlink (path);
}

/* sriov_disable(): the VFs go, last first. */
static void
sriov_disable (const Dev *pf)
{
  unsigned long n = dev_ulong (pf, "sriov_numvfs", 10, 0);

  for (unsigned long i = n; i-- > 0;)
    {
      char link[PATH_MAX];
      Dev vf;

      if (!path_fmt (link, sizeof link, "%s/virtfn%lu", pf->path, i))
        continue;
      if (realpath (link, vf.path) && is_dir (vf.path))
        {
          vf.host = pf->host;
          path_fmt (vf.bdf, sizeof vf.bdf, "%s", base_name (vf.path));
          dev_unregister (&vf, false);
          remove_tree (vf.path);
        }
      unlink (link);
    }
  dev_set_attr (pf, "sriov_numvfs", "0\n");
}

static int
sriov_enable (const Dev *pf, unsigned n)
{
  unsigned dom, bus, slot, fn, rid, offset, stride, vendor, vfdev, svid, sdid;
  char parent[PATH_MAX], cls[32], rev[32], numa[32], vfdev_s[32];
  unsigned char *used = NULL;
  size_t nused = 0;
  bool autoprobe;
  int err = 0;

  if (!parse_bdf (pf->bdf, &dom, &bus, &slot, &fn)
      || !dev_attr (pf, "sriov_vf_device", vfdev_s, sizeof vfdev_s))
    return -EINVAL;
  vfdev = strtoul (vfdev_s, NULL, 16);
  rid = (bus << 8) | (slot << 3) | fn;
  offset = dev_ulong (pf, "sriov_offset", 10, 1);
  stride = dev_ulong (pf, "sriov_stride", 10, 1);
  vendor = dev_ulong (pf, "vendor", 16, 0xffff);
  svid = dev_ulong (pf, "subsystem_vendor", 16, vendor);
  sdid = dev_ulong (pf, "subsystem_device", 16, 0);
  if (!dev_attr (pf, "class", cls, sizeof cls))
    strcpy (cls, "0x000000");
  if (!dev_attr (pf, "revision", rev, sizeof rev))
    strcpy (rev, "0x00");
  if (!dev_attr (pf, "numa_node", numa, sizeof numa))
    strcpy (numa, "-1");
  autoprobe = dev_ulong (pf, "sriov_drivers_autoprobe", 10, 1) != 0;
  /* sriov_enable(): the VFs' bus numbers must exist (-ENOMEM, "can't
   * enable %d VFs (bus %02x out of range ...)"). */
  if (n && ((rid + offset + (n - 1) * stride) >> 8) > 0xff)
    return -ENOMEM;
  path_fmt (parent, sizeof parent, "%s", pf->path);
  *strrchr (parent, '/') = '\0';

  for (unsigned i = 0; i < n && !err; i++)
    {
      unsigned vrid = rid + offset + i * stride;
      char link[PATH_MAX], modalias[80];
      unsigned long c = strtoul (cls, NULL, 16);
      int g;
      Dev vf;

      vf.host = pf->host;
      path_fmt (vf.bdf, sizeof vf.bdf, "%04x:%02x:%02x.%x", dom, vrid >> 8,
                (vrid >> 3) & 0x1f, vrid & 7);
      if (!path_fmt (vf.path, sizeof vf.path, "%s/%s", parent, vf.bdf)
          || !host_path (pf->host, link, sizeof link, "sys/bus/pci/devices/%s",
                         vf.bdf))
        {
          err = -ENOMEM;
          break;
        }
      if (exists (link) || mkdir (vf.path, 0755) != 0)
        {
          err = -EEXIST;
          break;
        }
      path_fmt (modalias, sizeof modalias,
                "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02lXsc%02lXi%02lX\n", vendor,
                vfdev, svid, sdid, c >> 16, (c >> 8) & 0xff, c & 0xff);
      {
        char v[32];
        struct { const char *attr; unsigned val; } ids[] = {
          { "vendor", vendor },
          { "device", vfdev },
          { "subsystem_vendor", svid },
          { "subsystem_device", sdid },
        };
        for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++)
          {
            path_fmt (v, sizeof v, "0x%04x\n", ids[k].val);
            dev_set_attr (&vf, ids[k].attr, v);
          }
        path_fmt (v, sizeof v, "%s\n", cls);
        dev_set_attr (&vf, "class", v);
        path_fmt (v, sizeof v, "%s\n", rev);
        dev_set_attr (&vf, "revision", v);
        path_fmt (v, sizeof v, "%s\n", numa);
        dev_set_attr (&vf, "numa_node", v);
      }
      dev_set_attr (&vf, "modalias", modalias);
      dev_set_attr (&vf, "driver_override", "(null)\n");
      dev_set_attr (&vf, "enable", "0\n");
      if (!path_fmt (link, sizeof link, "%s/physfn", vf.path)
          || !symlink_rel (pf->path, link)
          || !path_fmt (link, sizeof link, "%s/virtfn%u", pf->path, i)
          || !symlink_rel (vf.path, link)
          || !host_path (pf->host, link, sizeof link, "sys/bus/pci/devices/%s",
                         vf.bdf)
          || !symlink_rel (vf.path, link))
        err = -ENOMEM;
      g = group_alloc (pf->host, &used, &nused);
      if (g < 0 || !group_join (&vf, g))
        err = -ENOMEM;
    }
  free (used);
  if (err)
    {
      /* Undo like sriov_enable()'s error path: no VF survives. */
      {
        char buf[16];

        path_fmt (buf, sizeof buf, "%u\n", n);
        dev_set_attr (pf, "sriov_numvfs", buf);
      }
      sriov_disable (pf);
      return err;
    }
  {
    char buf[16];

    path_fmt (buf, sizeof buf, "%u\n", n);
    dev_set_attr (pf, "sriov_numvfs", buf);
  }
  host_log (pf->host, "numvfs %s %u", pf->bdf, n);
  /* pci_bus_add_device() -> device_attach() for each VF; with autoprobe off
   * every probe fails in pci_device_can_probe(), nothing to log. */
  if (autoprobe)
    for (unsigned i = 0; i < n; i++)
      {
        char link[PATH_MAX];
        Dev vf;

        if (path_fmt (link, sizeof link, "%s/virtfn%u", pf->path, i)
            && realpath (link, vf.path))
          {
            vf.host = pf->host;
            path_fmt (vf.bdf, sizeof vf.bdf, "%s", base_name (vf.path));
            dev_attach (&vf);
          }
      }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* remove / rescan                                                           */

/* Unregister D and every device below it (children first); VFs of PFs in
 * the subtree go for good, as SR-IOV is disabled by the PF driver's
 * remove(). */
static void
remove_subtree (const Dev *d)
{
  struct dirent *e;
  DIR *dd;

  if (dev_ulong (d, "sriov_numvfs", 10, 0) > 0)
    sriov_disable (d);
  dd = opendir (d->path);
  while (dd && (e = readdir (dd)))
    {
      unsigned a, b, c, f;
      Dev child;

      if (!parse_bdf (e->d_name, &a, &b, &c, &f)
          || !path_fmt (child.path, sizeof child.path, "%s/%s", d->path, e->d_name))
        continue;
      child.host = d->host;
      strcpy (child.bdf, e->d_name);
      remove_subtree (&child);
    }
  if (dd)
    closedir (dd);
  /* Keep the iommu_group link in the saved tree: rescan reuses the number
   * when it is still free. */
  dev_unregister (d, true);
  host_log (d->host, "remove %s", d->bdf);
}

static int
dev_remove (const Dev *d)
{
  char saved[PATH_MAX], path[PATH_MAX], rel[PATH_MAX];
  Dev pf;

  if (dev_physfn (d, &pf))
    {
      /* A removed VF is gone until SR-IOV is re-enabled; its virtfn link
       * goes with it (pci_iov_remove_virtfn()). */
      unsigned long n = dev_ulong (&pf, "sriov_numvfs", 10, 0);

      dev_unregister (d, false);
      for (unsigned long i = 0; i < n; i++)
        {
          char link[PATH_MAX], target[PATH_MAX];

          if (path_fmt (link, sizeof link, "%s/virtfn%lu", pf.path, i)
              && realpath (link, target) && !strcmp (target, d->path))
            unlink (link);
        }
      remove_tree (d->path);
      host_log (d->host, "remove %s", d->bdf);
      return 0;
    }
  if (!host_path (d->host, saved, sizeof saved, ".kmock/removed/%s", d->bdf))
    return -ENOMEM;
  remove_tree (saved);
  if (mkdir (saved, 0755) != 0)
    return -EIO;
  remove_subtree (d);
  /* Where to put it back: the parent directory relative to ROOT. */
  path_fmt (rel, sizeof rel, "%s", d->path + strlen (d->host->root) + 1);
  *strrchr (rel, '/') = '\0';
  if (!path_fmt (path, sizeof path, "%s/parent", saved)
      || !write_fmt (path, "%s\n", rel)
      || !path_fmt (path, sizeof path, "%s/dev", saved)
      || rename (d->path, path) != 0)
    return -EIO;
  return 0;
}

/* Register DIR (a device directory back in the tree) and its children as
 * pci_scan_device() + pci_bus_add_device() would: new pci_dev, so no
 * override, SR-IOV off, autoprobe on. */
static void
readd_subtree (const Host *h, const char *dir, unsigned char **used,
               size_t *nused, char *readded, size_t readded_size)
{
  char link[PATH_MAX], gdir[PATH_MAX];
  struct dirent *e;
  int g;
  Dev d;
  DIR *dd;

  d.host = h;
  path_fmt (d.path, sizeof d.path, "%s", dir);
  path_fmt (d.bdf, sizeof d.bdf, "%s", base_name (dir));
  dev_set_attr (&d, "driver_override", "(null)\n");
  if (path_fmt (link, sizeof link, "%s/sriov_numvfs", d.path) && exists (link))
    {
      dev_set_attr (&d, "sriov_numvfs", "0\n");
      dev_set_attr (&d, "sriov_drivers_autoprobe", "1\n");
    }
  if (host_path (h, link, sizeof link, "sys/bus/pci/devices/%s", d.bdf))
    symlink_rel (d.path, link);
  g = dev_group (&d);
  if (g >= 0 && host_path (h, gdir, sizeof gdir, "sys/kernel/iommu_groups/%d", g)
      && !exists (gdir))
    {
      mkdir (gdir, 0755);
      path_fmt (link, sizeof link, "%s/devices", gdir);
      mkdir (link, 0755);
      path_fmt (link, sizeof link, "%s/type", gdir);
      write_text (link, "DMA-FQ\n");
      free (*used);
      *used = NULL;
    }
  else if (g >= 0 || (path_fmt (link, sizeof link, "%s/iommu_group", d.path)
                      && exists (link)))
    g = group_alloc (h, used, nused);
  if (g >= 0)
    group_join (&d, g);
  host_log (h, "rescan %s", d.bdf);
  if (strlen (readded) + strlen (d.bdf) + 2 < readded_size)
    {
      strcat (readded, d.bdf);
      strcat (readded, " ");
    }

  dd = opendir (dir);
  while (dd && (e = readdir (dd)))
    {
      unsigned a, b, c, f;
      char sub[PATH_MAX];

      if (parse_bdf (e->d_name, &a, &b, &c, &f)
          && path_fmt (sub, sizeof sub, "%s/%s", dir, e->d_name))
        readd_subtree (h, sub, used, nused, readded, readded_size);
    }
  if (dd)
    closedir (dd);
}

static void
attach_if_unbound (const Dev *d, void *data)
{
  char drv[256];
  const char *readded = data;

  char key[32];

  /* Only the devices this rescan brought back; the others had their
   * chance when they appeared. */
  path_fmt (key, sizeof key, "%s ", d->bdf);
  if (!strstr (readded, key) || dev_driver (d, drv, sizeof drv))
    return;
  dev_attach (d);
}

static int
bus_rescan (const Host *h)
{
  char dir[PATH_MAX], readded[SYSFS_PAGE_SIZE * 4] = "";
  unsigned char *used = NULL;
  size_t nused = 0;
  bool progress = true;

  if (!host_path (h, dir, sizeof dir, ".kmock/removed"))
    return -ENOMEM;
  /* A device whose parent is itself still removed waits for it. */
  while (progress)
    {
      struct dirent **names = NULL;
      int n = scandir (dir, &names, NULL, alphasort);

      progress = false;
      for (int i = 0; i < n; i++)
        {
          char path[PATH_MAX], parent[PATH_MAX], dest[PATH_MAX], abs[PATH_MAX];
          const char *bdf = names[i]->d_name;

          if (bdf[0] != '.'
              && path_fmt (path, sizeof path, "%s/%s/parent", dir, bdf)
              && read_line (path, parent, sizeof parent)
              && host_path (h, abs, sizeof abs, "%s", parent) && is_dir (abs)
              && path_fmt (dest, sizeof dest, "%s/%s", abs, bdf)
              && !exists (dest)
              && path_fmt (path, sizeof path, "%s/%s/dev", dir, bdf)
              && rename (path, dest) == 0)
            {
              path_fmt (path, sizeof path, "%s/%s", dir, bdf);
              remove_tree (path);
              readd_subtree (h, dest, &used, &nused, readded, sizeof readded);
              progress = true;
            }
          free (names[i]);
        }
      free (names);
    }
  free (used);
  /* pci_bus_add_devices(): every device that came back is probed. */
  for_each_device (h, attach_if_unbound, readded);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Mediated devices (drivers/vfio/mdev)                                      */

/* create_store(): 36 or 37 bytes, of which guid_parse() reads the first 36
 * (8-4-4-4-12 hex digits and dashes); the device is named "%pUl", lower
 * case. */
static bool
mdev_uuid_parse (const char *buf, size_t count, char out[37])
{
  if (count < 36 || count > 37)
    return false;
  for (int i = 0; i < 36; i++)
    {
      bool dash = i == 8 || i == 13 || i == 18 || i == 23;

      if (dash ? buf[i] != '-' : !isxdigit ((unsigned char) buf[i]))
        return false;
      out[i] = (char) tolower ((unsigned char) buf[i]);
    }
  out[36] = '\0';
  return true;
}

static bool
mdev_uuid_is_name (const char *name)
{
  char tmp[37];

  return strlen (name) == 36 && mdev_uuid_parse (name, 36, tmp) && !strcmp (tmp, name);
}

static bool
adjust_ulong (const char *path, long delta)
{
  unsigned long v;

  return read_ulong (path, 10, &v) && write_fmt (path, "%lu\n", (unsigned long) ((long) v + delta));
}

/* mdev_device_create() and the parent driver's probe: a new device under
 * the parent, linked from the type (devices/UUID, and its mdev_type link
 * back), from the bus (/sys/bus/mdev/devices/UUID) and from the parent's mdev
 * driver; vfio gives it an emulated IOMMU group of its own. TYPE is the type
 * directory relative to ROOT/sys. */
static int
store_mdev_create (const Host *h, const char *type, const char *buf, size_t count)
{
  char tdir[PATH_MAX], pdir[PATH_MAX], idir[PATH_MAX], link[PATH_MAX],
       path[PATH_MAX], ddir[PATH_MAX], gdir[PATH_MAX], drv[128], uuid[37];
  const char *parent;
  unsigned char *used = NULL;
  size_t nused = 0;
  unsigned long avail;
  int err, g;

  if (!host_path (h, tdir, sizeof tdir, "sys/%s", type) || !is_dir (tdir)
      || !path_fmt (pdir, sizeof pdir, "%s", tdir))
    return -ENODEV;
  *strrchr (pdir, '/') = '\0'; /* .../mdev_supported_types */
  *strrchr (pdir, '/') = '\0'; /* the parent device */
  parent = base_name (pdir);
  err = kmock_fail (h, "mdev-create", parent, EIO);
  if (err)
    return -err;
  if (!mdev_uuid_parse (buf, count, uuid))
    return -EINVAL;
  if (!host_path (h, link, sizeof link, "sys/bus/mdev/devices/%s", uuid))
    return -ENOMEM;
  if (exists (link))
    return -EEXIST; /* the UUID is taken, on any parent */
  /* mtty's init_dev() refuses with ENOSPC when its ports are gone (the
   * core's own count, for drivers without get_available, says EUSERS) */
  if (path_fmt (path, sizeof path, "%s/available_instances", tdir)
      && read_ulong (path, 10, &avail) && avail == 0)
    return -ENOSPC;
  if (!path_fmt (idir, sizeof idir, "%s/%s", pdir, uuid) || mkdir (idir, 0755) != 0)
    return -EEXIST;
  path_fmt (path, sizeof path, "%s/remove", idir);
  write_text (path, "");
  path_fmt (path, sizeof path, "%s/uevent", idir);
  write_fmt (path, "MDEV_TYPE=%s\n", base_name (tdir));
  path_fmt (path, sizeof path, "%s/mdev_type", idir);
  symlink_rel (tdir, path);
  path_fmt (path, sizeof path, "%s/devices", tdir);
  mkdir (path, 0755);
  path_fmt (path, sizeof path, "%s/devices/%s", tdir, uuid);
  symlink_rel (idir, path);
  host_path (h, path, sizeof path, "sys/bus/mdev");
  mkdir (path, 0755);
  host_path (h, path, sizeof path, "sys/bus/mdev/devices");
  mkdir (path, 0755);
  symlink_rel (idir, link);
  /* the parent's mdev driver binds it: .kmock/mdev_driver/PARENT */
  if (!kmock_read (h, "mdev_driver", parent, drv, sizeof drv) || !*drv || strchr (drv, '/'))
    path_fmt (drv, sizeof drv, "vfio_mdev");
  if (host_path (h, path, sizeof path, "sys/bus/mdev/drivers"))
    mkdir (path, 0755);
  if (host_path (h, ddir, sizeof ddir, "sys/bus/mdev/drivers/%s", drv))
    {
      mkdir (ddir, 0755);
      path_fmt (path, sizeof path, "%s/driver", idir);
      symlink_rel (ddir, path);
      path_fmt (path, sizeof path, "%s/%s", ddir, uuid);
      symlink_rel (idir, path);
    }
  g = group_alloc (h, &used, &nused);
  free (used);
  if (g >= 0 && host_path (h, gdir, sizeof gdir, "sys/kernel/iommu_groups/%d", g))
    {
      path_fmt (path, sizeof path, "%s/iommu_group", idir);
      symlink_rel (gdir, path);
      path_fmt (path, sizeof path, "%s/devices/%s", gdir, uuid);
      symlink_rel (idir, path);
      if (host_path (h, path, sizeof path, "dev/vfio/%d", g))
        write_text (path, "");
    }
  path_fmt (path, sizeof path, "%s/available_instances", tdir);
  adjust_ulong (path, -1);
  host_log (h, "mdev create %s %s %s", parent, base_name (tdir), uuid);
  return 0;
}

/* remove_store(): kstrtoul, non-zero removes the device and everything
 * that pointed at it; the type gets its instance back. */
static int
store_mdev_remove (const Host *h, const char *uuid, const char *buf)
{
  char link[PATH_MAX], idir[PATH_MAX], tdir[PATH_MAX], path[PATH_MAX], name[128];
  unsigned long long v;
  bool have_type;
  int err;

  if (kstrtoull0 (buf, &v) < 0)
    return -EINVAL;
  if (!v)
    return 0;
  if (!host_path (h, link, sizeof link, "sys/bus/mdev/devices/%s", uuid)
      || !realpath (link, idir) || !is_dir (idir))
    return -ENODEV;
  err = kmock_fail (h, "mdev-remove", uuid, EIO);
  if (err)
    return -err;
  have_type = path_fmt (path, sizeof path, "%s/mdev_type", idir) && realpath (path, tdir);
  if (path_fmt (path, sizeof path, "%s/iommu_group", idir) && link_base (path, name, sizeof name))
    {
      char gdir[PATH_MAX];

      if (host_path (h, gdir, sizeof gdir, "sys/kernel/iommu_groups/%s", name))
        {
          path_fmt (path, sizeof path, "%s/devices/%s", gdir, uuid);
          unlink (path);
          path_fmt (path, sizeof path, "%s/devices", gdir);
          if (rmdir (path) == 0)
            {
              path_fmt (path, sizeof path, "%s/type", gdir);
              unlink (path);
              rmdir (gdir);
            }
        }
      if (host_path (h, path, sizeof path, "dev/vfio/%s", name))
        unlink (path);
    }
  if (path_fmt (path, sizeof path, "%s/driver", idir) && link_base (path, name, sizeof name)
      && host_path (h, path, sizeof path, "sys/bus/mdev/drivers/%s/%s", name, uuid))
    unlink (path);
  if (have_type)
    {
      path_fmt (path, sizeof path, "%s/devices/%s", tdir, uuid);
      unlink (path);
      path_fmt (path, sizeof path, "%s/available_instances", tdir);
      adjust_ulong (path, 1);
    }
  unlink (link);
  remove_tree (idir);
  host_log (h, "mdev remove %s", uuid);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Attribute stores                                                          */

typedef enum
{
  CTL_DRIVER_OVERRIDE,
  CTL_SRIOV_NUMVFS,
  CTL_SRIOV_AUTOPROBE,
  CTL_REMOVE,
  CTL_BIND,
  CTL_UNBIND,
  CTL_NEW_ID,
  CTL_REMOVE_ID,
  CTL_DRIVERS_PROBE,
  CTL_RESCAN,
  CTL_BUS_AUTOPROBE,
  CTL_MDEV_CREATE,
  CTL_MDEV_REMOVE,
} CtlKind;

typedef struct
{
  Host host;
  CtlKind kind;
  char name[512]; /* device BDF, driver name, mdev UUID or type directory */
  dev_t st_dev;   /* the attribute file, to detect a reused fd */
  ino_t st_ino;
  /* The file's content when this library last looked, to undo writes that
   * went around it (see fd_flush_bypass()). */
  size_t saved_len;
  char saved[SYSFS_PAGE_SIZE];
} Ctl;

static const struct
{
  const char *file;
  CtlKind kind;
  enum { AT_DEVICE, AT_DRIVER, AT_BUS, AT_MDEV_TYPE } where;
} ctl_files[] = {
  { "driver_override", CTL_DRIVER_OVERRIDE, AT_DEVICE },
  { "sriov_numvfs", CTL_SRIOV_NUMVFS, AT_DEVICE },
  { "sriov_drivers_autoprobe", CTL_SRIOV_AUTOPROBE, AT_DEVICE },
  { "remove", CTL_REMOVE, AT_DEVICE },
  { "bind", CTL_BIND, AT_DRIVER },
  { "unbind", CTL_UNBIND, AT_DRIVER },
  { "new_id", CTL_NEW_ID, AT_DRIVER },
  { "remove_id", CTL_REMOVE_ID, AT_DRIVER },
  { "drivers_probe", CTL_DRIVERS_PROBE, AT_BUS },
  { "rescan", CTL_RESCAN, AT_BUS },
  { "drivers_autoprobe", CTL_BUS_AUTOPROBE, AT_BUS },
  { "create", CTL_MDEV_CREATE, AT_MDEV_TYPE },
};

static int
ctl_file_index (const char *base)
{
  for (size_t i = 0; i < sizeof ctl_files / sizeof ctl_files[0]; i++)
    if (!strcmp (base, ctl_files[i].file))
      return (int) i;
  return -1;
}

/* Find the synthetic host whose ROOT/sys contains canonical path DIR. */
static bool
find_host (const char *dir, Host *h, const char **rel)
{
  const char *env = getenv ("VFMIG_SYSROOT");
  size_t len;

  if (env && host_init (h, env))
    {
      len = strlen (h->root);
      if (!strncmp (dir, h->root, len) && !strncmp (dir + len, "/sys/", 5))
        {
          *rel = dir + len + 5;
          return true;
        }
    }
  for (const char *p = strstr (dir, "/sys/"); p; p = strstr (p + 1, "/sys/"))
    {
      char root[PATH_MAX];

      if (p == dir || (size_t) (p - dir) >= sizeof root)
        continue;
      memcpy (root, dir, p - dir);
      root[p - dir] = '\0';
      if (host_init (h, root) && !strcmp (h->root, root))
        {
          *rel = p + 5;
          return true;
        }
    }
  return false;
}

/* Is PATH (absolute) an attribute the mock implements?  Fills CTL. */
static bool
ctl_classify (const char *path, Ctl *ctl)
{
  char dir[PATH_MAX], canon[PATH_MAX];
  const char *base = base_name (path), *rel;
  unsigned a, b, c, f;
  int idx;

  idx = ctl_file_index (base);
  if (idx < 0 || base == path || (size_t) (base - path) >= sizeof dir)
    return false;
  memcpy (dir, path, base - path - 1);
  dir[base - path - 1] = '\0';
  if (!realpath (*dir ? dir : "/", canon) || !find_host (canon, &ctl->host, &rel))
    return false;
  ctl->kind = ctl_files[idx].kind;
  switch (ctl_files[idx].where)
    {
    case AT_BUS:
      return !strcmp (rel, "bus/pci") && path_fmt (ctl->name, sizeof ctl->name, "pci");
    case AT_DRIVER:
      return !strncmp (rel, "bus/pci/drivers/", 16) && rel[16]
             && !strchr (rel + 16, '/')
             && path_fmt (ctl->name, sizeof ctl->name, "%s", rel + 16);
    case AT_DEVICE:
      if (strncmp (rel, "devices/", 8))
        return false;
      /* an mdev's remove: the device directory is named by its UUID */
      if (ctl->kind == CTL_REMOVE && mdev_uuid_is_name (base_name (rel)))
        {
          ctl->kind = CTL_MDEV_REMOVE;
          return path_fmt (ctl->name, sizeof ctl->name, "%s", base_name (rel));
        }
      return parse_bdf (base_name (rel), &a, &b, &c, &f)
             && path_fmt (ctl->name, sizeof ctl->name, "%s", base_name (rel));
    case AT_MDEV_TYPE:
      {
        /* devices/.../PARENT/mdev_supported_types/TYPE */
        const char *slash = strrchr (rel, '/');
        static const char types[] = "/mdev_supported_types";

        return !strncmp (rel, "devices/", 8) && slash && slash[1]
               && (size_t) (slash - rel) > sizeof types - 1
               && !strncmp (slash - (sizeof types - 1), types, sizeof types - 1)
               && path_fmt (ctl->name, sizeof ctl->name, "%s", rel);
      }
    default:
      return false;
    }
}

static int
store_driver_override (const Dev *d, const char *buf, size_t count)
{
  char value[SYSFS_PAGE_SIZE + 2];
  const char *nl;
  size_t len;
  int err;

  err = kmock_fail (d->host, "override", d->bdf, EIO);
  if (err)
    return -err;
  /* driver_set_override(): one character less than a page; the string
   * stops at a NUL (as Python may send) and at the first newline; an empty
   * value or a lone newline clears the override. */
  if (count >= SYSFS_PAGE_SIZE - 1)
    return -EINVAL;
  len = strlen (buf);
  nl = memchr (buf, '\n', len);
  if (nl)
    len = nl - buf;
  if (len == 0)
    {
      dev_set_attr (d, "driver_override", "(null)\n");
      host_log (d->host, "override %s (null)", d->bdf);
      return 0;
    }
  memcpy (value, buf, len);
  value[len] = '\n';
  value[len + 1] = '\0';
  dev_set_attr (d, "driver_override", value);
  value[len] = '\0';
  host_log (d->host, "override %s %s", d->bdf, value);
  return 0;
}

static int
store_sriov_numvfs (const Dev *pf, const char *buf)
{
  unsigned long long n;
  unsigned long cur, total;
  char drv[256];

  /* sriov_numvfs_store() */
  if (kstrtoull0 (buf, &n) < 0 || n > 0xffff)
    return -EINVAL;
  total = dev_ulong (pf, "sriov_totalvfs", 10, 0);
  if (n > total)
    return -ERANGE;
  cur = dev_ulong (pf, "sriov_numvfs", 10, 0);
  if (n == cur)
    return 0;
  if (!dev_driver (pf, drv, sizeof drv))
    return -ENOENT; /* "no driver bound to device; cannot configure SR-IOV" */
  if (n == 0)
    {
      sriov_disable (pf);
      host_log (pf->host, "numvfs %s 0", pf->bdf);
      return 0;
    }
  if (cur)
    return -EBUSY; /* "%d VFs already enabled. Disable before enabling %d VFs" */
  return sriov_enable (pf, (unsigned) n);
}

static int
store_device (const Ctl *ctl, const char *buf, size_t count)
{
  unsigned long long v;
  bool on;
  Dev d;

  if (!dev_lookup (&ctl->host, ctl->name, &d))
    return -ENODEV; /* removed while the file was open */
  switch (ctl->kind)
    {
    case CTL_DRIVER_OVERRIDE:
      return store_driver_override (&d, buf, count);
    case CTL_SRIOV_NUMVFS:
      return store_sriov_numvfs (&d, buf);
    case CTL_SRIOV_AUTOPROBE:
      if (kstrtobool (buf, &on) < 0)
        return -EINVAL;
      dev_set_attr (&d, "sriov_drivers_autoprobe", on ? "1\n" : "0\n");
      host_log (d.host, "autoprobe %s %d", d.bdf, on);
      return 0;
    case CTL_REMOVE:
      if (kstrtoull0 (buf, &v) < 0)
        return -EINVAL;
      return v ? dev_remove (&d) : 0;
    default:
      return -EINVAL;
    }
}

/* new_id_store() / remove_id_store() */
static int
store_dynid (const Host *h, const char *driver, const char *buf, bool add)
{
  PciId id = { 0, 0, PCI_ANY_ID, PCI_ANY_ID, 0, 0 };
  char path[PATH_MAX], tmp[PATH_MAX], line[256];
  unsigned long driver_data = 0;
  bool removed = false;
  FILE *in, *out;
  int fields;

  fields = sscanf (buf, "%x %x %x %x %x %x %lx", &id.vendor, &id.device,
                   &id.subvendor, &id.subdevice, &id.class, &id.class_mask,
                   &driver_data);
  if (fields < 2 || (!add && fields > 6))
    fields = fields < 2 ? fields : 6;
  if (fields < 2)
    return -EINVAL;
  if (!dynids_path (h, driver, path, sizeof path))
    return -ENOMEM;
  if (add)
    {
      PciId dev = id;

      /* Only driver_data of an existing id_table entry is accepted; the
       * mock's drivers have no id table with driver_data. */
      if (fields == 7 && driver_data != 0)
        return -EINVAL;
      if (fields != 7 && dynid_matches (h, driver, &dev))
        return -EEXIST;
      out = real_fopen (path, "ae");
      if (!out)
        return -ENOMEM;
      fprintf (out, "%x %x %x %x %x %x\n", id.vendor, id.device, id.subvendor,
               id.subdevice, id.class, id.class_mask);
      real_fclose (out);
      host_log (h, "new_id %s %04x %04x", driver, id.vendor, id.device);
      for_each_device (h, attach_one, (void *) driver);
      return 0;
    }
  if (!path_fmt (tmp, sizeof tmp, "%s.tmp", path))
    return -ENOMEM;
  in = real_fopen (path, "re");
  if (!in)
    return -ENODEV;
  out = real_fopen (tmp, "we");
  if (!out)
    {
      real_fclose (in);
      return -ENOMEM;
    }
  while (fgets (line, sizeof line, in))
    {
      PciId e;

      if (!removed
          && sscanf (line, "%x %x %x %x %x %x", &e.vendor, &e.device,
                     &e.subvendor, &e.subdevice, &e.class, &e.class_mask) == 6
          && e.vendor == id.vendor && e.device == id.device
          && (id.subvendor == PCI_ANY_ID || e.subvendor == id.subvendor)
          && (id.subdevice == PCI_ANY_ID || e.subdevice == id.subdevice)
          && !((e.class ^ id.class) & id.class_mask))
        removed = true;
      else
        fputs (line, out);
    }
  real_fclose (in);
  real_fclose (out);
  rename (tmp, path);
  if (!removed)
    return -ENODEV;
  host_log (h, "remove_id %s %04x %04x", driver, id.vendor, id.device);
  return 0;
}

static int
store_driver (const Ctl *ctl, const char *buf)
{
  const char *driver = ctl->name;
  char name[64], cur[256];
  int err;
  Dev d;

  switch (ctl->kind)
    {
    case CTL_BIND:
      /* bind_store(): -ENODEV unless the device exists and the driver
       * matches it; device_driver_attach(): -EBUSY when already bound, else
       * the probe's own error. */
      if (!sysfs_name (buf, name, sizeof name) || !dev_lookup (&ctl->host, name, &d)
          || !driver_matches (&d, driver))
        return -ENODEV;
      if (dev_driver (&d, cur, sizeof cur))
        return -EBUSY;
      err = dev_probe_with (&d, driver);
      if (err)
        return err;
      host_log (d.host, "bind %s %s", driver, d.bdf);
      return 0;
    case CTL_UNBIND:
      err = kmock_fail (&ctl->host, "unbind", driver, EIO);
      if (err)
        return -err;
      /* unbind_store(): -ENODEV unless bound to this very driver. */
      if (!sysfs_name (buf, name, sizeof name) || !dev_lookup (&ctl->host, name, &d)
          || !dev_driver (&d, cur, sizeof cur) || strcmp (cur, driver))
        return -ENODEV;
      dev_detach (&d);
      host_log (d.host, "unbind %s %s", driver, d.bdf);
      return 0;
    case CTL_NEW_ID:
    case CTL_REMOVE_ID:
      return store_dynid (&ctl->host, driver, buf, ctl->kind == CTL_NEW_ID);
    default:
      return -EINVAL;
    }
}

static int
store_bus (const Ctl *ctl, const char *buf)
{
  char name[64], cur[256], path[PATH_MAX];
  unsigned long long v;
  Dev d;

  switch (ctl->kind)
    {
    case CTL_DRIVERS_PROBE:
      /* drivers_probe_store(): -ENODEV for an unknown device; otherwise
       * success whether or not a driver bound (bus_rescan_devices_helper()
       * hides probe failures).  A bound device is left alone. */
      if (!sysfs_name (buf, name, sizeof name) || !dev_lookup (&ctl->host, name, &d))
        return -ENODEV;
      if (!dev_driver (&d, cur, sizeof cur))
        dev_attach (&d);
      return 0;
    case CTL_RESCAN:
      if (kstrtoull0 (buf, &v) < 0)
        return -EINVAL;
      return v ? bus_rescan (&ctl->host) : 0;
    case CTL_BUS_AUTOPROBE:
      /* drivers_autoprobe_store() looks at the first character only.  The
       * value is stored; the mock does not consult it (PCI adds devices with
       * device_attach(), see LAYOUT.md). */
      if (!host_path (&ctl->host, path, sizeof path, "sys/bus/pci/drivers_autoprobe"))
        return -ENOMEM;
      write_text (path, buf[0] == '0' ? "0\n" : "1\n");
      return 0;
    default:
      return -EINVAL;
    }
}

/* One sysfs write: the store() of the attribute.  Returns COUNT or -1 with
 * errno set, as write(2) would. */
static ssize_t
ctl_store (const Ctl *ctl, const void *data, size_t count)
{
  char buf[SYSFS_PAGE_SIZE + 1];
  char lock_path[PATH_MAX];
  int err, lock_fd = -1;

  if (count == 0)
    return 0; /* sysfs_kf_write() */
  if (count > SYSFS_PAGE_SIZE)
    {
      errno = E2BIG;
      return -1;
    }
  memcpy (buf, data, count);
  buf[count] = '\0';

  if (countdown_fires (&ctl->host, "kill_before"))
    raise (SIGKILL);
  pthread_mutex_lock (&op_lock);
  in_mock++;
  if (host_path (&ctl->host, lock_path, sizeof lock_path, ".kmock/lock"))
    lock_fd = real_open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd >= 0)
    flock (lock_fd, LOCK_EX);
  switch (ctl->kind)
    {
    case CTL_MDEV_CREATE:
      err = store_mdev_create (&ctl->host, ctl->name, buf, count);
      break;
    case CTL_MDEV_REMOVE:
      err = store_mdev_remove (&ctl->host, ctl->name, buf);
      break;
    case CTL_DRIVER_OVERRIDE:
    case CTL_SRIOV_NUMVFS:
    case CTL_SRIOV_AUTOPROBE:
    case CTL_REMOVE:
      err = store_device (ctl, buf, count);
      break;
    case CTL_BIND:
    case CTL_UNBIND:
    case CTL_NEW_ID:
    case CTL_REMOVE_ID:
      err = store_driver (ctl, buf);
      break;
    default:
      err = store_bus (ctl, buf);
      break;
    }
  if (lock_fd >= 0)
    real_close (lock_fd); /* drops the flock */
  in_mock--;
  pthread_mutex_unlock (&op_lock);

  if (err < 0)
    {
      errno = -err;
      return -1;
    }
  return (ssize_t) count;
}

/* ------------------------------------------------------------------------ */
/* File descriptor bookkeeping                                               */

enum { FD_UNKNOWN = 0, FD_PLAIN, FD_CTL };

static unsigned char fd_state[FD_TABLE_SIZE];
static Ctl *fd_ctl[FD_TABLE_SIZE];

static void
fd_track (int fd, int state, Ctl *ctl)
{
  Ctl *old;

  if (fd < 0 || fd >= FD_TABLE_SIZE)
    {
      free (ctl);
      return;
    }
  pthread_mutex_lock (&fd_lock);
  old = fd_ctl[fd];
  fd_ctl[fd] = ctl;
  __atomic_store_n (&fd_state[fd], state, __ATOMIC_RELEASE);
  pthread_mutex_unlock (&fd_lock);
  free (old);
}

static void
fd_forget (int fd)
{
  fd_track (fd, FD_UNKNOWN, NULL);
}

/* NEWFD now refers to what OLDFD does. */
static void
fd_copy (int oldfd, int newfd)
{
  Ctl *copy = NULL;

  if (oldfd < 0 || oldfd >= FD_TABLE_SIZE || newfd < 0 || oldfd == newfd)
    return;
  pthread_mutex_lock (&fd_lock);
  if (fd_ctl[oldfd] && (copy = malloc (sizeof *copy)))
    *copy = *fd_ctl[oldfd];
  pthread_mutex_unlock (&fd_lock);
  fd_track (newfd, copy ? FD_CTL : FD_UNKNOWN, copy);
}

static Ctl *
ctl_new (const char *path)
{
  Ctl *ctl = malloc (sizeof *ctl);

  if (ctl && ctl_classify (path, ctl))
    return ctl;
  free (ctl);
  return NULL;
}

/* pread() for an fd that may be write-only: through a second, read-only
 * open of the same file. */
static ssize_t
fd_read_at (int fd, void *buf, size_t size, off_t off)
{
  char proc[64];
  ssize_t n;
  int rfd;

  snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
  rfd = real_open (proc, O_RDONLY | O_CLOEXEC);
  if (rfd < 0)
    return -1;
  n = pread (rfd, buf, size, off);
  real_close (rfd);
  return n;
}

static void
ctl_note_file (Ctl *ctl, int fd)
{
  struct stat st;
  ssize_t n;

  if (fstat (fd, &st) == 0)
    {
      ctl->st_dev = st.st_dev;
      ctl->st_ino = st.st_ino;
    }
  n = fd_read_at (fd, ctl->saved, sizeof ctl->saved, 0);
  ctl->saved_len = n > 0 ? (size_t) n : 0;
}

/* Classify an fd first seen at write(2), from the kernel's own idea of its
 * path. */
static int
fd_classify (int fd)
{
  char proc[64], path[PATH_MAX];
  int flags;
  ssize_t n;
  Ctl *ctl;

  flags = real_fcntl (fd, F_GETFL);
  if (flags < 0)
    return FD_PLAIN; /* let write(2) report EBADF; nothing to cache */
  if ((flags & O_ACCMODE) == O_RDONLY)
    {
      fd_track (fd, FD_PLAIN, NULL);
      return FD_PLAIN;
    }
  snprintf (proc, sizeof proc, "/proc/self/fd/%d", fd);
  n = readlink (proc, path, sizeof path - 1);
  if (n <= 0 || path[0] != '/')
    {
      fd_track (fd, FD_PLAIN, NULL);
      return FD_PLAIN;
    }
  path[n] = '\0';
  in_mock++;
  ctl = ctl_new (path);
  in_mock--;
  if (!ctl)
    {
      fd_track (fd, FD_PLAIN, NULL);
      return FD_PLAIN;
    }
  ctl_note_file (ctl, fd);
  fd_track (fd, FD_CTL, ctl);
  return FD_CTL;
}

/* Take a snapshot of FD's Ctl, checking that FD still is that file (it may
 * have been closed behind our back, e.g. by fclose() of an fdopen()ed FILE,
 * and the number reused). */
static bool
fd_ctl_get (int fd, Ctl *out)
{
  struct stat st;
  bool ok = false;

  pthread_mutex_lock (&fd_lock);
  if (fd_ctl[fd])
    {
      *out = *fd_ctl[fd];
      ok = true;
    }
  pthread_mutex_unlock (&fd_lock);
  return ok && fstat (fd, &st) == 0 && st.st_dev == out->st_dev
         && st.st_ino == out->st_ino;
}

/* An absolute version of PATH as opened relative to DIRFD. */
static bool
abs_path (int dirfd, const char *path, char *out, size_t size)
{
  char base[PATH_MAX];

  if (path[0] == '/')
    return path_fmt (out, size, "%s", path);
  if (dirfd == AT_FDCWD)
    {
      if (!getcwd (base, sizeof base))
        return false;
    }
  else
    {
      char proc[64];
      ssize_t n;

      snprintf (proc, sizeof proc, "/proc/self/fd/%d", dirfd);
      n = readlink (proc, base, sizeof base - 1);
      if (n <= 0)
        return false;
      base[n] = '\0';
    }
  return path_fmt (out, size, "%s/%s", base, path);
}

/* Before an open: a writable open of an attribute file is remembered, and
 * O_TRUNC dropped (sysfs ignores it; the mock's file must keep its value
 * if the store then fails). */
static Ctl *
open_classify (int dirfd, const char *path, int *flags)
{
  char full[PATH_MAX];
  Ctl *ctl;

  if (in_mock || !path || (*flags & O_ACCMODE) == O_RDONLY
      || ctl_file_index (base_name (path)) < 0)
    return NULL;
  in_mock++;
  ctl = abs_path (dirfd, path, full, sizeof full) ? ctl_new (full) : NULL;
  in_mock--;
  if (ctl)
    *flags &= ~O_TRUNC;
  return ctl;
}

static int
open_done (int fd, Ctl *ctl)
{
  int saved = errno;

  if (fd >= 0 && ctl)
    {
      ctl_note_file (ctl, fd);
      fd_track (fd, FD_CTL, ctl);
    }
  else
    {
      free (ctl);
      if (fd >= 0)
        fd_forget (fd);
    }
  errno = saved;
  return fd;
}

static bool
needs_mode (int flags)
{
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define OPEN_BODY(call)                                                        \
  mode_t mode = 0;                                                             \
  Ctl *ctl;                                                                    \
  if (needs_mode (flags))                                                      \
    {                                                                          \
      va_list ap;                                                              \
      va_start (ap, flags);                                                    \
      mode = va_arg (ap, int);                                                 \
      va_end (ap);                                                             \
    }                                                                          \
  init ();                                                                     \
  ctl = open_classify (DIRFD, path, &flags);                                   \
  return open_done (call, ctl)

/* ------------------------------------------------------------------------ */
/* Interposed entry points                                                   */

#define DIRFD AT_FDCWD
KMOCK_EXPORT int
open (const char *path, int flags, ...)
{
  OPEN_BODY (real_open (path, flags, mode));
}

KMOCK_EXPORT int
open64 (const char *path, int flags, ...)
{
  OPEN_BODY (real_open64 (path, flags, mode));
}
#undef DIRFD

#define DIRFD dirfd
KMOCK_EXPORT int
openat (int dirfd, const char *path, int flags, ...)
{
  OPEN_BODY (real_openat (dirfd, path, flags, mode));
}

KMOCK_EXPORT int
openat64 (int dirfd, const char *path, int flags, ...)
{
  OPEN_BODY (real_openat64 (dirfd, path, flags, mode));
}
#undef DIRFD

/* _FORTIFY_SOURCE entry points (never O_CREAT). */
KMOCK_EXPORT int
__open_2 (const char *path, int flags)
{
  Ctl *ctl;

  init ();
  ctl = open_classify (AT_FDCWD, path, &flags);
  return open_done (real___open_2 (path, flags), ctl);
}

KMOCK_EXPORT int
__open64_2 (const char *path, int flags)
{
  Ctl *ctl;

  init ();
  ctl = open_classify (AT_FDCWD, path, &flags);
  return open_done (real___open64_2 (path, flags), ctl);
}

KMOCK_EXPORT int
__openat_2 (int dirfd, const char *path, int flags)
{
  Ctl *ctl;

  init ();
  ctl = open_classify (dirfd, path, &flags);
  return open_done (real___openat_2 (dirfd, path, flags), ctl);
}

KMOCK_EXPORT int
__openat64_2 (int dirfd, const char *path, int flags)
{
  Ctl *ctl;

  init ();
  ctl = open_classify (dirfd, path, &flags);
  return open_done (real___openat64_2 (dirfd, path, flags), ctl);
}

/* Is FD an attribute file?  Fills CTL. */
static bool
fd_is_ctl (int fd, Ctl *ctl)
{
  int state;

  if (in_mock || fd < 0 || fd >= FD_TABLE_SIZE)
    return false;
  state = __atomic_load_n (&fd_state[fd], __ATOMIC_ACQUIRE);
  if (state == FD_UNKNOWN)
    state = fd_classify (fd);
  if (state != FD_CTL)
    return false;
  if (fd_ctl_get (fd, ctl))
    return true;
  /* Stale entry: classify afresh. */
  fd_forget (fd);
  return fd_classify (fd) == FD_CTL && fd_ctl_get (fd, ctl);
}

/* After a store through FD, remember the attribute's new content. */
static void
fd_refresh (int fd)
{
  pthread_mutex_lock (&fd_lock);
  if (fd >= 0 && fd < FD_TABLE_SIZE && fd_ctl[fd])
    ctl_note_file (fd_ctl[fd], fd);
  pthread_mutex_unlock (&fd_lock);
}

/* Writes that went around write(2): glibc's stdio flushes with an internal
 * write() no preloaded library can interpose, and bash makes stdout line
 * buffered, so "echo BDF > unbind" in bash lands in the file itself.  As
 * this library never writes the attribute file through the caller's fd,
 * a file offset past the start is exactly such data.  Take it, put the
 * file back as it was, and store it now.  Called before anything else
 * happens to FD: the next write, fflush/fclose of its FILE, dup2 over it,
 * close.  Returns 0, or -1 with errno from the store. */
static int
fd_flush_bypass (int fd, const Ctl *ctl)
{
  char data[SYSFS_PAGE_SIZE + 1];
  off_t off, start = 0;
  ssize_t n;
  int flags;

  off = lseek (fd, 0, SEEK_CUR);
  flags = real_fcntl (fd, F_GETFL);
  if (flags >= 0 && (flags & O_APPEND))
    start = (off_t) ctl->saved_len;
  if (off <= start)
    return 0;
  n = fd_read_at (fd, data, off - start > (off_t) sizeof data ? sizeof data : (size_t) (off - start), start);
  if (pwrite (fd, ctl->saved, ctl->saved_len, 0) < 0
      || ftruncate (fd, ctl->saved_len) < 0)
    {
      /* Best effort: the mock rewrites value attributes on success. */
    }
  lseek (fd, 0, SEEK_SET);
  if (n <= 0)
    return 0;
  if (off - start > SYSFS_PAGE_SIZE)
    {
      errno = E2BIG;
      return -1;
    }
  if (ctl_store (ctl, data, n) < 0)
    return -1;
  fd_refresh (fd);
  return 0;
}

KMOCK_EXPORT ssize_t
write (int fd, const void *buf, size_t count)
{
  ssize_t ret;
  Ctl ctl;

  init ();
  if (!fd_is_ctl (fd, &ctl))
    return real_write (fd, buf, count);
  if (fd_flush_bypass (fd, &ctl) < 0)
    return -1;
  ret = ctl_store (&ctl, buf, count);
  if (ret > 0)
    fd_refresh (fd);
  return ret;
}

/* close(2) of a sysfs file never fails; here it reports a store of data
 * that went around write(2), as virpcimock does for everything. */
KMOCK_EXPORT int
close (int fd)
{
  int ret = 0, saved = 0;
  Ctl ctl;

  init ();
  if (fd_is_ctl (fd, &ctl) && fd_flush_bypass (fd, &ctl) < 0)
    {
      ret = -1;
      saved = errno;
    }
  fd_forget (fd);
  if (real_close (fd) < 0)
    return -1;
  errno = saved ? saved : errno;
  return ret;
}

KMOCK_EXPORT int
dup (int oldfd)
{
  int fd;

  init ();
  fd = real_dup (oldfd);
  if (fd >= 0)
    fd_copy (oldfd, fd);
  return fd;
}

KMOCK_EXPORT int
dup2 (int oldfd, int newfd)
{
  Ctl ctl;
  int fd;

  init ();
  /* Replacing NEWFD closes it: as close(). */
  if (oldfd != newfd && fd_is_ctl (newfd, &ctl))
    fd_flush_bypass (newfd, &ctl);
  fd = real_dup2 (oldfd, newfd);
  if (fd >= 0)
    fd_copy (oldfd, fd);
  return fd;
}

KMOCK_EXPORT int
dup3 (int oldfd, int newfd, int flags)
{
  Ctl ctl;
  int fd;

  init ();
  if (oldfd != newfd && fd_is_ctl (newfd, &ctl))
    fd_flush_bypass (newfd, &ctl);
  fd = real_dup3 (oldfd, newfd, flags);
  if (fd >= 0)
    fd_copy (oldfd, fd);
  return fd;
}

static int
fcntl_common (int (*call) (int, int, ...), int fd, int cmd, void *arg)
{
  int ret = call (fd, cmd, arg);

  if (ret >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
    fd_copy (fd, ret);
  return ret;
}

/* Like glibc's own fcntl(), read the optional argument as a pointer: it is
 * passed the same way as an int or long on every ABI glibc supports. */
KMOCK_EXPORT int
fcntl (int fd, int cmd, ...)
{
  va_list ap;
  void *arg;

  va_start (ap, cmd);
  arg = va_arg (ap, void *);
  va_end (ap);
  init ();
  return fcntl_common (real_fcntl, fd, cmd, arg);
}

KMOCK_EXPORT int
fcntl64 (int fd, int cmd, ...)
{
  va_list ap;
  void *arg;

  va_start (ap, cmd);
  arg = va_arg (ap, void *);
  va_end (ap);
  init ();
  return fcntl_common (real_fcntl64, fd, cmd, arg);
}

/* stdio writes through glibc-internal calls this library cannot see, so a
 * FILE on an attribute is a cookie stream whose writes are stores.  They
 * happen when stdio flushes: at fflush()/fclose(), whose result reports the
 * kernel's error. */
typedef struct
{
  Ctl ctl;
  int rfd;
} CookieFile;

static ssize_t
cookie_read (void *cookie, char *buf, size_t size)
{
  CookieFile *c = cookie;

  return c->rfd < 0 ? 0 : read (c->rfd, buf, size);
}

static ssize_t
cookie_write (void *cookie, const char *buf, size_t size)
{
  CookieFile *c = cookie;
  ssize_t n = ctl_store (&c->ctl, buf, size);

  /* Fail with 0, not -1: glibc's fwrite() on an unbuffered stream mistakes
   * the -1 for EOF and reports success.  A short count marks the stream in
   * error and errno tells why. */
  return n < 0 ? 0 : (ssize_t) size;
}

static int
cookie_close (void *cookie)
{
  CookieFile *c = cookie;

  if (c->rfd >= 0)
    real_close (c->rfd);
  free (c);
  return 0;
}

static FILE *
fopen_common (FILE *(*call) (const char *, const char *), const char *path,
              const char *mode)
{
  cookie_io_functions_t io = { cookie_read, cookie_write, NULL, cookie_close };
  char full[PATH_MAX];
  CookieFile *c;
  FILE *f;

  init ();
  if (in_mock || !path || !mode || !strpbrk (mode, "wa+")
      || ctl_file_index (base_name (path)) < 0)
    return call (path, mode);
  c = malloc (sizeof *c);
  if (!c)
    return call (path, mode);
  in_mock++;
  if (!abs_path (AT_FDCWD, path, full, sizeof full) || !ctl_classify (full, &c->ctl))
    {
      in_mock--;
      free (c);
      return call (path, mode);
    }
  /* Open like the kernel would: the file must exist. */
  c->rfd = real_open (full, (strchr (mode, '+') ? O_RDWR : O_WRONLY) | O_CLOEXEC);
  in_mock--;
  if (c->rfd < 0)
    {
      int saved = errno;

      free (c);
      errno = saved;
      return NULL;
    }
  f = fopencookie (c, mode, io);
  if (!f)
    cookie_close (c);
  return f;
}

/* A FILE on an attribute fd that stdio did not open through us: stdout
 * redirected by a shell ("echo BDF > unbind" in bash, coreutils' echo and
 * printf).  stdio writes its buffer with a glibc-internal write() this
 * library cannot see, so take the buffer at fflush()/fclose() and store it
 * here, failing the stream the way a failed write() would: the shell then
 * prints "write error: Device or resource busy" and the command fails. */
static int
stream_store (FILE *f)
{
  size_t n;
  Ctl ctl;
  int fd;

  if (!f || (fd = fileno (f)) < 0 || !fd_is_ctl (fd, &ctl))
    return 0;
  /* What stdio already wrote comes first, then what it still holds. */
  n = f->_IO_write_ptr - f->_IO_write_base;
  if (fd_flush_bypass (fd, &ctl) < 0
      || (f->_IO_write_base && n && ctl_store (&ctl, f->_IO_write_base, n) < 0))
    {
      int saved = errno;

      f->_IO_write_ptr = f->_IO_write_base;
      f->_flags |= _IO_ERR_SEEN;
      errno = saved;
      return EOF;
    }
  if (f->_IO_write_base)
    f->_IO_write_ptr = f->_IO_write_base;
  fd_refresh (fd);
  return 0;
}

KMOCK_EXPORT int
fflush (FILE *f)
{
  int ret, saved;

  init ();
  /* fflush (NULL) flushes every stream; a shell's are stdout and stderr. */
  ret = f ? stream_store (f) : (stream_store (stdout) | stream_store (stderr));
  saved = errno;
  if (real_fflush (f) != 0)
    return EOF;
  errno = saved;
  return ret;
}

KMOCK_EXPORT int
fclose (FILE *f)
{
  int ret, saved, fd;

  init ();
  if (!f)
    return real_fclose (f);
  fd = fileno (f);
  ret = stream_store (f);
  saved = errno;
  if (real_fclose (f) != 0)
    return EOF;
  /* glibc closed FD with its internal close(). */
  if (fd >= 0)
    fd_forget (fd);
  errno = saved;
  return ret;
}

KMOCK_EXPORT FILE *
fopen (const char *path, const char *mode)
{
  init ();
  return fopen_common (real_fopen, path, mode);
}

KMOCK_EXPORT FILE *
fopen64 (const char *path, const char *mode)
{
  init ();
  return fopen_common (real_fopen64, path, mode);
}

/* ------------------------------------------------------------------------ */
/* Module loading                                                            */

/* The module name of a modules.dep / modules.builtin path
 * ("kernel/drivers/vfio/pci/vfio-pci.ko.xz" -> "vfio_pci"). */
static void
module_name_of (const char *path, size_t len, char *out, size_t size)
{
  const char *b = path;
  size_t n;

  for (size_t i = 0; i < len; i++)
    if (path[i] == '/')
      b = path + i + 1;
  n = path + len - b;
  for (const char *ko = b; (ko = memmem (ko, n - (ko - b), ".ko", 3)); ko++)
    if (ko + 3 == path + len || ko[3] == '.')
      {
        n = ko - b;
        break;
      }
  if (n >= size)
    n = size - 1;
  for (size_t i = 0; i < n; i++)
    out[i] = b[i] == '-' ? '_' : b[i];
  out[n] = '\0';
}

/* Look MODULE up in lib/modules/REL/FILE; with DEPS, fill the names of
 * the modules it depends on (space separated). */
static bool
module_lookup (const Host *h, const char *file, const char *module, char *deps,
               size_t deps_size)
{
  char rel[128], path[PATH_MAX], line[4096], name[256];
  bool found = false;
  FILE *f;

  if (!host_path (h, path, sizeof path, "proc/sys/kernel/osrelease")
      || !read_line (path, rel, sizeof rel) || !*rel || strchr (rel, '/')
      || !host_path (h, path, sizeof path, "lib/modules/%s/%s", rel, file))
    return false;
  f = real_fopen (path, "re");
  if (!f)
    return false;
  while (!found && fgets (line, sizeof line, f))
    {
      char *colon = strchr (line, ':');
      size_t len = colon ? (size_t) (colon - line) : strcspn (line, "\n");

      module_name_of (line, len, name, sizeof name);
      if (strcmp (name, module))
        continue;
      found = true;
      if (deps && colon)
        {
          char *save = NULL;

          deps[0] = '\0';
          for (char *tok = strtok_r (colon + 1, " \t\n", &save); tok;
               tok = strtok_r (NULL, " \t\n", &save))
            {
              module_name_of (tok, strlen (tok), name, sizeof name);
              if (strlen (deps) + strlen (name) + 2 < deps_size)
                {
                  strcat (deps, name);
                  strcat (deps, " ");
                }
            }
        }
    }
  real_fclose (f);
  return found;
}

/* A module registers a PCI driver when depmod saw a pci: or vfio_pci: alias
 * in it. */
static bool
module_has_pci_driver (const Host *h, const char *module)
{
  char rel[128], path[PATH_MAX], line[4096];
  bool found = false;
  FILE *f;

  if (!host_path (h, path, sizeof path, "proc/sys/kernel/osrelease")
      || !read_line (path, rel, sizeof rel)
      || !host_path (h, path, sizeof path, "lib/modules/%s/modules.alias", rel))
    return false;
  f = real_fopen (path, "re");
  if (!f)
    return false;
  while (!found && fgets (line, sizeof line, f))
    {
      char pattern[4096], mod[256];

      if (sscanf (line, "alias %4095s %255s", pattern, mod) == 2
          && !strcmp (mod, module)
          && (!strncmp (pattern, "pci:", 4) || !strncmp (pattern, "vfio_pci:", 9)))
        found = true;
    }
  real_fclose (f);
  return found;
}

static void
module_insert (const Host *h, const char *module)
{
  char mdir[PATH_MAX], path[PATH_MAX], ddir[PATH_MAX], driver[256];

  if (!host_path (h, mdir, sizeof mdir, "sys/module/%s", module))
    return;
  if (is_dir (mdir))
    return;
  mkdir (mdir, 0755);
  path_fmt (path, sizeof path, "%s/initstate", mdir);
  write_text (path, "live\n");
  host_log (h, "load %s", module);
  if (!module_has_pci_driver (h, module))
    return;

  if (!kmock_read (h, "modules", module, driver, sizeof driver) || !*driver
      || strchr (driver, '/'))
    path_fmt (driver, sizeof driver, "%s",
              !strcmp (module, "vfio_pci") ? "vfio-pci" : module);
  if (!host_path (h, ddir, sizeof ddir, "sys/bus/pci/drivers/%s", driver))
    return;
  mkdir (ddir, 0755);
  for (const char *const *f = (const char *const[]) { "bind", "unbind", "new_id",
                                                       "remove_id", NULL };
       *f; f++)
    if (path_fmt (path, sizeof path, "%s/%s", ddir, *f))
      write_text (path, "");
  if (path_fmt (path, sizeof path, "%s/module", ddir))
    symlink_rel (mdir, path);
  path_fmt (path, sizeof path, "%s/drivers", mdir);
  mkdir (path, 0755);
  if (path_fmt (path, sizeof path, "%s/drivers/pci:%s", mdir, driver))
    symlink_rel (ddir, path);
  /* driver_register() -> driver_attach(): devices waiting for this driver
   * (an override naming it, or an id match) bind now. */
  for_each_device (h, attach_one, driver);
}

/* What modprobe would do under a synthetic host: 0, or -ENOENT for an
 * unknown module, -EINVAL when ROOT is not a synthetic host, or the errno
 * in .kmock/fail/load/MODULE. */
KMOCK_EXPORT int
vfm_mock_load_module (const char *root, const char *module)
{
  char name[256], deps[4096] = "", lock_path[PATH_MAX];
  int err = 0, lock_fd = -1;
  Host h;

  init ();
  if (!module || !*module || strlen (module) >= sizeof name || strchr (module, '/'))
    return -EINVAL;
  /* modprobe treats '-' and '_' alike. */
  for (size_t i = 0; i <= strlen (module); i++)
    name[i] = module[i] == '-' ? '_' : module[i];

  pthread_mutex_lock (&op_lock);
  in_mock++;
  if (!host_init (&h, root))
    {
      err = -EINVAL;
      goto out;
    }
  if (host_path (&h, lock_path, sizeof lock_path, ".kmock/lock"))
    lock_fd = real_open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd >= 0)
    flock (lock_fd, LOCK_EX);
  err = -kmock_fail (&h, "load", name, EIO);
  if (err)
    goto out;
  if (module_lookup (&h, "modules.builtin", name, NULL, 0))
    goto out; /* built in: nothing to load */
  if (!module_lookup (&h, "modules.dep", name, deps, sizeof deps))
    {
      err = -ENOENT;
      goto out;
    }
  /* Dependencies first, the last one listed first, as modprobe inserts
   * them. */
  {
    char *names[64], *save = NULL;
    int n = 0;

    for (char *tok = strtok_r (deps, " ", &save); tok && n < 64;
         tok = strtok_r (NULL, " ", &save))
      names[n++] = tok;
    while (n-- > 0)
      module_insert (&h, names[n]);
  }
  module_insert (&h, name);
out:
  if (lock_fd >= 0)
    real_close (lock_fd);
  in_mock--;
  pthread_mutex_unlock (&op_lock);
  return err;
}
