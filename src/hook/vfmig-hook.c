/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfmig-hook: what libvirt's QEMU hook runs first (data/libvirt/vfmig), for
 * every start, stop and migration of every domain on the host. Most have no
 * PCI passthrough and vfmig has nothing to do for them; vfmigctl would still
 * cost its dynamic libraries (libxml2 with ICU, libkmod with libcrypto, GIO)
 * before main(). This program links libc only and answers those itself,
 * with exactly vfmigctl hook's answer:
 *   - an operation vfmig does not act on: nothing (stdin unread);
 *   - "migrate" of a domain whose XML does not contain the word "hostdev"
 *     (no <hostdev> element, PCI or mediated, and no <interface
 *     type='hostdev'>): the XML unchanged on stdout;
 *   - "prepare", "started", "release" of a domain whose XML does not name
 *     vfmig's namespace (no vfmig claim in its metadata): nothing.
 * The test is on the text, so it errs one way only: the word in a comment,
 * a name or a description sends the domain down the full path. Everything
 * else - and any
 * arguments it does not recognise - goes to vfmigctl hook, with the XML it
 * read handed on as stdin (a memfd). */
#include "vfm-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define HOOK_MAX_XML (16 * 1024 * 1024) /* vfmigctl hook reads no more */
#define VFMIG_NAMESPACE "urn:vfmig:1"    /* VFM_XML_NAMESPACE */

static int
write_all (int fd, const char *buf, size_t len)
{
  while (len > 0) {
    ssize_t n = write (fd, buf, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    buf += n;
    len -= (size_t) n;
  }
  return 0;
}

/* All of stdin, up to HOOK_MAX_XML + 1 bytes; NULL on a read error. */
static char *
read_stdin (size_t *len)
{
  size_t cap = 65536, n = 0;
  char *buf = malloc (cap + 1);
  while (buf != NULL) {
    ssize_t r;
    if (n == cap) {
      char *bigger;
      if (cap > HOOK_MAX_XML) {
        break;
      }
      cap *= 2;
      if ((bigger = realloc (buf, cap + 1)) == NULL) {
        free (buf);
        return NULL;
      }
      buf = bigger;
    }
    r = read (STDIN_FILENO, buf + n, cap - n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      free (buf);
      return NULL;
    }
    if (r == 0)
      break;
    n += (size_t) r;
  }
  if (buf != NULL)
    buf[n] = '\0';
  *len = n;
  return buf;
}

/* vfmigctl hook ARGS, with XML (if read) as its stdin. */
static int
full_path (char **argv, const char *xml, size_t len)
{
  const char *vfmigctl = getenv ("VFMIG_HOOK_VFMIGCTL"); /* tests and benchmarks: the build tree's */
  char **args;
  int argc = 0;

  if (vfmigctl == NULL || *vfmigctl == '\0')
    vfmigctl = VFM_SBINDIR "/vfmigctl";
  if (xml != NULL) {
    int fd = memfd_create ("vfmig-hook-xml", MFD_CLOEXEC);
    if (fd < 0 || write_all (fd, xml, len) < 0 || lseek (fd, 0, SEEK_SET) < 0 || dup2 (fd, STDIN_FILENO) < 0) {
      fprintf (stderr, "vfmig-hook: cannot hand the domain XML to %s: %s\n", vfmigctl, strerror (errno));
      return 1;
    }
    close (fd);
  }
  while (argv[argc] != NULL)
    argc++;
  args = calloc ((size_t) argc + 2, sizeof *args);
  if (args == NULL)
    return 1;
  args[0] = (char *) "vfmigctl";
  args[1] = (char *) "hook";
  for (int i = 1; i < argc; i++)
    args[i + 1] = argv[i];
  execv (vfmigctl, args);
  fprintf (stderr, "vfmig-hook: cannot run %s: %s\n", vfmigctl, strerror (errno));
  free (args);
  return 1;
}

/* The answer for an operation that reads the domain XML: XML itself for
 * a migrate vfmig has nothing to do in, else vfmigctl hook's. */
static int
answer (char **argv, const char *op, const char *xml, size_t len)
{
  if (len > HOOK_MAX_XML || memchr (xml, '\0', len) != NULL)
    return full_path (argv, xml, len);
  if (strcmp (op, "migrate") == 0) {
    if (strstr (xml, "hostdev") != NULL)
      return full_path (argv, xml, len);
    if (write_all (STDOUT_FILENO, xml, len) < 0) {
      fprintf (stderr, "vfmig-hook: cannot write the domain XML: %s\n", strerror (errno));
      return 1;
    }
    return 0;
  }
  if (len > 0 && strstr (xml, VFMIG_NAMESPACE) != NULL)
    return full_path (argv, xml, len);
  return 0;
}

int
main (int argc, char **argv)
{
  const char *op;
  char *xml;
  size_t len = 0;
  int rc;

  /* vfmig-hook qemu DOMAIN OPERATION SUB-OPERATION [EXTRA] */
  if (argc < 5 || strcmp (argv[1], "qemu") != 0)
    return full_path (argv, NULL, 0);
  op = argv[3];
  if (strcmp (op, "migrate") != 0 && strcmp (op, "prepare") != 0 && strcmp (op, "started") != 0 &&
      strcmp (op, "release") != 0)
    return 0;
  if ((xml = read_stdin (&len)) == NULL) {
    fprintf (stderr, "vfmig-hook: cannot read the domain XML: %s\n", strerror (errno));
    return 1;
  }
  rc = answer (argv, op, xml, len);
  free (xml);
  return rc;
}
