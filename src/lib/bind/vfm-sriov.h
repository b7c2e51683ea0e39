/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-binder.h"

G_BEGIN_DECLS

/* PF provisioning (the controlling function, seed 004): create VFs that vfmig
 * will own, prepare them (devlink migratable, MAC/VLAN), bind them. */
typedef struct {
  gboolean migratable;   /* set the devlink port function 'migratable' bit */
  gboolean switchdev;    /* allow switching the eswitch to switchdev (mlx5) */
  char *mac;             /* NULL, "auto", or a MAC for VF 0 (later VFs +1) */
  gint vlan;             /* -1: leave */
  gboolean no_bind;      /* create only */
  VfmBindFlags flags;    /* DRY_RUN, FORCE */
} VfmVfOptions;

typedef struct {
  char *pf;
  gint numvfs;
  GPtrArray *steps;      /* char *: what was done to the PF, in order */
  GPtrArray *vfs;        /* char *: BDFs of the VFs */
  GPtrArray *binds;      /* VfmBindResult of each VF */
  char *message;
  gdouble seconds;
  GError *error;
} VfmVfResult;

void         vfm_vf_result_free (VfmVfResult *r);
VfmVfResult *vfm_sriov_create   (VfmHost            *host,
                                 const char         *pf,
                                 gint                numvfs,
                                 const VfmVfOptions *opts);
VfmVfResult *vfm_sriov_destroy  (VfmHost            *host,
                                 const char         *pf,
                                 VfmBindFlags        flags);

/* Interrupted vf create (rolled back) and destroy (finished), each as a
 * VfmBindResult with op "recover" naming the PF. */
GPtrArray   *vfm_sriov_recover  (VfmHost            *host);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmVfResult, vfm_vf_result_free)

G_END_DECLS
