/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-match.h"
#include "vfm-driver-db.h"

G_BEGIN_DECLS

/* A policy ([Policy NAME] groups in data/policies and /etc/vfmig/policies.d):
 * which devices vfmig manages, whether it binds them at hotplug, and which
 * driver to prefer or never use. See vfmig-policy(5). */
typedef struct {
  char *id;            /* "FILE-BASENAME/NAME" */
  char *path;
  guint line;
  VfmMatch *match;
  VfmFact manage;      /* unset keys leave earlier policies' values */
  VfmFact auto_bind;
  char *prefer;        /* driver name */
  char **deny;         /* driver names */
} VfmPolicy;

typedef struct {
  GPtrArray *policies; /* VfmPolicy, in load order: later wins */
  GPtrArray *errors;
} VfmPolicySet;

/* The merged outcome for one device. */
typedef struct {
  gboolean manage;
  gboolean auto_bind;
  const char *prefer;          /* owned by the policy */
  const VfmPolicy *prefer_by;
  GPtrArray *deny;             /* const char * */
  GPtrArray *deny_by;          /* const VfmPolicy *, parallel to deny */
  const VfmPolicy *manage_by;  /* the policy that decided manage, or NULL */
} VfmPolicyOutcome;

VfmPolicySet *vfm_policy_set_new       (void);
void          vfm_policy_set_free      (VfmPolicySet *set);
void          vfm_policy_set_load_dirs (VfmPolicySet       *set,
                                        const char * const *dirs);
gboolean      vfm_policy_set_parse     (VfmPolicySet *set,
                                        const char   *path,
                                        const char   *text,
                                        GError      **error);
void          vfm_policy_evaluate      (VfmPolicySet       *set,
                                        const VfmDeviceIds *ids,
                                        VfmPolicyOutcome   *out);
void          vfm_policy_outcome_clear (VfmPolicyOutcome *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmPolicySet, vfm_policy_set_free)

G_END_DECLS
