/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-compat.h"
#include "vfm-libvirt.h"
#include "vfm-peer.h"

G_BEGIN_DECLS

/* The migration sequence (DESIGN.md, "Migration sequence"): pre-flight
 * check, claim and prepare on the destination, detach (replug), migrate with
 * a destination XML pointing at the claimed devices, attach (replug),
 * adopt (the claim becomes the domain's there), and the source's mediated
 * devices vfmig created removed. Any failure rolls back: the job is aborted, detached devices go
 * back into the guest, the claim is released and its devices returned; the
 * guest keeps running where it was. Every step is logged with its duration. */

typedef void (*VfmMigrateProgress) (const char *event, const VfmJobStats *stats, const char *message,
                                    gpointer user_data);

typedef struct {
  VfmStrategy strategy;
  gboolean persistent;       /* VIR_MIGRATE_PERSIST_DEST */
  gboolean undefine_source;  /* VIR_MIGRATE_UNDEFINE_SOURCE */
  gboolean offline_ok;       /* not used yet: migrations are live */
  gboolean dry_run;
  gboolean keep_source;      /* keep the source mediated devices vfmig created */
  guint timeout_s;           /* 0: none */
  guint64 bandwidth_mib;     /* 0: unlimited */
  guint64 max_downtime_ms;   /* 0: from the check (vfm_check_downtime_ms), else QEMU's default */
  gboolean postcopy;         /* asked for: refused, with the reason (DESIGN.md, Decisions 32) */
  guint claim_ttl_s;
  guint detach_timeout_s;
  const char *peer;          /* NULL: from the destination URI */
  VfmMigrateProgress progress;
  gpointer progress_data;
  volatile gint *cancel;     /* set to 1 to abort (Ctrl-C) */
} VfmMigrateOptions;

typedef struct {
  char *domain;
  VfmStrategy strategy;
  VfmCheckResult *check;     /* the pre-flight */
  GPtrArray *steps;          /* char *: "claim … (0.12 s)" */
  char *claim_id;
  gboolean migrated;
  gboolean rolled_back;
  gdouble seconds;
  GError *error;
} VfmMigrateResult;

void              vfm_migrate_result_free (VfmMigrateResult *r);
/* The names of the steps vfm_migrate walks, in order, NULL-terminated:
 * pre-flight, journal, claim, prepare, detach, migrate, verify, attach,
 * adopt, source. */
const char * const *vfm_migrate_step_names (void);
VfmMigrateResult *vfm_migrate             (VfmHost                 *host,
                                           const char              *source_uri,
                                           const char              *domain,
                                           const char              *dest_uri,
                                           const VfmMigrateOptions *opts);
/* A vfmigctl migrate that died (its journal record, vfm-journal.h, is left
 * and its lock free) is finished or rolled back, by where the guest runs. */
VfmMigrateResult *vfm_migrate_recover_domain (VfmHost    *host,
                                              const char *domain_uuid);
GPtrArray        *vfm_migrate_recover      (VfmHost   *host,
                                            GPtrArray *warnings);
char             *vfm_migrate_default_peer (const char *dest_uri,
                                            const char *sysroot);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmMigrateResult, vfm_migrate_result_free)

G_END_DECLS
