/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-evacuation.h"
#include "vfm-migrate.h"

G_BEGIN_DECLS

/* Draining a host (issue 19): every running domain of the source gets a
 * plan line (check/vfm-evacuation: destination, strategy, devices,
 * downtime, or "will stop" and why) before anything happens; then each moves
 * through the migration's own step table (vfm_migrate), N at a time, or -
 * when it cannot move live and stops are allowed - is shut down, defined
 * with the claimed devices on the destination and started there. One
 * domain's failure never stops the others, and a failed one still runs on
 * the source. */

typedef void (*VfmEvacuateProgress) (const char *domain, const char *event, const char *message, gpointer user_data);

typedef struct {
  VfmStrategy strategy;      /* for live moves (auto: the plan's) */
  gboolean allow_stop;
  const char * const *cold;  /* domains that move only stopped, or NULL */
  gboolean persistent;       /* live moves: define the domain on the destination */
  guint parallel;            /* domains moved at a time (1) */
  guint shutdown_timeout_s;  /* cold: how long the guest has to shut down (120) */
  guint timeout_s;           /* per migration, 0: none */
  guint64 bandwidth_mib;
  guint claim_ttl_s;
  const char *sysroot;       /* this host's (tests), for the workers' hosts and the default peers */
  VfmEvacuateProgress progress;
  gpointer progress_data;
  volatile gint *cancel;
} VfmEvacuateOptions;

typedef enum {
  VFM_EVAC_PLANNED,          /* dry run */
  VFM_EVAC_MOVED,
  VFM_EVAC_STOPPED_AND_MOVED,
  VFM_EVAC_LEFT,
  VFM_EVAC_FAILED,
} VfmEvacOutcome;

typedef struct {
  char *domain;
  char *destination;         /* URI, NULL: none */
  VfmEvacOutcome outcome;
  char *message;             /* the reason it was left, the error, or where it runs */
  gdouble seconds;
  GPtrArray *steps;          /* char *: the migration's or the cold move's steps */
} VfmEvacResult;

typedef struct {
  char *source_uri;
  GPtrArray *dest_uris;      /* char *: the destinations that answered, as the placement's labels */
  GPtrArray *warnings;       /* char *: destinations that did not answer, domains not read */
  GHashTable *peers;         /* URI -> the peer spec its vfmig was reached by */
  VfmEvacuation *plan;
  GPtrArray *results;        /* VfmEvacResult, in the plan's order (after vfm_evacuate_run) */
} VfmEvacuate;

/* The plan against the live hosts: this host's running domains, its profile,
 * each destination's profile through its vfmig (peers[i], or the default
 * for dest_uris[i]). Fails only when nothing can be planned. */
VfmEvacuate   *vfm_evacuate_plan   (VfmHost                  *host,
                                    const char               *source_uri,
                                    char                    **dest_uris,
                                    char                    **peers,
                                    const VfmEvacuateOptions *opts,
                                    GError                  **error);
/* Carries the plan out (dry run: each entry PLANNED). Returns the number of
 * domains that failed or were left. */
guint          vfm_evacuate_run    (VfmHost                  *host,
                                    VfmEvacuate              *ev,
                                    gboolean                  dry_run,
                                    const VfmEvacuateOptions *opts);
void           vfm_evacuate_free   (VfmEvacuate *ev);
const char    *vfm_evac_outcome_to_string (VfmEvacOutcome o);
JsonNode      *vfm_evac_result_to_json    (const VfmEvacResult *r);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmEvacuate, vfm_evacuate_free)

G_END_DECLS
