/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-compat.h"

G_BEGIN_DECLS

/* Where should a domain go? Several candidate hosts (their profiles) ranked
 * for one domain, best first, by the compatibility rules (vfm-compat.h); a
 * placement remembers the devices it promised to the domains placed before,
 * so that two domains are never given the same destination device (issue
 * 19: evacuate, ranked check). Pure: profiles in, ranking out, no libvirt. */

typedef enum {
  VFM_MOVE_LIVE = 0,   /* a live strategy works */
  VFM_MOVE_COLD = 1,   /* no live strategy, but matching free devices: stop, move, start */
  VFM_MOVE_NONE = 2,   /* not even that */
} VfmMoveKind;

typedef struct {
  char *host;                /* the candidate's label (the --to value) */
  guint index;               /* its place in the order given */
  VfmCheckResult *check;
  VfmMoveKind kind;
  guint free_matching;       /* free devices there of the domain's kinds, not promised */
  gint64 downtime_ms;        /* estimated time the guest stops; -1: it is shut down */
  gboolean device_gap;       /* replug/failover: the guest runs without the device meanwhile */
  GPtrArray *blockers;       /* char *: "[DEVICE ]rule: reason", why it cannot do better */
  GPtrArray *blocker_rules;  /* char *: the rules' names, each once */
  guint placed;              /* domains promised to that host before */
} VfmPlacementCandidate;

typedef struct _VfmPlacement VfmPlacement;

VfmPlacement         *vfm_placement_new          (void);
void                  vfm_placement_free         (VfmPlacement *p);
/* Takes the profile. Returns its index. */
guint                 vfm_placement_add_host     (VfmPlacement   *p,
                                                  const char     *label,
                                                  VfmHostProfile *profile);
guint                 vfm_placement_n_hosts      (VfmPlacement *p);
const VfmHostProfile *vfm_placement_host_profile (VfmPlacement *p,
                                                  guint         index);
const char           *vfm_placement_host_label   (VfmPlacement *p,
                                                  guint         index);
/* Every host judged for the domain (devices promised earlier are not
 * offered), sorted best first: live before cold before none; then the
 * strategy (native, failover, replug); the estimated downtime; more free
 * matching devices; fewer blockers; fewer domains placed there already (so
 * equal hosts share the load); the order given. */
GPtrArray            *vfm_placement_rank         (VfmPlacement         *p,
                                                  const VfmHostProfile *src,
                                                  const VfmDomainInfo  *domain,
                                                  VfmStrategy           requested);
/* The candidate's destination devices are promised: later rankings on that
 * host do not offer them (nor the mediated instances it would create). */
void                  vfm_placement_promise      (VfmPlacement       *p,
                                                  const VfmPlacementCandidate *c);
guint                 vfm_placement_n_promised   (VfmPlacement *p,
                                                  guint         index);

void                  vfm_placement_candidate_free         (VfmPlacementCandidate *c);
const char           *vfm_move_kind_to_string    (VfmMoveKind k);
/* "~300 ms" (the guest stops that long), "stop" (a cold move), "-" */
char                 *vfm_placement_candidate_downtime_text (const VfmPlacementCandidate *c);
JsonNode             *vfm_placement_candidate_to_json      (const VfmPlacementCandidate *c,
                                                  guint               rank);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmPlacement, vfm_placement_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmPlacementCandidate, vfm_placement_candidate_free)

G_END_DECLS
