/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-migrate.h"
#include "vfm-preflight.h"
#include "vfm-error.h"
#include "vfm-journal.h"
#include "vfm-lock.h"
#include "vfm-mdev-ops.h"

#include <libvirt/libvirt.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

void
vfm_migrate_result_free (VfmMigrateResult *r)
{
  if (r == NULL)
    return;
  g_free (r->domain);
  g_clear_pointer (&r->check, vfm_check_result_free);
  g_ptr_array_unref (r->steps);
  g_free (r->claim_id);
  g_clear_error (&r->error);
  g_free (r);
}

/* The destination's vfmig by default: the URI's host over ssh, or this
 * machine (the same sysroot) for a local URI. */
char *
vfm_migrate_default_peer (const char *dest_uri, const char *sysroot)
{
  g_autoptr (GUri) u = g_uri_parse (dest_uri, G_URI_FLAGS_NONE, NULL);
  const char *host = u ? g_uri_get_host (u) : NULL;
  if (host != NULL && *host != '\0' && strcmp (host, "localhost") != 0)
    return g_strdup_printf ("ssh://%s", host);
  return sysroot ? g_strdup_printf ("sysroot:%s", sysroot) : g_strdup ("local");
}

/* One migration under way: what its steps share. */
typedef struct {
  VfmHost *host;
  const VfmMigrateOptions *o;
  const char *name, *source_uri, *dest_uri;
  VfmMigrateResult *r;
  gint64 step_start;
  VfmSysroot *sr;
  VfmMigrationRecord *rec;  /* the journal of this migration, once it changes anything */
  VfmLock *rec_lock;        /* held while it runs: "this migration is alive" */
  VfmVirt *src;
  VfmPeer *peer;
  VfmHostProfile *src_profile, *dst_profile;
  VfmDomainInfo *info;
  VfmClaim *claim;
  GPtrArray *wants;         /* VfmClaimWant */
  GHashTable *moves;        /* source BDF -> claimed destination BDF */
  GHashTable *replug;       /* source BDF -> hostdev alias, the devices detached and attached */
  GPtrArray *detached;      /* hostdev XML detached on the source, for roll-back */
  GPtrArray *detached_bdfs;
  char *xml, *inactive, *uuid;
  gboolean persistent, active, prepared;
} Run;

static void
run_clear (Run *run)
{
  g_clear_pointer (&run->rec, vfm_migration_record_free);
  g_clear_pointer (&run->rec_lock, vfm_lock_release);
  g_clear_pointer (&run->src, vfm_virt_close);
  g_clear_pointer (&run->peer, vfm_peer_free);
  g_clear_pointer (&run->src_profile, vfm_host_profile_free);
  g_clear_pointer (&run->dst_profile, vfm_host_profile_free);
  g_clear_pointer (&run->info, vfm_domain_info_free);
  g_clear_pointer (&run->claim, vfm_claim_free);
  g_clear_pointer (&run->wants, g_ptr_array_unref);
  g_clear_pointer (&run->moves, g_hash_table_unref);
  g_clear_pointer (&run->replug, g_hash_table_unref);
  g_clear_pointer (&run->detached, g_ptr_array_unref);
  g_clear_pointer (&run->detached_bdfs, g_ptr_array_unref);
  g_free (run->xml);
  g_free (run->inactive);
  g_free (run->uuid);
}

/* The record is rewritten before each step (vfm-journal.h): a migration
 * killed at any point leaves what recovery needs. */
static gboolean
record_phase (Run *run, const char *phase, GError **error)
{
  if (run->rec == NULL)
    return TRUE;
  g_free (run->rec->phase);
  run->rec->phase = g_strdup (phase);
  if (!vfm_journal_write_migration (run->sr, run->rec, error)) {
    g_prefix_error (error, "cannot keep the migration's journal: ");
    return FALSE;
  }
  return TRUE;
}

static VfmMigrationDevice *
record_device (Run *run, const char *bdf)
{
  for (guint i = 0; run->rec != NULL && i < run->rec->devices->len; i++) {
    VfmMigrationDevice *d = g_ptr_array_index (run->rec->devices, i);
    if (g_strcmp0 (d->bdf, bdf) == 0)
      return d;
  }
  return NULL;
}

static void
say (Run *run, const char *event, const VfmJobStats *stats, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static void
say (Run *run, const char *event, const VfmJobStats *stats, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;
  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (run->o->progress)
    run->o->progress (event, stats, msg, run->o->progress_data);
}

static void
step_begin (Run *run)
{
  run->step_start = g_get_monotonic_time ();
}

static void
step_done (Run *run, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
step_done (Run *run, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;
  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_ptr_array_add (run->r->steps, g_strdup_printf ("%s (%.2f s)", msg, (g_get_monotonic_time () - run->step_start) / 1e6));
  say (run, "step", NULL, "%s", (const char *) g_ptr_array_index (run->r->steps, run->r->steps->len - 1));
}

/* virDomainMigrateToURI3 blocks: it runs in a thread while the caller
 * reports progress and watches for cancel and timeout. */
typedef struct {
  VfmVirt *virt;
  const char *name, *dest_uri, *dest_xml, *persist_xml;
  guint flags;
  guint64 bandwidth;
  GError *error;
  gboolean ok;
  volatile gint done;
} MigrateJob;

static gpointer
migrate_thread (gpointer data)
{
  MigrateJob *j = data;
  j->ok = vfm_virt_migrate (j->virt, j->name, j->dest_uri, j->dest_xml, j->persist_xml, j->flags, j->bandwidth,
                            &j->error);
  g_atomic_int_set (&j->done, 1);
  return NULL;
}

/* The XML libvirt migrates, with each interface on a hostdev network shown
 * as the VF it uses (vfm_domain_actualize): the migratable XML has only the
 * network's name. notes (may be NULL) gets a line for each. */
static char *
domain_xml (VfmVirt *virt, const char *name, GPtrArray *notes, GError **error)
{
  g_autofree char *xml = vfm_virt_domain_xml (virt, name, FALSE, error);
  g_autofree char *live = NULL;
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  char *out;
  if (xml == NULL)
    return NULL;
  if (strstr (xml, "<interface type='network'") == NULL && strstr (xml, "<interface type=\"network\"") == NULL)
    return g_steal_pointer (&xml);
  if ((live = vfm_virt_domain_live_xml (virt, name, error)) == NULL ||
      (out = vfm_domain_actualize (xml, strlen (xml), live, strlen (live), lines, error)) == NULL)
    return NULL;
  for (guint i = 0; notes != NULL && i < lines->len; i++)
    g_ptr_array_add (notes, g_strdup_printf ("note: %s", (const char *) g_ptr_array_index (lines, i)));
  return out;
}

/* Waits until the live XML no longer has the hostdev: a detach returns
 * success even when the guest never acknowledged it (LAB-NOTES). */
static gboolean
wait_detached (VfmVirt *virt, const char *name, const char *bdf, guint timeout_s, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  guint delay_ms = 50;
  while (TRUE) {
    g_autofree char *xml = domain_xml (virt, name, NULL, error);
    g_autoptr (VfmDomainInfo) info = NULL;
    gboolean present = FALSE;
    if (xml == NULL || (info = vfm_domain_parse (xml, strlen (xml), error)) == NULL)
      return FALSE;
    for (guint i = 0; i < info->hostdevs->len; i++)
      present |= g_strcmp0 (((VfmHostdev *) g_ptr_array_index (info->hostdevs, i))->bdf, bdf) == 0;
    if (!present)
      return TRUE;
    if (g_get_monotonic_time () >= deadline) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED,
                   "the guest did not release %s within %u s (it must acknowledge the unplug)", bdf, timeout_s);
      return FALSE;
    }
    g_usleep (delay_ms * 1000);
    delay_ms = MIN (delay_ms * 2, 500);
  }
}

static gboolean
still_attached (VfmVirt *virt, const char *name, const char *bdf)
{
  g_autofree char *xml = domain_xml (virt, name, NULL, NULL);
  g_autoptr (VfmDomainInfo) info = xml ? vfm_domain_parse (xml, strlen (xml), NULL) : NULL;
  for (guint i = 0; info != NULL && i < info->hostdevs->len; i++)
    if (g_strcmp0 (((VfmHostdev *) g_ptr_array_index (info->hostdevs, i))->bdf, bdf) == 0)
      return TRUE;
  return FALSE;
}

/* ---- the steps (DESIGN.md, "Migration sequence") ---- */

/* 1. Pre-flight: the domain, an interrupted migration of it recovered, both
 * hosts' profiles, the check; what each hostdev needs (claim, replug). */
static gboolean
step_preflight (Run *run, GError **error)
{
  const VfmMigrateOptions *o = run->o;
  g_autofree char *peer_spec = NULL;
  VfmMigrateResult *r = run->r;

  if ((run->src = vfm_virt_open (run->source_uri, FALSE, error)) == NULL ||
      !vfm_virt_domain_facts (run->src, run->name, &run->uuid, &run->persistent, &run->active, error))
    return FALSE;
  if (!o->dry_run && run->uuid != NULL) {
    /* an earlier vfmigctl migrate of this domain died: finish or roll back
     * its work first (its devices may be detached, its claim held) */
    g_autoptr (VfmMigrateResult) prev = vfm_migrate_recover_domain (run->host, run->uuid);
    if (prev != NULL) {
      for (guint i = 0; i < prev->steps->len; i++)
        g_ptr_array_add (r->steps, g_strdup_printf ("recovery: %s", (const char *) g_ptr_array_index (prev->steps, i)));
      say (run, "step", NULL, "recovered an interrupted migration of %s: %s", run->name,
           prev->error ? prev->error->message : prev->migrated ? "it had moved; finished" : "rolled back");
      if (prev->error != NULL) {
        g_propagate_error (error, g_steal_pointer (&prev->error));
        return FALSE;
      }
      if (!vfm_virt_domain_facts (run->src, run->name, NULL, &run->persistent, &run->active, error))
        return FALSE;
    }
  }
  if ((run->xml = domain_xml (run->src, run->name, r->steps, error)) == NULL ||
      (run->info = vfm_domain_parse (run->xml, strlen (run->xml), error)) == NULL)
    return FALSE;
  if (!run->active) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "domain %s is not running: nothing to migrate live",
                 run->name);
    return FALSE;
  }
  if (o->postcopy) {
    guint n = run->info->hostdevs->len + run->info->mdevs->len;
    if (n > 0)
      g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                   "--postcopy: %s has %u VFIO device%s, and QEMU cannot postcopy VFIO device state - a device's state must be on "
                   "the destination before the guest runs there (QEMU >= 8.2 refuses: \"VFIO migration is not "
                   "supported with postcopy migration\"); vfmig migrates such guests pre-copy only", run->name, n,
                   n == 1 ? "" : "s");
    else
      g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                   "--postcopy: vfmigctl migrates pre-copy only; %s has no passthrough device, so "
                   "'virsh migrate --postcopy' can move it", run->name);
    return FALSE;
  }
  if (run->persistent && (run->inactive = vfm_virt_domain_xml (run->src, run->name, TRUE, error)) == NULL)
    return FALSE;
  peer_spec = o->peer ? g_strdup (o->peer) : vfm_migrate_default_peer (run->dest_uri, NULL);
  if ((run->peer = vfm_peer_new (peer_spec, error)) == NULL)
    return FALSE;
  r->check = vfm_preflight_check (run->host, run->source_uri, peer_spec, run->dest_uri, run->info, o->strategy,
                                  &run->src_profile, &run->dst_profile, error);
  if (r->check == NULL)
    return FALSE;
  r->strategy = r->check->strategy;
  if (!r->check->ok) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_MIGRATABLE,
                 "%s cannot move to %s%s%s (vfmigctl check %s --to %s says why)", run->name, run->dest_uri,
                 o->strategy != VFM_STRATEGY_AUTO ? " with strategy " : "",
                 o->strategy != VFM_STRATEGY_AUTO ? vfm_strategy_to_string (o->strategy) : "", run->name,
                 run->dest_uri);
    return FALSE;
  }
  for (guint i = 0; i < r->check->hostdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (r->check->hostdevs, i);
    const VfmDeviceProfile *d = vfm_host_profile_device (run->src_profile, v->bdf);
    g_ptr_array_add (run->wants, vfm_claim_want_for_device (d));
    /* a failover VF is not replugged by vfmig: QEMU unplugs it during the
     * migration, the migrated XML points it at the claimed VF */
    if (vfm_check_vfmig_replugs (r->check, v))
      g_hash_table_insert (run->replug, g_strdup (v->bdf), g_strdup (v->alias));
  }
  for (guint i = 0; i < r->check->mdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (r->check->mdevs, i);
    const VfmMdevProfile *m = vfm_host_profile_mdev (run->src_profile, v->mdev_uuid);
    g_ptr_array_add (run->wants, vfm_claim_want_for_mdev (v->mdev_uuid, v->mdev_type, m ? m->parent : NULL));
  }
  for (guint i = 0; i < run->info->hostdevs->len; i++) {
    const VfmHostdev *h = g_ptr_array_index (run->info->hostdevs, i);
    if (h->managed)
      g_ptr_array_add (r->steps, g_strdup_printf ("note: hostdev %s is managed='yes'; on the destination it is "
                                                  "managed='no', as vfmig binds the claimed device there (this "
                                                  "host's definition is not changed)", h->bdf));
  }
  if (run->persistent && !o->persistent)
    g_ptr_array_add (r->steps, g_strdup_printf ("note: %s is persistent here and arrives transient on the "
                                                "destination (--persistent defines it there)", run->name));
  {
    guint n = run->info->hostdevs->len + run->info->mdevs->len;
    if (n == 0)
      step_done (run, "pre-flight: no passthrough devices, a plain live migration");
    else
      step_done (run, "pre-flight: %s, %u passthrough device%s%s", vfm_strategy_to_string (r->strategy), n,
                 n == 1 ? "" : "s", run->info->mdevs->len > 0 ? " (mediated ones migrate with their state)" : "");
  }
  return TRUE;
}

/* 2. From here on the journal keeps what a recovery needs, under a lock
 * that says this migration is alive. */
static gboolean
step_journal (Run *run, GError **error)
{
  g_autofree char *lock_name = NULL;
  GHashTableIter it;
  gpointer key, value;

  if (run->uuid == NULL)
    return TRUE;
  lock_name = g_strdup_printf ("migration-%s", run->uuid);
  if ((run->rec_lock = vfm_lock_named (run->sr, lock_name, 0, error)) == NULL) {
    g_prefix_error (error, "another vfmigctl migrate of %s is running: ", run->name);
    return FALSE;
  }
  run->rec = vfm_migration_record_new ();
  run->rec->domain_uuid = g_strdup (run->uuid);
  run->rec->domain_name = g_strdup (run->name);
  run->rec->source_uri = g_strdup (run->source_uri);
  run->rec->dest_uri = g_strdup (run->dest_uri);
  run->rec->peer = g_strdup (vfm_peer_spec (run->peer));
  run->rec->persistent = run->o->persistent;
  run->rec->started_at = g_get_real_time () / G_USEC_PER_SEC;
  run->rec->pid = getpid ();
  g_hash_table_iter_init (&it, run->replug);
  while (g_hash_table_iter_next (&it, &key, &value)) {
    VfmMigrationDevice *d = g_new0 (VfmMigrationDevice, 1);
    d->bdf = g_strdup (key);
    d->alias = g_strdup (value);
    /* the user's element, for every re-attach (here, there, on recovery) */
    d->hostdev = vfm_domain_hostdev_xml (run->xml, strlen (run->xml), key, NULL, NULL);
    g_ptr_array_add (run->rec->devices, d);
  }
  return TRUE;
}

/* 3. Claim matching free devices on the destination. */
static gboolean
step_claim (Run *run, GError **error)
{
  guint ttl = run->o->claim_ttl_s ? run->o->claim_ttl_s : 300;

  if (run->wants->len == 0)
    return TRUE;
  if ((run->claim = vfm_peer_claim (run->peer, run->uuid, run->name, run->wants, ttl, error)) == NULL) {
    g_prefix_error (error, "claiming %u device%s on %s: ", run->wants->len, run->wants->len == 1 ? "" : "s",
                    vfm_peer_spec (run->peer));
    return FALSE;
  }
  run->r->claim_id = g_strdup (run->claim->id);
  for (guint i = 0; i < run->claim->devices->len; i++) {
    const VfmClaimDevice *cd = g_ptr_array_index (run->claim->devices, i);
    VfmMigrationDevice *d;
    if (cd->uuid != NULL) { /* a mediated device: its UUID changes, nothing is replugged */
      g_hash_table_insert (run->moves, g_strdup (cd->source_uuid), g_strdup (cd->uuid));
      continue;
    }
    d = record_device (run, cd->source_bdf);
    g_hash_table_insert (run->moves, g_strdup (cd->source_bdf), g_strdup (cd->bdf));
    if (d != NULL)
      d->to = g_strdup (cd->bdf);
  }
  if (run->rec != NULL)
    run->rec->claim_id = g_strdup (run->claim->id);
  if (!record_phase (run, "claimed", error))
    return FALSE;
  step_done (run, "claimed %u device%s on %s (claim %s)", run->claim->devices->len,
             run->claim->devices->len == 1 ? "" : "s", vfm_peer_spec (run->peer), run->claim->id);
  return TRUE;
}

/* Releases the claim; with restore (prepare ran), its devices go back. */
static void
undo_claim (Run *run)
{
  g_autoptr (GError) e = NULL;
  if (run->claim == NULL)
    return;
  step_begin (run);
  if (vfm_peer_release (run->peer, run->claim->id, run->prepared, &e))
    step_done (run, "roll-back: released claim %s%s", run->claim->id,
               run->prepared ? " and returned its devices" : "");
  else
    g_ptr_array_add (run->r->steps, g_strdup_printf ("roll-back: releasing the claim failed: %s", e->message));
}

/* 4. Prepare the claimed devices: bound to their driver and verified. */
static gboolean
step_prepare (Run *run, GError **error)
{
  if (run->claim == NULL)
    return TRUE;
  if (run->rec != NULL)
    run->rec->prepared = TRUE; /* a prepare under way may have bound some */
  if (!record_phase (run, "preparing", error))
    return FALSE;
  /* set first: a prepare that failed half-way bound some, and the claim's
   * release returns those */
  run->prepared = TRUE;
  if (!vfm_peer_prepare (run->peer, run->claim->id, error)) {
    g_prefix_error (error, "preparing claim %s on %s: ", run->claim->id, vfm_peer_spec (run->peer));
    return FALSE;
  }
  step_done (run, "prepared the destination devices (bound, verified)");
  return TRUE;
}

/* 5. Replug: detach on the source, and wait until the guest let go. */
static gboolean
step_detach (Run *run, GError **error)
{
  GHashTableIter it;
  gpointer key, value;
  guint timeout_s = run->o->detach_timeout_s ? run->o->detach_timeout_s : 30;

  g_hash_table_iter_init (&it, run->replug);
  while (g_hash_table_iter_next (&it, &key, &value)) {
    g_autofree char *el = vfm_domain_hostdev_xml (run->xml, strlen (run->xml), key, NULL, error);
    VfmMigrationDevice *d = record_device (run, key);
    if (el == NULL)
      return FALSE;
    step_begin (run);
    if (d != NULL)
      d->detached = TRUE;
    if (!record_phase (run, "detaching", error))
      return FALSE;
    /* even a failed detach may leave the device half-detached: putting it
     * back is part of the roll-back */
    g_ptr_array_add (run->detached, g_strdup (el));
    g_ptr_array_add (run->detached_bdfs, g_strdup (key));
    if (!vfm_virt_device (run->src, run->name, el, FALSE, FALSE, error) ||
        !wait_detached (run->src, run->name, key, timeout_s, error)) {
      g_prefix_error (error, "detaching %s from %s on the source: ", (const char *) key, run->name);
      return FALSE;
    }
    step_done (run, "detached %s from %s on the source", (const char *) key, run->name);
  }
  return TRUE;
}

static void
undo_detach (Run *run)
{
  for (guint i = 0; i < run->detached->len; i++) {
    const char *bdf = g_ptr_array_index (run->detached_bdfs, i);
    g_autoptr (GError) e = NULL;
    step_begin (run);
    if (still_attached (run->src, run->name, bdf)) {
      /* the guest never let go: nothing to put back (its unplug request may
       * still be pending in QEMU; a late acknowledgement would remove it) */
      step_done (run, "roll-back: %s is still attached on the source", bdf);
      continue;
    }
    if (vfm_virt_device (run->src, run->name, g_ptr_array_index (run->detached, i), TRUE, FALSE, &e))
      step_done (run, "roll-back: re-attached a device on the source");
    else
      g_ptr_array_add (run->r->steps, g_strdup_printf ("roll-back: re-attaching on the source failed: %s", e->message));
  }
}

/* The downtime limit (DESIGN.md, Decisions 32): --max-downtime as given;
 * else, when a native device has no dirty tracking (the check's
 * stop_copy_bytes: QEMU reports all guest RAM dirty on every pass), QEMU's
 * default stays while the migration converges, and once QEMU has made a
 * second pass still expecting more than the limit, it is raised to what
 * QEMU expects plus its default, at most the default plus the RAM at
 * --bandwidth or QEMU's measured rate. A limit set high from the start made
 * QEMU stop the guest before its first pass was done (lab-native: 320 ms
 * against 125 ms with QEMU's default, zero pages never travel). TRUE when
 * settled (set, or nothing to set). */
static gboolean
set_downtime (Run *run, VfmVirt *watch, const VfmJobStats *stats)
{
  const VfmMigrateOptions *o = run->o;
  const VfmCheckResult *c = run->r->check;
  guint64 bps = o->bandwidth_mib ? o->bandwidth_mib << 20 : stats->memory_bps;
  guint64 ms = o->max_downtime_ms, cap;

  if (ms == 0) {
    if (c == NULL || c->stop_copy_bytes == 0)
      return TRUE;
    if (stats->memory_iteration < 2 || stats->expected_downtime_ms <= c->downtime_base_ms)
      return FALSE; /* converging under QEMU's default, or too early to tell */
    ms = stats->expected_downtime_ms + c->downtime_base_ms;
    if ((cap = vfm_check_downtime_ms (c, bps)) != 0)
      ms = MIN (ms, cap);
    if (ms <= c->downtime_base_ms)
      return FALSE;
  }
  step_begin (run);
  if (!vfm_virt_set_max_downtime (watch, run->name, ms))
    return FALSE;
  if (o->max_downtime_ms)
    step_done (run, "downtime limit %" G_GUINT64_FORMAT " ms (--max-downtime)", ms);
  else
    step_done (run, "downtime limit raised to %" G_GUINT64_FORMAT " ms: pass %" G_GUINT64_FORMAT " still expected %"
               G_GUINT64_FORMAT " ms over QEMU's default %" G_GUINT64_FORMAT " ms (a device without dirty tracking "
               "keeps %" G_GUINT64_FORMAT " MiB of guest RAM dirty; at most the RAM at %" G_GUINT64_FORMAT " MiB/s)",
               ms, stats->memory_iteration, stats->expected_downtime_ms, c->downtime_base_ms,
               c->stop_copy_bytes >> 20, MAX (bps >> 20, 1));
  return TRUE;
}

/* 6. Migrate with libvirt, the XML pointing at the claimed devices; the job
 * watched from a second connection for progress, cancel and timeout. */
static gboolean
step_migrate (Run *run, GError **error)
{
  const VfmMigrateOptions *o = run->o;
  g_autofree char *dest_xml = NULL, *persist_xml = NULL;
  g_autoptr (GThread) t = NULL;
  g_autoptr (VfmVirt) watch = NULL;
  MigrateJob job = { 0 };
  gint64 deadline = o->timeout_s ? g_get_monotonic_time () + (gint64) o->timeout_s * G_USEC_PER_SEC : 0;
  gboolean aborted = FALSE, downtime_set = FALSE;
  VfmJobStats last_stats;
  gint64 last_said = 0;
  guint ttl = o->claim_ttl_s ? o->claim_ttl_s : 300;
  gint64 renew_every = (gint64) MIN (60, MAX (ttl / 3, 1)) * G_USEC_PER_SEC;
  gint64 renewed = g_get_monotonic_time ();

  if ((dest_xml = vfm_domain_rewrite (run->xml, strlen (run->xml), run->moves, run->replug, run->r->claim_id,
                                      error)) == NULL ||
      (run->inactive && (persist_xml = vfm_domain_rewrite (run->inactive, strlen (run->inactive), run->moves, NULL,
                                                           NULL, error)) == NULL)) {
    g_prefix_error (error, "rewriting the domain XML for the destination: ");
    return FALSE;
  }
  job.virt = run->src;
  job.name = run->name;
  job.dest_uri = run->dest_uri;
  job.dest_xml = dest_xml;
  job.persist_xml = o->persistent ? persist_xml : NULL;
  job.flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_ABORT_ON_ERROR |
              (o->persistent ? VIR_MIGRATE_PERSIST_DEST : 0) | (o->undefine_source ? VIR_MIGRATE_UNDEFINE_SOURCE : 0);
  job.bandwidth = o->bandwidth_mib;
  /* its own connection: calls beside a running migration on the one
   * connection that started it wait behind it, or are refused */
  watch = vfm_virt_open (run->source_uri, FALSE, NULL);
  memset (&last_stats, 0xff, sizeof last_stats);
  t = g_thread_new ("vfm-migrate", migrate_thread, &job);
  while (!g_atomic_int_get (&job.done)) {
    VfmJobStats stats;
    if (watch != NULL && vfm_virt_job_stats (watch, run->name, &stats)) {
      if (!downtime_set)
        downtime_set = set_downtime (run, watch, &stats);
      /* a progress event when the numbers move, else one every 5 s */
      if (memcmp (&stats, &last_stats, sizeof stats) != 0 || g_get_monotonic_time () - last_said > 5 * G_USEC_PER_SEC) {
        say (run, "progress", &stats, "migrating");
        last_stats = stats;
        last_said = g_get_monotonic_time ();
      }
    }
    /* the claim outlives a migration longer than its lease (Decisions 12) */
    if (run->claim != NULL && g_get_monotonic_time () - renewed >= renew_every) {
      g_autoptr (GError) re = NULL;
      renewed = g_get_monotonic_time ();
      if (!vfm_peer_renew (run->peer, run->claim->id, ttl, &re))
        say (run, "progress", NULL, "renewing claim %s failed: %s", run->claim->id, re->message);
    }
    if ((o->cancel && g_atomic_int_get (o->cancel)) || (deadline && g_get_monotonic_time () > deadline)) {
      /* until the job is gone: an abort before libvirt's perform phase
       * finds no job to cancel, and the migration would go on */
      if (!aborted)
        say (run, "abort", NULL, "%s", o->cancel && g_atomic_int_get (o->cancel) ? "cancelled: aborting the job"
                                                                                 : "timeout: aborting the job");
      aborted = TRUE;
      vfm_virt_abort (watch ? watch : run->src, run->name);
    }
    g_usleep (200000);
  }
  g_thread_join (g_steal_pointer (&t));
  if (!job.ok) {
    g_propagate_error (error, job.error);
    if (aborted)
      g_prefix_error (error, "%s: ", o->cancel && g_atomic_int_get (o->cancel) ? "cancelled" : "timed out");
    return FALSE;
  }
  run->r->migrated = TRUE;
  step_done (run, "migrated %s live to %s", run->name, run->dest_uri);
  return TRUE;
}

/* 6b. The destination's QEMU has the devices it was given: each moved
 * mediated device (and PCI device not replugged) is in its live XML. */
static gboolean
step_verify (Run *run, GError **error)
{
  g_autoptr (VfmVirt) dst = NULL;
  g_autofree char *xml = NULL;
  g_autoptr (VfmDomainInfo) info = NULL;
  GHashTableIter it;
  gpointer key, value;
  guint n = 0;

  if (g_hash_table_size (run->moves) == 0)
    return TRUE;
  if ((dst = vfm_virt_open (run->dest_uri, FALSE, error)) == NULL ||
      (xml = domain_xml (dst, run->name, NULL, error)) == NULL ||
      (info = vfm_domain_parse (xml, strlen (xml), error)) == NULL) {
    g_prefix_error (error, "reading %s's live XML on the destination: ", run->name);
    return FALSE;
  }
  g_hash_table_iter_init (&it, run->moves);
  while (g_hash_table_iter_next (&it, &key, &value)) {
    gboolean found = FALSE;
    if (g_hash_table_contains (run->replug, key))
      continue; /* attached by the next step */
    for (guint i = 0; i < info->mdevs->len && !found; i++)
      found = g_strcmp0 (((VfmMdevHostdev *) g_ptr_array_index (info->mdevs, i))->uuid, value) == 0;
    for (guint i = 0; i < info->hostdevs->len && !found; i++)
      found = g_strcmp0 (((VfmHostdev *) g_ptr_array_index (info->hostdevs, i))->bdf, value) == 0;
    if (!found) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "the destination's QEMU does not have %s (given for %s)",
                   (const char *) value, (const char *) key);
      return FALSE;
    }
    n++;
  }
  if (n > 0)
    step_done (run, "verified: the destination runs %s with its %u claimed device%s", run->name, n, n == 1 ? "" : "s");
  return TRUE;
}

/* 7. Replug: attach the claimed devices on the destination. */
static gboolean
step_attach (Run *run, GError **error)
{
  g_autoptr (VfmVirt) dst = NULL;
  GHashTableIter it;
  gpointer key, value;

  if (g_hash_table_size (run->replug) == 0)
    return TRUE;
  if ((dst = vfm_virt_open (run->dest_uri, FALSE, error)) == NULL)
    return FALSE;
  g_hash_table_iter_init (&it, run->replug);
  while (g_hash_table_iter_next (&it, &key, &value)) {
    const char *to = g_hash_table_lookup (run->moves, key);
    g_autofree char *el = vfm_domain_hostdev_xml (run->xml, strlen (run->xml), key, to, error);
    if (el == NULL)
      return FALSE;
    step_begin (run);
    /* live only: with --persistent the migrated definition has it already
     * (pointing at the claimed device), and a second one is refused */
    if (!vfm_virt_device (dst, run->name, el, TRUE, FALSE, error)) {
      g_prefix_error (error, "attaching %s on the destination: ", to);
      return FALSE;
    }
    step_done (run, "attached %s on the destination", to);
  }
  return TRUE;
}

/* 8. The source devices stay on their VFIO driver, free for the next guest;
 * the claim on the destination becomes the domain's (DESIGN.md, Decisions
 * 12): no lease, until the domain stops or leaves there (its release hook,
 * or nothing holding the devices any more). */
static gboolean
step_adopt (Run *run, GError **error)
{
  gboolean adopted = FALSE;
  if (run->claim == NULL)
    return TRUE;
  if (!vfm_peer_adopt (run->peer, run->claim->id, &adopted, error)) {
    g_prefix_error (error, "handing claim %s on %s to %s: ", run->claim->id, vfm_peer_spec (run->peer), run->name);
    return FALSE;
  }
  if (adopted)
    step_done (run, "claim %s now belongs to %s on the destination (until it stops or leaves there)",
               run->claim->id, run->name);
  else
    step_done (run, "claim %s: nothing holds its devices on the destination yet, its lease goes on (renewed)",
               run->claim->id);
  return TRUE;
}

/* 9. The source's mediated devices that vfmig created (vfmigctl mdev
 * create, or the claim of an earlier migration here) are removed once the
 * source QEMU has let go of them, so their capacity returns to the parent;
 * an instance someone else made (mdevctl, an orchestrator, a plain sysfs
 * write) stays, and so does every one with --keep-source. The guest runs on
 * the destination already: a removal that fails is said, not an error. */
static gboolean
step_source (Run *run, GError **error)
{
  (void) error;
  for (guint i = 0; run->info != NULL && i < run->info->mdevs->len; i++) {
    const char *uuid = ((VfmMdevHostdev *) g_ptr_array_index (run->info->mdevs, i))->uuid;
    gint64 deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
    g_autoptr (GError) e = NULL;
    if (run->o->keep_source) {
      step_done (run, "kept source mediated device %s (--keep-source)", uuid);
      continue;
    }
    if (!vfm_mdev_ops_created_by_vfmig (run->host, uuid)) {
      step_done (run, "kept source mediated device %s: vfmig did not create it", uuid);
      continue;
    }
    /* the source QEMU ends just after the migration: until then the
     * instance is held (a remove of a held instance would block) */
    while (!vfm_mdev_ops_remove (run->host, uuid, FALSE, &e) &&
           g_error_matches (e, VFM_ERROR, VFM_ERROR_BUSY) && g_get_monotonic_time () < deadline) {
      g_clear_error (&e);
      g_usleep (100 * 1000);
    }
    if (e != NULL)
      step_done (run, "kept source mediated device %s: %s", uuid, e->message);
    else
      step_done (run, "removed source mediated device %s (vfmig created it; its capacity is free again)", uuid);
  }
  return TRUE;
}

typedef struct {
  const char *name;
  const char *phase;           /* the journal's phase while it runs (NULL: unchanged) */
  gboolean (*run) (Run *run, GError **error);
  void (*undo) (Run *run);     /* on a failure before the guest moved, last first */
  gboolean moves_guest;        /* once it succeeded, the guest runs on the destination */
} MigrateStep;

/* The sequence. A failure before the guest moved undoes the steps that ran,
 * last first, and the guest keeps running on the source; after it moved,
 * going back would be a second migration, so the failure is reported and
 * the journal kept for vfmigctl recover. --dry-run stops after pre-flight. */
static const MigrateStep migrate_steps[] = {
  { "pre-flight", NULL,        step_preflight, NULL,        FALSE },
  { "journal",    NULL,        step_journal,   NULL,        FALSE },
  { "claim",      "claiming",  step_claim,     undo_claim,  FALSE },
  { "prepare",    "preparing", step_prepare,   NULL,        FALSE },
  { "detach",     NULL,        step_detach,    undo_detach, FALSE },
  { "migrate",    "migrating", step_migrate,   NULL,        TRUE },
  { "verify",     NULL,        step_verify,    NULL,        FALSE },
  { "attach",     "attaching", step_attach,    NULL,        FALSE },
  { "adopt",      "adopting",  step_adopt,     NULL,        FALSE },
  { "source",     NULL,        step_source,    NULL,        FALSE },
};

const char * const *
vfm_migrate_step_names (void)
{
  static const char *names[G_N_ELEMENTS (migrate_steps) + 1];
  for (guint i = 0; i < G_N_ELEMENTS (migrate_steps); i++)
    names[i] = migrate_steps[i].name;
  return names;
}

/* A test seam: VFMIG_TEST_KILL_AFTER_STEP=NAME ends the process with SIGKILL
 * right after that step succeeded, as a crash there would. */
static void
maybe_die_after (const char *step)
{
  const char *at = g_getenv ("VFMIG_TEST_KILL_AFTER_STEP");
  if (at != NULL && g_strcmp0 (at, step) == 0)
    kill (getpid (), SIGKILL);
}

VfmMigrateResult *
vfm_migrate (VfmHost *host, const char *source_uri, const char *name, const char *dest_uri,
             const VfmMigrateOptions *o)
{
  VfmMigrateResult *r = g_new0 (VfmMigrateResult, 1);
  Run run = { .host = host, .o = o, .name = name, .source_uri = source_uri, .dest_uri = dest_uri, .r = r,
              .sr = vfm_host_sysroot (host) };
  gint64 start = g_get_monotonic_time ();
  gboolean moved = FALSE, keep_record = FALSE;
  guint i;

  r->domain = g_strdup (name);
  r->steps = g_ptr_array_new_with_free_func (g_free);
  run.wants = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_want_free);
  run.moves = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  run.replug = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  run.detached = g_ptr_array_new_with_free_func (g_free);
  run.detached_bdfs = g_ptr_array_new_with_free_func (g_free);

  for (i = 0; i < G_N_ELEMENTS (migrate_steps); i++) {
    const MigrateStep *s = &migrate_steps[i];
    if (o->dry_run && i > 0) {
      for (guint j = 0; j < r->check->plan->len; j++)
        g_ptr_array_add (r->steps, g_strdup_printf ("plan: %s", (const char *) g_ptr_array_index (r->check->plan, j)));
      break;
    }
    step_begin (&run);
    /* the guest runs there after migrate: record_phase failing then is no
     * reason to stop (it only loses what recover would do) */
    if (s->phase != NULL && !record_phase (&run, s->phase, moved ? NULL : &r->error))
      break;
    if (!s->run (&run, &r->error))
      break;
    moved |= s->moves_guest;
    maybe_die_after (s->name);
  }
  if (r->error != NULL && moved) {
    /* the guest runs on the destination: report what is missing instead
     * (the record stays, so that vfmigctl recover can try the attach and
     * the release again) */
    g_prefix_error (&r->error, "%s runs on %s, but: ", name, dest_uri);
    keep_record = TRUE;
  } else if (r->error != NULL) {
    if (run.claim != NULL || run.detached->len > 0) { /* something changed: undo it */
      say (&run, "rollback", NULL, "%s", r->error->message);
      for (guint j = i + 1; j-- > 0;)
        if (migrate_steps[j].undo != NULL)
          migrate_steps[j].undo (&run);
      r->rolled_back = TRUE;
    }
    g_prefix_error (&r->error, "cannot migrate %s: ", name);
  }
  if (run.rec != NULL && !keep_record)
    vfm_journal_remove_migration (run.sr, run.rec->domain_uuid, NULL);
  run_clear (&run);
  r->seconds = (g_get_monotonic_time () - start) / 1e6;
  return r;
}

/* Ends a migration job nobody drives any more (its vfmigctl died): abort it
 * and wait until libvirt says it is over, either way. */
static void
end_orphan_job (VfmVirt *src, const char *name, VfmMigrateResult *r)
{
  VfmJobStats stats;
  gint64 deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  if (!vfm_virt_job_stats (src, name, &stats))
    return;
  g_ptr_array_add (r->steps, g_strdup ("aborted the migration job its vfmigctl left running"));
  vfm_virt_abort (src, name);
  while (vfm_virt_job_stats (src, name, &stats) && g_get_monotonic_time () < deadline)
    g_usleep (200000);
}

static gboolean
domain_active (VfmVirt *v, const char *name)
{
  gboolean active = FALSE;
  return v != NULL && vfm_virt_domain_facts (v, name, NULL, NULL, &active, NULL) && active;
}

static void
release_claim (VfmPeer *peer, const VfmMigrationRecord *m, gboolean restore, VfmMigrateResult *r)
{
  g_autoptr (GError) e = NULL;
  if (m->claim_id == NULL)
    return;
  if (vfm_peer_release (peer, m->claim_id, restore, &e))
    g_ptr_array_add (r->steps, g_strdup_printf ("released claim %s on %s%s", m->claim_id, m->peer,
                                                restore ? " and returned what its prepare bound" : ""));
  else if (g_error_matches (e, VFM_ERROR, VFM_ERROR_NOT_FOUND))
    g_ptr_array_add (r->steps, g_strdup_printf ("claim %s on %s had ended already", m->claim_id, m->peer));
  else if (r->error == NULL)
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_FAILED, "cannot release claim %s on %s: %s", m->claim_id, m->peer,
                 e->message);
}

/* The guest runs on the destination: its claim there becomes the domain's. */
static void
adopt_claim (VfmPeer *peer, const VfmMigrationRecord *m, VfmMigrateResult *r)
{
  g_autoptr (GError) e = NULL;
  gboolean adopted = FALSE;
  if (m->claim_id == NULL)
    return;
  if (vfm_peer_adopt (peer, m->claim_id, &adopted, &e))
    g_ptr_array_add (r->steps, g_strdup_printf ("claim %s on %s %s", m->claim_id, m->peer,
                                                adopted ? "now belongs to the domain" : "keeps its lease (nothing holds its devices yet)"));
  else if (g_error_matches (e, VFM_ERROR, VFM_ERROR_NOT_FOUND))
    g_ptr_array_add (r->steps, g_strdup_printf ("claim %s on %s had ended already", m->claim_id, m->peer));
  else if (r->error == NULL)
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_FAILED, "cannot hand claim %s on %s to the domain: %s", m->claim_id,
                 m->peer, e->message);
}

/* One record: the guest still runs here → its detached devices go back and
 * the claim is released with its devices returned; it runs there → the
 * claimed devices are attached there and the claim adopted; it runs
 * nowhere → the claim is released, returned. */
static VfmMigrateResult *
recover_record (VfmHost *host, VfmMigrationRecord *m)
{
  VfmMigrateResult *r = g_new0 (VfmMigrateResult, 1);
  g_autoptr (VfmVirt) src = NULL, dst = NULL;
  g_autoptr (VfmPeer) peer = NULL;
  g_autoptr (GError) e = NULL;
  gint64 start = g_get_monotonic_time ();

  r->domain = g_strdup (m->domain_name);
  r->steps = g_ptr_array_new_with_free_func (g_free);
  r->claim_id = g_strdup (m->claim_id);
  if ((src = vfm_virt_open (m->source_uri, FALSE, &r->error)) == NULL)
    goto out;
  if (domain_active (src, m->domain_name))
    end_orphan_job (src, m->domain_name, r);
  peer = vfm_peer_new (m->peer, &e);
  if (peer == NULL) {
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_FAILED, "cannot reach the destination's vfmig (%s): %s", m->peer,
                 e->message);
    goto out;
  }
  if (domain_active (src, m->domain_name)) {
    for (guint i = 0; i < m->devices->len; i++) {
      const VfmMigrationDevice *d = g_ptr_array_index (m->devices, i);
      g_autofree char *el = NULL;
      g_autoptr (GError) ae = NULL;
      if (!d->detached || still_attached (src, m->domain_name, d->bdf))
        continue;
      el = d->hostdev ? g_strdup (d->hostdev) : vfm_hostdev_element (d->bdf, d->alias);
      if (vfm_virt_device (src, m->domain_name, el, TRUE, FALSE, &ae))
        g_ptr_array_add (r->steps, g_strdup_printf ("re-attached %s to %s on the source", d->bdf, m->domain_name));
      else if (r->error == NULL)
        g_set_error (&r->error, VFM_ERROR, VFM_ERROR_FAILED, "cannot re-attach %s to %s: %s", d->bdf,
                     m->domain_name, ae->message);
    }
    release_claim (peer, m, m->prepared, r);
    r->rolled_back = TRUE;
    g_ptr_array_add (r->steps, g_strdup_printf ("%s runs on the source: rolled back", m->domain_name));
  } else if ((dst = vfm_virt_open (m->dest_uri, FALSE, NULL)) != NULL && domain_active (dst, m->domain_name)) {
    for (guint i = 0; i < m->devices->len; i++) {
      const VfmMigrationDevice *d = g_ptr_array_index (m->devices, i);
      g_autofree char *el = NULL;
      g_autoptr (GError) ae = NULL;
      if (d->to == NULL || still_attached (dst, m->domain_name, d->to))
        continue;
      el = d->hostdev ? vfm_hostdev_retarget (d->hostdev, d->to, NULL) : NULL;
      if (el == NULL)
        el = vfm_hostdev_element (d->to, d->alias);
      if (vfm_virt_device (dst, m->domain_name, el, TRUE, FALSE, &ae))
        g_ptr_array_add (r->steps, g_strdup_printf ("attached %s to %s on the destination", d->to, m->domain_name));
      else if (r->error == NULL)
        g_set_error (&r->error, VFM_ERROR, VFM_ERROR_FAILED, "cannot attach %s to %s on %s: %s", d->to,
                     m->domain_name, m->dest_uri, ae->message);
    }
    adopt_claim (peer, m, r);
    r->migrated = TRUE;
    g_ptr_array_add (r->steps, g_strdup_printf ("%s runs on %s: finished", m->domain_name, m->dest_uri));
  } else {
    release_claim (peer, m, m->prepared, r);
    g_ptr_array_add (r->steps, g_strdup_printf ("%s runs on neither host: nothing to put back", m->domain_name));
  }
out:
  if (r->error == NULL)
    vfm_journal_remove_migration (vfm_host_sysroot (host), m->domain_uuid, NULL);
  else
    g_prefix_error (&r->error, "cannot recover the interrupted migration of %s (journal kept): ", m->domain_name);
  r->seconds = (g_get_monotonic_time () - start) / 1e6;
  return r;
}

VfmMigrateResult *
vfm_migrate_recover_domain (VfmHost *host, const char *uuid)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autofree char *lock_name = g_strdup_printf ("migration-%s", uuid);
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (VfmMigrationRecord) m = NULL;

  if (!g_uuid_string_is_valid (uuid))
    return NULL;
  /* held: that migration is alive */
  if ((lock = vfm_lock_named (sr, lock_name, 0, NULL)) == NULL ||
      (m = vfm_journal_read_migration (sr, uuid, NULL)) == NULL)
    return NULL;
  return recover_record (host, m);
}

GPtrArray *
vfm_migrate_recover (VfmHost *host, GPtrArray *warnings)
{
  g_autoptr (GPtrArray) records = vfm_journal_list_migrations (vfm_host_sysroot (host), warnings);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_migrate_result_free);
  for (guint i = 0; i < records->len; i++) {
    VfmMigrateResult *r =
      vfm_migrate_recover_domain (host, ((VfmMigrationRecord *) g_ptr_array_index (records, i))->domain_uuid);
    if (r != NULL)
      g_ptr_array_add (out, r);
  }
  return out;
}
