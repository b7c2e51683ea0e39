/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-select.h"

#include <string.h>

/* Scores: every modules.alias candidate ranks above every curated-only one,
 * so that vfmig and libvirt (>= 10.0, which reads only modules.alias) choose
 * the same driver. Among aliases, fewer wildcards is better. */
#define SCORE_ALIAS_BASE 100
#define SCORE_NOT_ELIGIBLE -1

VfmDb *
vfm_db_new (void)
{
  VfmDb *db = g_new0 (VfmDb, 1);
  db->alias_cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) g_ptr_array_unref);
  db->uses_revision = -1;
  return db;
}

/* Whether any entry or policy matches on the revision: when none does, the
 * caller need not read it (one attribute less per device on large hosts). */
gboolean
vfm_db_uses_revision (VfmDb *db)
{
  if (db->uses_revision < 0) {
    db->uses_revision = 0;
    for (guint i = 0; db->curated && i < db->curated->entries->len; i++) {
      const VfmDriverEntry *e = g_ptr_array_index (db->curated->entries, i);
      for (guint j = 0; j < e->matches->len; j++)
        if (((const VfmMatch *) g_ptr_array_index (e->matches, j))->revision >= 0)
          db->uses_revision = 1;
    }
    for (guint i = 0; db->policies && i < db->policies->policies->len; i++)
      if (((const VfmPolicy *) g_ptr_array_index (db->policies->policies, i))->match->revision >= 0)
        db->uses_revision = 1;
  }
  return db->uses_revision == 1;
}

void
vfm_db_free (VfmDb *db)
{
  if (db == NULL)
    return;
  g_clear_pointer (&db->aliases, vfm_alias_table_free);
  g_clear_pointer (&db->curated, vfm_driver_db_free);
  g_clear_pointer (&db->policies, vfm_policy_set_free);
  g_hash_table_unref (db->alias_cache);
  g_free (db);
}

/* DESIGN.md, Decisions 21: a module exists when an alias line, modules.dep or
 * modules.builtin names it (all folded into the alias table), or when its
 * driver is registered. */
gboolean
vfm_db_module_exists (VfmDb *db, const char *module)
{
  if (db->aliases != NULL && vfm_alias_table_has_module (db->aliases, module))
    return TRUE;
  return db->module_probe != NULL && db->module_probe (module, db->module_probe_data);
}

static void
candidate_free (gpointer data)
{
  VfmCandidate *c = data;
  g_free (c->driver);
  g_free (c->module);
  g_free (c->source);
  g_free (c->reason);
  g_free (c);
}

void
vfm_selection_free (VfmSelection *sel)
{
  if (sel == NULL)
    return;
  g_ptr_array_unref (sel->candidates);
  g_free (sel->reason);
  g_free (sel->managed_reason);
  g_free (sel->libvirt.module);
  g_free (sel->libvirt.driver);
  g_free (sel->libvirt.source);
  g_free (sel->libvirt.reason);
  g_free (sel);
}

static VfmCandidate *
find_candidate (VfmSelection *sel, const char *module, VfmDriverKind kind)
{
  for (guint i = 0; i < sel->candidates->len; i++) {
    VfmCandidate *c = g_ptr_array_index (sel->candidates, i);
    if (g_strcmp0 (c->module, module) == 0 && c->kind == kind)
      return c;
  }
  return NULL;
}

static VfmCandidate *
add_candidate (VfmSelection *sel, const char *driver, const char *module, VfmDriverKind kind,
               char *source, int score, char *reason, const VfmDriverEntry *entry)
{
  VfmCandidate *c = g_new0 (VfmCandidate, 1);
  c->driver = g_strdup (driver);
  c->module = g_strdup (module);
  c->kind = kind;
  c->source = source;
  c->score = score;
  c->reason = reason;
  c->entry = entry;
  g_ptr_array_add (sel->candidates, c);
  return c;
}

static GPtrArray *
alias_matches (VfmDb *db, const VfmDeviceIds *ids)
{
  g_autofree char *modalias = vfm_ids_modalias (ids);
  GPtrArray *hits = g_hash_table_lookup (db->alias_cache, modalias);
  if (hits == NULL) {
    hits = vfm_alias_table_match (db->aliases, modalias);
    g_hash_table_insert (db->alias_cache, g_steal_pointer (&modalias), hits);
  }
  return hits;
}

/* Driver and module names are the same name with '-' or '_' (the module
 * vfio_pci registers the driver vfio-pci): policies and curated entries may
 * use either. */
gboolean
vfm_driver_name_equal (const char *a, const char *b)
{
  g_autofree char *na = NULL, *nb = NULL;
  if (a == NULL || b == NULL)
    return FALSE;
  na = vfm_module_normalize (a);
  nb = vfm_module_normalize (b);
  return strcmp (na, nb) == 0;
}

/* The driver name a module registers: what the host shows
 * (/sys/module/M/drivers/pci:NAME, or a registered driver under the name
 * with '_' or '-'), else the curated database's Name=, else NULL. */
char *
vfm_db_driver_name (VfmDb *db, const char *module)
{
  g_autofree char *norm = vfm_module_normalize (module);
  char *name = db->driver_name ? db->driver_name (norm, db->driver_name_data) : NULL;

  if (name != NULL)
    return name;
  for (guint i = 0; db->curated && i < db->curated->entries->len; i++) {
    const VfmDriverEntry *e = g_ptr_array_index (db->curated->entries, i);
    if (e->kind != VFM_KIND_IGD && g_strcmp0 (e->module, norm) == 0)
      return g_strdup (e->driver);
  }
  return NULL;
}

static char *
alias_reason (const VfmAlias *a)
{
  return g_strdup_printf ("the kernel's alias (line %u) matches with %u wildcard%s",
                          a->line, a->wildcards, a->wildcards == 1 ? "" : "s");
}

/* Candidates from the kernel's vfio_pci aliases: one per module, at its most
 * specific matching line (the first in the file among equals), ranked as
 * libvirt ranks lines: fewer wildcards, then the earlier line. */
static void
add_alias_candidates (VfmDb *db, VfmSelection *sel, const VfmDeviceIds *ids)
{
  GPtrArray *hits;

  if (db->aliases == NULL)
    return;
  hits = alias_matches (db, ids);
  for (guint i = 0; i < hits->len; i++) {
    const VfmAlias *a = g_ptr_array_index (hits, i);
    VfmCandidate *c = NULL;
    const VfmDriverEntry *entry = NULL;
    g_autofree char *driver = NULL;
    int score = SCORE_ALIAS_BASE - (int) a->wildcards;

    for (guint j = 0; j < sel->candidates->len && c == NULL; j++) {
      VfmCandidate *o = g_ptr_array_index (sel->candidates, j);
      if (g_strcmp0 (o->module, a->module) == 0)
        c = o;
    }
    if (c != NULL) {
      /* strictly better only: an equal line later in the file loses */
      if (score > c->score) {
        c->score = score;
        c->alias_line = a->line;
        g_free (c->source);
        c->source = g_strdup_printf ("modules.alias:%u", a->line);
        g_free (c->reason);
        c->reason = alias_reason (a);
      }
      continue;
    }
    if (db->curated != NULL)
      entry = vfm_driver_db_by_module (db->curated, a->module, VFM_KIND_VENDOR);
    if (entry == NULL && db->curated != NULL)
      entry = vfm_driver_db_by_module (db->curated, a->module, VFM_KIND_GENERIC);
    driver = vfm_db_driver_name (db, a->module);
    c = add_candidate (sel, driver ? driver : a->module, a->module,
                       entry ? entry->kind : strcmp (a->module, "vfio_pci") == 0 ? VFM_KIND_GENERIC : VFM_KIND_VENDOR,
                       g_strdup_printf ("modules.alias:%u", a->line), score, alias_reason (a), entry);
    c->alias_line = a->line;
  }
}

/* libvirt's fallback when no vfio_pci alias matches: plain vfio-pci. That is
 * the case on a kernel whose vfio-pci is built in (modules.builtin lists it;
 * no alias line names it). Ranked below every alias line. */
static void
add_fallback_candidate (VfmDb *db, VfmSelection *sel)
{
  const VfmDriverEntry *entry = NULL;
  g_autofree char *driver = NULL;
  gboolean exists;

  if (db->aliases == NULL || sel->candidates->len > 0)
    return;
  if (db->curated != NULL)
    entry = vfm_driver_db_by_module (db->curated, "vfio_pci", VFM_KIND_GENERIC);
  driver = vfm_db_driver_name (db, "vfio_pci");
  exists = vfm_db_module_exists (db, "vfio_pci");
  add_candidate (sel, driver ? driver : "vfio-pci", "vfio_pci", VFM_KIND_GENERIC, g_strdup ("fallback"),
                     exists ? SCORE_ALIAS_BASE - VFM_ALIAS_FIELDS - 1 : SCORE_NOT_ELIGIBLE,
                     exists ? g_strdup ("no vfio_pci alias matches this device: plain vfio-pci, the fallback "
                                        "(libvirt's too)")
                            : g_strdup ("no vfio_pci alias matches this device and vfio_pci is not installed "
                                        "(not in modules.alias, modules.dep or modules.builtin)"),
                     entry);
}

/* Curated entries add facts to alias candidates, add the IGD profile, and
 * name drivers the alias file does not (only when their module exists). */
static void
add_curated_candidates (VfmDb *db, VfmSelection *sel, const VfmDeviceIds *ids)
{
  if (db->curated == NULL)
    return;
  for (guint i = 0; i < db->curated->entries->len; i++) {
    const VfmDriverEntry *e = g_ptr_array_index (db->curated->entries, i);
    guint spec = 0;
    gboolean exists;

    if (!vfm_driver_entry_matches (e, ids, &spec))
      continue;
    if (e->kind != VFM_KIND_IGD && find_candidate (sel, e->module, e->kind) != NULL)
      continue; /* facts already attached to the alias candidate */
    /* a generic entry stands in for modules.alias only where the kernel has none */
    if (e->kind == VFM_KIND_GENERIC && db->aliases != NULL &&
        vfm_alias_table_has_module (db->aliases, e->module))
      continue;
    /* Without modules.alias nothing lists installed modules; the generic
     * entry then still gives every device a selection (DESIGN.md,
     * Decisions 1), and binding loads or reports the module. */
    exists = vfm_db_module_exists (db, e->module) ||
             (e->kind == VFM_KIND_GENERIC && db->aliases == NULL);

    if (e->kind == VFM_KIND_IGD) {
      /* The profile refines the plain vfio-pci choice; it wins over the
       * generic alias because it is the same driver plus the QEMU options
       * IGD needs. */
      VfmCandidate *generic = find_candidate (sel, e->module, VFM_KIND_GENERIC);
      int base = generic ? generic->score : (int) spec;
      add_candidate (sel, e->driver, e->module, e->kind, g_strdup_printf ("curated:%s", e->id),
                     exists ? base + 1 : SCORE_NOT_ELIGIBLE,
                     exists ? g_strdup_printf ("curated profile %s matches (%s): %s with IGD options",
                                               e->id, "Intel display at 00:02.0", e->driver)
                            : g_strdup_printf ("profile %s matches but module %s is not installed",
                                               e->id, e->module),
                     e);
      continue;
    }
    add_candidate (sel, e->driver, e->module, e->kind, g_strdup_printf ("curated:%s", e->id),
                   exists ? (int) spec : SCORE_NOT_ELIGIBLE,
                   exists ? g_strdup_printf (e->kind == VFM_KIND_GENERIC
                                               ? "curated generic entry %s (no modules.alias for this kernel)"
                                               : "curated entry %s matches; the kernel has no vfio_pci alias of %s for this device",
                                             e->id, e->module)
                          : g_strdup_printf ("curated entry %s matches but module %s is not installed on this kernel",
                                             e->id, e->module),
                   e);
  }
}

static void
apply_policy (VfmDb *db, VfmSelection *sel, const VfmPolicyOutcome *pol)
{
  for (guint i = 0; i < pol->deny->len; i++) {
    const char *driver = g_ptr_array_index (pol->deny, i);
    const VfmPolicy *by = g_ptr_array_index (pol->deny_by, i);
    for (guint j = 0; j < sel->candidates->len; j++) {
      VfmCandidate *c = g_ptr_array_index (sel->candidates, j);
      if (vfm_driver_name_equal (c->driver, driver) || vfm_driver_name_equal (c->module, driver)) {
        c->score = SCORE_NOT_ELIGIBLE;
        g_free (c->reason);
        c->reason = g_strdup_printf ("denied by policy %s (%s:%u)", by->id, by->path, by->line);
      }
    }
  }
  if (pol->prefer != NULL) {
    VfmCandidate *best = NULL;
    for (guint j = 0; j < sel->candidates->len; j++) {
      VfmCandidate *c = g_ptr_array_index (sel->candidates, j);
      if ((vfm_driver_name_equal (c->driver, pol->prefer) || vfm_driver_name_equal (c->module, pol->prefer)) &&
          c->score >= 0 && (best == NULL || c->score > best->score))
        best = c;
    }
    if (best == NULL && db->curated != NULL) {
      /* a preferred driver the device does not otherwise match: allowed when
       * the curated DB knows it and its module exists */
      const VfmDriverEntry *e = vfm_driver_db_lookup (db->curated, pol->prefer);
      if (e != NULL && vfm_db_module_exists (db, e->module))
        best = add_candidate (sel, e->driver, e->module, e->kind,
                              g_strdup_printf ("policy:%s", pol->prefer_by->id), 0, NULL, e);
    }
    if (best != NULL) {
      g_free (best->reason);
      best->reason = g_strdup_printf ("preferred by policy %s (%s:%u)", pol->prefer_by->id,
                                      pol->prefer_by->path, pol->prefer_by->line);
      best->score = G_MAXINT / 2;
    } else {
      add_candidate (sel, pol->prefer, pol->prefer, VFM_KIND_VENDOR,
                     g_strdup_printf ("policy:%s", pol->prefer_by->id), SCORE_NOT_ELIGIBLE,
                     g_strdup_printf ("preferred by policy %s but neither the kernel nor the curated database offers it for this device",
                                      pol->prefer_by->id),
                     NULL);
    }
  }
}

/* What libvirt would pick, computed from the alias file alone (no curated
 * data, no policy: libvirt reads neither). */
static void
libvirt_pick (VfmDb *db, VfmSelection *sel, const VfmDeviceIds *ids)
{
  VfmLibvirtPick *l = &sel->libvirt;
  g_autofree char *modalias = NULL;
  const VfmAlias *best;

  if (db->aliases == NULL) {
    l->reason = g_strdup ("libvirt cannot choose: this kernel has no modules.alias (libvirt then fails the detach "
                          "unless the domain names the driver)");
    return;
  }
  modalias = vfm_ids_modalias (ids);
  best = vfm_alias_table_best (db->aliases, modalias);
  l->decided = TRUE;
  l->module = g_strdup (best ? best->module : "vfio_pci");
  l->driver = vfm_db_driver_name (db, l->module);
  if (l->driver == NULL)
    l->driver = g_strdup (best ? best->module : "vfio-pci");
  l->source = best ? g_strdup_printf ("modules.alias:%u", best->line) : g_strdup ("fallback");
  l->reason = best ? g_strdup_printf ("alias line %u, the fewest wildcards (%u) of the matching lines", best->line,
                                      best->wildcards)
                   : g_strdup ("no vfio_pci alias matches: plain vfio-pci");
  l->agrees = sel->selected != NULL && g_strcmp0 (sel->selected->module, l->module) == 0;
}

static gint
compare_candidates (gconstpointer a, gconstpointer b)
{
  const VfmCandidate *ca = *(const VfmCandidate **) a;
  const VfmCandidate *cb = *(const VfmCandidate **) b;
  guint la = ca->alias_line ? ca->alias_line : G_MAXUINT;
  guint lb = cb->alias_line ? cb->alias_line : G_MAXUINT;
  if (ca->score != cb->score)
    return (cb->score > ca->score) - (cb->score < ca->score);
  /* equal scores: the earlier alias line first (libvirt keeps the first of
   * equally specific lines), then insertion order (the sort is stable) */
  return (la > lb) - (la < lb);
}

VfmSelection *
vfm_select (VfmDb *db, const VfmDeviceIds *ids)
{
  VfmSelection *sel = g_new0 (VfmSelection, 1);
  VfmPolicyOutcome pol;

  sel->candidates = g_ptr_array_new_with_free_func (candidate_free);
  vfm_policy_evaluate (db->policies, ids, &pol);

  add_alias_candidates (db, sel, ids);
  add_fallback_candidate (db, sel);
  add_curated_candidates (db, sel, ids);
  apply_policy (db, sel, &pol);

  /* stable: equal scores keep insertion (= file) order */
  g_ptr_array_sort (sel->candidates, compare_candidates);
  if (sel->candidates->len > 0) {
    VfmCandidate *top = g_ptr_array_index (sel->candidates, 0);
    if (top->score >= 0) {
      top->chosen = TRUE;
      sel->selected = top;
      sel->reason = g_strdup (top->reason);
    }
  }
  if (sel->selected == NULL)
    sel->reason = g_strdup (sel->candidates->len == 0
                              ? "no vfio_pci alias, curated entry or policy matches this device"
                              : "every matching driver is denied or not installed");

  if (ids->has_vfs) {
    sel->managed = FALSE;
    sel->managed_reason = g_strdup ("a PF that controls VFs is never bound by vfmig");
  } else if (pol.manage_by != NULL) {
    sel->managed = pol.manage;
    sel->auto_bind = pol.manage && pol.auto_bind;
    sel->managed_reason = g_strdup_printf ("%s by policy %s (%s:%u)",
                                           pol.manage ? "managed" : "not managed",
                                           pol.manage_by->id, pol.manage_by->path,
                                           pol.manage_by->line);
  } else {
    sel->managed_reason = g_strdup ("no policy manages this device");
  }
  if (sel->managed && sel->selected == NULL) {
    sel->managed = FALSE;
    sel->auto_bind = FALSE;
    g_free (sel->managed_reason);
    sel->managed_reason = g_strdup ("a policy manages it but no driver is available");
  }
  vfm_policy_outcome_clear (&pol);
  libvirt_pick (db, sel, ids);
  return sel;
}
