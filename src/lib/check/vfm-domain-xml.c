/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-domain-xml.h"
#include "vfm-error.h"

#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <stdio.h>
#include <string.h>

typedef xmlDoc VfmXmlDoc;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmXmlDoc, xmlFreeDoc)

static void
set_hex (xmlNode *node, const char *name, guint value, int width)
{
  char buf[16];
  g_snprintf (buf, sizeof buf, "0x%0*x", width, value);
  xmlNewProp (node, BAD_CAST name, BAD_CAST buf);
}

static xmlNode *
pci_address (xmlNode *parent, const char *bdf, gboolean typed)
{
  guint domain, bus, slot, fn;
  xmlNode *a = xmlNewChild (parent, NULL, BAD_CAST "address", NULL);
  sscanf (bdf, "%x:%x:%x.%x", &domain, &bus, &slot, &fn);
  if (typed)
    xmlNewProp (a, BAD_CAST "type", BAD_CAST "pci");
  set_hex (a, "domain", domain, 4);
  set_hex (a, "bus", bus, 2);
  set_hex (a, "slot", slot, 2);
  set_hex (a, "function", fn, 1);
  return a;
}

static char *
node_to_string (xmlDoc *doc, xmlNode *node)
{
  g_autoptr (GString) out = g_string_new (NULL);
  xmlBuffer *buf = xmlBufferCreate ();
  xmlNodeDump (buf, doc, node, 0, 1);
  g_string_append_len (out, (const char *) xmlBufferContent (buf), xmlBufferLength (buf));
  g_string_append_c (out, '\n');
  xmlBufferFree (buf);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
vfm_hostdev_xml (VfmHost *host, VfmPciDevice *dev, VfmSelection *sel, gboolean owned,
                 gulong libvirt_version, GError **error)
{
  g_autoptr (VfmXmlDoc) doc = xmlNewDoc (BAD_CAST "1.0");
  const VfmCandidate *c = sel->selected;
  const VfmDriverEntry *e = c ? c->entry : NULL;
  gboolean igd = c != NULL && c->kind == VFM_KIND_IGD;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *alias = NULL;
  xmlNode *hostdev, *source;

  if (c == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "%s has no VFIO driver selected: %s",
                 vfm_pci_device_bdf (dev), sel->reason);
    return NULL;
  }
  hostdev = xmlNewDocNode (doc, NULL, BAD_CAST "hostdev", NULL);
  xmlDocSetRootElement (doc, hostdev);
  xmlNewProp (hostdev, BAD_CAST "mode", BAD_CAST "subsystem");
  xmlNewProp (hostdev, BAD_CAST "type", BAD_CAST "pci");
  xmlNewProp (hostdev, BAD_CAST "managed", BAD_CAST (owned ? "no" : "yes"));
  if (libvirt_version >= VFM_LIBVIRT_VERSION (10, 0, 0) && !igd) {
    xmlNode *driver = xmlNewChild (hostdev, NULL, BAD_CAST "driver", NULL);
    xmlNewProp (driver, BAD_CAST "model", BAD_CAST c->driver);
  }
  source = xmlNewChild (hostdev, NULL, BAD_CAST "source", NULL);
  pci_address (source, vfm_pci_device_bdf (dev), FALSE);

  if (igd && e != NULL) {
    /* legacy IGD mode: the device at guest 00:02.0 (DESIGN.md; MIGRATION-FACTS §4) */
    if (e->qemu_guest_address != NULL) {
      g_autofree char *guest = g_strdup_printf ("0000:%s", e->qemu_guest_address);
      pci_address (hostdev, guest, TRUE);
    }
    alias = g_strdup ("ua-igd0");
    xmlNode *a = xmlNewChild (hostdev, NULL, BAD_CAST "alias", NULL);
    xmlNewProp (a, BAD_CAST "name", BAD_CAST alias);
  }

  {
    g_autofree char *s = node_to_string (doc, hostdev);
    g_string_append (out, s);
  }

  if (igd && e != NULL && e->qemu_properties != NULL) {
    /* no libvirt element exists for x-igd-*: qemu:override on the device alias */
    xmlNode *ov = xmlNewDocNode (doc, NULL, BAD_CAST "qemu:override", NULL);
    xmlNewNs (ov, BAD_CAST "http://libvirt.org/schemas/domain/qemu/1.0", BAD_CAST "qemu");
    xmlNode *qd = xmlNewChild (ov, NULL, BAD_CAST "qemu:device", NULL);
    xmlNewProp (qd, BAD_CAST "alias", BAD_CAST alias);
    xmlNode *fe = xmlNewChild (qd, NULL, BAD_CAST "qemu:frontend", NULL);
    for (guint i = 0; e->qemu_properties[i]; i++) {
      g_auto (GStrv) kv = g_strsplit (e->qemu_properties[i], "=", 2);
      xmlNode *p = xmlNewChild (fe, NULL, BAD_CAST "qemu:property", NULL);
      gboolean is_bool = g_strcmp0 (kv[1], "on") == 0 || g_strcmp0 (kv[1], "off") == 0;
      xmlNewProp (p, BAD_CAST "name", BAD_CAST kv[0]);
      xmlNewProp (p, BAD_CAST "type", BAD_CAST (is_bool ? "bool" : "string"));
      xmlNewProp (p, BAD_CAST "value", BAD_CAST (is_bool ? (g_strcmp0 (kv[1], "on") == 0 ? "true" : "false") : kv[1]));
    }
    g_autofree char *s = node_to_string (doc, ov);
    g_string_append (out, "<!-- inside <domain xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>:");
    if (e->qemu_machine)
      g_string_append_printf (out, " legacy mode needs a %s machine,", e->qemu_machine);
    if (e->qemu_rom_required)
      g_string_append (out, " a ROM (add <rom file='…'/> to the hostdev if the device has none),");
    g_string_append (out, " and the device present from boot -->\n");
    g_string_append (out, s);
    xmlFreeNode (ov);
  }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static void
hostdev_free (gpointer data)
{
  VfmHostdev *h = data;
  g_free (h->bdf);
  g_free (h->driver_name);
  g_free (h->driver_model);
  g_free (h->alias);
  g_free (h->guest_address);
  g_free (h->teaming);
  g_free (h->teaming_peer);
  g_free (h->mac);
  g_free (h->vlan);
  if (h->overrides != NULL)
    g_ptr_array_unref (h->overrides);
  if (h->running != NULL)
    g_ptr_array_unref (h->running);
  g_free (h);
}

void
vfm_domain_info_free (VfmDomainInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->uuid);
  g_free (info->machine);
  g_ptr_array_unref (info->hostdevs);
  g_ptr_array_unref (info->mdevs);
  g_free (info);
}

static void
mdev_hostdev_free (gpointer data)
{
  VfmMdevHostdev *m = data;
  g_free (m->uuid);
  g_free (m->model);
  g_free (m->alias);
  g_ptr_array_unref (m->overrides);
  if (m->running != NULL)
    g_ptr_array_unref (m->running);
  g_free (m);
}

static void
override_free (gpointer data)
{
  VfmQemuOverride *o = data;
  g_free (o->name);
  g_free (o->type);
  g_free (o->value);
  g_free (o);
}

void
vfm_qemu_override_free (gpointer override)
{
  if (override != NULL)
    override_free (override);
}

VfmQemuOverride *
vfm_qemu_override_new (const char *name, const char *type, const char *value)
{
  VfmQemuOverride *o = g_new0 (VfmQemuOverride, 1);
  o->name = g_strdup (name);
  o->type = g_strdup (type);
  o->value = g_strdup (value);
  return o;
}

const VfmQemuOverride *
vfm_qemu_property_in_effect (GPtrArray *overrides, GPtrArray *running, const char *name, gboolean *from_qemu)
{
  if (from_qemu != NULL)
    *from_qemu = running != NULL;
  return vfm_qemu_override_find (running != NULL ? running : overrides, name);
}

static int
truth (const char *v)
{
  static const char *const yes[] = { "on", "true", "yes", NULL }, *const no[] = { "off", "false", "no", NULL };
  if (v != NULL && g_strv_contains (yes, v))
    return 1;
  if (v != NULL && g_strv_contains (no, v))
    return 0;
  return -1;
}

gboolean
vfm_qemu_value_equal (const char *value, const char *wanted)
{
  if (truth (value) >= 0 && truth (wanted) >= 0)
    return truth (value) == truth (wanted);
  return g_strcmp0 (value, wanted) == 0;
}

const VfmQemuOverride *
vfm_qemu_override_find (GPtrArray *overrides, const char *name)
{
  const VfmQemuOverride *found = NULL;
  for (guint i = 0; overrides != NULL && i < overrides->len; i++) {
    const VfmQemuOverride *o = g_ptr_array_index (overrides, i);
    if (g_strcmp0 (o->name, name) == 0)
      found = o; /* the last one wins, as on QEMU's command line */
  }
  return found;
}

const VfmQemuOverride *
vfm_mdev_hostdev_override (const VfmMdevHostdev *m, const char *name)
{
  return vfm_qemu_override_find (m->overrides, name);
}

VfmDomainInfo *
vfm_domain_info_new (const char *name)
{
  VfmDomainInfo *info = g_new0 (VfmDomainInfo, 1);
  info->name = g_strdup (name);
  info->hostdevs = g_ptr_array_new_with_free_func (hostdev_free);
  info->mdevs = g_ptr_array_new_with_free_func (mdev_hostdev_free);
  return info;
}

/* A managed='no' PCI hostdev at bdf (for checks without a domain XML). */
VfmHostdev *
vfm_domain_add_hostdev (VfmDomainInfo *info, const char *bdf)
{
  VfmHostdev *h = g_new0 (VfmHostdev, 1);
  h->bdf = g_strdup (bdf);
  h->overrides = g_ptr_array_new_with_free_func (override_free);
  g_ptr_array_add (info->hostdevs, h);
  return h;
}

static xmlNode *
child (xmlNode *node, const char *name)
{
  for (xmlNode *c = node ? node->children : NULL; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && xmlStrEqual (c->name, BAD_CAST name))
      return c;
  return NULL;
}

static char *
prop (xmlNode *node, const char *name)
{
  xmlChar *v = node ? xmlGetProp (node, BAD_CAST name) : NULL;
  char *out = v ? g_strdup ((const char *) v) : NULL;
  xmlFree (v);
  return out;
}

static char *
text_of (xmlNode *node)
{
  xmlChar *v = node ? xmlNodeGetContent (node) : NULL;
  char *out = v ? g_strstrip (g_strdup ((const char *) v)) : NULL;
  xmlFree (v);
  return out;
}

/* <address domain='0x0000' bus='0x3b' slot='0x00' function='0x2'/> to a BDF;
 * NULL unless every field is a number in range. */
static char *
address_bdf (xmlNode *addr, gboolean with_domain)
{
  const char *fields[] = { "domain", "bus", "slot", "function" };
  guint64 v[4] = { 0 };
  for (int i = 0; i < 4; i++) {
    g_autofree char *s = prop (addr, fields[i]);
    char *end = NULL;
    if (s == NULL) {
      if (i == 0)
        continue; /* domain defaults to 0 */
      return NULL;
    }
    v[i] = g_ascii_strtoull (s, &end, 0);
    if (end == NULL || *end != '\0' || *s == '\0')
      return NULL;
  }
  if (v[0] > 0xffff || v[1] > 0xff || v[2] > 0x1f || v[3] > 7)
    return NULL;
  return with_domain ? g_strdup_printf ("%04x:%02x:%02x.%x", (guint) v[0], (guint) v[1], (guint) v[2], (guint) v[3])
                     : g_strdup_printf ("%02x:%02x.%x", (guint) v[1], (guint) v[2], (guint) v[3]);
}

static void override_properties (xmlNode *root, const char *alias, GPtrArray *out);
static void override_free (gpointer data);

/* <vlan [trunk='yes']><tag id='10'/><tag id='20'/></vlan> as "10,20 (trunk)". */
static char *
vlan_tags (xmlNode *vlan)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *trunk = prop (vlan, "trunk");
  for (xmlNode *t = vlan ? vlan->children : NULL; t != NULL; t = t->next) {
    g_autofree char *id = NULL;
    if (t->type != XML_ELEMENT_NODE || !xmlStrEqual (t->name, BAD_CAST "tag") || (id = prop (t, "id")) == NULL)
      continue;
    g_string_append_printf (out, "%s%s", out->len ? "," : "", id);
  }
  if (out->len == 0)
    return NULL;
  if (g_strcmp0 (trunk, "yes") == 0)
    g_string_append (out, " (trunk)");
  return g_string_free (g_steal_pointer (&out), FALSE);
}

static gboolean
parse_pci_device (xmlNode *root, xmlNode *node, gboolean is_interface, guint index, VfmDomainInfo *info,
                  GError **error)
{
  xmlNode *source = child (node, "source");
  xmlNode *addr = child (source, "address");
  xmlNode *teaming = child (node, "teaming");
  xmlNode *guest = child (node, "address");
  g_autofree char *managed = prop (node, "managed");
  VfmHostdev *h;

  if (addr == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "a PCI %s has no <source><address>",
                 is_interface ? "<interface type='hostdev'>" : "<hostdev>");
    return FALSE;
  }
  h = g_new0 (VfmHostdev, 1);
  h->overrides = g_ptr_array_new_with_free_func (override_free);
  g_ptr_array_add (info->hostdevs, h);
  h->bdf = address_bdf (addr, TRUE);
  if (h->bdf == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "a PCI hostdev source address is malformed");
    return FALSE;
  }
  h->is_interface = is_interface;
  h->managed = g_strcmp0 (managed, "yes") == 0 || (is_interface && managed == NULL);
  h->driver_name = prop (child (node, "driver"), "name");
  h->driver_model = prop (child (node, "driver"), "model");
  h->alias = prop (child (node, "alias"), "name");
  {
    g_autofree char *guest_type = prop (guest, "type");
    if (g_strcmp0 (guest_type, "pci") == 0)
      h->guest_address = address_bdf (guest, FALSE);
  }
  h->teaming = prop (teaming, "type");
  h->teaming_peer = prop (teaming, "persistent");
  h->mac = prop (child (node, "mac"), "address");
  h->vlan = vlan_tags (child (node, "vlan"));
  {
    /* an inactive definition has no alias yet: libvirt will name it hostdevN */
    g_autofree char *alias = h->alias ? g_strdup (h->alias) : g_strdup_printf ("hostdev%u", index);
    override_properties (root, alias, h->overrides);
  }
  return TRUE;
}

/* <memory unit='KiB'>N</memory> in KiB (libvirt's units, KiB by default). */
static guint64
memory_kib (xmlNode *node)
{
  static const struct { const char *unit; guint64 per_kib_num, per_kib_den; } units[] = {
    { "b", 1, 1024 }, { "bytes", 1, 1024 }, { "KB", 1000, 1024 }, { "k", 1, 1 }, { "KiB", 1, 1 },
    { "MB", 1000000, 1024 }, { "M", 1024, 1 }, { "MiB", 1024, 1 }, { "GB", 1000000000, 1024 },
    { "G", 1024 * 1024, 1 }, { "GiB", 1024 * 1024, 1 },
  };
  g_autofree char *text = text_of (node);
  g_autofree char *unit = prop (node, "unit");
  char *end = NULL;
  guint64 v;

  if (text == NULL)
    return 0;
  v = g_ascii_strtoull (text, &end, 10);
  if (end == NULL || *end != '\0')
    return 0;
  if (unit == NULL)
    return v;
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (g_strcmp0 (unit, units[i].unit) == 0)
      return v <= G_MAXUINT64 / units[i].per_kib_num ? v * units[i].per_kib_num / units[i].per_kib_den : 0;
  return 0;
}

#define QEMU_XML_NAMESPACE "http://libvirt.org/schemas/domain/qemu/1.0"

static gboolean
in_qemu_ns (xmlNode *n, const char *name)
{
  return n->type == XML_ELEMENT_NODE && xmlStrEqual (n->name, BAD_CAST name) && n->ns != NULL &&
         xmlStrEqual (n->ns->href, BAD_CAST QEMU_XML_NAMESPACE);
}

/* <qemu:override><qemu:device alias=A><qemu:frontend><qemu:property name=N
 * type=T value=V/>: every property set on device A, in document order. */
static void
override_properties (xmlNode *root, const char *alias, GPtrArray *out)
{
  for (xmlNode *o = root->children; alias != NULL && o != NULL; o = o->next) {
    if (!in_qemu_ns (o, "override"))
      continue;
    for (xmlNode *d = o->children; d != NULL; d = d->next) {
      g_autofree char *a = NULL;
      if (!in_qemu_ns (d, "device") || g_strcmp0 ((a = prop (d, "alias")), alias) != 0)
        continue;
      for (xmlNode *f = d->children; f != NULL; f = f->next) {
        if (!in_qemu_ns (f, "frontend"))
          continue;
        for (xmlNode *pnode = f->children; pnode != NULL; pnode = pnode->next) {
          VfmQemuOverride *ov;
          if (!in_qemu_ns (pnode, "property"))
            continue;
          ov = g_new0 (VfmQemuOverride, 1);
          ov->name = prop (pnode, "name");
          ov->type = prop (pnode, "type");
          ov->value = prop (pnode, "value");
          if (ov->name == NULL)
            override_free (ov);
          else
            g_ptr_array_add (out, ov);
        }
      }
    }
  }
}

static gboolean
parse_mdev (xmlNode *root, xmlNode *node, guint index, VfmDomainInfo *info, GError **error)
{
  xmlNode *addr = child (child (node, "source"), "address");
  VfmMdevHostdev *m = g_new0 (VfmMdevHostdev, 1);

  m->overrides = g_ptr_array_new_with_free_func (override_free);
  g_ptr_array_add (info->mdevs, m);
  m->uuid = prop (addr, "uuid");
  if (m->uuid == NULL || !g_uuid_string_is_valid (m->uuid)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "a mediated hostdev has no valid <source><address uuid=…>");
    return FALSE;
  }
  m->model = prop (node, "model");
  m->alias = prop (child (node, "alias"), "name");
  /* an inactive definition has no alias yet: libvirt names hostdevs
   * hostdev0, hostdev1, … in order, which is what overrides refer to */
  if (m->alias == NULL)
    m->alias = g_strdup_printf ("hostdev%u", index);
  override_properties (root, m->alias, m->overrides);
  return TRUE;
}

/* Reads what vfmig needs from a domain's XML: its PCI passthrough devices,
 * failover pairs, vIOMMU, ACPI. libxml2 with no network and no entities. */
VfmDomainInfo *
vfm_domain_parse (const char *xml, gsize len, GError **error)
{
  g_autoptr (VfmXmlDoc) doc = NULL;
  g_autoptr (VfmDomainInfo) info = vfm_domain_info_new (NULL);
  xmlNode *root, *devices;

  if (len > G_MAXINT) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "domain XML too large");
    return NULL;
  }
  doc = xmlReadMemory (xml, (int) len, "domain.xml", NULL,
                       XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS);
  if (doc == NULL || (root = xmlDocGetRootElement (doc)) == NULL || !xmlStrEqual (root->name, BAD_CAST "domain")) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "not a libvirt domain XML document");
    return NULL;
  }
  info->name = text_of (child (root, "name"));
  info->uuid = text_of (child (root, "uuid"));
  info->machine = prop (child (child (root, "os"), "type"), "machine");
  info->memory_kib = memory_kib (child (root, "memory"));
  info->acpi = child (child (root, "features"), "acpi") != NULL;
  devices = child (root, "devices");
  info->viommu = child (devices, "iommu") != NULL;
  guint hostdev_index = 0;
  for (xmlNode *c = devices ? devices->children : NULL; c; c = c->next) {
    g_autofree char *type = NULL;
    g_autofree char *mode = NULL;
    if (c->type != XML_ELEMENT_NODE)
      continue;
    type = prop (c, "type");
    if (xmlStrEqual (c->name, BAD_CAST "hostdev")) {
      mode = prop (c, "mode");
      if (g_strcmp0 (mode, "subsystem") == 0 && g_strcmp0 (type, "pci") == 0) {
        if (!parse_pci_device (root, c, FALSE, hostdev_index, info, error))
          return NULL;
      } else if (g_strcmp0 (mode, "subsystem") == 0 && g_strcmp0 (type, "mdev") == 0) {
        if (!parse_mdev (root, c, hostdev_index, info, error))
          return NULL;
      } else if (g_strcmp0 (type, "usb") != 0) {
        info->legacy_other = TRUE;
      }
      hostdev_index++;
    } else if (xmlStrEqual (c->name, BAD_CAST "interface")) {
      xmlNode *teaming = child (c, "teaming");
      g_autofree char *tt = prop (teaming, "type");
      if (g_strcmp0 (type, "hostdev") == 0) {
        if (!parse_pci_device (root, c, TRUE, hostdev_index, info, error))
          return NULL;
      } else if (g_strcmp0 (tt, "persistent") == 0) {
        info->has_persistent_teaming = TRUE;
      }
    }
  }
  return g_steal_pointer (&info);
}

static xmlDoc *
read_domain (const char *xml, gsize len, GError **error)
{
  xmlDoc *doc = NULL;
  if (len > G_MAXINT || (doc = xmlReadMemory (xml, (int) len, "domain.xml", NULL,
                                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)) == NULL ||
      xmlDocGetRootElement (doc) == NULL || !xmlStrEqual (xmlDocGetRootElement (doc)->name, BAD_CAST "domain")) {
    g_clear_pointer (&doc, xmlFreeDoc); /* a document, but not a domain (found by vfm-check-test under ASan) */
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "not a libvirt domain XML document");
    return NULL;
  }
  return doc;
}

static void
set_address (xmlNode *addr, const char *bdf)
{
  guint domain, bus, slot, fn;
  char buf[16];
  sscanf (bdf, "%x:%x:%x.%x", &domain, &bus, &slot, &fn);
  g_snprintf (buf, sizeof buf, "0x%04x", domain);
  xmlSetProp (addr, BAD_CAST "domain", BAD_CAST buf);
  g_snprintf (buf, sizeof buf, "0x%02x", bus);
  xmlSetProp (addr, BAD_CAST "bus", BAD_CAST buf);
  g_snprintf (buf, sizeof buf, "0x%02x", slot);
  xmlSetProp (addr, BAD_CAST "slot", BAD_CAST buf);
  g_snprintf (buf, sizeof buf, "0x%x", fn);
  xmlSetProp (addr, BAD_CAST "function", BAD_CAST buf);
}

char *
vfm_domain_rewrite (const char *xml, gsize len, GHashTable *moves, GHashTable *drop, const char *claim_id,
                    GError **error)
{
  g_autoptr (VfmXmlDoc) doc = read_domain (xml, len, error);
  xmlNode *root, *devices, *next;
  xmlChar *out = NULL;
  int out_len = 0;
  char *result;

  if (doc == NULL)
    return NULL;
  root = xmlDocGetRootElement (doc);
  devices = child (root, "devices");
  for (xmlNode *c = devices ? devices->children : NULL; c; c = next) {
    g_autofree char *type = NULL, *mode = NULL, *bdf = NULL;
    xmlNode *addr;
    const char *to;
    next = c->next;
    if (c->type != XML_ELEMENT_NODE)
      continue;
    type = prop (c, "type");
    mode = prop (c, "mode");
    if (xmlStrEqual (c->name, BAD_CAST "hostdev") && g_strcmp0 (mode, "subsystem") == 0 &&
        g_strcmp0 (type, "mdev") == 0) {
      g_autofree char *uuid = NULL;
      addr = child (child (c, "source"), "address");
      if (addr != NULL && moves != NULL && (uuid = prop (addr, "uuid")) != NULL &&
          (to = g_hash_table_lookup (moves, uuid)) != NULL)
        xmlSetProp (addr, BAD_CAST "uuid", BAD_CAST to);
      continue;
    }
    if (!((xmlStrEqual (c->name, BAD_CAST "hostdev") && g_strcmp0 (mode, "subsystem") == 0 && g_strcmp0 (type, "pci") == 0) ||
          (xmlStrEqual (c->name, BAD_CAST "interface") && g_strcmp0 (type, "hostdev") == 0)))
      continue;
    addr = child (child (c, "source"), "address");
    if (addr == NULL || (bdf = address_bdf (addr, TRUE)) == NULL)
      continue;
    if (drop != NULL && g_hash_table_contains (drop, bdf)) {
      xmlUnlinkNode (c);
      xmlFreeNode (c);
      continue;
    }
    if (moves != NULL && (to = g_hash_table_lookup (moves, bdf)) != NULL) {
      set_address (addr, to);
      xmlSetProp (c, BAD_CAST "managed", BAD_CAST "no");
    }
  }
  if (claim_id != NULL) {
    xmlNode *meta = child (root, "metadata");
    xmlNode *claim, *after;
    xmlNs *ns;
    if (meta == NULL)
      meta = xmlNewChild (root, NULL, BAD_CAST "metadata", NULL);
    /* a domain that migrated before still carries that migration's claim:
     * the destination must read this one (found by the fuzzer) */
    for (xmlNode *c = meta->children; c != NULL; c = after) {
      after = c->next;
      if (c->type == XML_ELEMENT_NODE && xmlStrEqual (c->name, BAD_CAST "claim") && c->ns != NULL &&
          xmlStrEqual (c->ns->href, BAD_CAST VFM_XML_NAMESPACE)) {
        xmlUnlinkNode (c);
        xmlFreeNode (c);
      }
    }
    claim = xmlNewChild (meta, NULL, BAD_CAST "claim", NULL);
    ns = xmlNewNs (claim, BAD_CAST VFM_XML_NAMESPACE, BAD_CAST "vfmig");
    xmlSetNs (claim, ns);
    xmlSetProp (claim, BAD_CAST "id", BAD_CAST claim_id);
  }
  xmlDocDumpFormatMemory (doc, &out, &out_len, 1);
  result = g_strndup ((const char *) out, out_len);
  xmlFree (out);
  return result;
}

static xmlNode *
qemu_child (xmlNode *parent, xmlNs *ns, const char *name, const char *alias)
{
  for (xmlNode *c = parent->children; c != NULL; c = c->next) {
    g_autofree char *a = NULL;
    if (in_qemu_ns (c, name) && (alias == NULL || g_strcmp0 ((a = prop (c, "alias")), alias) == 0))
      return c;
  }
  {
    xmlNode *n = xmlNewChild (parent, ns, BAD_CAST name, NULL);
    if (alias != NULL)
      xmlSetProp (n, BAD_CAST "alias", BAD_CAST alias);
    return n;
  }
}

char *
vfm_domain_set_qemu_properties (const char *xml, gsize len, const char *alias, const char * const *names,
                                const char * const *types, const char * const *values, GError **error)
{
  g_autoptr (VfmXmlDoc) doc = read_domain (xml, len, error);
  xmlNode *root, *frontend;
  xmlNs *ns;
  xmlChar *out = NULL;
  int out_len = 0;
  char *result;

  if (doc == NULL)
    return NULL;
  root = xmlDocGetRootElement (doc);
  if ((ns = xmlSearchNsByHref (doc, root, BAD_CAST QEMU_XML_NAMESPACE)) == NULL)
    ns = xmlNewNs (root, BAD_CAST QEMU_XML_NAMESPACE, BAD_CAST "qemu");
  frontend = qemu_child (qemu_child (qemu_child (root, ns, "override", NULL), ns, "device", alias), ns, "frontend", NULL);
  for (guint i = 0; names[i] != NULL; i++) {
    xmlNode *p = NULL;
    for (xmlNode *c = frontend->children; c != NULL && p == NULL; c = c->next) {
      g_autofree char *n = NULL;
      if (in_qemu_ns (c, "property") && g_strcmp0 ((n = prop (c, "name")), names[i]) == 0)
        p = c;
    }
    if (p == NULL) {
      p = xmlNewChild (frontend, ns, BAD_CAST "property", NULL);
      xmlSetProp (p, BAD_CAST "name", BAD_CAST names[i]);
    }
    xmlSetProp (p, BAD_CAST "type", BAD_CAST types[i]);
    xmlSetProp (p, BAD_CAST "value", BAD_CAST values[i]);
  }
  xmlDocDumpFormatMemory (doc, &out, &out_len, 1);
  result = g_strndup ((const char *) out, out_len);
  xmlFree (out);
  return result;
}

/* The claim a migration made, from <metadata><vfmig:claim id=…/>. */
char *
vfm_domain_claim_id (const char *xml, gsize len)
{
  g_autoptr (VfmXmlDoc) doc = read_domain (xml, len, NULL);
  xmlNode *meta;
  if (doc == NULL || (meta = child (xmlDocGetRootElement (doc), "metadata")) == NULL)
    return NULL;
  for (xmlNode *c = meta->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && xmlStrEqual (c->name, BAD_CAST "claim") && c->ns != NULL &&
        xmlStrEqual (c->ns->href, BAD_CAST VFM_XML_NAMESPACE)) {
      g_autofree char *id = prop (c, "id");
      /* claim ids are UUIDs: anything else is not ours */
      return id != NULL && g_uuid_string_is_valid (id) ? g_steal_pointer (&id) : NULL;
    }
  return NULL;
}

static gboolean
is_pci_hostdev (xmlNode *c)
{
  g_autofree char *type = prop (c, "type"), *mode = prop (c, "mode");
  return (xmlStrEqual (c->name, BAD_CAST "hostdev") && g_strcmp0 (mode, "subsystem") == 0 &&
          g_strcmp0 (type, "pci") == 0) ||
         (xmlStrEqual (c->name, BAD_CAST "interface") && g_strcmp0 (type, "hostdev") == 0);
}

static char *
element_string (xmlDoc *doc, xmlNode *el, const char *to)
{
  if (to != NULL) {
    set_address (child (child (el, "source"), "address"), to);
    xmlSetProp (el, BAD_CAST "managed", BAD_CAST "no");
  }
  return node_to_string (doc, el);
}

char *
vfm_domain_hostdev_xml (const char *xml, gsize len, const char *bdf, const char *to, GError **error)
{
  g_autoptr (VfmXmlDoc) doc = read_domain (xml, len, error);
  xmlNode *devices;

  if (doc == NULL)
    return NULL;
  devices = child (xmlDocGetRootElement (doc), "devices");
  for (xmlNode *c = devices ? devices->children : NULL; c; c = c->next) {
    xmlNode *addr;
    g_autofree char *at = NULL;
    if (c->type != XML_ELEMENT_NODE || !is_pci_hostdev (c))
      continue;
    addr = child (child (c, "source"), "address");
    if (addr != NULL && (at = address_bdf (addr, TRUE)) != NULL && g_strcmp0 (at, bdf) == 0)
      return element_string (doc, c, to);
  }
  g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "the domain has no PCI hostdev %s", bdf);
  return NULL;
}

char *
vfm_hostdev_retarget (const char *element, const char *to, GError **error)
{
  g_autoptr (VfmXmlDoc) doc = NULL;
  xmlNode *el;

  if (strlen (element) > G_MAXINT ||
      (doc = xmlReadMemory (element, (int) strlen (element), "hostdev.xml", NULL,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)) == NULL ||
      (el = xmlDocGetRootElement (doc)) == NULL || !is_pci_hostdev (el) ||
      child (child (el, "source"), "address") == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "not a PCI hostdev element");
    return NULL;
  }
  return element_string (doc, el, to);
}

static char *
mac_of (xmlNode *iface)
{
  g_autofree char *mac = prop (child (iface, "mac"), "address");
  return mac ? g_ascii_strdown (mac, -1) : NULL;
}

char *
vfm_domain_actualize (const char *xml, gsize len, const char *live, gsize live_len, GPtrArray *notes, GError **error)
{
  g_autoptr (VfmXmlDoc) doc = read_domain (xml, len, error);
  g_autoptr (VfmXmlDoc) ldoc = NULL;
  xmlNode *devices, *ldevices, *next;
  xmlChar *out = NULL;
  int out_len = 0;
  char *result;

  if (doc == NULL || (ldoc = read_domain (live, live_len, error)) == NULL)
    return NULL;
  devices = child (xmlDocGetRootElement (doc), "devices");
  ldevices = child (xmlDocGetRootElement (ldoc), "devices");
  for (xmlNode *c = devices ? devices->children : NULL; c != NULL; c = next) {
    g_autofree char *type = NULL, *mac = NULL, *network = NULL;
    next = c->next;
    if (c->type != XML_ELEMENT_NODE || !xmlStrEqual (c->name, BAD_CAST "interface") ||
        g_strcmp0 ((type = prop (c, "type")), "network") != 0 || (mac = mac_of (c)) == NULL)
      continue;
    network = prop (child (c, "source"), "network");
    for (xmlNode *l = ldevices ? ldevices->children : NULL; l != NULL; l = l->next) {
      g_autofree char *ltype = NULL, *lmac = NULL, *bdf = NULL, *vlan = NULL;
      xmlNode *copy;
      if (l->type != XML_ELEMENT_NODE || !xmlStrEqual (l->name, BAD_CAST "interface") ||
          g_strcmp0 ((ltype = prop (l, "type")), "hostdev") != 0 || g_strcmp0 ((lmac = mac_of (l)), mac) != 0)
        continue;
      if ((bdf = address_bdf (child (child (l, "source"), "address"), TRUE)) == NULL)
        break;
      copy = xmlDocCopyNode (l, doc, 1);
      xmlReplaceNode (c, copy);
      xmlFreeNode (c);
      vlan = vlan_tags (child (copy, "vlan"));
      if (notes != NULL)
        g_ptr_array_add (notes, g_strdup_printf ("interface %s on network %s uses VF %s%s%s: the destination gets it "
                                                 "as <interface type='hostdev'> on the claimed VF with the same MAC%s "
                                                 "(its definition keeps type='network')", mac,
                                                 network ? network : "?", bdf, vlan ? ", VLAN " : "",
                                                 vlan ? vlan : "", vlan ? " and VLAN" : ""));
      break;
    }
  }
  xmlDocDumpFormatMemory (doc, &out, &out_len, 1);
  result = g_strndup ((const char *) out, out_len);
  xmlFree (out);
  return result;
}

/* A bare <hostdev managed='no'> for attach-device (replug). */
char *
vfm_hostdev_element (const char *bdf, const char *alias)
{
  g_autoptr (VfmXmlDoc) doc = xmlNewDoc (BAD_CAST "1.0");
  xmlNode *h = xmlNewDocNode (doc, NULL, BAD_CAST "hostdev", NULL);
  xmlDocSetRootElement (doc, h);
  xmlNewProp (h, BAD_CAST "mode", BAD_CAST "subsystem");
  xmlNewProp (h, BAD_CAST "type", BAD_CAST "pci");
  xmlNewProp (h, BAD_CAST "managed", BAD_CAST "no");
  pci_address (xmlNewChild (h, NULL, BAD_CAST "source", NULL), bdf, FALSE);
  if (alias != NULL && g_str_has_prefix (alias, "ua-")) {
    xmlNode *a = xmlNewChild (h, NULL, BAD_CAST "alias", NULL);
    xmlNewProp (a, BAD_CAST "name", BAD_CAST alias);
  }
  return node_to_string (doc, h);
}
