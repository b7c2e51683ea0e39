/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-evacuate.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-preflight.h"

#include <string.h>

/* ---- results ---- */

static void
result_free (gpointer data)
{
  VfmEvacResult *r = data;
  g_free (r->domain);
  g_free (r->destination);
  g_free (r->message);
  g_ptr_array_unref (r->steps);
  g_free (r);
}

void
vfm_evacuate_free (VfmEvacuate *ev)
{
  if (ev == NULL)
    return;
  g_free (ev->source_uri);
  g_ptr_array_unref (ev->dest_uris);
  g_ptr_array_unref (ev->warnings);
  g_clear_pointer (&ev->peers, g_hash_table_unref);
  vfm_evacuation_free (ev->plan);
  g_clear_pointer (&ev->results, g_ptr_array_unref);
  g_free (ev);
}

const char *
vfm_evac_outcome_to_string (VfmEvacOutcome o)
{
  switch (o) {
  case VFM_EVAC_PLANNED: return "planned";
  case VFM_EVAC_MOVED: return "moved";
  case VFM_EVAC_STOPPED_AND_MOVED: return "stopped-and-moved";
  case VFM_EVAC_LEFT: return "left";
  case VFM_EVAC_FAILED: return "failed";
  }
  return "failed";
}

JsonNode *
vfm_evac_result_to_json (const VfmEvacResult *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "domain", r->domain);
  vfm_json_add_str (b, "destination", r->destination);
  vfm_json_add_str (b, "outcome", vfm_evac_outcome_to_string (r->outcome));
  vfm_json_add_str (b, "message", r->message);
  json_builder_set_member_name (b, "seconds");
  json_builder_add_double_value (b, r->seconds);
  vfm_json_add_strv (b, "steps", r->steps);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ---- the plan against the live hosts ---- */

VfmEvacuate *
vfm_evacuate_plan (VfmHost *host, const char *source_uri, char **dest_uris, char **peers,
                   const VfmEvacuateOptions *opts, GError **error)
{
  g_autoptr (VfmEvacuate) ev = g_new0 (VfmEvacuate, 1);
  g_autoptr (VfmHostProfile) src = NULL;
  g_autoptr (VfmVirt) virt = NULL;
  g_autoptr (GPtrArray) names = NULL;
  g_autoptr (GPtrArray) domains = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_domain_info_free);
  g_autoptr (VfmPlacement) placement = vfm_placement_new ();

  ev->source_uri = g_strdup (source_uri);
  ev->dest_uris = g_ptr_array_new_with_free_func (g_free);
  ev->warnings = g_ptr_array_new_with_free_func (g_free);
  ev->peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  if ((virt = vfm_virt_open (source_uri, FALSE, error)) == NULL || (names = vfm_virt_list_running (virt, error)) == NULL)
    return NULL;
  if ((src = vfm_preflight_source (host, source_uri, error)) == NULL)
    return NULL;
  for (guint i = 0; i < names->len; i++) {
    const char *name = g_ptr_array_index (names, i);
    g_autoptr (GError) local = NULL;
    g_autofree char *xml = vfm_virt_domain_xml (virt, name, FALSE, &local);
    VfmDomainInfo *info = xml ? vfm_domain_parse (xml, strlen (xml), &local) : NULL;
    if (info == NULL) {
      /* it stays: say so rather than plan without it */
      g_ptr_array_add (ev->warnings, g_strdup_printf ("%s: cannot read its definition, it stays: %s", name, local->message));
      continue;
    }
    g_ptr_array_add (domains, info);
  }
  for (guint i = 0; dest_uris[i] != NULL; i++) {
    g_autofree char *peer = peers ? g_strdup (peers[i]) : vfm_migrate_default_peer (dest_uris[i], opts->sysroot);
    g_autoptr (GError) local = NULL;
    gulong lv, qv;
    VfmHostProfile *dst = NULL;
    /* a destination whose libvirt does not answer takes nobody */
    if (vfm_libvirt_versions (dest_uris[i], &lv, &qv, &local))
      dst = vfm_preflight_destination (peer, dest_uris[i], &local);
    if (dst == NULL) {
      g_ptr_array_add (ev->warnings, g_strdup_printf ("%s: not used: %s", dest_uris[i], local->message));
      continue;
    }
    vfm_placement_add_host (placement, dest_uris[i], dst);
    g_ptr_array_add (ev->dest_uris, g_strdup (dest_uris[i]));
    g_hash_table_insert (ev->peers, g_strdup (dest_uris[i]), g_steal_pointer (&peer));
  }
  if (ev->dest_uris->len == 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "no destination answered: %s",
                 ev->warnings->len ? (const char *) g_ptr_array_index (ev->warnings, ev->warnings->len - 1) : "none given");
    return NULL;
  }
  ev->plan = vfm_evacuation_plan (placement, src, domains, opts->strategy, opts->allow_stop, opts->cold);
  return g_steal_pointer (&ev);
}

/* ---- carrying it out ---- */

typedef struct {
  VfmEvacuate *ev;
  const VfmEvacuateOptions *o;
  GMutex lock;               /* progress and results from the workers */
} Run;

typedef struct {
  Run *run;
  guint index;
} Job;

static void
report (Run *run, const char *domain, const char *event, const char *fmt, ...) G_GNUC_PRINTF (4, 5);

static void
report (Run *run, const char *domain, const char *event, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;
  if (run->o->progress == NULL)
    return;
  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_mutex_lock (&run->lock);
  run->o->progress (domain, event, msg, run->o->progress_data);
  g_mutex_unlock (&run->lock);
}

static void
migrate_progress (const char *event, const VfmJobStats *stats, const char *message, gpointer data)
{
  Job *job = data;
  const VfmEvacEntry *e = g_ptr_array_index (job->run->ev->plan->entries, job->index);
  if (g_strcmp0 (event, "progress") != 0)
    report (job->run, e->domain, event, "%s", message);
}

static void
live_move (VfmHost *host, Job *job, VfmEvacResult *res)
{
  Run *run = job->run;
  const VfmEvacEntry *e = g_ptr_array_index (run->ev->plan->entries, job->index);
  VfmMigrateOptions mo = { 0 };
  g_autoptr (VfmMigrateResult) r = NULL;

  mo.strategy = run->o->strategy == VFM_STRATEGY_AUTO ? e->strategy : run->o->strategy;
  mo.persistent = run->o->persistent;
  mo.timeout_s = run->o->timeout_s;
  mo.bandwidth_mib = run->o->bandwidth_mib;
  mo.claim_ttl_s = run->o->claim_ttl_s;
  mo.peer = g_hash_table_lookup (run->ev->peers, e->host);
  mo.progress = migrate_progress;
  mo.progress_data = job;
  mo.cancel = run->o->cancel;
  /* the migration's own step table: pre-flight again against what the
   * destination holds now, claim, prepare, detach, migrate, ... roll-back */
  r = vfm_migrate (host, run->ev->source_uri, e->domain, e->host, &mo);
  for (guint i = 0; i < r->steps->len; i++)
    g_ptr_array_add (res->steps, g_strdup (g_ptr_array_index (r->steps, i)));
  if (r->error == NULL) {
    res->outcome = VFM_EVAC_MOVED;
    res->message = g_strdup_printf ("runs on %s (%s)", e->hostname, vfm_strategy_to_string (r->strategy));
  } else {
    res->outcome = VFM_EVAC_FAILED;
    res->message = g_strdup_printf ("%s%s", r->error->message, r->migrated ? "" : "; it still runs on the source");
  }
}

/* What a claim on the destination asks for: each PCI device's identity and
 * driver, each mediated device's type (as the migration's pre-flight). */
static GPtrArray *
cold_wants (const VfmHostProfile *src, const VfmDomainInfo *info, GError **error)
{
  g_autoptr (GPtrArray) wants = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_want_free);
  for (guint i = 0; i < info->hostdevs->len; i++) {
    const VfmHostdev *h = g_ptr_array_index (info->hostdevs, i);
    const VfmDeviceProfile *d = vfm_host_profile_device (src, h->bdf);
    if (d == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "%s: no device %s on this host", info->name, h->bdf);
      return NULL;
    }
    g_ptr_array_add (wants, vfm_claim_want_for_device (d));
  }
  for (guint i = 0; i < info->mdevs->len; i++) {
    const VfmMdevHostdev *m = g_ptr_array_index (info->mdevs, i);
    const VfmMdevProfile *p = vfm_host_profile_mdev (src, m->uuid);
    g_ptr_array_add (wants, vfm_claim_want_for_mdev (m->uuid, p ? p->type : NULL, p ? p->parent : NULL));
  }
  return g_steal_pointer (&wants);
}

static gboolean
wait_inactive (VfmVirt *v, const char *name, guint timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
  guint delay_ms = 50;
  while (TRUE) {
    gboolean active = TRUE;
    if (!vfm_virt_domain_facts (v, name, NULL, NULL, &active, NULL))
      return TRUE; /* a transient domain is gone once it stopped */
    if (!active)
      return TRUE;
    if (g_get_monotonic_time () >= deadline)
      return FALSE;
    g_usleep (delay_ms * 1000);
    delay_ms = MIN (delay_ms * 2, 500);
  }
}

static void
cold_step (Job *job, VfmEvacResult *res, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

static void
cold_step (Job *job, VfmEvacResult *res, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;
  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_ptr_array_add (res->steps, g_strdup (msg));
  report (job->run, res->domain, "step", "%s", msg);
}

/* A cold move: the destination's devices claimed and prepared first (a
 * failure there costs the guest nothing), then the guest shut down (its
 * own shutdown, waited for), defined with the claimed devices on the
 * destination and started there. Any failure after the shutdown starts it
 * again on the source. The source keeps its definition, shut off. */
static void
cold_move (VfmHost *host, Job *job, VfmEvacResult *res)
{
  Run *run = job->run;
  const VfmEvacEntry *e = g_ptr_array_index (run->ev->plan->entries, job->index);
  const char *dest = e->host;
  guint timeout_s = run->o->shutdown_timeout_s ? run->o->shutdown_timeout_s : 120;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmVirt) src = NULL, dst = NULL;
  g_autoptr (VfmPeer) peer = NULL;
  g_autoptr (VfmClaim) claim = NULL;
  g_autoptr (VfmHostProfile) profile = NULL;
  g_autoptr (VfmDomainInfo) info = NULL;
  g_autoptr (GPtrArray) wants = NULL;
  g_autoptr (GHashTable) moves = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *uuid = NULL, *live = NULL, *inactive = NULL, *dest_xml = NULL;
  gboolean persistent = FALSE, active = FALSE, prepared = FALSE, stopped = FALSE, defined = FALSE;

  res->outcome = VFM_EVAC_FAILED;
  if ((src = vfm_virt_open (run->ev->source_uri, FALSE, &error)) == NULL ||
      !vfm_virt_domain_facts (src, e->domain, &uuid, &persistent, &active, &error) ||
      (live = vfm_virt_domain_xml (src, e->domain, FALSE, &error)) == NULL ||
      (persistent && (inactive = vfm_virt_domain_xml (src, e->domain, TRUE, &error)) == NULL) ||
      (info = vfm_domain_parse (live, strlen (live), &error)) == NULL ||
      (profile = vfm_preflight_source (host, run->ev->source_uri, &error)) == NULL ||
      (wants = cold_wants (profile, info, &error)) == NULL)
    goto out;
  if (!active) {
    g_set_error (&error, VFM_ERROR, VFM_ERROR_FAILED, "%s is not running any more", e->domain);
    goto out;
  }
  if ((peer = vfm_peer_new (g_hash_table_lookup (run->ev->peers, dest), &error)) == NULL)
    goto out;
  if (wants->len > 0) {
    if ((claim = vfm_peer_claim (peer, uuid, e->domain, wants, run->o->claim_ttl_s ? run->o->claim_ttl_s : 300,
                                 &error)) == NULL) {
      g_prefix_error (&error, "claiming on %s: ", dest);
      goto out;
    }
    cold_step (job, res, "claimed %u device%s on %s (claim %s)", claim->devices->len,
               claim->devices->len == 1 ? "" : "s", dest, claim->id);
    prepared = TRUE; /* a prepare that failed half-way bound some: the release returns them */
    if (!vfm_peer_prepare (peer, claim->id, &error)) {
      g_prefix_error (&error, "preparing claim %s on %s: ", claim->id, dest);
      goto out;
    }
    cold_step (job, res, "prepared the destination devices (bound, verified)");
    for (guint i = 0; i < claim->devices->len; i++) {
      const VfmClaimDevice *cd = g_ptr_array_index (claim->devices, i);
      if (cd->uuid != NULL)
        g_hash_table_insert (moves, cd->source_uuid, cd->uuid);
      else
        g_hash_table_insert (moves, cd->source_bdf, cd->bdf);
    }
  }
  if ((dest_xml = vfm_domain_rewrite (inactive ? inactive : live, strlen (inactive ? inactive : live), moves, NULL,
                                      NULL, &error)) == NULL) {
    g_prefix_error (&error, "rewriting the definition for %s: ", dest);
    goto out;
  }
  if ((dst = vfm_virt_open (dest, FALSE, &error)) == NULL)
    goto out;

  /* from here the guest stops */
  if (!vfm_virt_shutdown (src, e->domain, &error))
    goto out;
  cold_step (job, res, "asked %s to shut down", e->domain);
  if (!wait_inactive (src, e->domain, timeout_s)) {
    /* it never stopped: it runs on, nothing else changed */
    g_set_error (&error, VFM_ERROR, VFM_ERROR_FAILED, "%s did not shut down within %u s", e->domain, timeout_s);
    goto out;
  }
  stopped = TRUE;
  cold_step (job, res, "%s shut down on the source", e->domain);
  if (!vfm_virt_define (dst, dest_xml, &error)) {
    g_prefix_error (&error, "on %s: ", dest);
    goto out;
  }
  defined = TRUE;
  if (!vfm_virt_start (dst, e->domain, &error)) {
    g_prefix_error (&error, "on %s: ", dest);
    goto out;
  }
  cold_step (job, res, "defined and started %s on %s with the claimed devices", e->domain, dest);
  if (claim != NULL) {
    g_autoptr (GError) local = NULL;
    gboolean adopted = FALSE;
    /* the running domain holds the devices now: the claim is its own, as
     * after a migration (issue 16, 6) */
    if (vfm_peer_adopt (peer, claim->id, &adopted, &local))
      cold_step (job, res, "claim %s %s", claim->id,
                 adopted ? "now belongs to the domain there" : "keeps its lease (nothing holds its devices yet)");
    else
      cold_step (job, res, "handing claim %s to the domain failed: %s", claim->id, local->message);
  }
  res->outcome = VFM_EVAC_STOPPED_AND_MOVED;
  res->message = g_strdup_printf ("stopped, runs on %s%s", e->hostname, persistent ? " (the source keeps its definition, shut off)" : "");
  return;

out:
  /* put everything back: the guest runs on the source again */
  if (defined) {
    g_autoptr (GError) local = NULL;
    if (vfm_virt_undefine (dst, e->domain, &local))
      cold_step (job, res, "roll-back: undefined %s on %s", e->domain, dest);
  }
  if (stopped) {
    g_autoptr (GError) local = NULL;
    if (persistent ? vfm_virt_start (src, e->domain, &local) : vfm_virt_create_transient (src, live, &local))
      cold_step (job, res, "roll-back: started %s again on the source", e->domain);
    else
      cold_step (job, res, "roll-back: starting %s again on the source failed: %s", e->domain, local->message);
  }
  if (claim != NULL) {
    g_autoptr (GError) local = NULL;
    if (vfm_peer_release (peer, claim->id, prepared, &local))
      cold_step (job, res, "roll-back: released claim %s%s", claim->id, prepared ? " and returned its devices" : "");
  }
  res->message = g_strdup_printf ("%s; %s", error ? error->message : "failed",
                                  stopped ? "started again on the source" : "it still runs on the source");
}

static void
run_one (VfmHost *host, Job *job)
{
  Run *run = job->run;
  const VfmEvacEntry *e = g_ptr_array_index (run->ev->plan->entries, job->index);
  VfmEvacResult *res = g_ptr_array_index (run->ev->results, job->index);
  gint64 start = g_get_monotonic_time ();

  if (run->o->cancel != NULL && g_atomic_int_get (run->o->cancel)) {
    res->outcome = VFM_EVAC_LEFT;
    res->message = g_strdup ("cancelled before it started; it runs on the source");
  } else {
    report (run, e->domain, "start", "%s → %s (%s)", e->domain, e->hostname,
            e->action == VFM_EVAC_COLD ? "cold, will stop" : vfm_strategy_to_string (e->strategy));
    if (e->action == VFM_EVAC_COLD)
      cold_move (host, job, res);
    else
      live_move (host, job, res);
  }
  res->seconds = (g_get_monotonic_time () - start) / 1e6;
  report (run, e->domain, "result", "%s: %s", vfm_evac_outcome_to_string (res->outcome), res->message);
}

/* A worker's own host object (the library's VfmHost is not shared between
 * threads). */
static void
worker (gpointer data, gpointer user_data)
{
  Job *job = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmHost) host = vfm_host_new (job->run->o->sysroot, &error);
  if (host == NULL) {
    VfmEvacResult *res = g_ptr_array_index (job->run->ev->results, job->index);
    res->outcome = VFM_EVAC_FAILED;
    res->message = g_strdup_printf ("%s; it still runs on the source", error->message);
    return;
  }
  run_one (host, job);
}

guint
vfm_evacuate_run (VfmHost *host, VfmEvacuate *ev, gboolean dry_run, const VfmEvacuateOptions *o)
{
  Run run = { .ev = ev, .o = o };
  g_autofree Job *jobs = g_new0 (Job, ev->plan->entries->len);
  guint bad = 0;

  g_clear_pointer (&ev->results, g_ptr_array_unref);
  ev->results = g_ptr_array_new_with_free_func (result_free);
  for (guint i = 0; i < ev->plan->entries->len; i++) {
    const VfmEvacEntry *e = g_ptr_array_index (ev->plan->entries, i);
    VfmEvacResult *r = g_new0 (VfmEvacResult, 1);
    r->domain = g_strdup (e->domain);
    r->destination = g_strdup (e->host);
    r->steps = g_ptr_array_new_with_free_func (g_free);
    if (e->action == VFM_EVAC_LEAVE) {
      r->outcome = VFM_EVAC_LEFT;
      r->message = g_strdup_printf ("%s%s", e->will_stop ? "will stop: " : "", e->reason);
    } else if (dry_run) {
      r->outcome = VFM_EVAC_PLANNED;
      r->message = g_strdup (e->action == VFM_EVAC_COLD ? "would stop and move cold" : "would move live");
    }
    g_ptr_array_add (ev->results, r);
    jobs[i].run = &run;
    jobs[i].index = i;
  }
  g_mutex_init (&run.lock);
  if (!dry_run) {
    if (o->parallel <= 1) {
      for (guint i = 0; i < ev->plan->entries->len; i++)
        if (((VfmEvacEntry *) g_ptr_array_index (ev->plan->entries, i))->action != VFM_EVAC_LEAVE)
          run_one (host, &jobs[i]);
    } else {
      GThreadPool *pool = g_thread_pool_new (worker, NULL, (gint) o->parallel, TRUE, NULL);
      for (guint i = 0; i < ev->plan->entries->len; i++)
        if (((VfmEvacEntry *) g_ptr_array_index (ev->plan->entries, i))->action != VFM_EVAC_LEAVE)
          g_thread_pool_push (pool, &jobs[i], NULL);
      g_thread_pool_free (pool, FALSE, TRUE); /* waits for every job */
    }
  }
  g_mutex_clear (&run.lock);
  for (guint i = 0; i < ev->results->len; i++) {
    const VfmEvacResult *r = g_ptr_array_index (ev->results, i);
    bad += r->outcome == VFM_EVAC_LEFT || r->outcome == VFM_EVAC_FAILED;
  }
  return bad;
}
