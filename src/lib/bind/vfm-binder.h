/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-host.h"
#include "vfm-iommu.h"

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Binding by the kernel's own protocol, verified and reversible (DESIGN.md,
 * "Binding", Decisions 20): load the module if its driver is not registered,
 * driver name into driver_override, unbind from the current driver, BDF into
 * drivers_probe, then check the driver link - a drivers_probe write succeeds
 * even when nothing bound. Any failure restores the previous driver and
 * override. Every step is journaled first (vfm-journal), under the device's
 * lock (vfm-lock). Binding never opens the VFIO device: that resets it. */

typedef enum {
  VFM_BIND_FORCE = 1 << 0,   /* bind even when the host uses the device */
  VFM_BIND_DRY_RUN = 1 << 1, /* say the steps, change nothing */
} VfmBindFlags;

typedef struct {
  char *bdf;
  char *op;                  /* "bind", "unbind", "recover" */
  char *driver;              /* the driver it ends on (NULL: unbound) */
  char *previous_driver;
  gboolean changed;
  char *message;
  GPtrArray *steps;          /* char *: each sysfs write or action, in order */
  GPtrArray *warnings;       /* char * */
  VfmGroupStatus *group;     /* after the operation, or NULL */
  gdouble seconds;
  char *batch;               /* the journal record it shared with the other
                              * devices of its request (intent/batch-ID.json),
                              * NULL when it had a record of its own or none */
  GError *error;             /* set when this device failed */
} VfmBindResult;

VfmBindResult *vfm_bind_result_new  (const char *bdf, const char *op);
VfmBindResult *vfm_bind_result_new_damaged (const char *problem);
void           vfm_bind_result_free (VfmBindResult *r);

VfmBindResult *vfm_binder_bind      (VfmHost      *host,
                                     const char   *bdf,
                                     const char   *driver,
                                     VfmBindFlags  flags);

/* Called before each device's kernel steps: DONE of TOTAL finished so far. */
typedef void (*VfmBindProgress) (guint done, guint total, const char *bdf, gpointer data);

/* Several devices as one request, with the same safety as one each: planned
 * first (driver, host safety), then their locks taken in one pass in BDF
 * order, one journal record (one fsync) before the first kernel write, the
 * kernel's protocol and its verification device by device (a failure rolls
 * back that device only), the owned records, the record cleared, each IOMMU
 * group read once at the end. A crash anywhere leaves the record, and
 * recovery finishes or rolls back each device in it. Returns a result per
 * BDF, in order; intents a dead process left on these devices are
 * recovered first, their results added to RECOVERED (NULL: dropped). */
GPtrArray     *vfm_binder_bind_many (VfmHost         *host,
                                     GPtrArray       *bdfs,
                                     const char      *driver,
                                     VfmBindFlags     flags,
                                     VfmBindProgress  progress,
                                     gpointer         progress_data,
                                     GPtrArray       *recovered);
/* vfm_binder_bind_many with each device's driver as SELECTIONS says (one
 * VfmSelection per BDF, in order: vfm_host_select's on the same host, with
 * a selected driver), not selected again (vfmigd's auto-bind has just
 * selected them to decide). */
GPtrArray     *vfm_binder_bind_selected (VfmHost   *host,
                                         GPtrArray *bdfs,
                                         GPtrArray *selections,
                                         GPtrArray *recovered);
VfmBindResult *vfm_binder_unbind    (VfmHost      *host,
                                     const char   *bdf,
                                     VfmBindFlags  flags);
GPtrArray     *vfm_binder_recover   (VfmHost      *host);
gboolean       vfm_binder_resolve_driver (VfmHost    *host,
                                          const char *name,
                                          char      **driver,
                                          char      **module,
                                          GError    **error);

JsonNode      *vfm_bind_result_to_json  (const VfmBindResult *r);
/* "results": [each VfmBindResult], the member every changing command has */
void           vfm_json_add_bind_results (JsonBuilder *b, GPtrArray *results);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmBindResult, vfm_bind_result_free)

G_END_DECLS
