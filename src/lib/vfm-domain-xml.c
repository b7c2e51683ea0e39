/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-domain-xml.h"
#include "vfm-error.h"

#include <libxml/tree.h>
#include <libxml/xmlsave.h>
#include <stdio.h>

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
