/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-placement.h"

G_BEGIN_DECLS

/* The plan for draining a host (issue 19, vfmigctl evacuate): for each
 * domain, in the order given, the best destination the placement ranks
 * (vfm-placement.h) and what happens - it moves live, it is stopped and
 * moved cold (only when the operator allows stops), or it stays where it is,
 * with the reason. Each move's destination devices are promised before the
 * next domain is placed, so no device is planned twice. Pure: profiles and
 * parsed domains in, the plan out. */

typedef enum {
  VFM_EVAC_LIVE,     /* migrates live with a strategy */
  VFM_EVAC_COLD,     /* will stop: shut down, defined and started on the destination */
  VFM_EVAC_LEAVE,    /* stays on the source (it would stop and stops are not allowed, or nothing can take it) */
} VfmEvacAction;

typedef struct {
  char *domain;
  VfmEvacAction action;
  gboolean will_stop;        /* no live move: it stops if it moves */
  char *host;                /* the chosen destination's label (its URI or file), NULL: none */
  char *hostname;            /* its hostname from its profile (for people), NULL: none */
  gint host_index;           /* in the placement, -1: none */
  VfmStrategy strategy;      /* LIVE: what migrate will use */
  GPtrArray *devices;        /* char *: "SOURCE → DESTINATION" (BDF or mdev UUID) */
  gint64 downtime_ms;        /* LIVE: the estimate; else -1 */
  gboolean device_gap;
  char *reason;              /* COLD/LEAVE: why not live (and why it stays) */
  VfmPlacementCandidate *candidate; /* the chosen (or best) candidate */
} VfmEvacEntry;

typedef struct {
  GPtrArray *entries;        /* VfmEvacEntry, in the domains' order */
  guint n_live, n_cold, n_leave;
} VfmEvacuation;

/* cold: names of domains the operator says move only stopped (they are
 * planned as if no live strategy worked), or NULL. */
VfmEvacuation *vfm_evacuation_plan    (VfmPlacement         *placement,
                                       const VfmHostProfile *src,
                                       GPtrArray            *domains,     /* VfmDomainInfo */
                                       VfmStrategy           requested,
                                       gboolean              allow_stop,
                                       const char * const   *cold);
void           vfm_evacuation_free    (VfmEvacuation *e);
const char    *vfm_evac_action_to_string (VfmEvacAction a);
JsonNode      *vfm_evac_entry_to_json (const VfmEvacEntry *e);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmEvacuation, vfm_evacuation_free)

G_END_DECLS
