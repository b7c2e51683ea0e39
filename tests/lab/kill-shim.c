/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kill-shim.c — LD_PRELOAD shim for the lab's crash tests (bind.sh).
 *
 * Kills its own process with SIGKILL at the Nth write(2) whose file
 * descriptor leads to a path matching a glob, either before the write is
 * made or right after it returned.  This is how bind.sh stops vfmigctl
 * between two steps of the kernel's bind protocol on the real kernel: no
 * debugger, no timing guesses, and nothing the program could catch or clean
 * up after.
 *
 *   VFMIG_KILL_MATCH  fnmatch(3) pattern for the path of the fd ("/sys/bus/pci/..." style)
 *                     (without it the shim only passes writes through)
 *   VFMIG_KILL_N      which matching write kills (1-based, default 1)
 *   VFMIG_KILL_WHEN   "before" (the write is not made) or "after"
 *                     (the kernel has seen it; the default)
 *   VFMIG_KILL_LOG    if set, a file to which "N PATH" is appended for every
 *                     matching write (to find N)
 *
 * Preloaded before the kernel mock (tests/mock), it counts and kills the
 * writes of vfmigctl on a synthetic host too (tests/cli/test-bind.py).
 *
 * Only write(2) through libc's symbol is seen (vfmig's sysfs writes and
 * GLib's g_file_set_contents both use it).  Built by run-bind.sh on the host
 * before the VM boots:  cc -shared -fPIC -O2 -o kill-shim.so kill-shim.c -ldl
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef ssize_t (*write_fn) (int, const void *, size_t);

static write_fn real_write;
static int seen;

ssize_t write (int fd, const void *buf, size_t count);

static void
log_write (const char *logfile, int n, const char *path)
{
  char line[4200];
  int len, fd;

  fd = open (logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  len = snprintf (line, sizeof line, "%d %s\n", n, path);
  if (len > 0 && (size_t) len < sizeof line)
    (void) real_write (fd, line, (size_t) len);
  close (fd);
}

ssize_t
write (int fd, const void *buf, size_t count)
{
  const char *match = getenv ("VFMIG_KILL_MATCH");
  const char *when, *nstr, *logfile;
  char link[64], path[4096];
  ssize_t n, r;
  int kill_at, after, mine;

  if (real_write == NULL)
    real_write = (write_fn) dlsym (RTLD_NEXT, "write");
  if (match == NULL || *match == '\0')
    return real_write (fd, buf, count);

  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, path, sizeof path - 1);
  if (n <= 0)
    return real_write (fd, buf, count);
  path[n] = '\0';
  if (fnmatch (match, path, 0) != 0)
    return real_write (fd, buf, count);

  /* vfmigd binds from several threads: each write takes its own number */
  mine = __atomic_add_fetch (&seen, 1, __ATOMIC_SEQ_CST);
  nstr = getenv ("VFMIG_KILL_N");
  kill_at = nstr && *nstr ? atoi (nstr) : 1;
  when = getenv ("VFMIG_KILL_WHEN");
  after = !(when && strcmp (when, "before") == 0);
  logfile = getenv ("VFMIG_KILL_LOG");
  if (logfile && *logfile)
    log_write (logfile, mine, path);

  if (mine == kill_at && !after)
    raise (SIGKILL);
  r = real_write (fd, buf, count);
  if (mine == kill_at)
    raise (SIGKILL);
  return r;
}
