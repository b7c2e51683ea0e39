/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-evacuation.h"
#include "vfm-json.h"

static void
entry_free (gpointer data)
{
  VfmEvacEntry *e = data;
  g_free (e->domain);
  g_free (e->host);
  g_free (e->hostname);
  g_ptr_array_unref (e->devices);
  g_free (e->reason);
  vfm_placement_candidate_free (e->candidate);
  g_free (e);
}

void
vfm_evacuation_free (VfmEvacuation *e)
{
  if (e == NULL)
    return;
  g_ptr_array_unref (e->entries);
  g_free (e);
}

const char *
vfm_evac_action_to_string (VfmEvacAction a)
{
  switch (a) {
  case VFM_EVAC_LIVE: return "live";
  case VFM_EVAC_COLD: return "cold";
  case VFM_EVAC_LEAVE: return "leave";
  }
  return "leave";
}

/* The devices the move takes on the destination, as pairs. */
static void
add_devices (VfmEvacEntry *e, const VfmCheckResult *r)
{
  for (guint i = 0; i < r->hostdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (r->hostdevs, i);
    g_ptr_array_add (e->devices, g_strdup_printf ("%s → %s", v->bdf, v->dest_bdf ? v->dest_bdf : "?"));
  }
  for (guint i = 0; i < r->mdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (r->mdevs, i);
    g_autofree char *to = v->dest_mdev_uuid ? g_strdup (v->dest_mdev_uuid)
                                            : g_strdup_printf ("a new %s on %s", v->mdev_type ? v->mdev_type : "instance",
                                                               v->dest_mdev_parent ? v->dest_mdev_parent : "?");
    g_ptr_array_add (e->devices, g_strdup_printf ("%s → %s", v->mdev_uuid, to));
  }
}

/* Why it cannot move live: the first failed rule of the best candidate (the
 * rules run in table order: an IGD or a device nobody has comes first). */
static const char *
first_blocker (const VfmPlacementCandidate *c)
{
  return c->blockers->len > 0 ? g_ptr_array_index (c->blockers, 0) : "no destination given";
}

VfmEvacuation *
vfm_evacuation_plan (VfmPlacement *placement, const VfmHostProfile *src, GPtrArray *domains, VfmStrategy requested,
                     gboolean allow_stop, const char * const *cold)
{
  VfmEvacuation *ev = g_new0 (VfmEvacuation, 1);
  ev->entries = g_ptr_array_new_with_free_func (entry_free);
  for (guint i = 0; i < domains->len; i++) {
    const VfmDomainInfo *d = g_ptr_array_index (domains, i);
    g_autoptr (GPtrArray) ranking = vfm_placement_rank (placement, src, d, requested);
    VfmEvacEntry *e = g_new0 (VfmEvacEntry, 1);
    VfmPlacementCandidate *best = ranking->len > 0 ? g_ptr_array_steal_index (ranking, 0) : NULL;

    e->domain = g_strdup (d->name);
    e->devices = g_ptr_array_new_with_free_func (g_free);
    e->host_index = -1;
    e->downtime_ms = -1;
    e->candidate = best;
    if (best != NULL && best->kind != VFM_MOVE_NONE && cold != NULL && g_strv_contains (cold, d->name)) {
      /* a live move would be possible: the operator wants it stopped */
      e->will_stop = TRUE;
      e->action = allow_stop ? VFM_EVAC_COLD : VFM_EVAC_LEAVE;
      e->reason = allow_stop ? g_strdup ("asked to move it stopped (--cold)")
                             : g_strdup_printf ("asked to move it stopped (--cold): a cold move to %s with --allow-stop",
                                                best->host);
    } else if (best != NULL && best->kind == VFM_MOVE_LIVE) {
      e->action = VFM_EVAC_LIVE;
      e->strategy = best->check->strategy;
      e->downtime_ms = best->downtime_ms;
      e->device_gap = best->device_gap;
    } else if (best != NULL && best->kind == VFM_MOVE_COLD) {
      e->will_stop = TRUE;
      e->action = allow_stop ? VFM_EVAC_COLD : VFM_EVAC_LEAVE;
      e->reason = allow_stop ? g_strdup (first_blocker (best))
                             : g_strdup_printf ("%s (a cold move to %s with --allow-stop)", first_blocker (best), best->host);
    } else {
      e->will_stop = TRUE;
      e->action = VFM_EVAC_LEAVE;
      e->reason = best ? g_strdup_printf ("no destination can take it: %s", first_blocker (best))
                       : g_strdup ("no destination given");
    }
    if (e->action != VFM_EVAC_LEAVE) {
      e->host = g_strdup (best->host);
      e->hostname = g_strdup (best->check->dest_host ? best->check->dest_host : best->host);
      e->host_index = (gint) best->index;
      add_devices (e, best->check);
      vfm_placement_promise (placement, best);
    }
    ev->n_live += e->action == VFM_EVAC_LIVE;
    ev->n_cold += e->action == VFM_EVAC_COLD;
    ev->n_leave += e->action == VFM_EVAC_LEAVE;
    g_ptr_array_add (ev->entries, e);
  }
  return ev;
}

JsonNode *
vfm_evac_entry_to_json (const VfmEvacEntry *e)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "domain", e->domain);
  vfm_json_add_str (b, "action", vfm_evac_action_to_string (e->action));
  vfm_json_add_bool (b, "will_stop", e->will_stop);
  vfm_json_add_str (b, "destination", e->host);
  vfm_json_add_str (b, "destination_host", e->hostname);
  vfm_json_add_str (b, "strategy", e->action == VFM_EVAC_LIVE ? vfm_strategy_to_string (e->strategy)
                                   : e->action == VFM_EVAC_COLD ? "cold" : NULL);
  vfm_json_add_strv (b, "devices", e->devices);
  vfm_json_add_int_or_null (b, "estimated_downtime_ms", e->downtime_ms);
  vfm_json_add_bool (b, "device_detached_meanwhile", e->device_gap);
  vfm_json_add_str (b, "reason", e->reason);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
