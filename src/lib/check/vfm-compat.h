/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-domain-xml.h"
#include "vfm-profile.h"

G_BEGIN_DECLS

/* Can a domain's passthrough devices move from one host to another, and how?
 * One table of named rules (vfm-compat.c), each gating one or more
 * strategies; every rule's outcome is kept, passed or failed, with a reason a
 * reader understands without the docs (DESIGN.md, "Compatibility and
 * strategy"; MIGRATION-FACTS.md for what really blocks QEMU and libvirt). */

typedef enum {
  VFM_STRATEGY_REFUSE = 0,
  VFM_STRATEGY_REPLUG = 1,    /* detach before, attach a matching device after */
  VFM_STRATEGY_FAILOVER = 2,  /* virtio-net standby carries traffic (QEMU failover) */
  VFM_STRATEGY_NATIVE = 3,    /* VFIO migration of the device state */
  VFM_STRATEGY_AUTO = 4,
} VfmStrategy;

typedef enum { VFM_OUTCOME_PASS, VFM_OUTCOME_WARN, VFM_OUTCOME_FAIL, VFM_OUTCOME_SKIP } VfmOutcome;

typedef struct {
  const char *rule;           /* static name */
  guint gates;                /* 1 << strategy, for the strategies it decides */
  VfmOutcome outcome;
  char *reason;
} VfmRuleResult;

typedef struct {
  char *bdf;                  /* source address */
  char *alias;
  char *dest_bdf;             /* the device claimed on the destination, or NULL */
  char *driver;               /* the driver it needs on the destination */
  GPtrArray *rules;           /* VfmRuleResult */
  gboolean supports[4];       /* by VfmStrategy */
  VfmStrategy best;
  /* a mediated device (bdf NULL) */
  char *mdev_uuid;
  char *mdev_type;
  char *dest_mdev_uuid;       /* the free instance on the destination, or NULL: one is created */
  char *dest_mdev_parent;
  GPtrArray *qemu_properties; /* char *: "enable-migration=on (string)", what QEMU needs on the hostdev */
  /* an <interface type='hostdev'> (or a hostdev network's): what the
   * destination VF gets (libvirt sets them from the interface element) */
  gboolean is_interface;
  char *mac, *vlan;
} VfmHostdevVerdict;

typedef struct {
  char *domain;
  char *source_host;
  char *dest_host;
  VfmStrategy requested;
  VfmStrategy strategy;       /* what will be used; REFUSE: nothing works */
  gboolean ok;
  GPtrArray *domain_rules;    /* VfmRuleResult */
  GPtrArray *hostdevs;        /* VfmHostdevVerdict of PCI devices */
  GPtrArray *mdevs;           /* VfmHostdevVerdict of mediated devices (native or refuse) */
  GPtrArray *plan;            /* char *: the steps migrate would take */
  /* the downtime limit migrate works with unless told one (DESIGN.md,
   * Decisions 32): QEMU's default, raised when the migration does not
   * converge, at most the default plus the time to move, at the migration's
   * rate, what QEMU keeps dirty to the end */
  guint64 downtime_base_ms;   /* QEMU's default downtime-limit (curated) */
  guint64 stop_copy_bytes;    /* guest RAM when a native device has no dirty tracking; 0: nothing beyond */
  char *summary;
} VfmCheckResult;

const char     *vfm_strategy_to_string   (VfmStrategy s);
gboolean        vfm_strategy_from_string (const char *s, VfmStrategy *out);
const char     *vfm_outcome_to_string    (VfmOutcome o);
VfmCheckResult *vfm_check                (const VfmHostProfile *src,
                                          const VfmHostProfile *dst,
                                          const VfmDomainInfo  *domain,
                                          VfmStrategy           requested);
/* Devices already promised to other domains on the destination (a
 * placement, vfm-placement.h): check picks none of them. devices holds BDFs
 * and mediated device UUIDs; mdev_room maps a destination's
 * VfmMdevTypeProfile to the instances already planned on it (GINT_TO_POINTER). */
typedef struct {
  GHashTable *devices;
  GHashTable *mdev_room;
} VfmCheckReserved;

VfmCheckResult *vfm_check_reserved       (const VfmHostProfile   *src,
                                          const VfmHostProfile   *dst,
                                          const VfmDomainInfo    *domain,
                                          VfmStrategy             requested,
                                          const VfmCheckReserved *reserved);
void            vfm_check_result_free    (VfmCheckResult *r);
JsonNode       *vfm_check_result_to_json (const VfmCheckResult *r);
/* The strategy a hostdev moves with under the check's request (its best under
 * auto), and whether vfmig detaches and re-attaches it itself: only replug.
 * A failover VF is unplugged by QEMU during the migration (virtio-net
 * failover) and plugged on the destination from the migrated XML, which
 * points at the claimed VF; vfmig never detaches it. */
VfmStrategy     vfm_check_hostdev_strategy (const VfmCheckResult    *r,
                                            const VfmHostdevVerdict *v);
gboolean        vfm_check_vfmig_replugs    (const VfmCheckResult    *r,
                                            const VfmHostdevVerdict *v);
/* The highest downtime limit for a migration moving bytes_per_s: QEMU's
 * default plus the stop-copy bytes at that rate, rounded up; 0 when nothing
 * beyond QEMU's default is known to move while the guest is stopped. */
guint64         vfm_check_downtime_ms    (const VfmCheckResult *r,
                                          guint64               bytes_per_s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmCheckResult, vfm_check_result_free)

G_END_DECLS
