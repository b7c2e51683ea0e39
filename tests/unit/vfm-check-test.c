/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The check layer (src/lib/check): the compatibility rules on two hand-made
 * host profiles and a parsed domain XML, and the destination XML rewrite. */
#include "vfm-compat.h"
#include "vfm-domain-xml.h"
#include "vfm-error.h"
#include "vfm-placement.h"
#include "vfm-profile.h"

#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#define SRC_MLX "0000:3b:00.2"
#define SRC_ICE "0000:3b:00.3"
#define DOMAIN_UUID "6f1e3d7a-52c4-4b8e-9d0a-1f2e3d4c5b6a"

/* ---- hand-made profiles ---- */

/* An empty profile with every container the library expects (read from the
 * smallest JSON it takes), filled by hand below. */
static VfmHostProfile *
profile (const char *hostname)
{
  g_autofree char *text = g_strdup_printf ("{\"format\": %d, \"devices\": []}", VFM_PROFILE_FORMAT);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  VfmHostProfile *p;

  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  p = vfm_host_profile_from_json (json_parser_get_root (parser), "unit", &error);
  g_assert_no_error (error);
  g_assert_nonnull (p);
  g_free (p->hostname);
  p->hostname = g_strdup (hostname);
  p->kernel_release = g_strdup ("6.12.0");
  p->iommu_mode = g_strdup ("on");
  p->libvirt_version = VFM_LIBVIRT_VERSION (10, 0, 0);
  p->qemu_version = VFM_LIBVIRT_VERSION (9, 1, 0);
  return p;
}

/* A ConnectX VF. vfio: on mlx5_vfio_pci with the kernel's migration answer;
 * else unbound, mlx5_vfio_pci selected. */
static VfmDeviceProfile *
add_mlx (VfmHostProfile *p, const char *bdf, gboolean vfio)
{
  VfmDeviceProfile *d = g_new0 (VfmDeviceProfile, 1);
  d->bdf = g_strdup (bdf);
  d->vendor = 0x15b3;
  d->device = 0x101e;
  d->subsystem_vendor = 0x15b3;
  d->subsystem_device = 0x0016;
  d->class_code = 0x020000;
  d->selected_driver = g_strdup ("mlx5_vfio_pci");
  d->selected_module = g_strdup ("mlx5_vfio_pci");
  d->selection_kind = g_strdup ("vendor");
  d->physfn = g_strdup ("0000:3b:00.0");
  d->pf_driver = g_strdup ("mlx5_core");
  d->iommu_group = 40;
  d->group_viable = TRUE;
  d->firmware = g_strdup ("22.39.1002");
  d->facts_same_firmware = VFM_FACT_YES; /* data/drivers/mlx5_vfio_pci.conf */
  if (vfio) {
    d->driver = g_strdup ("mlx5_vfio_pci");
    d->module = g_strdup ("mlx5_vfio_pci");
    d->module_srcversion = g_strdup ("A1B2C3");
    d->vfio_bound = TRUE;
    d->probed = d->migration = d->stop_copy = d->p2p = d->pre_copy = d->dirty_tracking = TRUE;
  }
  g_ptr_array_add (p->devices, d);
  return d;
}

/* An E810 VF: plain vfio-pci, no migration (the kernel says ENOTTY). */
static VfmDeviceProfile *
add_ice (VfmHostProfile *p, const char *bdf, gboolean vfio)
{
  VfmDeviceProfile *d = g_new0 (VfmDeviceProfile, 1);
  d->bdf = g_strdup (bdf);
  d->vendor = 0x8086;
  d->device = 0x1889;
  d->subsystem_vendor = 0x8086;
  d->subsystem_device = 0x0000;
  d->class_code = 0x020000;
  d->selected_driver = g_strdup ("vfio-pci");
  d->selected_module = g_strdup ("vfio_pci");
  d->selection_kind = g_strdup ("generic");
  d->iommu_group = 41;
  d->group_viable = TRUE;
  if (vfio) {
    d->driver = g_strdup ("vfio-pci");
    d->vfio_bound = TRUE;
    d->probed = TRUE;
    d->probe_detail = g_strdup ("no migration ops (ENOTTY)");
  }
  g_ptr_array_add (p->devices, d);
  return d;
}

/* ---- the domain ---- */

static const char *domain_xml =
  "<domain type='kvm'>\n"
  "  <name>guest1</name>\n"
  "  <uuid>" DOMAIN_UUID "</uuid>\n"
  "  <metadata><app:note xmlns:app='urn:example:app'>keep me</app:note></metadata>\n"
  "  <os><type arch='x86_64' machine='pc-q35-9.1'>hvm</type></os>\n"
  "  <features><acpi/><apic/></features>\n"
  "  <devices>\n"
  "    <!-- the guest's disk -->\n"
  "    <disk type='file' device='disk'><source file='/var/lib/libvirt/images/g.qcow2'/>"
  "<target dev='vda' bus='virtio'/><address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/></disk>\n"
  "    <hostdev mode='subsystem' type='pci' managed='yes'>\n"
  "      <driver name='vfio'/>\n"
  "      <source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x2'/></source>\n"
  "      <alias name='ua-mlx'/>\n"
  "      <address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/>\n"
  "    </hostdev>\n"
  "    <interface type='hostdev'>\n"
  "      <mac address='52:54:00:aa:bb:cc'/>\n"
  "      <source><address type='pci' domain='0x0000' bus='0x3b' slot='0x00' function='0x3'/></source>\n"
  "      <alias name='ua-net'/>\n"
  "      <address type='pci' domain='0x0000' bus='0x08' slot='0x00' function='0x0'/>\n"
  "    </interface>\n"
  "    <interface type='network'><source network='default'/><model type='virtio'/></interface>\n"
  "    <hostdev mode='subsystem' type='usb' managed='yes'><source><vendor id='0x046d'/><product id='0xc52b'/></source></hostdev>\n"
  "  </devices>\n"
  "</domain>\n";

/* The same domain with edits: text replaced once each. */
static char *
domain_with (const char *from1, const char *to1, const char *from2, const char *to2)
{
  g_autoptr (GString) s = g_string_new (domain_xml);
  if (from1 != NULL)
    g_assert_cmpuint (g_string_replace (s, from1, to1, 1), ==, 1);
  if (from2 != NULL)
    g_assert_cmpuint (g_string_replace (s, from2, to2, 1), ==, 1);
  return g_strdup (s->str);
}

static VfmDomainInfo *
parse (const char *xml)
{
  g_autoptr (GError) error = NULL;
  VfmDomainInfo *info = vfm_domain_parse (xml, strlen (xml), &error);
  g_assert_no_error (error);
  g_assert_nonnull (info);
  return info;
}

static void
test_domain_parse (void)
{
  g_autoptr (VfmDomainInfo) info = parse (domain_xml);
  const VfmHostdev *h, *n;

  g_assert_cmpstr (info->name, ==, "guest1");
  g_assert_cmpstr (info->uuid, ==, DOMAIN_UUID);
  g_assert_cmpstr (info->machine, ==, "pc-q35-9.1");
  g_assert_true (info->acpi);
  g_assert_false (info->viommu);
  g_assert_false (info->legacy_other); /* USB is not a PCI hostdev, and not a blocker here */
  g_assert_false (info->has_persistent_teaming);
  g_assert_cmpuint (info->hostdevs->len, ==, 2);

  h = g_ptr_array_index (info->hostdevs, 0);
  g_assert_cmpstr (h->bdf, ==, SRC_MLX);
  g_assert_true (h->managed);
  g_assert_false (h->is_interface);
  g_assert_cmpstr (h->driver_name, ==, "vfio");
  g_assert_cmpstr (h->alias, ==, "ua-mlx");
  g_assert_cmpstr (h->guest_address, ==, "07:00.0");

  n = g_ptr_array_index (info->hostdevs, 1);
  g_assert_cmpstr (n->bdf, ==, SRC_ICE);
  g_assert_true (n->is_interface);
  g_assert_true (n->managed); /* <interface type='hostdev'> is managed unless it says no */
  g_assert_cmpstr (n->mac, ==, "52:54:00:aa:bb:cc");
  g_assert_cmpstr (n->alias, ==, "ua-net");
}

/* An interface on a hostdev network: the migratable XML names only the
 * network; the live XML shows the VF, its MAC and the network's VLAN. The
 * XML vfmig migrates gets the VF as <interface type='hostdev'>, and the
 * rewrite points it at the claimed VF with MAC and VLAN kept. */
static void
test_actualize_hostdev_network (void)
{
  static const char *migratable =
    "<domain type='kvm'><name>g</name><uuid>" DOMAIN_UUID "</uuid><devices>"
    "<interface type='network'><mac address='52:54:00:11:22:33'/><source network='sriov-pool'/>"
    "<alias name='ua-sriov'/><address type='pci' domain='0x0000' bus='0x09' slot='0x00' function='0x0'/></interface>"
    "<interface type='network'><mac address='52:54:00:44:55:66'/><source network='default'/><model type='virtio'/>"
    "</interface></devices></domain>";
  static const char *live =
    "<domain type='kvm' id='3'><name>g</name><uuid>" DOMAIN_UUID "</uuid><devices>"
    "<interface type='hostdev' managed='yes'><mac address='52:54:00:11:22:33'/><driver name='vfio'/>"
    "<source><address type='pci' domain='0x0000' bus='0x3b' slot='0x00' function='0x4'/></source>"
    "<vlan><tag id='42'/></vlan><alias name='ua-sriov'/>"
    "<address type='pci' domain='0x0000' bus='0x09' slot='0x00' function='0x0'/></interface>"
    "<interface type='bridge'><mac address='52:54:00:44:55:66'/><source network='default' bridge='virbr0'/>"
    "<model type='virtio'/></interface></devices></domain>";
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) notes = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *xml = vfm_domain_actualize (migratable, strlen (migratable), live, strlen (live), notes, &error);
  g_autoptr (VfmDomainInfo) info = NULL;
  g_autoptr (GHashTable) moves = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *dest = NULL;
  g_autoptr (VfmDomainInfo) dinfo = NULL;
  const VfmHostdev *h;

  g_assert_no_error (error);
  info = parse (xml);
  g_assert_cmpuint (info->hostdevs->len, ==, 1);
  h = g_ptr_array_index (info->hostdevs, 0);
  g_assert_cmpstr (h->bdf, ==, "0000:3b:00.4");
  g_assert_true (h->is_interface);
  g_assert_cmpstr (h->mac, ==, "52:54:00:11:22:33");
  g_assert_cmpstr (h->vlan, ==, "42");
  g_assert_cmpstr (h->alias, ==, "ua-sriov");
  g_assert_cmpstr (h->guest_address, ==, "09:00.0");
  /* the other network's interface is left as the migratable XML has it */
  g_assert_nonnull (strstr (xml, "<source network=\"default\"/>"));
  g_assert_cmpuint (notes->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (notes, 0), "network sriov-pool uses VF 0000:3b:00.4, VLAN 42"));

  g_hash_table_insert (moves, "0000:3b:00.4", "0000:5e:00.6");
  dest = vfm_domain_rewrite (xml, strlen (xml), moves, NULL, NULL, &error);
  g_assert_no_error (error);
  dinfo = parse (dest);
  h = g_ptr_array_index (dinfo->hostdevs, 0);
  g_assert_cmpstr (h->bdf, ==, "0000:5e:00.6");
  g_assert_false (h->managed);
  g_assert_cmpstr (h->mac, ==, "52:54:00:11:22:33");
  g_assert_cmpstr (h->vlan, ==, "42");

  /* a live XML that is not a domain's: one error, nothing returned */
  g_assert_null (vfm_domain_actualize (migratable, strlen (migratable), "<network/>", 10, notes, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
}

static void
test_interface_vlan_trunk (void)
{
  g_autofree char *xml = domain_with ("      <alias name='ua-net'/>\n",
                                      "      <vlan trunk='yes'><tag id='10'/><tag id='20' nativeMode='untagged'/></vlan>\n"
                                      "      <alias name='ua-net'/>\n", NULL, NULL);
  g_autoptr (VfmDomainInfo) info = parse (xml);
  g_assert_cmpstr (((VfmHostdev *) g_ptr_array_index (info->hostdevs, 1))->vlan, ==, "10,20 (trunk)");
  g_assert_null (((VfmHostdev *) g_ptr_array_index (info->hostdevs, 0))->vlan);
}

static void
test_domain_parse_refused (void)
{
  static const char *bad[] = {
    "<network><name>x</name></network>",
    "not xml at all",
    "<domain><devices><hostdev mode='subsystem' type='pci'><source/></hostdev></devices></domain>",
    "<domain><devices><hostdev mode='subsystem' type='pci'><source><address bus='0x3b' slot='0x20' "
    "function='0x0'/></source></hostdev></devices></domain>",
    "<domain><devices><hostdev mode='subsystem' type='pci'><source><address bus='0x3b' slot='0x00' "
    "function='x'/></source></hostdev></devices></domain>",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GError) error = NULL;
    g_assert_null (vfm_domain_parse (bad[i], strlen (bad[i]), &error));
    g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
  }
  {
    /* a SCSI host device is one libvirt cannot migrate */
    g_autofree char *xml = domain_with ("<hostdev mode='subsystem' type='usb' managed='yes'>",
                                        "<hostdev mode='subsystem' type='scsi'>", NULL, NULL);
    g_autoptr (VfmDomainInfo) info = parse (xml);
    g_assert_true (info->legacy_other);
  }
}

/* ---- the rules ---- */

static const VfmHostdevVerdict *
verdict (const VfmCheckResult *r, const char *bdf)
{
  for (guint i = 0; i < r->hostdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (r->hostdevs, i);
    if (g_strcmp0 (v->bdf, bdf) == 0)
      return v;
  }
  g_assert_not_reached ();
}

static const VfmRuleResult *
rule (const VfmHostdevVerdict *v, const char *name)
{
  for (guint i = 0; i < v->rules->len; i++) {
    const VfmRuleResult *r = g_ptr_array_index (v->rules, i);
    if (strcmp (r->rule, name) == 0)
      return r;
  }
  g_assert_not_reached ();
}

static gboolean
plan_has (const VfmCheckResult *r, const char *text)
{
  for (guint i = 0; i < r->plan->len; i++)
    if (strstr (g_ptr_array_index (r->plan, i), text) != NULL)
      return TRUE;
  return FALSE;
}

typedef struct {
  VfmHostProfile *src, *dst;
  VfmDomainInfo *domain;
} Fixture;

/* The source runs both devices on VFIO; the destination has a ConnectX VF
 * in use by a VM, a free one on mlx5_vfio_pci, and a free E810 VF. */
static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->src = profile ("src");
  add_mlx (f->src, SRC_MLX, TRUE);
  add_ice (f->src, SRC_ICE, TRUE);
  f->dst = profile ("dst");
  add_mlx (f->dst, "0000:5e:00.2", TRUE)->in_use = TRUE;
  add_mlx (f->dst, "0000:5e:00.3", TRUE);
  add_ice (f->dst, "0000:5e:01.0", FALSE);
  f->domain = parse (domain_xml);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  vfm_host_profile_free (f->src);
  vfm_host_profile_free (f->dst);
  vfm_domain_info_free (f->domain);
}

/* Auto: the ConnectX VF migrates natively, the E810 VF by replug; the
 * domain as a whole by replug (the weakest), with the plan to match. */
static void
test_native_and_replug (Fixture *f, gconstpointer data)
{
  g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, f->domain, VFM_STRATEGY_AUTO);
  const VfmHostdevVerdict *mlx = verdict (r, SRC_MLX);
  const VfmHostdevVerdict *ice = verdict (r, SRC_ICE);

  g_assert_true (r->ok);
  g_assert_cmpint (r->strategy, ==, VFM_STRATEGY_REPLUG);
  g_assert_cmpstr (r->summary, ==, "replug");
  g_assert_cmpuint (r->domain_rules->len, ==, 0);

  g_assert_cmpint (mlx->best, ==, VFM_STRATEGY_NATIVE);
  g_assert_true (mlx->supports[VFM_STRATEGY_NATIVE]);
  g_assert_true (mlx->supports[VFM_STRATEGY_REPLUG]);
  g_assert_false (mlx->supports[VFM_STRATEGY_FAILOVER]);
  /* the one in use is never chosen */
  g_assert_cmpstr (mlx->dest_bdf, ==, "0000:5e:00.3");
  g_assert_cmpstr (mlx->driver, ==, "mlx5_vfio_pci");
  for (guint i = 0; i < mlx->rules->len; i++) {
    const VfmRuleResult *rr = g_ptr_array_index (mlx->rules, i);
    if (rr->gates & (1u << VFM_STRATEGY_NATIVE))
      g_assert_cmpint (rr->outcome, !=, VFM_OUTCOME_FAIL);
  }
  g_assert_cmpint (rule (mlx, "kernel-migration-source")->outcome, ==, VFM_OUTCOME_PASS);
  g_assert_nonnull (strstr (rule (mlx, "kernel-migration-source")->reason, "STOP_COPY|P2P|PRE_COPY"));
  g_assert_cmpint (rule (mlx, "failover-pair")->outcome, ==, VFM_OUTCOME_FAIL);
  /* managed='yes' on libvirt >= 10.0: libvirt picks the variant itself */
  g_assert_cmpint (rule (mlx, "managed-hostdev")->outcome, ==, VFM_OUTCOME_PASS);

  g_assert_cmpint (ice->best, ==, VFM_STRATEGY_REPLUG);
  g_assert_false (ice->supports[VFM_STRATEGY_NATIVE]);
  g_assert_cmpstr (ice->dest_bdf, ==, "0000:5e:01.0");
  g_assert_cmpint (rule (ice, "kernel-migration-source")->outcome, ==, VFM_OUTCOME_FAIL);
  g_assert_nonnull (strstr (rule (ice, "kernel-migration-source")->reason, "no VFIO migration for " SRC_ICE));
  g_assert_nonnull (strstr (rule (ice, "kernel-migration-source")->reason, "ENOTTY"));
  /* never probed on the destination: never assumed migratable */
  g_assert_cmpint (rule (ice, "kernel-migration-destination")->outcome, ==, VFM_OUTCOME_FAIL);
  g_assert_nonnull (strstr (rule (ice, "kernel-migration-destination")->reason, "never probed"));
  g_assert_cmpint (rule (ice, "hot-unplug")->outcome, ==, VFM_OUTCOME_PASS);

  g_assert_true (plan_has (r, "claim dst 0000:5e:00.3 for " SRC_MLX " (native)"));
  g_assert_true (plan_has (r, "detach " SRC_ICE));
  g_assert_false (plan_has (r, "detach " SRC_MLX));
  g_assert_true (plan_has (r, "attach 0000:5e:01.0 on the destination"));
}

static void
test_requested_native_refused (Fixture *f, gconstpointer data)
{
  g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, f->domain, VFM_STRATEGY_NATIVE);
  g_assert_false (r->ok);
  g_assert_cmpint (r->strategy, ==, VFM_STRATEGY_REFUSE);
  g_assert_cmpstr (r->summary, ==, "not migratable");
  g_assert_cmpuint (r->plan->len, ==, 0);
}

/* Without <acpi/> there is no hot-unplug: the E810 VF cannot move at all. */
static void
test_no_acpi_refuses_replug (Fixture *f, gconstpointer data)
{
  g_autofree char *xml = domain_with ("<features><acpi/><apic/></features>", "<features><apic/></features>", NULL, NULL);
  g_autoptr (VfmDomainInfo) info = parse (xml);
  g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, info, VFM_STRATEGY_AUTO);
  const VfmHostdevVerdict *ice = verdict (r, SRC_ICE);

  g_assert_false (info->acpi);
  g_assert_false (r->ok);
  g_assert_cmpint (ice->best, ==, VFM_STRATEGY_REFUSE);
  g_assert_cmpint (rule (ice, "hot-unplug")->outcome, ==, VFM_OUTCOME_FAIL);
  g_assert_nonnull (strstr (rule (ice, "hot-unplug")->reason, "no <acpi/>"));
  g_assert_cmpint (verdict (r, SRC_MLX)->best, ==, VFM_STRATEGY_NATIVE);
}

/* Each of these takes native away from the ConnectX VF, with its reason. */
static void
test_native_blockers (Fixture *f, gconstpointer data)
{
  VfmDeviceProfile *dst_mlx = g_ptr_array_index (f->dst->devices, 1);
  VfmDeviceProfile *src_mlx = g_ptr_array_index (f->src->devices, 0);

  /* firmware differs */
  g_free (dst_mlx->firmware);
  dst_mlx->firmware = g_strdup ("22.41.1000");
  {
    g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, f->domain, VFM_STRATEGY_AUTO);
    const VfmHostdevVerdict *v = verdict (r, SRC_MLX);
    g_assert_false (v->supports[VFM_STRATEGY_NATIVE]);
    g_assert_cmpint (v->best, ==, VFM_STRATEGY_REPLUG);
    g_assert_cmpint (rule (v, "same-firmware")->outcome, ==, VFM_OUTCOME_FAIL);
    g_assert_nonnull (strstr (rule (v, "same-firmware")->reason, "22.39.1002 vs 22.41.1000"));
  }
  g_free (dst_mlx->firmware);
  dst_mlx->firmware = g_strdup (src_mlx->firmware);

  /* QEMU before 8.1 on one end */
  f->dst->qemu_version = VFM_LIBVIRT_VERSION (8, 0, 0);
  {
    g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, f->domain, VFM_STRATEGY_AUTO);
    const VfmHostdevVerdict *v = verdict (r, SRC_MLX);
    g_assert_cmpint (v->best, ==, VFM_STRATEGY_REPLUG);
    g_assert_cmpint (rule (v, "qemu-vfio-migration")->outcome, ==, VFM_OUTCOME_FAIL);
    g_assert_nonnull (strstr (rule (v, "qemu-vfio-migration")->reason, "QEMU 8.0.0"));
  }
  f->dst->qemu_version = VFM_LIBVIRT_VERSION (9, 1, 0);

  /* unknown versions are not assumed good */
  f->src->libvirt_version = 0;
  {
    g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, f->domain, VFM_STRATEGY_AUTO);
    const VfmHostdevVerdict *v = verdict (r, SRC_MLX);
    g_assert_cmpint (rule (v, "libvirt-asks-qemu")->outcome, ==, VFM_OUTCOME_FAIL);
    g_assert_nonnull (strstr (rule (v, "libvirt-asks-qemu")->reason, "unknown"));
  }
  f->src->libvirt_version = VFM_LIBVIRT_VERSION (10, 0, 0);

  /* a vIOMMU in the domain */
  {
    g_autofree char *xml = domain_with ("<interface type='network'>",
                                        "<iommu model='intel'/><interface type='network'>", NULL, NULL);
    g_autoptr (VfmDomainInfo) info = parse (xml);
    g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, info, VFM_STRATEGY_AUTO);
    const VfmHostdevVerdict *v = verdict (r, SRC_MLX);
    g_assert_true (info->viommu);
    g_assert_cmpint (rule (v, "no-viommu")->outcome, ==, VFM_OUTCOME_FAIL);
    g_assert_cmpint (v->best, ==, VFM_STRATEGY_REPLUG);
  }

  /* the destination device would take another driver */
  g_free (dst_mlx->driver);
  dst_mlx->driver = g_strdup ("vfio-pci");
  {
    g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, f->domain, VFM_STRATEGY_AUTO);
    const VfmHostdevVerdict *v = verdict (r, SRC_MLX);
    g_assert_cmpint (rule (v, "same-variant-driver")->outcome, ==, VFM_OUTCOME_FAIL);
    g_assert_nonnull (strstr (rule (v, "same-variant-driver")->reason, "mlx5_vfio_pci"));
    g_assert_cmpint (v->best, ==, VFM_STRATEGY_REPLUG);
  }
}

/* Nothing free there: refused for every strategy, with the ids in words. */
static void
test_no_free_device (Fixture *f, gconstpointer data)
{
  g_autoptr (VfmCheckResult) r = NULL;
  const VfmHostdevVerdict *ice;
  VfmDeviceProfile *dst_ice = g_ptr_array_index (f->dst->devices, 2);

  dst_ice->claimed = TRUE; /* held by another migration's claim */
  r = vfm_check (f->src, f->dst, f->domain, VFM_STRATEGY_AUTO);
  ice = verdict (r, SRC_ICE);
  g_assert_false (r->ok);
  g_assert_cmpint (r->strategy, ==, VFM_STRATEGY_REFUSE);
  g_assert_null (ice->dest_bdf);
  g_assert_cmpint (ice->best, ==, VFM_STRATEGY_REFUSE);
  g_assert_cmpint (rule (ice, "destination-device-free")->outcome, ==, VFM_OUTCOME_FAIL);
  g_assert_cmpstr (rule (ice, "destination-device-free")->reason, ==,
                   "dst has no free device 8086:1889 (subsystem 8086:0000)");
}

/* Two hostdevs with the same ids never get the same destination device. */
static void
test_two_same_devices (Fixture *f, gconstpointer data)
{
  g_autofree char *xml = domain_with ("<interface type='hostdev'>\n      <mac address='52:54:00:aa:bb:cc'/>\n"
                                      "      <source><address type='pci' domain='0x0000' bus='0x3b' slot='0x00' function='0x3'/>",
                                      "<interface type='hostdev'>\n      <mac address='52:54:00:aa:bb:cc'/>\n"
                                      "      <source><address type='pci' domain='0x0000' bus='0x3b' slot='0x00' function='0x4'/>",
                                      NULL, NULL);
  g_autoptr (VfmDomainInfo) info = parse (xml);
  g_autoptr (VfmCheckResult) r = NULL;
  VfmDeviceProfile *in_use = g_ptr_array_index (f->dst->devices, 0);

  add_mlx (f->src, "0000:3b:00.4", TRUE);
  r = vfm_check (f->src, f->dst, info, VFM_STRATEGY_AUTO);
  /* one free ConnectX VF there for two: the second has none */
  g_assert_cmpstr (verdict (r, SRC_MLX)->dest_bdf, ==, "0000:5e:00.3");
  g_assert_null (verdict (r, "0000:3b:00.4")->dest_bdf);
  g_assert_false (r->ok);
  g_clear_pointer (&r, vfm_check_result_free);

  in_use->in_use = FALSE;
  r = vfm_check (f->src, f->dst, info, VFM_STRATEGY_AUTO);
  g_assert_nonnull (verdict (r, SRC_MLX)->dest_bdf);
  g_assert_nonnull (verdict (r, "0000:3b:00.4")->dest_bdf);
  g_assert_cmpstr (verdict (r, SRC_MLX)->dest_bdf, !=, verdict (r, "0000:3b:00.4")->dest_bdf);
  /* two migratable devices, all with P2P, QEMU 9.1: allowed */
  g_assert_cmpint (rule (verdict (r, SRC_MLX), "multiple-devices-p2p")->outcome, ==, VFM_OUTCOME_PASS);
  g_assert_true (r->ok);
}

/* Failover: a transient VF paired with a persistent virtio-net standby. */
static void
test_failover (Fixture *f, gconstpointer data)
{
  g_autofree char *xml = domain_with (
    "      <alias name='ua-net'/>\n", "      <alias name='ua-net'/>\n      <teaming type='transient' persistent='ua-virtio'/>\n",
    "<interface type='network'><source network='default'/>",
    "<interface type='network'><teaming type='persistent'/><alias name='ua-virtio'/><source network='default'/>");
  g_autoptr (VfmDomainInfo) info = parse (xml);
  g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, info, VFM_STRATEGY_FAILOVER);
  const VfmHostdevVerdict *ice = verdict (r, SRC_ICE);

  g_assert_true (info->has_persistent_teaming);
  g_assert_cmpint (rule (ice, "failover-pair")->outcome, ==, VFM_OUTCOME_PASS);
  g_assert_true (ice->supports[VFM_STRATEGY_FAILOVER]);
  /* the ConnectX VF has no standby: failover cannot take the whole domain */
  g_assert_false (verdict (r, SRC_MLX)->supports[VFM_STRATEGY_FAILOVER]);
  g_assert_false (r->ok);

  /* auto: the ConnectX VF natively, the E810 VF by failover - which vfmig
   * never detaches itself (issue 16, 4): QEMU unplugs it during the
   * migration, and the migrated XML points it at the claimed VF */
  {
    g_autoptr (VfmCheckResult) a = vfm_check (f->src, f->dst, info, VFM_STRATEGY_AUTO);
    const VfmHostdevVerdict *v = verdict (a, SRC_ICE);
    g_autoptr (GHashTable) moves = g_hash_table_new (g_str_hash, g_str_equal);
    g_autoptr (GError) error = NULL;
    g_autofree char *dest = NULL;
    g_autoptr (VfmDomainInfo) dinfo = NULL;
    const VfmHostdev *h;

    g_assert_true (a->ok);
    g_assert_cmpint (v->best, ==, VFM_STRATEGY_FAILOVER);
    g_assert_cmpint (vfm_check_hostdev_strategy (a, v), ==, VFM_STRATEGY_FAILOVER);
    g_assert_false (vfm_check_vfmig_replugs (a, v));
    g_assert_false (plan_has (a, "detach " SRC_ICE));
    g_assert_false (plan_has (a, "attach 0000:5e:01.0 on the destination"));
    g_assert_true (plan_has (a, "leave " SRC_ICE " attached: QEMU unplugs it during the migration"));
    /* the same device replugged when asked: vfmig detaches it */
    {
      g_autoptr (VfmCheckResult) rp = vfm_check (f->src, f->dst, info, VFM_STRATEGY_REPLUG);
      g_assert_true (vfm_check_vfmig_replugs (rp, verdict (rp, SRC_ICE)));
      g_assert_true (plan_has (rp, "detach " SRC_ICE));
    }
    g_hash_table_insert (moves, SRC_ICE, "0000:5e:01.0");
    dest = vfm_domain_rewrite (xml, strlen (xml), moves, NULL, NULL, &error);
    g_assert_no_error (error);
    dinfo = parse (dest);
    h = g_ptr_array_index (dinfo->hostdevs, 1);
    g_assert_cmpstr (h->bdf, ==, "0000:5e:01.0");
    g_assert_cmpstr (h->teaming, ==, "transient");
    g_assert_cmpstr (h->teaming_peer, ==, "ua-virtio");
    g_assert_cmpstr (h->mac, ==, "52:54:00:aa:bb:cc");
    g_assert_true (dinfo->has_persistent_teaming);
  }
}

/* Whole-domain blockers and per-device ones that no strategy survives. */
static void
test_refuse_reasons (Fixture *f, gconstpointer data)
{
  {
    g_autofree char *xml = domain_with ("<hostdev mode='subsystem' type='usb' managed='yes'>",
                                        "<hostdev mode='subsystem' type='scsi'>", NULL, NULL);
    g_autoptr (VfmDomainInfo) info = parse (xml);
    g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, info, VFM_STRATEGY_AUTO);
    const VfmRuleResult *rr;
    g_assert_false (r->ok);
    g_assert_cmpuint (r->domain_rules->len, ==, 1);
    rr = g_ptr_array_index (r->domain_rules, 0);
    g_assert_cmpstr (rr->rule, ==, "only-pci-hostdevs");
    g_assert_cmpint (rr->outcome, ==, VFM_OUTCOME_FAIL);
  }
  {
    /* legacy pci-assign */
    g_autofree char *xml = domain_with ("<driver name='vfio'/>", "<driver name='kvm'/>", NULL, NULL);
    g_autoptr (VfmDomainInfo) info = parse (xml);
    g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, info, VFM_STRATEGY_AUTO);
    const VfmHostdevVerdict *v = verdict (r, SRC_MLX);
    g_assert_cmpint (v->best, ==, VFM_STRATEGY_REFUSE);
    g_assert_cmpint (rule (v, "not-legacy-assignment")->outcome, ==, VFM_OUTCOME_FAIL);
  }
  {
    /* integrated graphics never moves */
    VfmDeviceProfile *src_mlx = g_ptr_array_index (f->src->devices, 0);
    g_autoptr (VfmCheckResult) r = NULL;
    g_free (src_mlx->selection_kind);
    src_mlx->selection_kind = g_strdup ("igd");
    r = vfm_check (f->src, f->dst, f->domain, VFM_STRATEGY_AUTO);
    g_assert_cmpint (verdict (r, SRC_MLX)->best, ==, VFM_STRATEGY_REFUSE);
    g_assert_cmpint (rule (verdict (r, SRC_MLX), "not-igd")->outcome, ==, VFM_OUTCOME_FAIL);
  }
  {
    /* a hostdev the source does not have */
    g_autofree char *xml = domain_with ("bus='0x3b' slot='0x00' function='0x2'", "bus='0x3c' slot='0x00' function='0x2'",
                                        NULL, NULL);
    g_autoptr (VfmDomainInfo) info = parse (xml);
    g_autoptr (VfmCheckResult) r = vfm_check (f->src, f->dst, info, VFM_STRATEGY_AUTO);
    const VfmHostdevVerdict *v = verdict (r, "0000:3c:00.2");
    g_assert_cmpint (v->best, ==, VFM_STRATEGY_REFUSE);
    g_assert_cmpint (rule (v, "source-device-present")->outcome, ==, VFM_OUTCOME_FAIL);
    g_assert_nonnull (strstr (rule (v, "source-device-present")->reason, "src has no passthrough device 0000:3c:00.2"));
  }
}

/* ---- the destination XML ---- */

/* Canonical XML (C14N with comments), blanks dropped: two documents that
 * say the same thing compare equal. */
static char *
canonical (xmlDoc *doc)
{
  xmlChar *out = NULL;
  char *s;
  g_assert_cmpint (xmlC14NDocDumpMemory (doc, NULL, XML_C14N_1_0, NULL, 1, &out), >=, 0);
  s = g_strdup ((const char *) out);
  xmlFree (out);
  return s;
}

static xmlDoc *
read_doc (const char *xml)
{
  xmlDoc *doc = xmlReadMemory (xml, (int) strlen (xml), "t.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
  g_assert_nonnull (doc);
  return doc;
}

/* The element at the end of an XPath-free walk: devices/<name>[n]. */
static xmlNode *
device_element (xmlDoc *doc, const char *name, guint n)
{
  xmlNode *devices = NULL;
  for (xmlNode *c = xmlDocGetRootElement (doc)->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && xmlStrEqual (c->name, BAD_CAST "devices"))
      devices = c;
  for (xmlNode *c = devices ? devices->children : NULL; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && xmlStrEqual (c->name, BAD_CAST name) && n-- == 0)
      return c;
  g_assert_not_reached ();
}

static xmlNode *
child_element (xmlNode *node, const char *name)
{
  for (xmlNode *c = node->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && xmlStrEqual (c->name, BAD_CAST name))
      return c;
  g_assert_not_reached ();
}

static void
set_source (xmlNode *dev, const char *bus, const char *slot, const char *fn)
{
  xmlNode *addr = child_element (child_element (dev, "source"), "address");
  xmlSetProp (addr, BAD_CAST "domain", BAD_CAST "0x0000");
  xmlSetProp (addr, BAD_CAST "bus", BAD_CAST bus);
  xmlSetProp (addr, BAD_CAST "slot", BAD_CAST slot);
  xmlSetProp (addr, BAD_CAST "function", BAD_CAST fn);
  xmlSetProp (dev, BAD_CAST "managed", BAD_CAST "no");
}

/* Everything but each moved device's source address (and managed='no',
 * vfmig binds it) is as it was: the guest address, alias, MAC, the other
 * devices, comments, foreign metadata. */
static void
test_rewrite_keeps_everything_else (void)
{
  g_autoptr (GHashTable) moves = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *got = NULL, *want = NULL;
  xmlDoc *expected, *rewritten;

  g_hash_table_insert (moves, SRC_MLX, "0000:5e:00.3");
  g_hash_table_insert (moves, SRC_ICE, "0001:af:1f.7");
  out = vfm_domain_rewrite (domain_xml, strlen (domain_xml), moves, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (out);

  expected = read_doc (domain_xml);
  set_source (device_element (expected, "hostdev", 0), "0x5e", "0x00", "0x3");
  {
    xmlNode *iface = device_element (expected, "interface", 0);
    set_source (iface, "0xaf", "0x1f", "0x7");
    xmlSetProp (child_element (child_element (iface, "source"), "address"), BAD_CAST "domain", BAD_CAST "0x0001");
  }
  rewritten = read_doc (out);
  want = canonical (expected);
  got = canonical (rewritten);
  g_assert_cmpstr (got, ==, want);
  xmlFreeDoc (expected);
  xmlFreeDoc (rewritten);

  /* and it reads back as the moved devices, same aliases and guest slots */
  {
    g_autoptr (VfmDomainInfo) info = parse (out);
    const VfmHostdev *h = g_ptr_array_index (info->hostdevs, 0);
    const VfmHostdev *n = g_ptr_array_index (info->hostdevs, 1);
    g_assert_cmpstr (h->bdf, ==, "0000:5e:00.3");
    g_assert_false (h->managed);
    g_assert_cmpstr (h->alias, ==, "ua-mlx");
    g_assert_cmpstr (h->guest_address, ==, "07:00.0");
    g_assert_cmpstr (n->bdf, ==, "0001:af:1f.7");
    g_assert_cmpstr (n->mac, ==, "52:54:00:aa:bb:cc");
    g_assert_cmpstr (n->guest_address, ==, "08:00.0");
  }
}

/* No moves, no drops, no claim: the document comes back as it was. */
static void
test_rewrite_identity (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *out = vfm_domain_rewrite (domain_xml, strlen (domain_xml), NULL, NULL, NULL, &error);
  xmlDoc *a = read_doc (domain_xml), *b = read_doc (out);
  g_autofree char *ca = canonical (a), *cb = canonical (b);

  g_assert_no_error (error);
  g_assert_cmpstr (cb, ==, ca);
  xmlFreeDoc (a);
  xmlFreeDoc (b);
}

/* A dropped hostdev (replugged after the migration) is left out, nothing
 * else; the claim goes into <metadata>, replacing an older one. */
static void
test_rewrite_drop_and_claim (void)
{
  g_autoptr (GHashTable) drop = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GError) error = NULL;
  const char *claim1 = "0d3c5a4e-1111-4222-8333-944455556666";
  const char *claim2 = "9a8b7c6d-2222-4333-8444-a55566667777";
  g_autofree char *once = NULL, *twice = NULL, *id = NULL;

  g_hash_table_add (drop, SRC_ICE);
  once = vfm_domain_rewrite (domain_xml, strlen (domain_xml), NULL, drop, claim1, &error);
  g_assert_no_error (error);
  {
    g_autoptr (VfmDomainInfo) info = parse (once);
    g_assert_cmpuint (info->hostdevs->len, ==, 1);
    g_assert_cmpstr (((VfmHostdev *) g_ptr_array_index (info->hostdevs, 0))->bdf, ==, SRC_MLX);
    g_assert_true (((VfmHostdev *) g_ptr_array_index (info->hostdevs, 0))->managed);
  }
  g_assert_nonnull (strstr (once, "keep me"));
  g_assert_nonnull (strstr (once, "<interface type=\"network\">"));
  id = vfm_domain_claim_id (once, strlen (once));
  g_assert_cmpstr (id, ==, claim1);

  twice = vfm_domain_rewrite (once, strlen (once), NULL, NULL, claim2, &error);
  g_assert_no_error (error);
  g_free (id);
  id = vfm_domain_claim_id (twice, strlen (twice));
  g_assert_cmpstr (id, ==, claim2);
  g_assert_null (strstr (twice, claim1));
  g_assert_nonnull (strstr (twice, "keep me"));

  /* no claim, or one that is not a UUID: none */
  g_assert_null (vfm_domain_claim_id (domain_xml, strlen (domain_xml)));
  {
    g_autofree char *odd = vfm_domain_rewrite (domain_xml, strlen (domain_xml), NULL, NULL, "../x", &error);
    g_assert_null (vfm_domain_claim_id (odd, strlen (odd)));
  }
}

/* Not a domain: refused, and nothing kept. Run in a subprocess so that a
 * leak the sanitizer reports at exit ('asan' setup) is this test's. */
static void
test_rewrite_not_a_domain (void)
{
  if (g_test_subprocess ()) {
    g_autoptr (GError) error = NULL;
    g_assert_null (vfm_domain_rewrite ("<network/>", 10, NULL, NULL, NULL, &error));
    g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
    g_assert_null (vfm_domain_claim_id ("<network/>", 10));
    return;
  }
  /* under the sanitizer a leaked document fails the child */
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* issue 16: a replug kept none of the user's hostdev (guest slot 0x07 became
 * 0x02, <rom bar='off'/> was gone) */
static void
test_hostdev_element_kept (void)
{
  static const char xml[] =
    "<domain type='kvm'><name>g</name><devices>"
    "<hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio' model='mlx5_vfio_pci'/>"
    "<source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x2'/></source>"
    "<alias name='ua-vf1'/><rom bar='off'/><acpi index='5'/><boot order='2'/>"
    "<address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/></hostdev>"
    "</devices></domain>";
  g_autoptr (GError) error = NULL;
  g_autofree char *same = vfm_domain_hostdev_xml (xml, strlen (xml), "0000:3b:00.2", NULL, &error);
  g_autofree char *moved = NULL, *again = NULL;

  g_assert_no_error (error);
  for (const char * const *want = (const char * const[]) { "managed=\"yes\"", "model=\"mlx5_vfio_pci\"",
                                                            "<rom bar=\"off\"/>", "<acpi index=\"5\"/>",
                                                            "<boot order=\"2\"/>", "slot=\"0x07\"",
                                                            "name=\"ua-vf1\"", "bus=\"0x3b\"", NULL };
       *want != NULL; want++)
    g_assert_nonnull (strstr (same, *want));
  moved = vfm_domain_hostdev_xml (xml, strlen (xml), "0000:3b:00.2", "0000:5e:01.4", &error);
  g_assert_no_error (error);
  g_assert_nonnull (strstr (moved, "managed=\"no\""));
  g_assert_nonnull (strstr (moved, "bus=\"0x5e\" slot=\"0x01\" function=\"0x4\""));
  g_assert_nonnull (strstr (moved, "<rom bar=\"off\"/>"));
  g_assert_nonnull (strstr (moved, "slot=\"0x07\""));
  g_assert_nonnull (strstr (moved, "<boot order=\"2\"/>"));
  g_assert_null (strstr (moved, "bus=\"0x3b\""));
  /* the journal keeps the element: retargeting it alone gives the same */
  again = vfm_hostdev_retarget (same, "0000:5e:01.4", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again, ==, moved);
  g_assert_null (vfm_domain_hostdev_xml (xml, strlen (xml), "0000:3b:00.3", NULL, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND);
}

/* ---- placement (issue 19) ---- */

static VfmDomainInfo *
one_hostdev_domain (const char *name, const char *bdf)
{
  g_autofree char *xml = g_strdup_printf ("<domain type='kvm'><name>%s</name><features><acpi/></features><devices>"
                                          "<hostdev mode='subsystem' type='pci' managed='no'><source><address "
                                          "domain='0x%.4s' bus='0x%.2s' slot='0x%.2s' function='0x%.1s'/></source>"
                                          "</hostdev></devices></domain>", name, bdf, bdf + 5, bdf + 8, bdf + 11);
  return parse (xml);
}

/* Two domains with the same kind of device, three candidates: b has one
 * free device (native), c has one that only replugs, d has none. The first
 * domain gets b; b's device is then promised and the second gets c - never
 * b's device twice. */
static void
test_placement_no_overcommit (void)
{
  g_autoptr (VfmHostProfile) src = profile ("a");
  g_autoptr (VfmPlacement) p = vfm_placement_new ();
  g_autoptr (VfmDomainInfo) d1 = one_hostdev_domain ("d1", "0000:3b:00.2");
  g_autoptr (VfmDomainInfo) d2 = one_hostdev_domain ("d2", "0000:3b:00.3");
  g_autoptr (GPtrArray) r1 = NULL, r2 = NULL, r3 = NULL;
  VfmHostProfile *b = profile ("b"), *c = profile ("c"), *d = profile ("d");
  const VfmPlacementCandidate *first;

  add_mlx (src, "0000:3b:00.2", TRUE);
  add_mlx (src, "0000:3b:00.3", TRUE);
  add_mlx (b, "0000:5e:00.4", TRUE);
  add_mlx (c, "0000:5e:00.4", TRUE)->dirty_tracking = FALSE; /* QEMU 9.1 without the properties: replug */
  vfm_placement_add_host (p, "d", d);
  vfm_placement_add_host (p, "c", c);
  vfm_placement_add_host (p, "b", b);

  r1 = vfm_placement_rank (p, src, d1, VFM_STRATEGY_AUTO);
  g_assert_cmpuint (r1->len, ==, 3);
  first = g_ptr_array_index (r1, 0);
  g_assert_cmpstr (first->host, ==, "b");
  g_assert_cmpint (first->check->strategy, ==, VFM_STRATEGY_NATIVE);
  g_assert_cmpuint (first->free_matching, ==, 1);
  g_assert_cmpint (first->downtime_ms, ==, 300);
  g_assert_cmpstr (((VfmPlacementCandidate *) g_ptr_array_index (r1, 1))->host, ==, "c");
  g_assert_cmpint (((VfmPlacementCandidate *) g_ptr_array_index (r1, 1))->check->strategy, ==, VFM_STRATEGY_REPLUG);
  g_assert_true (((VfmPlacementCandidate *) g_ptr_array_index (r1, 1))->device_gap);
  g_assert_cmpstr (((VfmPlacementCandidate *) g_ptr_array_index (r1, 2))->host, ==, "d");
  g_assert_cmpint (((VfmPlacementCandidate *) g_ptr_array_index (r1, 2))->kind, ==, VFM_MOVE_NONE);
  g_assert_cmpuint (((VfmPlacementCandidate *) g_ptr_array_index (r1, 2))->blockers->len, >, 0);

  /* ranking alone promises nothing */
  r2 = vfm_placement_rank (p, src, d2, VFM_STRATEGY_AUTO);
  g_assert_cmpstr (((VfmPlacementCandidate *) g_ptr_array_index (r2, 0))->host, ==, "b");

  vfm_placement_promise (p, first);
  g_assert_cmpuint (vfm_placement_n_promised (p, 2), ==, 1);
  r3 = vfm_placement_rank (p, src, d2, VFM_STRATEGY_AUTO);
  first = g_ptr_array_index (r3, 0);
  g_assert_cmpstr (first->host, ==, "c");
  g_assert_cmpstr (((VfmHostdevVerdict *) g_ptr_array_index (first->check->hostdevs, 0))->dest_bdf, ==, "0000:5e:00.4");
  for (guint i = 0; i < r3->len; i++) {
    const VfmPlacementCandidate *x = g_ptr_array_index (r3, i);
    if (g_strcmp0 (x->host, "b") == 0) {
      g_assert_false (x->check->ok);
      g_assert_cmpuint (x->free_matching, ==, 0);
      g_assert_null (((VfmHostdevVerdict *) g_ptr_array_index (x->check->hostdevs, 0))->dest_bdf);
    }
  }
}

/* A device that cannot move live (an IGD) ranks a host with a free device
 * of the same kind as a cold move, before one without. */
static void
test_placement_cold (void)
{
  g_autoptr (VfmHostProfile) src = profile ("a");
  g_autoptr (VfmPlacement) p = vfm_placement_new ();
  g_autoptr (VfmDomainInfo) dom = one_hostdev_domain ("kiosk", "0000:00:02.0");
  g_autoptr (GPtrArray) r = NULL;
  VfmHostProfile *b = profile ("b"), *c = profile ("c");
  VfmDeviceProfile *igd;

  igd = add_ice (src, "0000:00:02.0", TRUE);
  g_free (igd->selection_kind);
  igd->selection_kind = g_strdup ("igd");
  add_ice (c, "0000:00:02.0", TRUE);
  vfm_placement_add_host (p, "b", b);
  vfm_placement_add_host (p, "c", c);
  r = vfm_placement_rank (p, src, dom, VFM_STRATEGY_AUTO);
  g_assert_cmpstr (((VfmPlacementCandidate *) g_ptr_array_index (r, 0))->host, ==, "c");
  g_assert_cmpint (((VfmPlacementCandidate *) g_ptr_array_index (r, 0))->kind, ==, VFM_MOVE_COLD);
  g_assert_cmpint (((VfmPlacementCandidate *) g_ptr_array_index (r, 0))->downtime_ms, ==, -1);
  g_assert_cmpint (((VfmPlacementCandidate *) g_ptr_array_index (r, 1))->kind, ==, VFM_MOVE_NONE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  g_test_add_func ("/check/domain/parse", test_domain_parse);
  g_test_add_func ("/check/domain/hostdev-element-kept", test_hostdev_element_kept);
  g_test_add_func ("/check/domain/parse-refused", test_domain_parse_refused);
  g_test_add_func ("/check/domain/actualize-hostdev-network", test_actualize_hostdev_network);
  g_test_add_func ("/check/domain/interface-vlan", test_interface_vlan_trunk);
  ADD ("/check/rules/native-and-replug", test_native_and_replug);
  ADD ("/check/rules/requested-native-refused", test_requested_native_refused);
  ADD ("/check/rules/no-acpi-refuses-replug", test_no_acpi_refuses_replug);
  ADD ("/check/rules/native-blockers", test_native_blockers);
  ADD ("/check/rules/no-free-device", test_no_free_device);
  ADD ("/check/rules/two-same-devices", test_two_same_devices);
  ADD ("/check/rules/failover", test_failover);
  ADD ("/check/rules/refuse-reasons", test_refuse_reasons);
  g_test_add_func ("/check/placement/no-overcommit", test_placement_no_overcommit);
  g_test_add_func ("/check/placement/cold", test_placement_cold);
  g_test_add_func ("/check/rewrite/keeps-everything-else", test_rewrite_keeps_everything_else);
  g_test_add_func ("/check/rewrite/identity", test_rewrite_identity);
  g_test_add_func ("/check/rewrite/drop-and-claim", test_rewrite_drop_and_claim);
  g_test_add_func ("/check/rewrite/not-a-domain", test_rewrite_not_a_domain);
#undef ADD
  return g_test_run ();
}
