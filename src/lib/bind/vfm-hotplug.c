/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Coalescing of vfmigd's add events (vfm-hotplug.h).
 *
 * Why not a thread per event: an operator's `echo N > sriov_numvfs` makes
 * the kernel send N add events during the write, and each thread then built
 * its own host, selection, lock pass and journal record, all competing for
 * the CPU with the write they were waiting for (a VF cannot be bound before
 * the write returns: the write holds the PF's device lock). One worker
 * binding them as one request does that work once.
 *
 * Why no timer: how long a write takes depends on the device and the
 * machine (140 ms for 3 VFs under TCG, far less on hardware), so a fixed
 * "gather for X ms" would be either too short or a cost added to every
 * hotplug. The worker waits for what it actually needs instead:
 *  1. the write to be over: reading the PF's sriov_numvfs takes the PF's
 *     device lock (the kernel serializes the read with the write since 5.11,
 *     "PCI/IOV: Serialize sysfs sriov_numvfs reads vs writes"); the read
 *     returns when the write has, with every VF of it created;
 *  2. the add events of those VFs: the kernel sent them before the write
 *     returned, so they are in the monitor's socket: the worker reads the
 *     socket itself (vfm_hotplug_set_drain) rather than wait for the main
 *     loop to get the CPU. Read to its end, the socket has told all: a VF
 *     still not announced was not made by the write. Without a reader (or
 *     when it could not read to the end) a condition wait for the main
 *     loop's vfm_hotplug_added, with a deadline only as a guard against a
 *     lost event (ENOBUFS), not as the way to gather.
 * Only the VFs that are unbound and not announced yet are looked for: those
 * the write has just created (autoprobe 0, which vfmigd sets on managed
 * PFs). A VF's own event is what makes it bound: a VF nobody announced (a
 * sibling of a VF a rescan brought back) is left alone.
 *
 * The PF of a VF is its "physfn" link, which the kernel creates right AFTER
 * the VF's add event (pci_device_add, then pci_iov_sysfs_link). A device
 * without one is therefore either no VF or a VF whose links are not there
 * yet; for such a device the worker first waits for every SR-IOV PF's write
 * (step 1 on each), after which the links of every VF exist.
 *
 * Safety is the binder's: per-device locks, the journal record, the
 * verification and roll-back (vfm_binder_bind_many); a VF a live vf create
 * works on is left to it (vfm_autobind_devices). */
#include "vfm-hotplug.h"
#include "vfm-db-watch.h"
#include "vfm-ids.h"
#include "vfm-sysfs.h"

#include <stdarg.h>

#define ANNOUNCE_TIMEOUT_MS 1000

struct _VfmHotplug {
  char *sysroot;
  VfmHotplugFunc func;
  gpointer user_data;
  guint announce_timeout_ms;
  GMutex mutex;
  GCond cond;       /* signalled by vfm_hotplug_added and when idle */
  GPtrArray *pending; /* char *: announced, not taken by a round yet */
  gboolean running;   /* a worker thread takes rounds */
  GThread *thread;
  VfmHotplugDrain drain; /* reads the events already sent, or NULL */
  gpointer drain_data;
  /* the worker's (or, before it started, the seeder's): the parsed
   * database, kept from round to round while its files stay the same */
  VfmDb *db;
  VfmDbWatch *db_watch;
};

static void
report (VfmHotplug *hp, GPtrArray *events)
{
  for (guint i = 0; i < events->len; i++)
    hp->func (g_ptr_array_index (events, i), hp->user_data);
}

G_GNUC_PRINTF (4, 5) static void
report_one (VfmHotplug *hp, GLogLevelFlags level, const char *bdf, const char *fmt, ...)
{
  VfmPolicyEvent e = { .level = level, .topic = "hotplug", .bdf = (char *) bdf };
  va_list ap;
  va_start (ap, fmt);
  e.message = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  hp->func (&e, hp->user_data);
  g_free (e.message);
}

static char *
link_of (VfmSysroot *sr, const char *bdf, const char *name)
{
  g_autofree char *path = vfm_sysroot_pci_device_attr (sr, bdf, name);
  return vfm_sysfs_link_name (path);
}

static gboolean
contains (GPtrArray *bdfs, const char *bdf)
{
  return g_ptr_array_find_with_equal_func (bdfs, bdf, g_str_equal, NULL);
}

/* Every SR-IOV PF of the host (a sriov_totalvfs above 0) into PFS. */
static void
add_every_pf (VfmSysroot *sr, GHashTable *pfs)
{
  g_autoptr (GPtrArray) bdfs = vfm_pci_list_bdfs (sr, NULL);
  for (guint i = 0; bdfs != NULL && i < bdfs->len; i++) {
    const char *bdf = g_ptr_array_index (bdfs, i);
    g_autofree char *total = vfm_sysroot_pci_device_attr (sr, bdf, "sriov_totalvfs");
    gint n;
    if (vfm_sysfs_read_int (total, &n) && n > 0)
      g_hash_table_add (pfs, g_strdup (bdf));
  }
}

/* Step 1 for one PF: returns once no sriov_numvfs write is under way on it;
 * adds to WANTED the VFs it has now that are unbound and not in TAKEN. */
static void
wait_for_write (VfmSysroot *sr, const char *pf, GPtrArray *taken, GPtrArray *wanted)
{
  g_autofree char *numvfs = vfm_sysroot_pci_device_attr (sr, pf, "sriov_numvfs");
  gint n = 0;

  if (!vfm_sysfs_read_int (numvfs, &n)) /* blocks while the kernel writes it */
    return;
  for (gint i = 0; i < n; i++) {
    g_autofree char *name = g_strdup_printf ("virtfn%d", i);
    g_autofree char *vf = link_of (sr, pf, name);
    g_autofree char *driver = vf ? link_of (sr, vf, "driver") : NULL;
    if (vf != NULL && vfm_bdf_is_valid (vf) && driver == NULL && !contains (taken, vf) && !contains (wanted, vf))
      g_ptr_array_add (wanted, g_steal_pointer (&vf));
  }
}

/* Steps 1 and 2 for the devices of a round: on return TAKEN also holds the
 * announced VFs of the writes that created its VFs. */
static void
gather (VfmHotplug *hp, VfmSysroot *sr, GPtrArray *taken)
{
  g_autoptr (GHashTable) pfs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) unknown = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) wanted = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer pf;
  VfmHotplugDrain drain;
  gpointer drain_data;
  gboolean all_read;
  gint64 deadline;
  guint missing;

  for (guint i = 0; i < taken->len; i++) {
    const char *bdf = g_ptr_array_index (taken, i);
    g_autofree char *physfn = link_of (sr, bdf, "physfn");
    if (physfn != NULL)
      g_hash_table_add (pfs, g_steal_pointer (&physfn));
    else
      g_ptr_array_add (unknown, g_strdup (bdf));
  }
  if (unknown->len > 0) {
    /* no physfn (yet): after every PF's write, a VF has its links */
    g_autoptr (GHashTable) every = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr (GPtrArray) none = g_ptr_array_new_with_free_func (g_free);
    add_every_pf (sr, every);
    g_hash_table_iter_init (&iter, every);
    while (g_hash_table_iter_next (&iter, &pf, NULL))
      wait_for_write (sr, pf, taken, none);
    for (guint i = 0; i < unknown->len; i++) {
      char *physfn = link_of (sr, g_ptr_array_index (unknown, i), "physfn");
      if (physfn != NULL)
        g_hash_table_add (pfs, physfn);
    }
  }
  g_hash_table_iter_init (&iter, pfs);
  while (g_hash_table_iter_next (&iter, &pf, NULL))
    wait_for_write (sr, pf, taken, wanted);
  if (wanted->len == 0)
    return;

  /* step 2: their add events. The kernel sent them before the write
   * returned: they wait in the monitor's socket, read here rather than
   * when the main loop gets the CPU (it shares it with the kernel's and
   * udev's work on the same VFs; 15-25 ms late in the lab). Once the
   * socket is read to its end, a VF still not announced was not made by
   * the write (a VF re-added by a rescan finds its unbound siblings), and
   * is not waited for. */
  g_mutex_lock (&hp->mutex);
  drain = hp->drain;
  drain_data = hp->drain_data;
  g_mutex_unlock (&hp->mutex);
  all_read = drain != NULL && drain (drain_data);
  g_mutex_lock (&hp->mutex);
  missing = 0;
  for (guint i = 0; i < wanted->len; i++)
    missing += !contains (hp->pending, g_ptr_array_index (wanted, i));
  g_mutex_unlock (&hp->mutex);
  if (missing > 0 && !all_read)
    report_one (hp, G_LOG_LEVEL_DEBUG, NULL, "waiting for the add events of %u more VFs of the same sriov_numvfs write",
                missing);
  deadline = g_get_monotonic_time () + (all_read ? 0 : hp->announce_timeout_ms * G_TIME_SPAN_MILLISECOND);
  g_mutex_lock (&hp->mutex);
  for (;;) {
    missing = 0;
    for (guint i = 0; i < wanted->len; i++)
      missing += !contains (hp->pending, g_ptr_array_index (wanted, i));
    if (missing == 0 || all_read || !g_cond_wait_until (&hp->cond, &hp->mutex, deadline))
      break;
  }
  for (guint i = 0; i < wanted->len; i++) {
    guint at;
    if (g_ptr_array_find_with_equal_func (hp->pending, g_ptr_array_index (wanted, i), g_str_equal, &at))
      g_ptr_array_add (taken, g_ptr_array_steal_index (hp->pending, at));
  }
  g_mutex_unlock (&hp->mutex);
  if (missing > 0 && all_read)
    report_one (hp, G_LOG_LEVEL_DEBUG, NULL,
                "%u unbound VFs of the same PFs were not announced, so not made by this write: left to their own "
                "add events", missing);
  else if (missing > 0)
    report_one (hp, G_LOG_LEVEL_WARNING, NULL,
                "%u VFs created with the others were not announced within %u ms: left to their own add events",
                missing, hp->announce_timeout_ms);
}

/* Whether the kept database's files changed, when the answer reads the
 * file system (a stat of each file: vfm-db-watch.h says when): in a thread
 * of its own, while gather waits on the kernel. */
static gpointer
check_thread (gpointer data)
{
  return GINT_TO_POINTER (vfm_db_watch_unchanged (data));
}

/* The kept database when its files are the same as when it was read,
 * else a fresh one (policies edited since apply at once), read after a
 * new watch is set (a file changed while it is read makes the next round
 * read it again). UNCHANGED: the kept one's answer. */
static void
use_db (VfmHotplug *hp, VfmHost *host, gboolean unchanged)
{
  if (hp->db != NULL && unchanged) {
    vfm_host_adopt_db (host, g_steal_pointer (&hp->db));
    return;
  }
  g_clear_pointer (&hp->db, vfm_db_free);
  g_clear_pointer (&hp->db_watch, vfm_db_watch_free);
  hp->db_watch = vfm_db_watch_new (host, VFM_DB_WATCH_AUTO);
  vfm_host_db (host, NULL);
}

static gpointer
worker (gpointer data)
{
  VfmHotplug *hp = data;

  for (;;) {
    g_autoptr (GError) error = NULL;
    g_autoptr (VfmHost) host = NULL;
    g_autoptr (GPtrArray) taken = NULL;
    g_autoptr (GPtrArray) events = NULL;
    g_autoptr (GHashTable) early = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    GThread *checker = NULL;
    VfmAutobind *ab = NULL;
    gint64 began, gathered, done;

    g_mutex_lock (&hp->mutex);
    if (hp->pending->len == 0) {
      hp->running = FALSE;
      g_cond_broadcast (&hp->cond);
      g_mutex_unlock (&hp->mutex);
      return NULL;
    }
    taken = g_steal_pointer (&hp->pending);
    hp->pending = g_ptr_array_new_with_free_func (g_free);
    g_mutex_unlock (&hp->mutex);
    if ((host = vfm_host_new (hp->sysroot, &error)) == NULL) {
      for (guint i = 0; i < taken->len; i++)
        report_one (hp, G_LOG_LEVEL_WARNING, g_ptr_array_index (taken, i), "cannot open the host: %s",
                    error->message);
      continue;
    }
    /* the steps' times, in the daemon's debug log (bench/bench-hotplug.sh):
     * this line, then one after the binds (a line on the way is a cost) */
    report_one (hp, G_LOG_LEVEL_DEBUG, NULL, "hotplug round: took %u announced devices", taken->len);
    began = g_get_monotonic_time ();
    /* the database and policies: kept while their files stay the same.
     * With inotify the answer is one read: the database is had now, and the
     * policy of the VFs announced so far applied while the write that makes
     * the others may still run (a VF's files are complete when it is
     * announced; its physfn link comes right after). Where the answer is a
     * stat of each file, that runs in a thread while gather waits, and the
     * policy of every device comes after. */
    if (hp->db != NULL && vfm_db_watch_uses_key (hp->db_watch)) {
      checker = g_thread_new ("vfmig-db-check", check_thread, hp->db_watch);
    } else {
      use_db (hp, host, hp->db != NULL && vfm_db_watch_unchanged (hp->db_watch));
      ab = vfm_autobind_new (host);
      for (guint i = 0; i < taken->len; i++) {
        const char *bdf = g_ptr_array_index (taken, i);
        g_autofree char *physfn = link_of (vfm_host_sysroot (host), bdf, "physfn");
        if (physfn != NULL) {
          vfm_autobind_add (ab, bdf);
          g_hash_table_add (early, g_strdup (bdf));
        }
      }
    }
    gather (hp, vfm_host_sysroot (host), taken);
    if (checker != NULL) {
      use_db (hp, host, GPOINTER_TO_INT (g_thread_join (checker)));
      ab = vfm_autobind_new (host);
    }
    gathered = g_get_monotonic_time ();
    for (guint i = 0; i < taken->len; i++)
      if (!g_hash_table_contains (early, g_ptr_array_index (taken, i)))
        vfm_autobind_add (ab, g_ptr_array_index (taken, i));
    events = vfm_autobind_finish (ab);
    done = g_get_monotonic_time ();
    hp->db = vfm_host_steal_db (host); /* use_db left none kept; its watch is hp->db_watch */
    report (hp, events);
    report_one (hp, G_LOG_LEVEL_DEBUG, NULL,
                "hotplug round: %u devices; no write under way and its VFs announced %.1f ms after the round "
                "began (the policy of %u applied by then), policy and binds done %.1f ms after that",
                taken->len, (gathered - began) / 1000.0, g_hash_table_size (early), (done - gathered) / 1000.0);
  }
}

VfmHotplug *
vfm_hotplug_new (const char *sysroot, VfmHotplugFunc func, gpointer user_data)
{
  VfmHotplug *hp = g_new0 (VfmHotplug, 1);
  hp->sysroot = g_strdup (sysroot);
  hp->func = func;
  hp->user_data = user_data;
  hp->announce_timeout_ms = ANNOUNCE_TIMEOUT_MS;
  g_mutex_init (&hp->mutex);
  g_cond_init (&hp->cond);
  hp->pending = g_ptr_array_new_with_free_func (g_free);
  return hp;
}

void
vfm_hotplug_keep_db (VfmHotplug *hp, VfmHost *host, VfmDbWatch *watch)
{
  g_mutex_lock (&hp->mutex);
  if (!hp->running) { /* the worker's own otherwise */
    g_clear_pointer (&hp->db, vfm_db_free);
    g_clear_pointer (&hp->db_watch, vfm_db_watch_free);
    hp->db_watch = g_steal_pointer (&watch);
    hp->db = vfm_host_steal_db (host);
  }
  g_mutex_unlock (&hp->mutex);
  vfm_db_watch_free (watch);
}

void
vfm_hotplug_set_drain (VfmHotplug *hp, VfmHotplugDrain drain, gpointer user_data)
{
  g_mutex_lock (&hp->mutex);
  hp->drain = drain;
  hp->drain_data = user_data;
  g_mutex_unlock (&hp->mutex);
}

void
vfm_hotplug_set_announce_timeout (VfmHotplug *hp, guint ms)
{
  g_mutex_lock (&hp->mutex);
  hp->announce_timeout_ms = ms;
  g_mutex_unlock (&hp->mutex);
}

void
vfm_hotplug_added (VfmHotplug *hp, const char *bdf)
{
  g_mutex_lock (&hp->mutex);
  if (!contains (hp->pending, bdf))
    g_ptr_array_add (hp->pending, g_strdup (bdf));
  g_cond_broadcast (&hp->cond);
  if (!hp->running) {
    /* the previous worker said it is done (under this mutex): it is
     * returning and needs the mutex no more */
    if (hp->thread != NULL)
      g_thread_join (hp->thread);
    hp->running = TRUE;
    hp->thread = g_thread_new ("vfmig-hotplug", worker, hp);
  }
  g_mutex_unlock (&hp->mutex);
}

void
vfm_hotplug_wait_idle (VfmHotplug *hp)
{
  g_mutex_lock (&hp->mutex);
  while (hp->running)
    g_cond_wait (&hp->cond, &hp->mutex);
  g_mutex_unlock (&hp->mutex);
}

void
vfm_hotplug_free (VfmHotplug *hp)
{
  if (hp == NULL)
    return;
  g_mutex_lock (&hp->mutex);
  while (hp->running)
    g_cond_wait (&hp->cond, &hp->mutex);
  g_mutex_unlock (&hp->mutex);
  if (hp->thread != NULL)
    g_thread_join (hp->thread);
  g_ptr_array_unref (hp->pending);
  g_clear_pointer (&hp->db, vfm_db_free);
  vfm_db_watch_free (hp->db_watch);
  g_cond_clear (&hp->cond);
  g_mutex_clear (&hp->mutex);
  g_free (hp->sysroot);
  g_free (hp);
}
