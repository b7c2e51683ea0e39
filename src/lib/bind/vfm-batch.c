/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-batch.h"
#include "vfm-early-boot.h"
#include "vfm-mdev-ops.h"
#include "vfm-sriov.h"
#include "vfm-journal.h"

#include <string.h>

/* What list shows without --all: devices vfmig manages, SR-IOV functions,
 * devices already on a VFIO driver, and devices a variant driver or profile
 * would take. Bridges, USB controllers and the like stay out of the way. */
gboolean
vfm_device_is_relevant (VfmPciDevice *dev, VfmSelection *sel)
{
  const char *driver = vfm_pci_device_driver (dev);
  if (sel->managed)
    return TRUE;
  if (vfm_pci_device_physfn (dev) != NULL || vfm_pci_device_sriov_totalvfs (dev) > 0)
    return TRUE;
  if (driver != NULL && strstr (driver, "vfio") != NULL)
    return TRUE;
  return sel->selected != NULL && sel->selected->kind != VFM_KIND_GENERIC;
}


static GPtrArray *
results_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);
}

static void
move_results (GPtrArray *to, GPtrArray *from)
{
  for (guint i = 0; i < from->len; i++)
    g_ptr_array_add (to, g_steal_pointer (&g_ptr_array_index (from, i)));
  g_ptr_array_set_size (from, 0);
}

/* Interrupted operations are finished or rolled back before anything new
 * starts (the next command after a crash does it, or the daemon at start):
 * device binds first, then the vf create/destroy they were part of, then
 * the mediated devices vfmig created whose creator is gone and that nothing
 * uses. */
GPtrArray *
vfm_batch_recover (VfmHost *host)
{
  GPtrArray *results = results_new ();
  g_autoptr (GPtrArray) adopted = vfm_early_boot_adopt (host); /* early-boot binds become restorable */
  g_autoptr (GPtrArray) binds = vfm_binder_recover (host);
  g_autoptr (GPtrArray) pfs = NULL, mdevs = NULL;
  move_results (results, binds);
  pfs = vfm_sriov_recover (host);
  move_results (results, pfs);
  mdevs = vfm_mdev_ops_recover (host);
  move_results (results, mdevs);
  return results;
}

static void
recover_into (VfmHost *host, GPtrArray *results)
{
  g_autoptr (GPtrArray) rec = vfm_batch_recover (host);
  move_results (results, rec);
}

/* Every endpoint of each device's IOMMU group (bridges are not endpoints),
 * each once, in BDF order. */
static GPtrArray *
expand_groups (VfmHost *host, GPtrArray *bdfs, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < bdfs->len; i++) {
    VfmPciDevice *dev = vfm_host_device (host, g_ptr_array_index (bdfs, i), error);
    g_autoptr (GPtrArray) members = NULL;
    if (dev == NULL)
      return NULL;
    members = vfm_pci_device_group_members (dev);
    if (members->len == 0)
      g_ptr_array_add (members, g_strdup (vfm_pci_device_bdf (dev)));
    for (guint j = 0; j < members->len; j++) {
      const char *m = g_ptr_array_index (members, j);
      VfmPciDevice *mdev = vfm_host_device (host, m, NULL);
      if (mdev == NULL || vfm_pci_device_is_bridge (mdev))
        continue;
      if (!g_ptr_array_find_with_equal_func (out, m, g_str_equal, NULL))
        g_ptr_array_add (out, g_strdup (m));
    }
  }
  return g_steal_pointer (&out);
}

static GPtrArray *
managed_devices (VfmHost *host, GError **error)
{
  g_autoptr (GPtrArray) devices = vfm_host_devices (host, NULL, error);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  if (devices == NULL)
    return NULL;
  for (guint i = 0; i < devices->len; i++) {
    VfmPciDevice *dev = g_ptr_array_index (devices, i);
    g_autoptr (VfmSelection) sel = vfm_host_select (host, dev, NULL);
    if (sel != NULL && sel->managed)
      g_ptr_array_add (out, g_strdup (vfm_pci_device_bdf (dev)));
  }
  return g_steal_pointer (&out);
}

/* A group is bound whole or not at all: undo what this request bound. */
static void
undo_group (VfmHost *host, GPtrArray *results, guint first_new)
{
  for (guint i = first_new; i < results->len; i++) {
    VfmBindResult *r = g_ptr_array_index (results, i);
    g_autoptr (VfmBindResult) undo = NULL;
    if (r->error != NULL || !r->changed)
      continue;
    undo = vfm_binder_unbind (host, r->bdf, 0);
    if (undo->error != NULL) {
      g_ptr_array_add (r->warnings, g_strdup_printf ("could not undo after the group failed: %s", undo->error->message));
      continue;
    }
    g_ptr_array_add (r->warnings, g_strdup ("undone: another device of its IOMMU group failed"));
    r->changed = FALSE;
    g_free (r->message);
    r->message = g_strdup_printf ("%s left on %s: its group could not be bound whole", r->bdf,
                                  r->previous_driver ? r->previous_driver : "no driver");
  }
}

GPtrArray *
vfm_batch_bind (VfmHost *host, GPtrArray *bdfs, const VfmBatchOptions *o, GError **error)
{
  g_autoptr (GPtrArray) results = results_new ();
  g_autoptr (GPtrArray) targets = NULL;
  gboolean dry = (o->flags & VFM_BIND_DRY_RUN) != 0, failed = FALSE;
  guint first_new;

  if (!dry)
    recover_into (host, results);
  if (o->all)
    targets = managed_devices (host, error);
  else if (o->group)
    targets = expand_groups (host, bdfs, error);
  else
    targets = g_ptr_array_ref (bdfs);
  if (targets == NULL)
    return NULL;
  {
    /* one request: locks in one pass, one journal record, groups read once */
    g_autoptr (GPtrArray) recovered = results_new ();
    g_autoptr (GPtrArray) bound = vfm_binder_bind_many (host, targets, o->driver, o->flags, o->progress,
                                                        o->progress_data, recovered);
    move_results (results, recovered);
    first_new = results->len;
    for (guint i = 0; i < bound->len; i++)
      failed |= ((VfmBindResult *) g_ptr_array_index (bound, i))->error != NULL;
    move_results (results, bound);
  }
  if (o->group && failed && !dry)
    undo_group (host, results, first_new);
  return g_steal_pointer (&results);
}

GPtrArray *
vfm_batch_unbind (VfmHost *host, GPtrArray *bdfs, VfmBindFlags flags)
{
  GPtrArray *results = results_new ();
  if (!(flags & VFM_BIND_DRY_RUN))
    recover_into (host, results);
  for (guint i = 0; i < bdfs->len; i++)
    g_ptr_array_add (results, vfm_binder_unbind (host, g_ptr_array_index (bdfs, i), flags));
  return results;
}

GPtrArray *
vfm_batch_restore (VfmHost *host, VfmBindFlags flags, GPtrArray *warnings)
{
  GPtrArray *results = results_new ();
  g_autoptr (GPtrArray) owned = NULL;
  if (!(flags & VFM_BIND_DRY_RUN))
    recover_into (host, results);
  owned = vfm_journal_list_owned (vfm_host_sysroot (host), warnings);
  for (guint i = 0; i < owned->len; i++)
    g_ptr_array_add (results, vfm_binder_unbind (host, ((VfmOwned *) g_ptr_array_index (owned, i))->bdf, flags));
  return results;
}
