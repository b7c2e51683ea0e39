/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-iommu.h"
#include "vfm-json.h"

#include <string.h>

static void
member_free (gpointer data)
{
  VfmGroupMember *m = data;
  g_free (m->bdf);
  g_free (m->driver);
  g_free (m);
}

void
vfm_group_status_free (VfmGroupStatus *st)
{
  if (st == NULL)
    return;
  g_ptr_array_unref (st->members);
  g_ptr_array_unref (st->blockers);
  g_free (st);
}

/* A VFIO driver: one the database knows as a VFIO driver (curated entries,
 * the kernel's vfio_pci aliases), or vfio-pci by name. pci-stub also leaves a
 * group viable (the kernel's vfio_dev_driver_allowed list). */
gboolean
vfm_host_is_vfio_driver (VfmHost *host, const char *driver)
{
  VfmDb *db = vfm_host_db (host, NULL);
  g_autofree char *norm = NULL;

  if (driver == NULL)
    return FALSE;
  if (strcmp (driver, "vfio-pci") == 0 || strcmp (driver, "pci-stub") == 0)
    return TRUE;
  if (db == NULL)
    return FALSE;
  for (guint i = 0; db->curated && i < db->curated->entries->len; i++) {
    const VfmDriverEntry *e = g_ptr_array_index (db->curated->entries, i);
    if (g_strcmp0 (e->driver, driver) == 0)
      return TRUE;
  }
  norm = vfm_module_normalize (driver);
  for (guint i = 0; db->aliases && i < db->aliases->vfio->len; i++)
    if (g_strcmp0 (((const VfmAlias *) g_ptr_array_index (db->aliases->vfio, i))->module, norm) == 0)
      return TRUE;
  return FALSE;
}

VfmGroupStatus *
vfm_group_status_copy (const VfmGroupStatus *st)
{
  VfmGroupStatus *c = g_new0 (VfmGroupStatus, 1);
  c->group = st->group;
  c->viable = st->viable;
  c->members = g_ptr_array_new_with_free_func (member_free);
  c->blockers = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < st->members->len; i++) {
    const VfmGroupMember *m = g_ptr_array_index (st->members, i);
    VfmGroupMember *n = g_new0 (VfmGroupMember, 1);
    n->bdf = g_strdup (m->bdf);
    n->driver = g_strdup (m->driver);
    n->is_bridge = m->is_bridge;
    n->vfio_owned = m->vfio_owned;
    g_ptr_array_add (c->members, n);
  }
  for (guint i = 0; i < st->blockers->len; i++)
    g_ptr_array_add (c->blockers, g_strdup (g_ptr_array_index (st->blockers, i)));
  return c;
}

VfmGroupStatus *
vfm_iommu_group_status (VfmHost *host, VfmPciDevice *dev)
{
  return vfm_iommu_group_status_fresh (host, dev, NULL);
}

VfmGroupStatus *
vfm_iommu_group_status_fresh (VfmHost *host, VfmPciDevice *dev, GHashTable *fresh)
{
  VfmGroupStatus *st = g_new0 (VfmGroupStatus, 1);
  g_autoptr (GPtrArray) bdfs = vfm_pci_device_group_members (dev);

  st->group = vfm_pci_device_iommu_group (dev);
  st->members = g_ptr_array_new_with_free_func (member_free);
  st->blockers = g_ptr_array_new_with_free_func (g_free);
  st->viable = st->group >= 0;
  if (st->group < 0)
    g_ptr_array_add (st->blockers, g_strdup_printf ("%s has no IOMMU group (is the IOMMU enabled?)",
                                                    vfm_pci_device_bdf (dev)));

  for (guint i = 0; i < bdfs->len; i++) {
    const char *bdf = g_ptr_array_index (bdfs, i);
    VfmPciDevice *m = vfm_host_device (host, bdf, NULL);
    VfmGroupMember *gm = g_new0 (VfmGroupMember, 1);
    gm->bdf = g_strdup (bdf);
    if (m != NULL) {
      if (fresh == NULL || !g_hash_table_contains (fresh, bdf))
        vfm_pci_device_reload (m);
      gm->driver = g_strdup (vfm_pci_device_driver (m));
      gm->is_bridge = vfm_pci_device_is_bridge (m);
    }
    gm->vfio_owned = vfm_host_is_vfio_driver (host, gm->driver);
    if (gm->driver != NULL && !gm->vfio_owned && !gm->is_bridge) {
      st->viable = FALSE;
      g_ptr_array_add (st->blockers, g_strdup_printf ("%s is bound to %s", bdf, gm->driver));
    }
    g_ptr_array_add (st->members, gm);
  }
  return st;
}

JsonNode *
vfm_group_status_to_json (const VfmGroupStatus *st)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_int_or_null (b, "group", st->group);
  vfm_json_add_bool (b, "viable", st->viable);
  json_builder_set_member_name (b, "members");
  json_builder_begin_array (b);
  for (guint i = 0; i < st->members->len; i++) {
    const VfmGroupMember *m = g_ptr_array_index (st->members, i);
    json_builder_begin_object (b);
    vfm_json_add_str (b, "bdf", m->bdf);
    vfm_json_add_str (b, "driver", m->driver);
    vfm_json_add_bool (b, "bridge", m->is_bridge);
    vfm_json_add_bool (b, "vfio_owned", m->vfio_owned);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  vfm_json_add_strv (b, "blockers", st->blockers);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
