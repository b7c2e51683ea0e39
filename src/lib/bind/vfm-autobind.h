/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-host.h"

G_BEGIN_DECLS

/* The policy vfmigd applies on its own (DESIGN.md, Decisions 9): a PF whose
 * VFs a policy manages gets sriov_drivers_autoprobe=0, so that its driver
 * does not grab new VFs inside the sriov_numvfs write before udev runs; a
 * device a policy marks auto-bind gets its selected driver. Each call says
 * what it did as events, for the caller to log; none needs a daemon. */

typedef struct {
  GLogLevelFlags level;   /* G_LOG_LEVEL_MESSAGE, _WARNING, or _DEBUG (left to vf create) */
  const char *topic;      /* static: "recover", "policy", "autoprobe", "autobind", "remove", "hotplug" */
  char *bdf;              /* NULL: the host as a whole */
  char *message;
} VfmPolicyEvent;

void       vfm_policy_event_free (VfmPolicyEvent *e);

/* At start: finish or roll back interrupted operations (the journal), then
 * apply policy to every device present; those to bind are one request. */
GPtrArray *vfm_autobind_start    (VfmHost *host);
/* At devices' "add" (vfm-hotplug gathers those of one sriov_numvfs write):
 * apply policy to each - unless it is a VF of a PF a live vf create (or
 * destroy) works on: that one binds its own VFs. The devices to bind are
 * one request (vfm_binder_bind_many: one journal record for several). */
GPtrArray *vfm_autobind_devices  (VfmHost *host, GPtrArray *bdfs);
/* The same in steps, so that the policy of the devices known first is
 * applied while others are still coming (vfm-hotplug: the VFs announced
 * before their sriov_numvfs write returned): a request on HOST, a device
 * added (its policy decided, nothing changed yet), then the binds; the
 * events of all of it. */
typedef struct _VfmAutobind VfmAutobind;
VfmAutobind *vfm_autobind_new    (VfmHost *host);
void       vfm_autobind_add      (VfmAutobind *a, const char *bdf);
GPtrArray *vfm_autobind_finish   (VfmAutobind *a);
/* The same for one device. */
GPtrArray *vfm_autobind_device   (VfmHost *host, const char *bdf);
/* At a "remove" (a VF gone with sriov_numvfs, a hot-unplug): the record of
 * a device vfmig owned goes too - there is nothing to give back, and a new
 * device at that address is a new device. */
GPtrArray *vfm_autobind_removed  (VfmHost *host, const char *bdf);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmPolicyEvent, vfm_policy_event_free)

G_END_DECLS
