/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-compat.h"
#include "vfm-json.h"
#include "vfm-qemu-gates.h"
#include "vfm-qemu-props.h"

#include <string.h>

#define V(a, b, c) ((a) * 1000000ul + (b) * 1000ul + (c))
#define GATE(s) (1u << (s))
#define ALL (GATE (VFM_STRATEGY_NATIVE) | GATE (VFM_STRATEGY_FAILOVER) | GATE (VFM_STRATEGY_REPLUG))
#define NATIVE GATE (VFM_STRATEGY_NATIVE)

/* Everything a rule may look at, for one hostdev. */
typedef struct {
  const VfmHostProfile *src_host, *dst_host;
  const VfmDomainInfo *domain;
  const VfmHostdev *hostdev;
  const VfmDeviceProfile *src;   /* NULL: not on the source */
  const VfmDeviceProfile *dst;   /* the candidate, NULL: none free */
  /* the devices QEMU migrates with their state (replugged ones are gone by
   * then): known only once every other rule ran (p2p_known) */
  gboolean p2p_known;
  guint n_native;                /* how many devices migrate natively */
  gboolean all_p2p;              /* all of them report P2P */
  gboolean native_counted;       /* this device is one of them */
  gboolean native_demoted;       /* counted, but replugged so that the others can migrate */
  const char *no_p2p;            /* a device among them without P2P, for the reason */
  const VfmQemuGates *gates;     /* curated version gates, NULL: unreadable */
  const char *gates_error;
  /* a mediated device instead of a PCI hostdev */
  const VfmMdevHostdev *mdev;
  const VfmMdevProfile *msrc;    /* the source instance, NULL: not in the profile */
  const VfmMdevProfile *mdst;    /* a free instance of its type on the destination */
  const VfmMdevTypeProfile *mroom; /* else a parent there that can create one */
  GPtrArray *qemu_props;         /* VfmQemuProp (curated data), NULL: unreadable */
  char *qemu_props_error;
} RuleCtx;

typedef VfmOutcome (*RuleFunc) (const RuleCtx *c, char **reason);

static const char *
host_name (const VfmHostProfile *p, const char *fallback)
{
  return p->hostname ? p->hostname : fallback;
}

static char *
ver (gulong v)
{
  return v ? g_strdup_printf ("%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000) : g_strdup ("unknown");
}

static const char *
driver_of (const VfmDeviceProfile *d)
{
  return d->vfio_bound ? d->driver : d->selected_driver;
}

/* ---- the rules ---- */

static VfmOutcome
r_source_present (const RuleCtx *c, char **reason)
{
  if (c->src == NULL) {
    *reason = g_strdup_printf ("%s has no passthrough device %s in its profile", host_name (c->src_host, "the source"),
                               c->hostdev->bdf);
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup_printf ("%04x:%04x on %s, bound to %s", c->src->vendor, c->src->device,
                             host_name (c->src_host, "the source"), c->src->driver ? c->src->driver : "no driver");
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
r_not_legacy (const RuleCtx *c, char **reason)
{
  if (g_strcmp0 (c->hostdev->driver_name, "kvm") == 0) {
    *reason = g_strdup ("legacy KVM device assignment (pci-assign) was removed from Linux and QEMU; it cannot migrate");
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup ("assigned through VFIO");
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
r_not_igd (const RuleCtx *c, char **reason)
{
  if (c->src != NULL && g_strcmp0 (c->src->selection_kind, "igd") == 0) {
    *reason = g_strdup ("Intel integrated graphics is never live-migratable, not even by replug: legacy mode needs "
                        "the device at guest 00:02.0 from boot, and the guest would lose its display");
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup ("not integrated graphics");
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
r_dest_device (const RuleCtx *c, char **reason)
{
  if (c->src == NULL) {
    *reason = g_strdup ("no source device to match");
    return VFM_OUTCOME_SKIP;
  }
  if (c->dst == NULL) {
    *reason = g_strdup_printf ("%s has no free device %04x:%04x (subsystem %04x:%04x)", host_name (c->dst_host, "the destination"),
                               c->src->vendor, c->src->device, c->src->subsystem_vendor, c->src->subsystem_device);
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup_printf ("%s %s is free, same ids%s", host_name (c->dst_host, "destination"), c->dst->bdf,
                             c->dst->revision == c->src->revision ? ", same revision" : "");
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
r_same_driver (const RuleCtx *c, char **reason)
{
  if (c->src == NULL || c->dst == NULL) {
    *reason = g_strdup ("no device pair to compare");
    return VFM_OUTCOME_SKIP;
  }
  if (g_strcmp0 (driver_of (c->src), driver_of (c->dst)) != 0) {
    *reason = g_strdup_printf ("source uses %s, the destination device would take %s", driver_of (c->src),
                               driver_of (c->dst) ? driver_of (c->dst) : "no driver");
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup_printf ("%s on both ends", driver_of (c->src));
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
kernel_says (const VfmDeviceProfile *d, const char *where, const char *hint_host, char **reason)
{
  if (d == NULL) {
    *reason = g_strdup ("no device");
    return VFM_OUTCOME_SKIP;
  }
  if (!d->probed) {
    *reason = g_strdup_printf ("%s %s was never probed: run 'vfmigctl probe %s' on %s (unknown devices are never "
                               "assumed migratable)", where, d->bdf, d->bdf, hint_host);
    return VFM_OUTCOME_FAIL;
  }
  if (!d->migration || !d->stop_copy) {
    *reason = g_strdup_printf ("the kernel on %s reports no VFIO migration for %s (%s)", where, d->bdf,
                               d->probe_detail ? d->probe_detail : "no STOP_COPY");
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup_printf ("kernel on %s reports STOP_COPY%s%s", where, d->p2p ? "|P2P" : "",
                             d->pre_copy ? "|PRE_COPY" : "");
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
r_kernel_source (const RuleCtx *c, char **reason)
{
  return kernel_says (c->src, "the source", host_name (c->src_host, "the source"), reason);
}

static VfmOutcome
r_kernel_dest (const RuleCtx *c, char **reason)
{
  return kernel_says (c->dst, "the destination", host_name (c->dst_host, "the destination"), reason);
}

/* Without dirty tracking on both ends QEMU migrates a VFIO device only when
 * the guest runs with the properties the curated data names (enable-migration=on
 * from 8.1; x-device-dirty-page-tracking=off from 9.1, for devices that
 * announce DMA logging they cannot report); with QEMU's defaults it blocks
 * or fails the migration (MIGRATION-FACTS §1, LAB-NOTES native lab). */
/* Whether the device runs with property p as the curated data wants it:
 * what its running QEMU reports when it was asked (qom-get: the truth for
 * a guest that runs), else what its <qemu:override> sets (name, value and
 * type: a wrong type makes QEMU refuse to start). */
static gboolean
property_set (GPtrArray *overrides, GPtrArray *running, const VfmQemuProp *p)
{
  gboolean from_qemu;
  const VfmQemuOverride *o = vfm_qemu_property_in_effect (overrides, running, p->name, &from_qemu);
  if (o == NULL)
    return FALSE;
  if (from_qemu)
    return vfm_qemu_value_equal (o->value, p->value);
  return g_strcmp0 (o->value, p->value) == 0 && g_strcmp0 (o->type, p->type) == 0;
}

static VfmOutcome
r_dirty_tracking (const RuleCtx *c, char **reason)
{
  gulong q = MIN (c->src_host->qemu_version, c->dst_host->qemu_version);
  g_autoptr (GPtrArray) needed = NULL;
  g_autoptr (GString) missing = g_string_new (NULL);
  if (c->src == NULL || c->dst == NULL || !c->src->probed || !c->dst->probed) {
    *reason = g_strdup ("needs the kernel's answer on both ends");
    return VFM_OUTCOME_SKIP;
  }
  if (c->src->dirty_tracking == VFM_DIRTY_DEVICE && c->dst->dirty_tracking == VFM_DIRTY_DEVICE) {
    *reason = g_strdup ("device dirty tracking on both ends");
    return VFM_OUTCOME_PASS;
  }
  /* IOMMU dirty tracking counts only with QEMU's iommufd backend (QEMU >=
   * 9.1, MIGRATION-FACTS §1), which libvirt does not set up for a hostdev
   * here: the device is judged as tracking nothing */
  if (c->qemu_props == NULL) {
    *reason = g_strdup_printf ("no device dirty tracking, and the QEMU property facts cannot be read: %s",
                               c->qemu_props_error ? c->qemu_props_error : "?");
    return VFM_OUTCOME_FAIL;
  }
  needed = vfm_qemu_props_needed (c->qemu_props, FALSE, q);
  for (guint i = 0; i < needed->len; i++) {
    const VfmQemuProp *p = g_ptr_array_index (needed, i);
    if (!property_set (c->hostdev->overrides, c->hostdev->running, p))
      g_string_append_printf (missing, "%s%s=%s (%s)", missing->len ? ", " : "", p->name, p->value, p->type);
  }
  if (missing->len > 0) {
    gboolean iommu = c->src->dirty_tracking == VFM_DIRTY_IOMMU || c->dst->dirty_tracking == VFM_DIRTY_IOMMU;
    *reason = g_strdup_printf ("no device dirty tracking%s: QEMU's defaults block or fail the migration, and the guest "
                               "was started without %s on %s%s: restart needed with them (a <qemu:override>; "
                               "'vfmigctl xml --migratable' writes them for mediated devices)",
                               iommu ? " (the IOMMU tracks, but QEMU uses that only with its iommufd backend, which "
                                       "libvirt does not set up for this hostdev)" : "",
                               missing->str, c->hostdev->alias ? c->hostdev->alias : c->hostdev->bdf,
                               c->hostdev->running ? " (as its QEMU reports, qom-get)" : "");
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup ("no device dirty tracking: the guest runs with the properties QEMU needs, and QEMU copies all "
                      "guest RAM the device can reach while the guest is stopped");
  return VFM_OUTCOME_PASS;
}

/* A gate of the curated data, or a failing reason when the data is unreadable. */
static const VfmQemuGate *
gate (const RuleCtx *c, const char *name, char **reason)
{
  const VfmQemuGate *g = vfm_qemu_gate (c->gates, name);
  if (g == NULL)
    *reason = g_strdup_printf ("the QEMU/libvirt version facts cannot be read: %s", c->gates_error ? c->gates_error : "?");
  return g;
}

static VfmOutcome
r_qemu (const RuleCtx *c, char **reason)
{
  gulong s = c->src_host->qemu_version, d = c->dst_host->qemu_version;
  g_autofree char *sv = ver (s), *dv = ver (d), *since = NULL;
  const VfmQemuGate *g = gate (c, "qemu-vfio-migration", reason);
  if (g == NULL)
    return VFM_OUTCOME_FAIL;
  since = vfm_qemu_gate_since (g);
  if (s == 0 || d == 0) {
    *reason = g_strdup_printf ("QEMU version unknown (source %s, destination %s): connect to libvirt on both", sv, dv);
    return VFM_OUTCOME_FAIL;
  }
  if (MIN (s, d) < g->since) {
    *reason = g_strdup_printf ("QEMU %s: VFIO migration v2 is on by default only from %s (8.0 hides it behind "
                               "x-enable-migration; up to 7.2 only the v1 protocol no in-tree driver implements)",
                               s < d ? sv : dv, since);
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup_printf ("QEMU %s / %s can migrate VFIO devices", sv, dv);
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
r_libvirt (const RuleCtx *c, char **reason)
{
  gulong s = c->src_host->libvirt_version, d = c->dst_host->libvirt_version;
  g_autofree char *sv = ver (s), *dv = ver (d), *since = NULL;
  const VfmQemuGate *g = gate (c, "libvirt-asks-qemu", reason);
  if (g == NULL)
    return VFM_OUTCOME_FAIL;
  since = vfm_qemu_gate_since (g);
  if (s == 0 || d == 0) {
    *reason = g_strdup_printf ("libvirt version unknown (source %s, destination %s)", sv, dv);
    return VFM_OUTCOME_FAIL;
  }
  if (MIN (s, d) < g->since) {
    *reason = g_strdup_printf ("libvirt %s refuses any hostdev migration itself; from %s it asks QEMU (both ends: "
                               "source %s, destination %s)", s < d ? sv : dv, since, sv, dv);
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup_printf ("libvirt %s / %s asks QEMU for migration blockers", sv, dv);
  return VFM_OUTCOME_PASS;
}

/* QEMU counts the devices it migrates with their state: the replugged ones
 * are detached before the migration and do not count. Decided after every
 * other rule (vfm_check), when it is known which devices migrate natively. */
static VfmOutcome
r_multi_device (const RuleCtx *c, char **reason)
{
  gulong q = MIN (c->src_host->qemu_version, c->dst_host->qemu_version);
  g_autofree char *since = NULL;
  const VfmQemuGate *g;

  if (!c->p2p_known) {
    *reason = g_strdup ("decided once the other rules are known");
    return VFM_OUTCOME_SKIP;
  }
  if (!c->native_counted) {
    *reason = g_strdup ("not migrated natively (replugged or refused): QEMU does not count it");
    return VFM_OUTCOME_SKIP;
  }
  if (c->n_native <= 1) {
    *reason = g_strdup ("the only VFIO device QEMU migrates with its state");
    return VFM_OUTCOME_PASS;
  }
  if ((g = gate (c, "multiple-devices-p2p", reason)) == NULL)
    return VFM_OUTCOME_FAIL;
  since = vfm_qemu_gate_since (g);
  if (c->all_p2p && q >= g->since) {
    *reason = g_strdup_printf ("%u devices migrate natively, all with P2P (QEMU >= %s allows that)", c->n_native, since);
    return VFM_OUTCOME_PASS;
  }
  if (!c->native_demoted) {
    *reason = g_strdup_printf ("%u devices could migrate natively, but QEMU migrates several only when all report "
                               "P2P, from %s (%s): this one stays native, the others are replugged", c->n_native,
                               since, c->all_p2p ? "this QEMU is older" : c->no_p2p);
    return VFM_OUTCOME_PASS;
  }
  *reason = g_strdup_printf ("%u VFIO devices would migrate natively: QEMU migrates several only when all report P2P, "
                             "from %s (%s)", c->n_native, since, c->all_p2p ? "this QEMU is older" : c->no_p2p);
  return VFM_OUTCOME_FAIL;
}

/* Does QEMU use the device's own dirty tracking (DMA logging) for it? Only
 * when both ends have it and the guest did not turn it off. */
static gboolean uses_device_tracking (const RuleCtx *c);

static VfmOutcome
r_no_viommu (const RuleCtx *c, char **reason)
{
  gulong q = MIN (c->src_host->qemu_version, c->dst_host->qemu_version);
  g_autofree char *qv = ver (q), *since = NULL;
  const VfmQemuGate *g;
  if (!c->domain->viommu) {
    *reason = g_strdup ("no vIOMMU");
    return VFM_OUTCOME_PASS;
  }
  if ((g = gate (c, "viommu-without-device-dirty-tracking", reason)) == NULL)
    return VFM_OUTCOME_FAIL;
  since = vfm_qemu_gate_since (g);
  if (q < g->since) {
    *reason = g_strdup_printf ("the domain has a vIOMMU: QEMU %s blocks VFIO migration with one (\"Migration is "
                               "currently not supported with vIOMMU enabled\"; allowed from %s for devices without "
                               "their own dirty tracking)", qv, since);
    return VFM_OUTCOME_FAIL;
  }
  if (uses_device_tracking (c)) {
    *reason = g_strdup_printf ("the domain has a vIOMMU and the device tracks dirty pages itself (DMA logging sees "
                               "IOVAs, not guest addresses): QEMU %s still blocks that", qv);
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup_printf ("vIOMMU, but the device does not use its own dirty tracking: QEMU >= %s allows that", since);
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
r_managed (const RuleCtx *c, char **reason)
{
  if (c->hostdev->managed && c->dst != NULL && g_strcmp0 (c->dst->selection_kind, "vendor") == 0 &&
      c->dst_host->libvirt_version < V (10, 0, 0)) {
    *reason = g_strdup_printf ("managed='yes' with libvirt before 10.0 rebinds plain vfio-pci over %s and loses its "
                               "migration support; vfmigctl migrate sends managed='no', plain virsh would not",
                               driver_of (c->dst));
    return VFM_OUTCOME_WARN;
  }
  *reason = g_strdup (c->hostdev->managed ? "libvirt picks the variant driver itself (>= 10.0)" : "managed='no': vfmig binds it");
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
r_module_version (const RuleCtx *c, char **reason)
{
  if (c->src == NULL || c->dst == NULL || c->src->module_srcversion == NULL || c->dst->module_srcversion == NULL) {
    *reason = g_strdup ("module versions not known on both ends");
    return VFM_OUTCOME_SKIP;
  }
  if (g_strcmp0 (c->src->module_srcversion, c->dst->module_srcversion) != 0) {
    *reason = g_strdup_printf ("%s differs (srcversion %s vs %s): the device state format may differ",
                               c->src->module ? c->src->module : "the driver module", c->src->module_srcversion,
                               c->dst->module_srcversion);
    return VFM_OUTCOME_WARN;
  }
  *reason = g_strdup_printf ("same module build (srcversion %s)", c->src->module_srcversion);
  return VFM_OUTCOME_PASS;
}

/* Equal firmware only where the driver's curated facts tie the device state
 * to it (SameFirmware=, data/drivers): mlx5's state is a firmware image;
 * other drivers check their own magic and version on load. */
static VfmOutcome
r_firmware (const RuleCtx *c, char **reason)
{
  gboolean known, differ;
  if (c->src == NULL || c->dst == NULL) {
    *reason = g_strdup ("no device pair to compare");
    return VFM_OUTCOME_SKIP;
  }
  known = c->src->firmware != NULL && c->dst->firmware != NULL;
  differ = known && g_strcmp0 (c->src->firmware, c->dst->firmware) != 0;
  if (c->src->facts_same_firmware == VFM_FACT_NO) {
    g_autofree char *both = differ ? g_strdup_printf (" (firmware %s vs %s)", c->src->firmware, c->dst->firmware)
                                   : g_strdup ("");
    *reason = g_strdup_printf ("the curated facts of %s do not tie its device state to the firmware%s",
                               driver_of (c->src), both);
    return VFM_OUTCOME_PASS;
  }
  if (c->src->facts_same_firmware == VFM_FACT_UNKNOWN) {
    if (differ) {
      *reason = g_strdup_printf ("firmware %s vs %s, and no curated fact says whether %s's device state depends on it",
                                 c->src->firmware, c->dst->firmware, driver_of (c->src));
      return VFM_OUTCOME_WARN;
    }
    *reason = g_strdup_printf ("no curated fact ties %s's device state to the firmware", driver_of (c->src));
    return VFM_OUTCOME_PASS;
  }
  if (!known) {
    *reason = g_strdup_printf ("%s needs equal firmware on both ends (curated facts), and the PF firmware is not "
                               "known on both (no devlink info)", driver_of (c->src));
    return VFM_OUTCOME_WARN;
  }
  if (differ) {
    *reason = g_strdup_printf ("firmware %s vs %s: %s's device state is a firmware image, equal versions needed "
                               "(curated facts)", c->src->firmware, c->dst->firmware, driver_of (c->src));
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup_printf ("firmware %s on both PFs", c->src->firmware);
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
r_failover (const RuleCtx *c, char **reason)
{
  if (g_strcmp0 (c->hostdev->teaming, "transient") == 0 && c->domain->has_persistent_teaming) {
    *reason = g_strdup ("paired with a virtio-net standby (<teaming>): QEMU unplugs the VF and the guest keeps its network");
    return VFM_OUTCOME_PASS;
  }
  *reason = g_strdup ("not paired with a virtio-net <teaming type='persistent'> standby");
  return VFM_OUTCOME_FAIL;
}

static VfmOutcome
r_hot_unplug (const RuleCtx *c, char **reason)
{
  if (!c->domain->acpi) {
    *reason = g_strdup ("the domain has no <acpi/>: without it libvirt starts QEMU with -no-acpi and PCI hot-unplug fails");
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup ("the guest can hot-unplug it (ACPI); it loses the device during the migration");
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
r_dest_group (const RuleCtx *c, char **reason)
{
  if (c->dst == NULL) {
    *reason = g_strdup ("no destination device");
    return VFM_OUTCOME_SKIP;
  }
  if (!c->dst->group_viable && c->dst->vfio_bound) {
    *reason = g_strdup_printf ("IOMMU group %d of %s is not viable: another member is on a host driver",
                               c->dst->iommu_group, c->dst->bdf);
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup ("its IOMMU group can be owned by VFIO");
  return VFM_OUTCOME_PASS;
}

/* ---- mediated devices (DESIGN.md, Decisions 30, 31) ---- */

static VfmOutcome
m_source_present (const RuleCtx *c, char **reason)
{
  if (c->msrc == NULL || c->msrc->type == NULL) {
    *reason = g_strdup_printf ("%s has no mediated device %s (or cannot tell its type)",
                               host_name (c->src_host, "the source"), c->mdev->uuid);
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup_printf ("%s on %s, parent %s", c->msrc->type, host_name (c->src_host, "the source"),
                             c->msrc->parent ? c->msrc->parent : "?");
  return VFM_OUTCOME_PASS;
}

static VfmOutcome
m_destination (const RuleCtx *c, char **reason)
{
  if (c->msrc == NULL) {
    *reason = g_strdup ("no source type to match");
    return VFM_OUTCOME_SKIP;
  }
  if (c->mdst != NULL) {
    *reason = g_strdup_printf ("%s %s (%s) is free", host_name (c->dst_host, "destination"), c->mdst->uuid, c->mdst->type);
    return VFM_OUTCOME_PASS;
  }
  if (c->mroom != NULL) {
    *reason = g_strdup_printf ("no free %s instance, but %s can create one (%d available): vfmig creates it and "
                               "removes it again if the migration fails", c->msrc->type, c->mroom->parent,
                               c->mroom->available_instances);
    return VFM_OUTCOME_PASS;
  }
  *reason = g_strdup_printf ("%s has no free %s instance and no parent with room for one", host_name (c->dst_host,
                             "the destination"), c->msrc->type);
  return VFM_OUTCOME_FAIL;
}

/* The kernel's answer for the type: the source instance's last probe (it is
 * in use: never opened, Decisions 14), else a free instance of the type on
 * the destination (same parent driver, same answer). */
static const VfmMdevProfile *
mdev_answer (const RuleCtx *c, const char **where)
{
  if (c->msrc != NULL && c->msrc->probed) {
    *where = "the source instance's last probe";
    return c->msrc;
  }
  if (c->mdst != NULL && c->mdst->probed) {
    *where = "a free instance on the destination";
    return c->mdst;
  }
  return NULL;
}

static VfmOutcome
m_kernel (const RuleCtx *c, char **reason)
{
  const char *where = NULL;
  const VfmMdevProfile *a = mdev_answer (c, &where);
  if (c->msrc == NULL) {
    *reason = g_strdup ("no source instance");
    return VFM_OUTCOME_SKIP;
  }
  if (a == NULL) {
    *reason = g_strdup_printf ("the kernel was never asked about %s: run 'vfmigctl probe %s' while no VM holds it "
                               "(unknown devices are never assumed migratable)", c->msrc->type, c->mdev->uuid);
    return VFM_OUTCOME_FAIL;
  }
  if (!a->migration || !a->stop_copy) {
    *reason = g_strdup_printf ("the kernel reports no VFIO migration for %s (%s: %s)", c->msrc->type, where,
                               a->probe_detail ? a->probe_detail : "no STOP_COPY");
    return VFM_OUTCOME_FAIL;
  }
  *reason = g_strdup_printf ("the kernel reports STOP_COPY%s%s for %s (%s)", a->p2p ? "|P2P" : "",
                             a->pre_copy ? "|PRE_COPY" : "", c->msrc->type, where);
  return VFM_OUTCOME_PASS;
}

static gboolean
mdev_dirty_tracking (const RuleCtx *c)
{
  const char *where;
  const VfmMdevProfile *a = mdev_answer (c, &where);
  return a != NULL && a->dirty_tracking == VFM_DIRTY_DEVICE;
}

static gboolean
uses_device_tracking (const RuleCtx *c)
{
  const VfmQemuOverride *off;
  if (c->mdev != NULL) {
    off = vfm_mdev_hostdev_override (c->mdev, "x-device-dirty-page-tracking");
    return mdev_dirty_tracking (c) && (off == NULL || g_strcmp0 (off->value, "off") != 0);
  }
  off = vfm_qemu_override_find (c->hostdev->overrides, "x-device-dirty-page-tracking");
  return c->src != NULL && c->dst != NULL && c->src->probed && c->dst->probed && c->src->dirty_tracking &&
         c->dst->dirty_tracking && (off == NULL || g_strcmp0 (off->value, "off") != 0);
}

/* What QEMU needs on the hostdev (the curated data's properties), against
 * what the domain's <qemu:override> sets: a running guest cannot change
 * them, so a missing one is a restart. */
static VfmOutcome
m_qemu_properties (const RuleCtx *c, char **reason)
{
  gulong q = MIN (c->src_host->qemu_version, c->dst_host->qemu_version);
  gboolean tracking = mdev_dirty_tracking (c);
  g_autoptr (GPtrArray) needed = NULL;
  g_autoptr (GString) missing = g_string_new (NULL);
  g_autoptr (GString) set = g_string_new (NULL);

  if (c->qemu_props == NULL) {
    *reason = g_strdup_printf ("cannot read the QEMU property facts: %s", c->qemu_props_error);
    return VFM_OUTCOME_FAIL;
  }
  needed = vfm_qemu_props_needed (c->qemu_props, tracking, q);
  for (guint i = 0; i < needed->len; i++) {
    const VfmQemuProp *p = g_ptr_array_index (needed, i);
    gboolean from_qemu;
    const VfmQemuOverride *o = vfm_qemu_property_in_effect (c->mdev->overrides, c->mdev->running, p->name, &from_qemu);
    g_string_append_printf (set, "%s%s=%s", set->len ? ", " : "", p->name, p->value);
    if (property_set (c->mdev->overrides, c->mdev->running, p))
      continue;
    if (from_qemu && o != NULL)
      g_string_append_printf (missing, "%s%s=%s (QEMU runs it with %s)", missing->len ? ", " : "", p->name, p->value,
                              o->value);
    else if (o != NULL && g_strcmp0 (o->value, p->value) == 0)
      g_string_append_printf (missing, "%s%s is given as type '%s', QEMU takes a %s", missing->len ? "; " : "",
                              p->name, o->type ? o->type : "none", p->type);
    else
      g_string_append_printf (missing, "%s%s=%s", missing->len ? ", " : "", p->name, p->value);
  }
  if (missing->len > 0) {
    *reason = g_strdup_printf ("the guest was started without %s on %s (%s%s): restart needed - 'vfmigctl xml "
                               "--migratable DOMAIN' writes them into the definition, then restart the guest",
                               missing->str, c->mdev->alias,
                               tracking ? "QEMU properties the device needs"
                                        : "no usable device dirty tracking: QEMU would block or fail the migration",
                               c->mdev->running ? "; read from the running QEMU with qom-get" : "");
    return VFM_OUTCOME_FAIL;
  }
  if (needed->len == 0) {
    *reason = g_strdup ("the device tracks dirty pages itself: QEMU's defaults migrate it");
    return VFM_OUTCOME_PASS;
  }
  *reason = g_strdup_printf ("started with %s: QEMU migrates it without dirty tracking and copies all guest RAM "
                             "the device can reach while the guest is stopped", set->str);
  return VFM_OUTCOME_PASS;
}

/* Every rule a mediated device passes through; those shared with PCI
 * devices look only at the hosts and the domain. */
static VfmOutcome r_qemu (const RuleCtx *c, char **reason);
static VfmOutcome r_libvirt (const RuleCtx *c, char **reason);
static VfmOutcome r_multi_device (const RuleCtx *c, char **reason);
static VfmOutcome r_no_viommu (const RuleCtx *c, char **reason);

static const struct {
  const char *name;
  guint gates;
  RuleFunc func;
} mdev_rules[] = {
  { "mdev-source-present", NATIVE, m_source_present },
  { "mdev-destination", NATIVE, m_destination },
  { "mdev-kernel-migration", NATIVE, m_kernel },
  { "qemu-vfio-migration", NATIVE, r_qemu },
  { "libvirt-asks-qemu", NATIVE, r_libvirt },
  { "qemu-device-properties", NATIVE, m_qemu_properties },
  { "multiple-devices-p2p", NATIVE, r_multi_device },
  { "no-viommu", NATIVE, r_no_viommu },
};

static const struct {
  const char *name;
  guint gates;
  RuleFunc func;
} rules[] = {
  { "source-device-present", ALL, r_source_present },
  { "not-legacy-assignment", ALL, r_not_legacy },
  { "not-igd", ALL, r_not_igd },
  { "destination-device-free", ALL, r_dest_device },
  { "destination-group-viable", ALL, r_dest_group },
  { "same-variant-driver", NATIVE, r_same_driver },
  { "kernel-migration-source", NATIVE, r_kernel_source },
  { "kernel-migration-destination", NATIVE, r_kernel_dest },
  { "dirty-tracking", NATIVE, r_dirty_tracking },
  { "qemu-vfio-migration", NATIVE, r_qemu },
  { "libvirt-asks-qemu", NATIVE, r_libvirt },
  { "multiple-devices-p2p", NATIVE, r_multi_device },
  { "no-viommu", NATIVE, r_no_viommu },
  { "managed-hostdev", NATIVE, r_managed },
  { "same-module-build", NATIVE, r_module_version },
  { "same-firmware", NATIVE, r_firmware },
  { "failover-pair", GATE (VFM_STRATEGY_FAILOVER), r_failover },
  { "hot-unplug", GATE (VFM_STRATEGY_REPLUG), r_hot_unplug },
};

/* ---- candidates and verdicts ---- */

static gboolean
same_ids (const VfmDeviceProfile *a, const VfmDeviceProfile *b)
{
  return a->vendor == b->vendor && a->device == b->device && a->subsystem_vendor == b->subsystem_vendor &&
         a->subsystem_device == b->subsystem_device && a->class_code == b->class_code;
}

/* A free matching device on the destination: same ids, not in use, not
 * already given to another hostdev; the same driver and a probed migration
 * answer rank first. */
static const VfmDeviceProfile *
pick_candidate (const VfmHostProfile *dst, const VfmDeviceProfile *src, GHashTable *taken)
{
  const VfmDeviceProfile *best = NULL;
  int best_score = -1;
  if (src == NULL)
    return NULL;
  for (guint i = 0; i < dst->devices->len; i++) {
    const VfmDeviceProfile *d = g_ptr_array_index (dst->devices, i);
    int score = 0;
    if (!same_ids (src, d) || d->in_use || d->claimed || g_hash_table_contains (taken, d->bdf))
      continue;
    if (d->driver != NULL && !d->vfio_bound)
      continue; /* on a host driver: not free */
    score += g_strcmp0 (driver_of (d), driver_of (src)) == 0 ? 4 : 0;
    score += d->probed && d->stop_copy ? 2 : 0;
    score += d->vfio_bound ? 1 : 0;
    if (score > best_score) {
      best = d;
      best_score = score;
    }
  }
  if (best != NULL)
    g_hash_table_add (taken, best->bdf);
  return best;
}

static void
rule_result_free (gpointer data)
{
  VfmRuleResult *r = data;
  g_free (r->reason);
  g_free (r);
}

static void
verdict_free (gpointer data)
{
  VfmHostdevVerdict *v = data;
  g_free (v->bdf);
  g_free (v->alias);
  g_free (v->dest_bdf);
  g_free (v->driver);
  g_free (v->mdev_uuid);
  g_free (v->mdev_type);
  g_free (v->dest_mdev_uuid);
  g_free (v->dest_mdev_parent);
  g_free (v->mac);
  g_free (v->vlan);
  g_clear_pointer (&v->qemu_properties, g_ptr_array_unref);
  g_ptr_array_unref (v->rules);
  g_free (v);
}

void
vfm_check_result_free (VfmCheckResult *r)
{
  if (r == NULL)
    return;
  g_free (r->domain);
  g_free (r->source_host);
  g_free (r->dest_host);
  g_ptr_array_unref (r->domain_rules);
  g_ptr_array_unref (r->hostdevs);
  g_ptr_array_unref (r->mdevs);
  g_ptr_array_unref (r->plan);
  g_free (r->summary);
  g_free (r);
}

const char *
vfm_strategy_to_string (VfmStrategy s)
{
  switch (s) {
  case VFM_STRATEGY_NATIVE: return "native";
  case VFM_STRATEGY_FAILOVER: return "failover";
  case VFM_STRATEGY_REPLUG: return "replug";
  case VFM_STRATEGY_AUTO: return "auto";
  case VFM_STRATEGY_REFUSE: return "refuse";
  }
  return "refuse";
}

gboolean
vfm_strategy_from_string (const char *s, VfmStrategy *out)
{
  for (VfmStrategy i = VFM_STRATEGY_REFUSE; i <= VFM_STRATEGY_AUTO; i++)
    if (i != VFM_STRATEGY_REFUSE && g_strcmp0 (s, vfm_strategy_to_string (i)) == 0) {
      *out = i;
      return TRUE;
    }
  return FALSE;
}

const char *
vfm_outcome_to_string (VfmOutcome o)
{
  switch (o) {
  case VFM_OUTCOME_PASS: return "pass";
  case VFM_OUTCOME_WARN: return "warn";
  case VFM_OUTCOME_FAIL: return "fail";
  case VFM_OUTCOME_SKIP: return "skip";
  }
  return "skip";
}

/* The strategies a device supports: those no failed rule gates. A mediated
 * device only migrates natively (it cannot be unplugged and found again). */
static void
settle (VfmHostdevVerdict *v, gboolean mdev)
{
  gboolean failed[4] = { FALSE };
  for (guint i = 0; i < v->rules->len; i++) {
    const VfmRuleResult *r = g_ptr_array_index (v->rules, i);
    for (VfmStrategy s = VFM_STRATEGY_REPLUG; s <= VFM_STRATEGY_NATIVE; s++)
      if ((r->gates & GATE (s)) && r->outcome == VFM_OUTCOME_FAIL)
        failed[s] = TRUE;
  }
  v->best = VFM_STRATEGY_REFUSE;
  for (VfmStrategy s = VFM_STRATEGY_REPLUG; s <= VFM_STRATEGY_NATIVE; s++) {
    v->supports[s] = !failed[s] && (!mdev || s == VFM_STRATEGY_NATIVE);
    if (v->supports[s])
      v->best = s;
  }
}

static VfmHostdevVerdict *
judge (RuleCtx *ctx)
{
  VfmHostdevVerdict *v = g_new0 (VfmHostdevVerdict, 1);

  v->bdf = g_strdup (ctx->hostdev->bdf);
  v->alias = g_strdup (ctx->hostdev->alias);
  v->dest_bdf = ctx->dst ? g_strdup (ctx->dst->bdf) : NULL;
  v->driver = ctx->src ? g_strdup (driver_of (ctx->src)) : NULL;
  v->is_interface = ctx->hostdev->is_interface;
  v->mac = g_strdup (ctx->hostdev->mac);
  v->vlan = g_strdup (ctx->hostdev->vlan);
  v->rules = g_ptr_array_new_with_free_func (rule_result_free);
  for (gsize i = 0; i < G_N_ELEMENTS (rules); i++) {
    VfmRuleResult *r = g_new0 (VfmRuleResult, 1);
    r->rule = rules[i].name;
    r->gates = rules[i].gates;
    r->outcome = rules[i].func (ctx, &r->reason);
    g_ptr_array_add (v->rules, r);
  }
  settle (v, FALSE);
  return v;
}

/* A free instance of the source's type on the destination (a parent of the
 * same name first), else a parent there with room for one. */
static void
pick_mdev (RuleCtx *c, GHashTable *taken, GHashTable *planned)
{
  if (c->msrc == NULL || c->msrc->type == NULL)
    return;
  for (guint i = 0; i < c->dst_host->mdevs->len; i++) {
    const VfmMdevProfile *m = g_ptr_array_index (c->dst_host->mdevs, i);
    if (g_strcmp0 (m->type, c->msrc->type) != 0 || m->in_use || m->claimed || g_hash_table_contains (taken, m->uuid))
      continue;
    /* the source's own instance on a shared machine: as claims do, last */
    if (g_strcmp0 (m->uuid, c->msrc->uuid) == 0)
      continue;
    if (c->mdst == NULL || (g_strcmp0 (m->parent, c->msrc->parent) == 0 && g_strcmp0 (c->mdst->parent, c->msrc->parent) != 0))
      c->mdst = m;
  }
  if (c->mdst != NULL) {
    g_hash_table_add (taken, c->mdst->uuid);
    return;
  }
  for (guint i = 0; i < c->dst_host->mdev_types->len; i++) {
    const VfmMdevTypeProfile *t = g_ptr_array_index (c->dst_host->mdev_types, i);
    gint used = GPOINTER_TO_INT (g_hash_table_lookup (planned, t));
    if (g_strcmp0 (t->name, c->msrc->type) != 0 || t->available_instances - used <= 0)
      continue;
    if (c->mroom == NULL || (g_strcmp0 (t->parent, c->msrc->parent) == 0 && g_strcmp0 (c->mroom->parent, c->msrc->parent) != 0))
      c->mroom = t;
  }
  if (c->mroom != NULL)
    g_hash_table_insert (planned, (gpointer) c->mroom,
                         GINT_TO_POINTER (GPOINTER_TO_INT (g_hash_table_lookup (planned, c->mroom)) + 1));
}

static VfmHostdevVerdict *
judge_mdev (RuleCtx *ctx)
{
  VfmHostdevVerdict *v = g_new0 (VfmHostdevVerdict, 1);
  gulong q = MIN (ctx->src_host->qemu_version, ctx->dst_host->qemu_version);

  v->alias = g_strdup (ctx->mdev->alias);
  v->mdev_uuid = g_strdup (ctx->mdev->uuid);
  v->mdev_type = ctx->msrc ? g_strdup (ctx->msrc->type) : NULL;
  v->dest_mdev_uuid = ctx->mdst ? g_strdup (ctx->mdst->uuid) : NULL;
  v->dest_mdev_parent = ctx->mdst ? g_strdup (ctx->mdst->parent) : ctx->mroom ? g_strdup (ctx->mroom->parent) : NULL;
  v->driver = g_strdup (ctx->mdev->model);
  v->rules = g_ptr_array_new_with_free_func (rule_result_free);
  v->qemu_properties = g_ptr_array_new_with_free_func (g_free);
  for (gsize i = 0; i < G_N_ELEMENTS (mdev_rules); i++) {
    VfmRuleResult *r = g_new0 (VfmRuleResult, 1);
    r->rule = mdev_rules[i].name;
    r->gates = mdev_rules[i].gates;
    r->outcome = mdev_rules[i].func (ctx, &r->reason);
    g_ptr_array_add (v->rules, r);
  }
  if (ctx->qemu_props != NULL) {
    g_autoptr (GPtrArray) needed = vfm_qemu_props_needed (ctx->qemu_props, mdev_dirty_tracking (ctx), q);
    for (guint i = 0; i < needed->len; i++) {
      const VfmQemuProp *p = g_ptr_array_index (needed, i);
      g_ptr_array_add (v->qemu_properties, g_strdup_printf ("%s=%s (%s)", p->name, p->value, p->type));
    }
  }
  settle (v, TRUE);
  return v;
}

static VfmHostdevVerdict *
verdict_at (VfmCheckResult *r, guint i)
{
  return i < r->hostdevs->len ? g_ptr_array_index (r->hostdevs, i) : g_ptr_array_index (r->mdevs, i - r->hostdevs->len);
}

static gboolean
reports_p2p (const RuleCtx *c)
{
  const char *where;
  const VfmMdevProfile *a;
  if (c->mdev == NULL)
    return c->src != NULL && c->src->probed && c->src->p2p;
  a = mdev_answer (c, &where);
  return a != NULL && a->p2p;
}

/* QEMU's gate on several VFIO devices counts those it migrates with their
 * state; a replugged device is detached before the migration and does not
 * count (MIGRATION-FACTS §1, step 5). So the P2P rule runs last, over the
 * devices every other rule lets migrate natively. When they cannot all
 * migrate natively, auto keeps one native - one that cannot be replugged
 * (a mediated device) first - and the others are replugged; a requested
 * native strategy fails for all of them. */
static void
decide_p2p (VfmCheckResult *r, RuleCtx *ctxs, guint n, VfmStrategy requested)
{
  guint n_native = 0;
  gboolean all_p2p = TRUE, blocked;
  g_autofree char *no_p2p = NULL;
  gint keep = -1;
  const VfmQemuGate *g;
  gulong q;

  if (n == 0)
    return;
  g = vfm_qemu_gate (ctxs[0].gates, "multiple-devices-p2p");
  q = MIN (ctxs[0].src_host->qemu_version, ctxs[0].dst_host->qemu_version);
  for (guint i = 0; i < n; i++) {
    const VfmHostdevVerdict *v = verdict_at (r, i);
    RuleCtx *c = &ctxs[i];
    c->native_counted = (requested == VFM_STRATEGY_AUTO || requested == VFM_STRATEGY_NATIVE) &&
                        v->supports[VFM_STRATEGY_NATIVE];
    if (!c->native_counted)
      continue;
    n_native++;
    if (!reports_p2p (c)) {
      all_p2p = FALSE;
      if (no_p2p == NULL)
        no_p2p = g_strdup_printf ("%s reports no P2P", c->mdev ? c->mdev->uuid : c->hostdev->bdf);
    }
    if (keep < 0 || (verdict_at (r, keep)->supports[VFM_STRATEGY_REPLUG] && !v->supports[VFM_STRATEGY_REPLUG]))
      keep = (gint) i;
  }
  blocked = n_native > 1 && !(all_p2p && g != NULL && q >= g->since);
  if (requested != VFM_STRATEGY_AUTO)
    keep = -1;
  for (guint i = 0; i < n; i++) {
    VfmHostdevVerdict *v = verdict_at (r, i);
    RuleCtx *c = &ctxs[i];
    c->p2p_known = TRUE;
    c->n_native = n_native;
    c->all_p2p = all_p2p;
    c->no_p2p = no_p2p;
    c->native_demoted = blocked && c->native_counted && (gint) i != keep;
    for (guint j = 0; j < v->rules->len; j++) {
      VfmRuleResult *rr = g_ptr_array_index (v->rules, j);
      if (g_strcmp0 (rr->rule, "multiple-devices-p2p") != 0)
        continue;
      g_clear_pointer (&rr->reason, g_free);
      rr->outcome = r_multi_device (c, &rr->reason);
    }
    settle (v, c->mdev != NULL);
  }
}

VfmCheckResult *
vfm_check (const VfmHostProfile *src, const VfmHostProfile *dst, const VfmDomainInfo *domain, VfmStrategy requested)
{
  return vfm_check_reserved (src, dst, domain, requested, NULL);
}

VfmCheckResult *
vfm_check_reserved (const VfmHostProfile *src, const VfmHostProfile *dst, const VfmDomainInfo *domain,
                    VfmStrategy requested, const VfmCheckReserved *reserved)
{
  g_autoptr (GError) props_error = NULL;
  g_autoptr (GPtrArray) qemu_props =
    domain->mdevs->len + domain->hostdevs->len > 0 ? vfm_qemu_props_load (&props_error) : NULL;
  g_autoptr (GHashTable) mdev_taken = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) mdev_planned = g_hash_table_new (g_direct_hash, g_direct_equal);
  VfmCheckResult *r = g_new0 (VfmCheckResult, 1);
  g_autoptr (GHashTable) taken = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) gates_error = NULL;
  g_autoptr (VfmQemuGates) gates = vfm_qemu_gates_load (&gates_error);
  guint n = domain->hostdevs->len + domain->mdevs->len;
  g_autofree RuleCtx *ctxs = g_new0 (RuleCtx, n + 1);
  gboolean stop_copy_unknown = FALSE;

  /* what earlier domains were promised on this destination (placement):
   * never offered twice */
  if (reserved != NULL && reserved->devices != NULL) {
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init (&it, reserved->devices);
    while (g_hash_table_iter_next (&it, &key, NULL)) {
      g_hash_table_add (taken, key);
      g_hash_table_add (mdev_taken, key);
    }
  }
  if (reserved != NULL && reserved->mdev_room != NULL) {
    GHashTableIter it;
    gpointer key, value;
    g_hash_table_iter_init (&it, reserved->mdev_room);
    while (g_hash_table_iter_next (&it, &key, &value))
      g_hash_table_insert (mdev_planned, key, value);
  }

  r->domain = g_strdup (domain->name);
  r->source_host = g_strdup (src->hostname);
  r->dest_host = g_strdup (dst->hostname);
  r->requested = requested;
  r->domain_rules = g_ptr_array_new_with_free_func (rule_result_free);
  r->hostdevs = g_ptr_array_new_with_free_func (verdict_free);
  r->mdevs = g_ptr_array_new_with_free_func (verdict_free);
  r->plan = g_ptr_array_new_with_free_func (g_free);

  if (domain->legacy_other) {
    VfmRuleResult *rr = g_new0 (VfmRuleResult, 1);
    rr->rule = "only-pci-hostdevs";
    rr->gates = ALL;
    rr->outcome = VFM_OUTCOME_FAIL;
    rr->reason = g_strdup ("the domain has SCSI or capabilities host devices, which libvirt cannot migrate");
    g_ptr_array_add (r->domain_rules, rr);
  }
  /* every rule but the P2P one, per device (mediated ones after the PCI ones) */
  for (guint i = 0; i < n; i++) {
    RuleCtx *ctx = &ctxs[i];
    *ctx = (RuleCtx) { .src_host = src, .dst_host = dst, .domain = domain, .qemu_props = qemu_props,
                       .qemu_props_error = props_error ? props_error->message : NULL, .gates = gates,
                       .gates_error = gates_error ? gates_error->message : NULL };
    if (i < domain->hostdevs->len) {
      ctx->hostdev = g_ptr_array_index (domain->hostdevs, i);
      ctx->src = vfm_host_profile_device (src, ctx->hostdev->bdf);
      ctx->dst = pick_candidate (dst, ctx->src, taken);
      g_ptr_array_add (r->hostdevs, judge (ctx));
    } else {
      ctx->mdev = g_ptr_array_index (domain->mdevs, i - domain->hostdevs->len);
      ctx->msrc = vfm_host_profile_mdev (src, ctx->mdev->uuid);
      pick_mdev (ctx, mdev_taken, mdev_planned);
      g_ptr_array_add (r->mdevs, judge_mdev (ctx));
    }
  }
  decide_p2p (r, ctxs, n, requested);
  r->downtime_base_ms = 0;
  {
    const VfmQemuGate *g = vfm_qemu_gate (gates, "downtime-limit-default");
    r->downtime_base_ms = g ? g->value : 0;
  }

  /* the domain's strategy */
  {
    gboolean domain_blocked = r->domain_rules->len > 0;
    VfmStrategy weakest = VFM_STRATEGY_NATIVE;
    for (guint i = 0; i < r->hostdevs->len; i++) {
      const VfmHostdevVerdict *v = g_ptr_array_index (r->hostdevs, i);
      weakest = MIN (weakest, v->best);
    }
    for (guint i = 0; i < r->mdevs->len; i++) {
      const VfmHostdevVerdict *v = g_ptr_array_index (r->mdevs, i);
      weakest = MIN (weakest, v->best);
    }
    if (domain_blocked) {
      r->strategy = VFM_STRATEGY_REFUSE;
    } else if (requested == VFM_STRATEGY_AUTO) {
      /* PCI devices may be replugged beside natively migrating ones; a
       * mediated device only migrates natively */
      r->strategy = weakest;
    } else {
      r->strategy = requested;
      for (guint i = 0; i < r->hostdevs->len; i++) {
        const VfmHostdevVerdict *v = g_ptr_array_index (r->hostdevs, i);
        if (!v->supports[requested])
          r->strategy = VFM_STRATEGY_REFUSE;
      }
      for (guint i = 0; i < r->mdevs->len; i++) {
        const VfmHostdevVerdict *v = g_ptr_array_index (r->mdevs, i);
        if (!v->supports[requested])
          r->strategy = VFM_STRATEGY_REFUSE;
      }
    }
    r->ok = r->strategy != VFM_STRATEGY_REFUSE;
  }

  /* what moves only while the guest is stopped: a native device without its
   * own dirty tracking makes QEMU report all guest RAM dirty on every pass */
  for (guint i = 0; r->ok && i < n; i++) {
    const VfmHostdevVerdict *v = verdict_at (r, i);
    VfmStrategy s = requested == VFM_STRATEGY_AUTO ? v->best : requested;
    if (s == VFM_STRATEGY_NATIVE && !uses_device_tracking (&ctxs[i])) {
      r->stop_copy_bytes = domain->memory_kib * 1024;
      stop_copy_unknown = domain->memory_kib == 0;
    }
  }

  /* the plan migrate would follow */
  if (r->ok) {
    for (guint i = 0; i < r->hostdevs->len; i++) {
      const VfmHostdevVerdict *v = g_ptr_array_index (r->hostdevs, i);
      VfmStrategy s = vfm_check_hostdev_strategy (r, v);
      g_autofree char *carried = v->is_interface && (v->mac || v->vlan)
        ? g_strdup_printf ("; libvirt gives it %s%s%s%s%s as on the source", v->mac ? "MAC " : "", v->mac ? v->mac : "",
                           v->mac && v->vlan ? " and " : "", v->vlan ? "VLAN " : "", v->vlan ? v->vlan : "")
        : g_strdup ("");
      g_ptr_array_add (r->plan, g_strdup_printf ("claim %s %s for %s (%s%s)", dst->hostname ? dst->hostname : "destination",
                                                 v->dest_bdf, v->bdf, vfm_strategy_to_string (s), carried));
      g_ptr_array_add (r->plan, g_strdup_printf ("prepare %s: bind %s", v->dest_bdf, v->driver ? v->driver : "its driver"));
      if (vfm_check_vfmig_replugs (r, v))
        g_ptr_array_add (r->plan, g_strdup_printf ("detach %s from the domain on the source", v->bdf));
      else if (s == VFM_STRATEGY_FAILOVER)
        g_ptr_array_add (r->plan, g_strdup_printf ("leave %s attached: QEMU unplugs it during the migration (virtio-net "
                                                   "failover, the guest keeps its network on the standby) and plugs "
                                                   "%s on the destination from the migrated XML", v->bdf, v->dest_bdf));
    }
    for (guint i = 0; i < r->mdevs->len; i++) {
      const VfmHostdevVerdict *v = g_ptr_array_index (r->mdevs, i);
      if (v->dest_mdev_uuid != NULL)
        g_ptr_array_add (r->plan, g_strdup_printf ("claim %s mediated device %s (%s) for %s (native)",
                                                   dst->hostname ? dst->hostname : "destination", v->dest_mdev_uuid,
                                                   v->mdev_type, v->mdev_uuid));
      else
        g_ptr_array_add (r->plan, g_strdup_printf ("create a %s instance on %s %s for %s (native; removed again if "
                                                   "the migration fails)", v->mdev_type,
                                                   dst->hostname ? dst->hostname : "destination", v->dest_mdev_parent,
                                                   v->mdev_uuid));
      for (guint j = 0; j < v->qemu_properties->len; j++)
        g_ptr_array_add (r->plan, g_strdup_printf ("QEMU needs %s on %s (set at the guest's start)",
                                                   (const char *) g_ptr_array_index (v->qemu_properties, j), v->alias));
    }
    if (r->stop_copy_bytes > 0)
      g_ptr_array_add (r->plan, g_strdup_printf ("downtime limit: QEMU's default %" G_GUINT64_FORMAT " ms while the "
                                                 "migration converges; without dirty tracking QEMU keeps the guest "
                                                 "RAM (%" G_GUINT64_FORMAT " MiB) dirty, so if a second pass still "
                                                 "expects more, raised to what QEMU expects, at most the RAM at the "
                                                 "migration's rate (--max-downtime overrides)", r->downtime_base_ms,
                                                 r->stop_copy_bytes >> 20));
    else if (stop_copy_unknown)
      g_ptr_array_add (r->plan, g_strdup ("downtime limit: QEMU's default - a device without dirty tracking makes "
                                          "QEMU copy all guest RAM while the guest is stopped, and the domain XML "
                                          "gives no <memory>: pass --max-downtime or the migration may not converge"));
    g_ptr_array_add (r->plan, g_strdup_printf ("migrate live (peer to peer, no postcopy) with the destination XML pointing at the claimed devices"));
    for (guint i = 0; i < r->hostdevs->len; i++) {
      const VfmHostdevVerdict *v = g_ptr_array_index (r->hostdevs, i);
      if (vfm_check_vfmig_replugs (r, v))
        g_ptr_array_add (r->plan, g_strdup_printf ("attach %s on the destination", v->dest_bdf));
      g_ptr_array_add (r->plan, g_strdup_printf ("release %s on the source", v->bdf));
    }
  }
  if (r->hostdevs->len == 0 && r->mdevs->len == 0 && r->ok)
    r->summary = g_strdup ("no PCI passthrough devices: an ordinary migration");
  else
    r->summary = g_strdup_printf ("%s", r->ok ? vfm_strategy_to_string (r->strategy) : "not migratable");
  return r;
}

VfmStrategy
vfm_check_hostdev_strategy (const VfmCheckResult *r, const VfmHostdevVerdict *v)
{
  return r->requested == VFM_STRATEGY_AUTO ? v->best : r->requested;
}

gboolean
vfm_check_vfmig_replugs (const VfmCheckResult *r, const VfmHostdevVerdict *v)
{
  return vfm_check_hostdev_strategy (r, v) == VFM_STRATEGY_REPLUG;
}

guint64
vfm_check_downtime_ms (const VfmCheckResult *r, guint64 bytes_per_s)
{
  if (r == NULL || r->stop_copy_bytes == 0 || bytes_per_s == 0)
    return 0;
  return r->downtime_base_ms + (r->stop_copy_bytes * 1000 + bytes_per_s - 1) / bytes_per_s;
}

/* ---- JSON ---- */

static void
rules_to_json (JsonBuilder *b, GPtrArray *rs)
{
  json_builder_begin_array (b);
  for (guint i = 0; i < rs->len; i++) {
    const VfmRuleResult *rr = g_ptr_array_index (rs, i);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "rule");
    json_builder_add_string_value (b, rr->rule);
    json_builder_set_member_name (b, "outcome");
    json_builder_add_string_value (b, vfm_outcome_to_string (rr->outcome));
    json_builder_set_member_name (b, "strategies");
    json_builder_begin_array (b);
    for (VfmStrategy s = VFM_STRATEGY_NATIVE; s >= VFM_STRATEGY_REPLUG; s--)
      if (rr->gates & GATE (s))
        json_builder_add_string_value (b, vfm_strategy_to_string (s));
    json_builder_end_array (b);
    json_builder_set_member_name (b, "reason");
    json_builder_add_string_value (b, rr->reason);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
}

JsonNode *
vfm_check_result_to_json (const VfmCheckResult *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "domain", r->domain);
  vfm_json_add_str (b, "source", r->source_host);
  vfm_json_add_str (b, "destination", r->dest_host);
  vfm_json_add_str (b, "requested", vfm_strategy_to_string (r->requested));
  vfm_json_add_str (b, "strategy", vfm_strategy_to_string (r->strategy));
  json_builder_set_member_name (b, "migratable");
  json_builder_add_boolean_value (b, r->ok);
  vfm_json_add_str (b, "summary", r->summary);
  json_builder_set_member_name (b, "domain_rules");
  rules_to_json (b, r->domain_rules);
  json_builder_set_member_name (b, "hostdevs");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->hostdevs->len + r->mdevs->len; i++) {
    const VfmHostdevVerdict *v = i < r->hostdevs->len ? g_ptr_array_index (r->hostdevs, i)
                                                      : g_ptr_array_index (r->mdevs, i - r->hostdevs->len);
    if (i == r->hostdevs->len) {
      json_builder_end_array (b);
      json_builder_set_member_name (b, "mdevs");
      json_builder_begin_array (b);
    }
    json_builder_begin_object (b);
    if (v->mdev_uuid != NULL) {
      vfm_json_add_str (b, "uuid", v->mdev_uuid);
      vfm_json_add_str (b, "type", v->mdev_type);
      vfm_json_add_str (b, "destination_uuid", v->dest_mdev_uuid);
      vfm_json_add_str (b, "destination_parent", v->dest_mdev_parent);
      vfm_json_add_strv (b, "qemu_properties", v->qemu_properties);
    } else {
      vfm_json_add_str (b, "bdf", v->bdf);
      json_builder_set_member_name (b, "interface");
      if (v->is_interface) {
        json_builder_begin_object (b);
        vfm_json_add_str (b, "mac", v->mac);
        vfm_json_add_str (b, "vlan", v->vlan);
        json_builder_end_object (b);
      } else {
        json_builder_add_null_value (b);
      }
    }
    vfm_json_add_str (b, "alias", v->alias);
    vfm_json_add_str (b, "driver", v->driver);
    vfm_json_add_str (b, "destination_bdf", v->dest_bdf);
    vfm_json_add_str (b, "verdict", vfm_strategy_to_string (v->best));
    json_builder_set_member_name (b, "supports");
    json_builder_begin_array (b);
    for (VfmStrategy s = VFM_STRATEGY_NATIVE; s >= VFM_STRATEGY_REPLUG; s--)
      if (v->supports[s])
        json_builder_add_string_value (b, vfm_strategy_to_string (s));
    json_builder_end_array (b);
    json_builder_set_member_name (b, "rules");
    rules_to_json (b, v->rules);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  if (r->mdevs->len == 0) {
    json_builder_set_member_name (b, "mdevs");
    json_builder_begin_array (b);
    json_builder_end_array (b);
  }
  json_builder_set_member_name (b, "downtime");
  json_builder_begin_object (b);
  vfm_json_add_int (b, "base_ms", (gint64) r->downtime_base_ms);
  vfm_json_add_int (b, "stop_copy_bytes", (gint64) r->stop_copy_bytes);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "plan");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->plan->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (r->plan, i));
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
