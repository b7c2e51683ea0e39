/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-host.h"

G_BEGIN_DECLS

/* Whether the files a host's driver database is read from (the kernel's
 * module tables, the curated entries and the policies, in the data
 * directory and under /etc) changed since a point in time: what lets vfmigd
 * keep the parsed database from one hotplug round to the next.
 *
 * Taken BEFORE the database is read (a file changed while it is read makes
 * the next question say "changed"). Two ways to answer:
 *  - inotify (the usual): watches on those directories, on the files in them
 *    that are symbolic links (their targets), and for a directory that does
 *    not exist, on its nearest existing parent; asking is one read of the
 *    inotify descriptor, no file system access. Any event, and a full event
 *    queue, counts as a change.
 *  - a key (name, identity, size and mtime of each file), taken again when
 *    asked: where inotify cannot be trusted, i.e. a directory on a network
 *    file system (NFS, SMB, 9p, FUSE, Ceph...: a change made on another
 *    machine raises no event here), a symbolic link to nothing (its target
 *    may appear anywhere), or inotify failed (no watches left). */
typedef struct _VfmDbWatch VfmDbWatch;

typedef enum {
  VFM_DB_WATCH_AUTO,
  VFM_DB_WATCH_KEY, /* the key even where inotify could do */
} VfmDbWatchMode;

VfmDbWatch *vfm_db_watch_new       (VfmHost        *host,
                                    VfmDbWatchMode  mode);
/* TRUE when nothing the database is read from changed since W was made.
 * With a key this reads the file system (see vfm_db_watch_uses_key). */
gboolean    vfm_db_watch_unchanged (VfmDbWatch     *w);
gboolean    vfm_db_watch_uses_key  (VfmDbWatch     *w);
/* "inotify" or "a stat of each file (WHY)" */
const char *vfm_db_watch_describe  (VfmDbWatch     *w);
void        vfm_db_watch_free      (VfmDbWatch     *w);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmDbWatch, vfm_db_watch_free)

G_END_DECLS
