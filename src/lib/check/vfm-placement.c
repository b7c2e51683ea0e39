/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-placement.h"
#include "vfm-json.h"

/* Estimates, said as such wherever they are shown (vfmigctl(8)):
 * - a live migration stops the guest for QEMU's downtime-limit, 300 ms by
 *   default (libvirt keeps it unless --max-downtime is given);
 * - a device without dirty tracking makes QEMU copy all guest RAM the device
 *   can reach while the guest is stopped: at 10 Gb/s, 1250 MiB/s. */
#define DOWNTIME_LIMIT_MS 300
#define STOPPED_COPY_MIB_PER_S 1250

typedef struct {
  char *label;
  VfmHostProfile *profile;
  GHashTable *promised;      /* BDF or mdev UUID (owned) */
  GHashTable *mdev_room;     /* VfmMdevTypeProfile * -> planned instances */
  guint placed;              /* domains promised */
} PlacementHost;

struct _VfmPlacement {
  GPtrArray *hosts;          /* PlacementHost */
};

static void
placement_host_free (gpointer data)
{
  PlacementHost *h = data;
  g_free (h->label);
  vfm_host_profile_free (h->profile);
  g_hash_table_unref (h->promised);
  g_hash_table_unref (h->mdev_room);
  g_free (h);
}

VfmPlacement *
vfm_placement_new (void)
{
  VfmPlacement *p = g_new0 (VfmPlacement, 1);
  p->hosts = g_ptr_array_new_with_free_func (placement_host_free);
  return p;
}

void
vfm_placement_free (VfmPlacement *p)
{
  if (p == NULL)
    return;
  g_ptr_array_unref (p->hosts);
  g_free (p);
}

guint
vfm_placement_add_host (VfmPlacement *p, const char *label, VfmHostProfile *profile)
{
  PlacementHost *h = g_new0 (PlacementHost, 1);
  h->label = g_strdup (label ? label : profile->hostname);
  h->profile = profile;
  h->promised = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  h->mdev_room = g_hash_table_new (g_direct_hash, g_direct_equal);
  g_ptr_array_add (p->hosts, h);
  return p->hosts->len - 1;
}

guint
vfm_placement_n_hosts (VfmPlacement *p)
{
  return p->hosts->len;
}

const VfmHostProfile *
vfm_placement_host_profile (VfmPlacement *p, guint index)
{
  return ((PlacementHost *) g_ptr_array_index (p->hosts, index))->profile;
}

const char *
vfm_placement_host_label (VfmPlacement *p, guint index)
{
  return ((PlacementHost *) g_ptr_array_index (p->hosts, index))->label;
}

guint
vfm_placement_n_promised (VfmPlacement *p, guint index)
{
  return g_hash_table_size (((PlacementHost *) g_ptr_array_index (p->hosts, index))->promised);
}

void
vfm_placement_candidate_free (VfmPlacementCandidate *c)
{
  if (c == NULL)
    return;
  g_free (c->host);
  vfm_check_result_free (c->check);
  g_ptr_array_unref (c->blockers);
  g_ptr_array_unref (c->blocker_rules);
  g_free (c);
}

const char *
vfm_move_kind_to_string (VfmMoveKind k)
{
  switch (k) {
  case VFM_MOVE_LIVE: return "live";
  case VFM_MOVE_COLD: return "cold";
  case VFM_MOVE_NONE: return "none";
  }
  return "none";
}

static gboolean
same_ids (const VfmDeviceProfile *a, const VfmDeviceProfile *b)
{
  return a->vendor == b->vendor && a->device == b->device && a->subsystem_vendor == b->subsystem_vendor &&
         a->subsystem_device == b->subsystem_device && a->class_code == b->class_code;
}

/* Free devices on the host of a kind the domain uses (the same ids as one of
 * its PCI devices, or instances of one of its mediated types, plus the
 * instances the parents can still create), not promised to another domain. */
static guint
count_free_matching (const PlacementHost *h, const VfmHostProfile *src, const VfmDomainInfo *domain)
{
  guint n = 0;
  for (guint i = 0; i < h->profile->devices->len; i++) {
    const VfmDeviceProfile *d = g_ptr_array_index (h->profile->devices, i);
    gboolean wanted = FALSE;
    if (d->in_use || d->claimed || (d->driver != NULL && !d->vfio_bound) || g_hash_table_contains (h->promised, d->bdf))
      continue;
    for (guint j = 0; j < domain->hostdevs->len && !wanted; j++) {
      const VfmDeviceProfile *s = vfm_host_profile_device (src, ((VfmHostdev *) g_ptr_array_index (domain->hostdevs, j))->bdf);
      wanted = s != NULL && same_ids (s, d);
    }
    n += wanted;
  }
  for (guint j = 0; j < domain->mdevs->len; j++) {
    const VfmMdevProfile *s = vfm_host_profile_mdev (src, ((VfmMdevHostdev *) g_ptr_array_index (domain->mdevs, j))->uuid);
    /* one count per type, however many of the domain's devices have it */
    gboolean seen = FALSE;
    if (s == NULL || s->type == NULL)
      continue;
    for (guint k = 0; k < j && !seen; k++) {
      const VfmMdevProfile *o = vfm_host_profile_mdev (src, ((VfmMdevHostdev *) g_ptr_array_index (domain->mdevs, k))->uuid);
      seen = o != NULL && g_strcmp0 (o->type, s->type) == 0;
    }
    if (seen)
      continue;
    for (guint i = 0; i < h->profile->mdevs->len; i++) {
      const VfmMdevProfile *m = g_ptr_array_index (h->profile->mdevs, i);
      if (g_strcmp0 (m->type, s->type) == 0 && !m->in_use && !m->claimed && !g_hash_table_contains (h->promised, m->uuid))
        n++;
    }
    for (guint i = 0; i < h->profile->mdev_types->len; i++) {
      const VfmMdevTypeProfile *t = g_ptr_array_index (h->profile->mdev_types, i);
      gint planned = GPOINTER_TO_INT (g_hash_table_lookup (h->mdev_room, t));
      if (g_strcmp0 (t->name, s->type) == 0 && t->available_instances > planned)
        n += (guint) (t->available_instances - planned);
    }
  }
  return n;
}

/* A cold move needs only a free device of the same kind for each of the
 * domain's devices (the migration rules do not apply to a stopped guest),
 * and no device libvirt cannot assign again (SCSI, capabilities). */
static gboolean
cold_possible (const VfmCheckResult *r, const VfmDomainInfo *domain)
{
  if (domain->legacy_other)
    return FALSE;
  for (guint i = 0; i < r->hostdevs->len; i++)
    if (((VfmHostdevVerdict *) g_ptr_array_index (r->hostdevs, i))->dest_bdf == NULL)
      return FALSE;
  for (guint i = 0; i < r->mdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (r->mdevs, i);
    if (v->dest_mdev_uuid == NULL && v->dest_mdev_parent == NULL)
      return FALSE;
  }
  return TRUE;
}

/* The guest stops for the downtime-limit, plus the copy of its RAM where a
 * device that migrates natively has no dirty tracking on both ends. */
static gint64
estimate_downtime (const VfmCheckResult *r, const VfmHostProfile *src, const VfmHostProfile *dst,
                   const VfmDomainInfo *domain, gboolean *device_gap)
{
  gboolean ram_copy = FALSE;
  *device_gap = FALSE;
  for (guint i = 0; i < r->hostdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (r->hostdevs, i);
    VfmStrategy s = r->requested == VFM_STRATEGY_AUTO ? v->best : r->requested;
    if (s == VFM_STRATEGY_NATIVE) {
      const VfmDeviceProfile *a = vfm_host_profile_device (src, v->bdf);
      const VfmDeviceProfile *b = v->dest_bdf ? vfm_host_profile_device (dst, v->dest_bdf) : NULL;
      ram_copy |= a == NULL || b == NULL || !a->dirty_tracking || !b->dirty_tracking;
    } else {
      *device_gap = TRUE;
    }
  }
  for (guint i = 0; i < r->mdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (r->mdevs, i);
    const VfmMdevProfile *a = vfm_host_profile_mdev (src, v->mdev_uuid);
    ram_copy |= a == NULL || !a->dirty_tracking;
  }
  if (ram_copy)
    return DOWNTIME_LIMIT_MS + (gint64) (domain->memory_kib / 1024) * 1000 / STOPPED_COPY_MIB_PER_S;
  return DOWNTIME_LIMIT_MS;
}

/* Why the candidate cannot do better: for one that can move live, the
 * failed rules of the strategies above the chosen one; otherwise every
 * failed rule. */
static GPtrArray *
blockers_of (const VfmCheckResult *r, GPtrArray *rules)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < r->domain_rules->len; i++) {
    const VfmRuleResult *rr = g_ptr_array_index (r->domain_rules, i);
    if (rr->outcome == VFM_OUTCOME_FAIL) {
      g_ptr_array_add (out, g_strdup_printf ("%s: %s", rr->rule, rr->reason));
      if (!g_ptr_array_find_with_equal_func (rules, rr->rule, g_str_equal, NULL))
        g_ptr_array_add (rules, g_strdup (rr->rule));
    }
  }
  for (guint k = 0; k < r->hostdevs->len + r->mdevs->len; k++) {
    const VfmHostdevVerdict *v = k < r->hostdevs->len ? g_ptr_array_index (r->hostdevs, k)
                                                      : g_ptr_array_index (r->mdevs, k - r->hostdevs->len);
    for (guint i = 0; i < v->rules->len; i++) {
      const VfmRuleResult *rr = g_ptr_array_index (v->rules, i);
      guint above = 0;
      if (rr->outcome != VFM_OUTCOME_FAIL)
        continue;
      for (VfmStrategy s = r->ok ? r->strategy + 1 : VFM_STRATEGY_REPLUG; s <= VFM_STRATEGY_NATIVE; s++)
        above |= 1u << s;
      if ((rr->gates & above) == 0)
        continue;
      /* failover's pairing only matters when failover is the next step up */
      if (r->ok && rr->gates == (1u << VFM_STRATEGY_FAILOVER) && r->strategy != VFM_STRATEGY_REPLUG)
        continue;
      g_ptr_array_add (out, g_strdup_printf ("%s %s: %s", v->bdf ? v->bdf : v->mdev_uuid, rr->rule, rr->reason));
      if (!g_ptr_array_find_with_equal_func (rules, rr->rule, g_str_equal, NULL))
        g_ptr_array_add (rules, g_strdup (rr->rule));
    }
  }
  return out;
}

static gint
compare_candidates (gconstpointer pa, gconstpointer pb)
{
  const VfmPlacementCandidate *a = *(VfmPlacementCandidate **) pa, *b = *(VfmPlacementCandidate **) pb;
  if (a->kind != b->kind)
    return a->kind < b->kind ? -1 : 1;
  if (a->check->strategy != b->check->strategy)
    return a->check->strategy > b->check->strategy ? -1 : 1;
  if (a->downtime_ms != b->downtime_ms)
    return a->downtime_ms < b->downtime_ms ? -1 : 1;
  if (a->device_gap != b->device_gap)
    return a->device_gap ? 1 : -1;
  if (a->free_matching != b->free_matching)
    return a->free_matching > b->free_matching ? -1 : 1;
  if (a->blockers->len != b->blockers->len)
    return a->blockers->len < b->blockers->len ? -1 : 1;
  if (a->placed != b->placed)
    return a->placed < b->placed ? -1 : 1;
  return a->index < b->index ? -1 : a->index > b->index;
}

GPtrArray *
vfm_placement_rank (VfmPlacement *p, const VfmHostProfile *src, const VfmDomainInfo *domain, VfmStrategy requested)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_placement_candidate_free);
  for (guint i = 0; i < p->hosts->len; i++) {
    PlacementHost *h = g_ptr_array_index (p->hosts, i);
    VfmCheckReserved reserved = { .devices = h->promised, .mdev_room = h->mdev_room };
    VfmPlacementCandidate *c = g_new0 (VfmPlacementCandidate, 1);
    c->host = g_strdup (h->label);
    c->index = i;
    c->placed = h->placed;
    c->check = vfm_check_reserved (src, h->profile, domain, requested, &reserved);
    c->kind = c->check->ok ? VFM_MOVE_LIVE : cold_possible (c->check, domain) ? VFM_MOVE_COLD : VFM_MOVE_NONE;
    c->free_matching = count_free_matching (h, src, domain);
    c->downtime_ms = c->kind == VFM_MOVE_LIVE ? estimate_downtime (c->check, src, h->profile, domain, &c->device_gap) : -1;
    c->blocker_rules = g_ptr_array_new_with_free_func (g_free);
    c->blockers = blockers_of (c->check, c->blocker_rules);
    g_ptr_array_add (out, c);
  }
  g_ptr_array_sort (out, compare_candidates);
  return out;
}

void
vfm_placement_promise (VfmPlacement *p, const VfmPlacementCandidate *c)
{
  PlacementHost *h = g_ptr_array_index (p->hosts, c->index);
  h->placed++;
  for (guint i = 0; i < c->check->hostdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (c->check->hostdevs, i);
    if (v->dest_bdf != NULL)
      g_hash_table_add (h->promised, g_strdup (v->dest_bdf));
  }
  for (guint i = 0; i < c->check->mdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (c->check->mdevs, i);
    if (v->dest_mdev_uuid != NULL) {
      g_hash_table_add (h->promised, g_strdup (v->dest_mdev_uuid));
      continue;
    }
    /* an instance to be created: the parent has room for one less */
    for (guint j = 0; v->dest_mdev_parent != NULL && j < h->profile->mdev_types->len; j++) {
      VfmMdevTypeProfile *t = g_ptr_array_index (h->profile->mdev_types, j);
      if (g_strcmp0 (t->parent, v->dest_mdev_parent) == 0 && g_strcmp0 (t->name, v->mdev_type) == 0) {
        g_hash_table_insert (h->mdev_room, t, GINT_TO_POINTER (GPOINTER_TO_INT (g_hash_table_lookup (h->mdev_room, t)) + 1));
        break;
      }
    }
  }
}

char *
vfm_placement_candidate_downtime_text (const VfmPlacementCandidate *c)
{
  if (c->kind == VFM_MOVE_COLD)
    return g_strdup ("stop");
  if (c->kind == VFM_MOVE_NONE)
    return g_strdup ("-");
  return g_strdup_printf ("~%" G_GINT64_FORMAT " ms", c->downtime_ms);
}

JsonNode *
vfm_placement_candidate_to_json (const VfmPlacementCandidate *c, guint rank)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_int (b, "rank", rank);
  vfm_json_add_str (b, "host", c->host);
  vfm_json_add_str (b, "hostname", c->check->dest_host);
  vfm_json_add_str (b, "verdict", c->check->ok ? "migratable" : c->kind == VFM_MOVE_COLD ? "cold-only" : "not-migratable");
  vfm_json_add_str (b, "move", vfm_move_kind_to_string (c->kind));
  vfm_json_add_str (b, "strategy", c->kind == VFM_MOVE_COLD ? "cold" : vfm_strategy_to_string (c->check->strategy));
  vfm_json_add_int (b, "free_matching_devices", c->free_matching);
  vfm_json_add_int_or_null (b, "estimated_downtime_ms", c->downtime_ms);
  vfm_json_add_bool (b, "device_detached_meanwhile", c->device_gap);
  vfm_json_add_int (b, "domains_placed", c->placed);
  vfm_json_add_strv (b, "blocker_rules", c->blocker_rules);
  vfm_json_add_strv (b, "blockers", c->blockers);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
