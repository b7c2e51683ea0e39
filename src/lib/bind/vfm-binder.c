/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-binder.h"
#include "vfm-json.h"
#include "vfm-error.h"
#include "vfm-journal.h"
#include "vfm-kmod.h"
#include "vfm-lock.h"
#include "vfm-safety.h"
#include "vfm-sysfs.h"
#include "vfm-vfio.h"

#include <string.h>
#include <unistd.h>

#define LOCK_TIMEOUT_MS 10000

/* A journal record recovery could not read: reported (status lists it
 * too), not a failure of whatever the command was asked to do. */
VfmBindResult *
vfm_bind_result_new_damaged (const char *problem)
{
  VfmBindResult *r = vfm_bind_result_new ("", "recover");
  g_ptr_array_add (r->warnings, g_strdup_printf ("%s; left in place", problem));
  return r;
}

void
vfm_bind_result_free (VfmBindResult *r)
{
  if (r == NULL)
    return;
  g_free (r->bdf);
  g_free (r->op);
  g_free (r->driver);
  g_free (r->previous_driver);
  g_free (r->message);
  g_free (r->batch);
  g_ptr_array_unref (r->steps);
  g_ptr_array_unref (r->warnings);
  g_clear_pointer (&r->group, vfm_group_status_free);
  g_clear_error (&r->error);
  g_free (r);
}

VfmBindResult *
vfm_bind_result_new (const char *bdf, const char *op)
{
  VfmBindResult *r = g_new0 (VfmBindResult, 1);
  r->bdf = g_strdup (bdf);
  r->op = g_strdup (op);
  r->steps = g_ptr_array_new_with_free_func (g_free);
  r->warnings = g_ptr_array_new_with_free_func (g_free);
  return r;
}

/* One sysfs write, recorded as a step. In a dry run only recorded. */
static gboolean
step_write (VfmBindResult *r, gboolean dry_run, const char *path, const char *value, GError **error)
{
  g_autofree char *shown = g_strchomp (g_strdup (value));
  g_ptr_array_add (r->steps, g_strdup_printf ("write \"%s\" to %s", *shown ? shown : "\\n", path));
  if (dry_run)
    return TRUE;
  return vfm_sysfs_write (path, value, error);
}

static gboolean
write_override (VfmSysroot *sr, VfmBindResult *r, gboolean dry, const char *bdf, const char *value,
                GError **error)
{
  g_autofree char *path = vfm_sysroot_pci_device_attr (sr, bdf, "driver_override");
  /* a lone newline clears the override (the kernel stores NULL, reads "(null)") */
  g_autofree char *v = g_strdup_printf ("%s\n", value ? value : "");
  if (!step_write (r, dry, path, v, error)) {
    g_prefix_error (error, "driver_override: ");
    return FALSE;
  }
  return TRUE;
}

static gboolean
write_unbind (VfmSysroot *sr, VfmBindResult *r, gboolean dry, const char *bdf, const char *driver,
              GError **error)
{
  g_autofree char *path = vfm_sysroot_pci_driver_attr (sr, driver, "unbind");
  if (!step_write (r, dry, path, bdf, error)) {
    g_prefix_error (error, "unbind from %s: ", driver);
    return FALSE;
  }
  return TRUE;
}

static gboolean
write_probe (VfmSysroot *sr, VfmBindResult *r, gboolean dry, const char *bdf, GError **error)
{
  g_autofree char *path = vfm_sysroot_pci_drivers_probe (sr);
  if (!step_write (r, dry, path, bdf, error)) {
    g_prefix_error (error, "drivers_probe: ");
    return FALSE;
  }
  return TRUE;
}

/* The driver link is the only proof of a bind. */
static gboolean
verify_driver (VfmPciDevice *dev, VfmBindResult *r, const char *want, GError **error)
{
  const char *now;
  vfm_pci_device_reload (dev);
  now = vfm_pci_device_driver (dev);
  g_ptr_array_add (r->steps, g_strdup_printf ("verify driver link is %s", want ? want : "absent"));
  if (g_strcmp0 (now, want) == 0)
    return TRUE;
  if (now == NULL)
    g_set_error (error, VFM_ERROR, VFM_ERROR_BIND,
                 "probe failed (driver link absent after drivers_probe; see the kernel log)");
  else
    g_set_error (error, VFM_ERROR, VFM_ERROR_BIND, "verification failed: bound to %s, not %s", now,
                 want ? want : "no driver");
  return FALSE;
}

/* Puts a device back on prev_driver with prev_override, whatever state a
 * failed step left it in. */
static gboolean
roll_back (VfmSysroot *sr, VfmPciDevice *dev, VfmBindResult *r, const char *prev_driver,
           const char *prev_override, GError **error)
{
  const char *bdf = vfm_pci_device_bdf (dev);
  g_autofree char *now = NULL;

  vfm_pci_device_reload (dev);
  now = g_strdup (vfm_pci_device_driver (dev));
  if (g_strcmp0 (now, prev_driver) != 0) {
    if (now != NULL && !write_unbind (sr, r, FALSE, bdf, now, error))
      return FALSE;
    if (prev_driver != NULL) {
      if (!write_override (sr, r, FALSE, bdf, prev_driver, error) || !write_probe (sr, r, FALSE, bdf, error) ||
          !verify_driver (dev, r, prev_driver, error))
        return FALSE;
    }
  }
  return write_override (sr, r, FALSE, bdf, prev_override, error);
}

/* After a failed step: back to where the operation started. TRUE when it
 * is (the caller clears the intent); when even that fails the intent stays,
 * and the next command or vfmigd's start retries the roll-back. */
static gboolean
fail_and_roll_back (VfmSysroot *sr, VfmPciDevice *dev, VfmBindResult *r, const char *prev_driver,
                    const char *prev_override, const GError *step_error, const char *where)
{
  g_autoptr (GError) rb = NULL;
  if (roll_back (sr, dev, r, prev_driver, prev_override, &rb)) {
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_BIND, "%s; %s %s", step_error->message, where,
                 prev_driver ? prev_driver : "no driver");
    return TRUE;
  }
  g_set_error (&r->error, VFM_ERROR, VFM_ERROR_BIND, "%s; roll-back failed too (%s), left for recovery",
               step_error->message, rb->message);
  return FALSE;
}

gboolean
vfm_binder_resolve_driver (VfmHost *host, const char *name, char **driver, char **module, GError **error)
{
  VfmDb *db = vfm_host_db (host, error);
  const VfmDriverEntry *e;
  g_autofree char *norm = NULL;

  if (db == NULL)
    return FALSE;
  if (name == NULL || *name == '\0' || strchr (name, '/') != NULL || strcmp (name, "..") == 0 ||
      strcmp (name, ".") == 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a driver name", name ? name : "");
    return FALSE;
  }
  e = vfm_driver_db_lookup (db->curated, name);
  if (e == NULL)
    for (guint i = 0; i < db->curated->entries->len && e == NULL; i++) {
      const VfmDriverEntry *c = g_ptr_array_index (db->curated->entries, i);
      if (g_strcmp0 (c->module, name) == 0 && c->kind != VFM_KIND_IGD)
        e = c;
    }
  if (e != NULL) {
    /* the host's own name for the module's driver first, the curated Name= else */
    *driver = vfm_host_module_driver (host, e->module);
    if (*driver == NULL)
      *driver = g_strdup (e->driver);
    *module = g_strdup (e->module);
    return TRUE;
  }
  norm = vfm_module_normalize (name);
  /* a module a vfio_pci alias names, or plain vfio-pci, which needs no alias
   * line when it is built into the kernel */
  for (guint i = 0; db->aliases && i < db->aliases->vfio->len; i++) {
    const VfmAlias *a = g_ptr_array_index (db->aliases->vfio, i);
    if (g_strcmp0 (a->module, norm) == 0) {
      *driver = vfm_host_module_driver (host, norm);
      if (*driver == NULL)
        *driver = g_strdup (name);
      *module = g_strdup (norm);
      return TRUE;
    }
  }
  if (strcmp (norm, "vfio_pci") == 0 && vfm_db_module_exists (db, norm)) {
    *driver = vfm_host_module_driver (host, norm);
    if (*driver == NULL)
      *driver = g_strdup ("vfio-pci");
    *module = g_strdup (norm);
    return TRUE;
  }
  g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND,
               "unknown driver \"%s\": not a VFIO driver in the database or the kernel's aliases "
               "(vfmigctl db list shows them)", name);
  return FALSE;
}

/* When DRIVER is not a registered driver but MODULE's driver is registered
 * under another name (module vfio_pci, driver vfio-pci), use the host's name. */
static void
use_registered_name (VfmHost *host, VfmBindResult *r, char **driver, const char *module)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autofree char *dir = vfm_sysroot_pci_driver_dir (sr, *driver);
  g_autofree char *name = NULL;

  if (g_file_test (dir, G_FILE_TEST_IS_DIR) || (name = vfm_host_module_driver (host, module)) == NULL ||
      strcmp (name, *driver) == 0)
    return;
  g_free (*driver);
  *driver = g_steal_pointer (&name);
  g_free (r->driver);
  r->driver = g_strdup (*driver);
}

static gboolean
ensure_driver_registered (VfmHost *host, VfmBindResult *r, gboolean dry, char **driver,
                          const char *module, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autofree char *dir = vfm_sysroot_pci_driver_dir (sr, *driver);

  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  g_ptr_array_add (r->steps, g_strdup_printf ("load module %s (driver %s is not registered)", module, *driver));
  if (dry)
    return TRUE;
  if (!vfm_kmod_load (sr, module, error))
    return FALSE;
  vfm_host_forget_modules (host);
  /* the module's own drivers/pci:NAME link names the driver it registered */
  use_registered_name (host, r, driver, module);
  g_free (dir);
  dir = vfm_sysroot_pci_driver_dir (sr, *driver);
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_BIND,
                 "module %s loaded but registered no PCI driver %s (sys/module/%s/drivers has no pci: link)",
                 module, *driver, module);
    return FALSE;
  }
  return TRUE;
}

static void
finish (VfmBindResult *r, gint64 start, VfmHost *host, VfmPciDevice *dev)
{
  r->seconds = (g_get_monotonic_time () - start) / 1e6;
  if (dev != NULL && r->error == NULL)
    r->group = vfm_iommu_group_status (host, dev);
}

/* Nothing takes a device away from a process that holds it (DESIGN.md,
 * Decisions 14): the kernel would ask the guest to release it and can hang
 * there. Holders come from /proc (vfm_vfio_holders), never from opening the
 * group. --force does not override this. */
static gboolean
refuse_if_held (VfmSysroot *sr, VfmPciDevice *dev, VfmBindResult *r)
{
  g_autoptr (GPtrArray) holders = vfm_vfio_holders (sr, vfm_pci_device_bdf (dev), vfm_pci_device_iommu_group (dev), NULL);
  if (holders->len == 0)
    return TRUE;
  g_set_error (&r->error, VFM_ERROR, VFM_ERROR_BUSY,
               "%s is in use by %s (its VFIO group is open): detach it from the guest or stop the guest first",
               vfm_pci_device_bdf (dev), (const char *) g_ptr_array_index (holders, 0));
  return FALSE;
}

/* One device of a bind request, from its plan to its result. */
typedef struct {
  VfmBindResult *r;
  VfmPciDevice *dev;
  const char *bdf;           /* the device's own string */
  char *target, *module;
  char *prev_driver, *prev_override;
  VfmOwned *owned;           /* an earlier vfmig bind's record, or NULL */
  VfmLock *lock;
  VfmIntent *intent;
  gboolean act;              /* its kernel steps are still to be done */
  gboolean bound;            /* verified on the target */
  gboolean read;             /* its driver read under its lock, and left alone */
  gboolean unresolved;       /* its intent stays for recovery */
} Item;

static void
item_clear (Item *it)
{
  g_free (it->target);
  g_free (it->module);
  g_free (it->prev_driver);
  g_free (it->prev_override);
  g_clear_pointer (&it->owned, vfm_owned_free);
  g_clear_pointer (&it->lock, vfm_lock_release);
  if (it->intent != NULL) {
    it->intent->bdf = NULL; /* borrowed */
    it->intent->target_driver = it->intent->previous_driver = it->intent->previous_override = NULL;
    it->intent->original_driver = it->intent->original_override = NULL;
    vfm_intent_free (it->intent);
  }
}

/* The driver a device is to get, and whether the host can spare it. FALSE
 * with r->error set when it cannot be bound. */
static gboolean
plan_item (VfmHost *host, Item *it, const char *driver_name, const VfmSelection *given, VfmBindFlags flags)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  VfmBindResult *r = it->r;
  g_autoptr (GPtrArray) reasons = NULL;

  if (driver_name != NULL) {
    if (!vfm_binder_resolve_driver (host, driver_name, &it->target, &it->module, &r->error))
      return FALSE;
  } else {
    g_autoptr (VfmSelection) made = given ? NULL : vfm_host_select (host, it->dev, &r->error);
    const VfmSelection *sel = given ? given : made;
    if (sel == NULL)
      return FALSE;
    if (sel->selected == NULL) {
      g_set_error (&r->error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no driver selected: %s", sel->reason);
      return FALSE;
    }
    it->target = g_strdup (sel->selected->driver);
    it->module = g_strdup (sel->selected->module);
  }
  r->driver = g_strdup (it->target);
  use_registered_name (host, r, &it->target, it->module);

  /* host safety, before anything is touched */
  reasons = vfm_safety_check (sr, it->dev);
  if (vfm_pci_device_sriov_numvfs (it->dev) > 0)
    g_ptr_array_add (reasons, g_strdup_printf ("it is a PF that controls %d VFs",
                                               vfm_pci_device_sriov_numvfs (it->dev)));
  if (reasons->len > 0) {
    g_ptr_array_add (reasons, NULL);
    g_autofree char *why = g_strjoinv ("; ", (char **) reasons->pdata);
    if (!(flags & VFM_BIND_FORCE)) {
      g_set_error (&r->error, VFM_ERROR, VFM_ERROR_REFUSED, "%s (use --force if the host can spare it)", why);
      return FALSE;
    }
    g_ptr_array_add (r->warnings, g_strdup_printf ("forced although %s", why));
  }
  return TRUE;
}

/* Under its lock: where the device is now, and whether there is anything
 * to do. FALSE when not (already there, held, or its driver cannot be
 * registered: r->error). */
static gboolean
prepare_item (VfmHost *host, Item *it, gboolean dry, GHashTable *registered)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  VfmBindResult *r = it->r;

  vfm_pci_device_reload (it->dev);
  it->prev_driver = g_strdup (vfm_pci_device_driver (it->dev));
  it->prev_override = g_strdup (vfm_pci_device_driver_override (it->dev));
  r->previous_driver = g_strdup (it->prev_driver);
  it->owned = vfm_journal_read_owned (sr, it->bdf, NULL);
  if (g_strcmp0 (it->prev_driver, it->target) == 0) {
    r->message = g_strdup_printf ("%s is already bound to %s%s; nothing to do", it->bdf, it->target,
                                  it->owned ? "" : " (not by vfmig)");
    it->read = TRUE;
    return FALSE;
  }
  if (it->prev_driver != NULL && !refuse_if_held (sr, it->dev, r))
    return FALSE;
  /* a driver is registered once per request (a dry run says it for each) */
  if (dry || !g_hash_table_contains (registered, it->target)) {
    if (!ensure_driver_registered (host, r, dry, &it->target, it->module, &r->error))
      return FALSE;
    g_hash_table_add (registered, g_strdup (it->target));
  }
  it->intent = g_new0 (VfmIntent, 1);
  *it->intent = (VfmIntent) {
    .op = VFM_INTENT_BIND,
    .bdf = (char *) it->bdf,
    .target_driver = it->target,
    .previous_driver = it->prev_driver,
    .previous_override = it->prev_override,
    .original_driver = it->owned ? it->owned->original_driver : it->prev_driver,
    .original_override = it->owned ? it->owned->original_override : it->prev_override,
    .started_at = g_get_real_time () / G_USEC_PER_SEC,
    .pid = getpid (),
  };
  g_ptr_array_add (r->steps, g_strdup_printf ("journal: intent bind %s -> %s", it->bdf, it->target));
  return TRUE;
}

/* The kernel's protocol for one device, verified by its driver link (read
 * once); a failure is rolled back at once. */
static void
kernel_steps (VfmSysroot *sr, Item *it, gboolean dry)
{
  VfmBindResult *r = it->r;
  g_autoptr (GError) local = NULL;

  if (!write_override (sr, r, dry, it->bdf, it->target, &local) ||
      (it->prev_driver != NULL && !write_unbind (sr, r, dry, it->bdf, it->prev_driver, &local)) ||
      !write_probe (sr, r, dry, it->bdf, &local) || (!dry && !verify_driver (it->dev, r, it->target, &local))) {
    it->unresolved = !fail_and_roll_back (sr, it->dev, r, it->prev_driver, it->prev_override, local,
                                          "rolled back to");
    return;
  }
  if (dry) {
    g_ptr_array_add (r->steps, g_strdup_printf ("verify driver link is %s", it->target));
    g_ptr_array_add (r->steps, g_strdup ("journal: record original driver, clear intent"));
    r->message = g_strdup_printf ("would bind %s to %s (now %s)", it->bdf, it->target,
                                  it->prev_driver ? it->prev_driver : "unbound");
    return;
  }
  it->bound = TRUE;
}

/* The intents of the devices to bind, before the first kernel write: one
 * device keeps its own record (intent/BDF.json), several share one batch
 * record. Either way one fsync. */
static gboolean
write_intents (VfmSysroot *sr, GPtrArray *acting, const char *batch, GError **error)
{
  g_autoptr (GPtrArray) intents = g_ptr_array_new ();
  for (guint i = 0; i < acting->len; i++)
    g_ptr_array_add (intents, ((Item *) g_ptr_array_index (acting, i))->intent);
  if (batch == NULL)
    return vfm_journal_write_intent (sr, g_ptr_array_index (intents, 0), error);
  return vfm_journal_write_batch (sr, batch, intents, error);
}

/* After the kernel steps: the record keeps only the devices left for
 * recovery (a failed roll-back, an owned record that could not be written),
 * and goes when there are none. */
static gboolean
clear_intents (VfmSysroot *sr, GPtrArray *acting, const char *batch, GError **error)
{
  g_autoptr (GPtrArray) left = g_ptr_array_new ();
  for (guint i = 0; i < acting->len; i++) {
    Item *it = g_ptr_array_index (acting, i);
    if (it->unresolved)
      g_ptr_array_add (left, it->intent);
  }
  if (batch == NULL)
    return left->len > 0 || vfm_journal_clear_intent (sr, ((Item *) g_ptr_array_index (acting, 0))->bdf, error);
  return vfm_journal_write_batch (sr, batch, left, error);
}

/* Each IOMMU group of the request's devices (bound or already there), read
 * once after all of them were bound: the drivers just verified or read
 * under the lock are not read again. */
static void
group_statuses (VfmHost *host, Item *items, guint n)
{
  g_autoptr (GHashTable) done = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL,
                                                       (GDestroyNotify) vfm_group_status_free);
  g_autoptr (GHashTable) fresh = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++)
    if (items[i].bound || items[i].read)
      g_hash_table_add (fresh, (gpointer) items[i].bdf);
  for (guint i = 0; i < n; i++) {
    VfmGroupStatus *st;
    gint group;
    if (items[i].dev == NULL || items[i].r->error != NULL)
      continue;
    group = vfm_pci_device_iommu_group (items[i].dev);
    if ((st = g_hash_table_lookup (done, GINT_TO_POINTER (group))) == NULL) {
      st = vfm_iommu_group_status_fresh (host, items[i].dev, fresh);
      g_hash_table_insert (done, GINT_TO_POINTER (group), st);
    }
    items[i].r->group = vfm_group_status_copy (st);
  }
}

static gboolean recover_locked (VfmHost *host, const VfmIntent *it, VfmBindResult **result);
static void drop_from_batch (VfmSysroot *sr, const char *batch, GPtrArray *bdfs);

/* Intents of a process that died, for devices this request now holds the
 * locks of: finished or rolled back before the request reads them (the
 * request's own recovery ran before it waited for the locks). */
static void
recover_held (VfmHost *host, GHashTable *held, GPtrArray *recovered)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (GPtrArray) pending = vfm_journal_list_intents (sr, NULL);
  g_autoptr (GHashTable) batches = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                          (GDestroyNotify) g_ptr_array_unref);
  GHashTableIter iter;
  gpointer key, value;

  for (guint i = 0; i < pending->len; i++) {
    const VfmIntent *it = g_ptr_array_index (pending, i);
    VfmBindResult *r = NULL;
    gboolean resolved;
    if (!g_hash_table_contains (held, it->bdf))
      continue;
    resolved = recover_locked (host, it, &r);
    if (r != NULL && recovered != NULL)
      g_ptr_array_add (recovered, r);
    else if (r != NULL)
      vfm_bind_result_free (r);
    if (!resolved)
      continue;
    if (it->batch == NULL) {
      vfm_journal_clear_intent (sr, it->bdf, NULL);
    } else {
      GPtrArray *bdfs = g_hash_table_lookup (batches, it->batch);
      if (bdfs == NULL) {
        bdfs = g_ptr_array_new_with_free_func (g_free);
        g_hash_table_insert (batches, g_strdup (it->batch), bdfs);
      }
      g_ptr_array_add (bdfs, g_strdup (it->bdf));
    }
  }
  g_hash_table_iter_init (&iter, batches);
  while (g_hash_table_iter_next (&iter, &key, &value))
    drop_from_batch (sr, key, value);
}

/* SELECTIONS: NULL, or one per BDF (vfm_binder_bind_selected) */
static GPtrArray *
bind_many (VfmHost *host, GPtrArray *bdfs, const char *driver_name, GPtrArray *selections, VfmBindFlags flags,
           VfmBindProgress progress, gpointer progress_data, GPtrArray *recovered)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  gboolean dry = (flags & VFM_BIND_DRY_RUN) != 0;
  gint64 start = g_get_monotonic_time ();
  guint n = bdfs->len;
  g_autofree Item *items = g_new0 (Item, n);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) registered = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) acting = g_ptr_array_new ();
  g_autoptr (GError) journal_error = NULL;
  g_autofree char *batch = NULL;
  GPtrArray *results = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);

  /* 1. plan: the device, its driver, the host's safety; nothing locked */
  for (guint i = 0; i < n; i++) {
    Item *it = &items[i];
    const char *in = g_ptr_array_index (bdfs, i);
    it->r = vfm_bind_result_new (in, "bind");
    g_ptr_array_add (results, it->r);
    if ((it->dev = vfm_host_device (host, in, &it->r->error)) == NULL)
      continue;
    it->bdf = vfm_pci_device_bdf (it->dev);
    g_free (it->r->bdf);
    it->r->bdf = g_strdup (it->bdf);
    if (!g_hash_table_add (seen, (gpointer) it->bdf)) {
      it->r->message = g_strdup_printf ("%s is named more than once; bound once", it->bdf);
      continue;
    }
    it->act = plan_item (host, it, driver_name, selections ? g_ptr_array_index (selections, i) : NULL, flags);
  }

  /* 2. the locks of every device to bind, in one pass, in BDF order */
  if (!dry) {
    g_autofree const char **names = g_new0 (const char *, n);
    g_autofree VfmLock **locks = g_new0 (VfmLock *, n);
    g_autofree GError **errors = g_new0 (GError *, n);
    g_autofree guint *index = g_new0 (guint, n);
    g_autoptr (GHashTable) held = g_hash_table_new (g_str_hash, g_str_equal);
    guint k = 0;
    for (guint i = 0; i < n; i++)
      if (items[i].act) {
        index[k] = i;
        names[k++] = items[i].bdf;
      }
    vfm_lock_devices (sr, names, k, LOCK_TIMEOUT_MS, locks, errors);
    for (guint j = 0; j < k; j++) {
      Item *it = &items[index[j]];
      if ((it->lock = locks[j]) == NULL) {
        g_propagate_error (&it->r->error, errors[j]);
        it->act = FALSE;
      } else {
        g_hash_table_add (held, (gpointer) it->bdf);
      }
    }
    if (g_hash_table_size (held) > 0)
      recover_held (host, held, recovered);
  }

  /* 3. where each device is, under its lock */
  for (guint i = 0; i < n; i++)
    if (items[i].act && (items[i].act = prepare_item (host, &items[i], dry, registered)))
      g_ptr_array_add (acting, &items[i]);

  /* 4. one journal record before the first kernel write */
  if (acting->len > 1)
    batch = g_uuid_string_random ();
  if (!dry && acting->len > 0 && !write_intents (sr, acting, batch, &journal_error)) {
    for (guint i = 0; i < acting->len; i++) {
      Item *it = g_ptr_array_index (acting, i);
      it->r->error = g_error_copy (journal_error);
      it->act = FALSE;
    }
    g_ptr_array_set_size (acting, 0);
  }
  for (guint i = 0; i < acting->len && !dry && batch != NULL; i++)
    ((Item *) g_ptr_array_index (acting, i))->r->batch = g_strdup (batch);

  /* 5. the kernel's protocol, device by device, each verified */
  for (guint i = 0; i < acting->len; i++) {
    Item *it = g_ptr_array_index (acting, i);
    if (progress != NULL)
      progress (i, acting->len, it->bdf, progress_data);
    kernel_steps (sr, it, dry);
  }

  /* 6. what vfmig now owns, then the intents cleared */
  for (guint i = 0; i < acting->len && !dry; i++) {
    Item *it = g_ptr_array_index (acting, i);
    VfmOwned rec;
    if (!it->bound)
      continue;
    rec = (VfmOwned) { .bdf = (char *) it->bdf, .original_driver = it->intent->original_driver,
                       .original_override = it->intent->original_override, .driver = it->target,
                       .bound_at = it->intent->started_at };
    if (!vfm_journal_write_owned (sr, &rec, &it->r->error)) {
      it->unresolved = TRUE; /* bound: recovery records it */
      continue;
    }
    vfm_vfio_forget (sr, it->bdf); /* a probe answer belongs to the previous binding */
    it->r->changed = TRUE;
    it->r->message = g_strdup_printf ("bound %s to %s (was %s)", it->bdf, it->target,
                                      it->prev_driver ? it->prev_driver : "unbound");
  }
  if (!dry && acting->len > 0 && !clear_intents (sr, acting, batch, &journal_error))
    for (guint i = 0; i < acting->len; i++) {
      Item *it = g_ptr_array_index (acting, i);
      if (it->r->error == NULL)
        it->r->error = g_error_copy (journal_error);
    }

  /* 7. locks released; each group's state once; errors named */
  for (guint i = 0; i < n; i++)
    g_clear_pointer (&items[i].lock, vfm_lock_release);
  if (!dry)
    group_statuses (host, items, n);
  for (guint i = 0; i < n; i++) {
    VfmBindResult *r = items[i].r;
    if (r->error != NULL)
      g_prefix_error (&r->error, "cannot bind %s%s%s: ", r->bdf, r->driver ? " to " : "", r->driver ? r->driver : "");
    /* the request's time, shared evenly: the sum over a batch is its time */
    r->seconds = (g_get_monotonic_time () - start) / 1e6 / n;
    item_clear (&items[i]);
  }
  return results;
}

GPtrArray *
vfm_binder_bind_many (VfmHost *host, GPtrArray *bdfs, const char *driver_name, VfmBindFlags flags,
                      VfmBindProgress progress, gpointer progress_data, GPtrArray *recovered)
{
  return bind_many (host, bdfs, driver_name, NULL, flags, progress, progress_data, recovered);
}

GPtrArray *
vfm_binder_bind_selected (VfmHost *host, GPtrArray *bdfs, GPtrArray *selections, GPtrArray *recovered)
{
  g_return_val_if_fail (selections != NULL && selections->len == bdfs->len, NULL);
  return bind_many (host, bdfs, NULL, selections, 0, NULL, NULL, recovered);
}

VfmBindResult *
vfm_binder_bind (VfmHost *host, const char *bdf, const char *driver, VfmBindFlags flags)
{
  g_autoptr (GPtrArray) one = g_ptr_array_new ();
  g_autoptr (GPtrArray) recovered = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);
  g_autoptr (GPtrArray) results = NULL;
  VfmBindResult *r;

  g_ptr_array_add (one, (gpointer) bdf);
  results = vfm_binder_bind_many (host, one, driver, flags, NULL, NULL, recovered);
  r = g_ptr_array_steal_index (results, 0);
  for (guint i = 0; i < recovered->len; i++) {
    const VfmBindResult *rec = g_ptr_array_index (recovered, i);
    g_ptr_array_add (r->warnings, g_strdup_printf ("first recovered: %s",
                                                   rec->error ? rec->error->message : rec->message));
  }
  return r;
}

/* Returns a device vfmig bound to the driver it had before. */
VfmBindResult *
vfm_binder_unbind (VfmHost *host, const char *bdf_in, VfmBindFlags flags)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  gboolean dry = (flags & VFM_BIND_DRY_RUN) != 0;
  gint64 start = g_get_monotonic_time ();
  VfmBindResult *r = vfm_bind_result_new (bdf_in, "unbind");
  g_autofree char *prev_driver = NULL, *prev_override = NULL;
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (VfmOwned) owned = NULL;
  g_autoptr (GError) local = NULL;
  VfmPciDevice *dev;
  const char *bdf;

  dev = vfm_host_device (host, bdf_in, &r->error);
  if (dev == NULL) {
    /* a device vfmig bound that has since gone (VFs removed, hot-unplug):
     * there is nothing to return, only a record to forget */
    char norm[13];
    if (g_error_matches (r->error, VFM_ERROR, VFM_ERROR_NOT_FOUND) && vfm_host_parse_bdf (bdf_in, norm, NULL) &&
        (owned = vfm_journal_read_owned (sr, norm, NULL)) != NULL) {
      g_clear_error (&r->error);
      g_free (r->bdf);
      r->bdf = g_strdup (norm);
      if (!dry && !vfm_journal_remove_owned (sr, norm, &r->error))
        goto out;
      r->changed = !dry;
      r->message = g_strdup_printf ("%s is gone from the host; %s its record", norm, dry ? "would forget" : "forgot");
    }
    goto out;
  }
  bdf = vfm_pci_device_bdf (dev);
  g_free (r->bdf);
  r->bdf = g_strdup (bdf);

  if (!dry && (lock = vfm_lock_device (sr, bdf, LOCK_TIMEOUT_MS, &r->error)) == NULL)
    goto out;
  owned = vfm_journal_read_owned (sr, bdf, &r->error);
  if (owned == NULL) {
    if (r->error == NULL)
      g_set_error (&r->error, VFM_ERROR, VFM_ERROR_NOT_FOUND,
                   "vfmig did not bind it, so there is no host driver to return it to");
    goto out;
  }
  r->driver = g_strdup (owned->original_driver);
  vfm_pci_device_reload (dev);
  prev_driver = g_strdup (vfm_pci_device_driver (dev));
  prev_override = g_strdup (vfm_pci_device_driver_override (dev));
  r->previous_driver = g_strdup (prev_driver);
  if (prev_driver != NULL && !refuse_if_held (sr, dev, r))
    goto out;

  {
    VfmIntent intent = {
      .op = VFM_INTENT_UNBIND,
      .bdf = (char *) bdf,
      .target_driver = owned->original_driver,
      .previous_driver = prev_driver,
      .previous_override = prev_override,
      .original_driver = owned->original_driver,
      .original_override = owned->original_override,
      .started_at = g_get_real_time () / G_USEC_PER_SEC,
      .pid = getpid (),
    };
    g_ptr_array_add (r->steps, g_strdup_printf ("journal: intent unbind %s -> %s", bdf,
                                                owned->original_driver ? owned->original_driver : "no driver"));
    if (!dry && !vfm_journal_write_intent (sr, &intent, &r->error))
      goto out;

    gboolean ok = TRUE;
    if (g_strcmp0 (prev_driver, owned->original_driver) != 0) {
      ok = (prev_driver == NULL || write_unbind (sr, r, dry, bdf, prev_driver, &local)) &&
           (owned->original_driver == NULL ||
            (write_override (sr, r, dry, bdf, owned->original_driver, &local) &&
             write_probe (sr, r, dry, bdf, &local) &&
             (dry || verify_driver (dev, r, owned->original_driver, &local))));
    }
    ok = ok && write_override (sr, r, dry, bdf, owned->original_override, &local);
    if (!ok) {
      if (fail_and_roll_back (sr, dev, r, prev_driver, prev_override, local, "left on"))
        vfm_journal_clear_intent (sr, bdf, NULL);
      goto out;
    }
    if (dry) {
      g_ptr_array_add (r->steps, g_strdup ("journal: forget the device, clear intent"));
      r->message = g_strdup_printf ("would return %s to %s", bdf,
                                    owned->original_driver ? owned->original_driver : "no driver");
      goto out;
    }
    if (!vfm_journal_remove_owned (sr, bdf, &r->error) || !vfm_journal_clear_intent (sr, bdf, &r->error))
      goto out;
  }
  vfm_vfio_forget (sr, bdf);
  r->changed = TRUE;
  r->message = g_strdup_printf ("returned %s to %s (was %s)", bdf,
                                owned->original_driver ? owned->original_driver : "no driver",
                                prev_driver ? prev_driver : "unbound");
out:
  if (r->error != NULL)
    g_prefix_error (&r->error, "cannot unbind %s: ", r->bdf);
  finish (r, start, host, r->error ? NULL : dev);
  return r;
}

/* An intent left by a process that died mid-operation, for a device whose
 * lock the caller holds: a verified result is kept, anything else is rolled
 * back to where the operation started. TRUE when the intent is resolved
 * (the caller drops it from its record); *result says what was done. */
static gboolean
recover_locked (VfmHost *host, const VfmIntent *it, VfmBindResult **result)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  VfmBindResult *r = vfm_bind_result_new (it->bdf, "recover");
  gint64 start = g_get_monotonic_time ();
  gboolean resolved = FALSE;
  VfmPciDevice *dev;
  const char *now;

  *result = r;
  dev = vfm_host_device (host, it->bdf, &r->error);
  if (dev == NULL) {
    /* the device is gone (hot-removed): nothing to finish */
    g_clear_error (&r->error);
    vfm_journal_remove_owned (sr, it->bdf, NULL);
    r->message = g_strdup_printf ("%s: interrupted %s dropped, the device is gone", it->bdf,
                                  vfm_intent_op_to_string (it->op));
    resolved = TRUE;
    goto out;
  }
  vfm_pci_device_reload (dev);
  now = vfm_pci_device_driver (dev);
  r->previous_driver = g_strdup (now);

  if (it->op == VFM_INTENT_BIND && it->target_driver && g_strcmp0 (now, it->target_driver) == 0) {
    VfmOwned rec = { .bdf = it->bdf, .original_driver = it->original_driver,
                     .original_override = it->original_override, .driver = it->target_driver,
                     .bound_at = it->started_at };
    if (!vfm_journal_write_owned (sr, &rec, &r->error))
      goto out;
    r->driver = g_strdup (now);
    r->message = g_strdup_printf ("%s: interrupted bind to %s had completed; recorded it", it->bdf, now);
  } else if (it->op == VFM_INTENT_UNBIND && g_strcmp0 (now, it->target_driver) == 0) {
    if (!write_override (sr, r, FALSE, it->bdf, it->original_override, &r->error) ||
        !vfm_journal_remove_owned (sr, it->bdf, &r->error))
      goto out;
    r->driver = g_strdup (now);
    r->message = g_strdup_printf ("%s: interrupted return to %s had completed; finished it", it->bdf,
                                  now ? now : "no driver");
  } else {
    if (!roll_back (sr, dev, r, it->previous_driver, it->previous_override, &r->error))
      goto out;
    r->driver = g_strdup (it->previous_driver);
    r->message = g_strdup_printf ("%s: interrupted %s rolled back to %s", it->bdf,
                                  vfm_intent_op_to_string (it->op),
                                  it->previous_driver ? it->previous_driver : "no driver");
  }
  r->changed = TRUE;
  resolved = TRUE;
out:
  if (r->error != NULL)
    g_prefix_error (&r->error, "cannot recover the interrupted %s of %s: ",
                    vfm_intent_op_to_string (it->op), it->bdf);
  r->seconds = (g_get_monotonic_time () - start) / 1e6;
  return resolved;
}

/* Removes resolved members from a batch record (under the record's own
 * lock: two recoveries may each hold some of its devices). */
static void
drop_from_batch (VfmSysroot *sr, const char *batch, GPtrArray *bdfs)
{
  g_autofree char *name = g_strconcat ("batch-", batch, NULL);
  g_autoptr (VfmLock) lock = vfm_lock_named (sr, name, LOCK_TIMEOUT_MS, NULL);
  g_autoptr (GPtrArray) members = lock ? vfm_journal_read_batch (sr, batch, NULL) : NULL;
  g_autoptr (GPtrArray) left = g_ptr_array_new ();

  if (members == NULL)
    return;
  for (guint i = 0; i < members->len; i++) {
    VfmIntent *it = g_ptr_array_index (members, i);
    if (!g_ptr_array_find_with_equal_func (bdfs, it->bdf, g_str_equal, NULL))
      g_ptr_array_add (left, it);
  }
  if (left->len != members->len)
    vfm_journal_write_batch (sr, batch, left, NULL);
}

/* A device's own intent: NULL when there is nothing to recover - its lock
 * is held (the operation is alive: the kernel drops the lock of a dead
 * holder), or the intent was cleared by the time we held it. */
static VfmBindResult *
recover_one (VfmHost *host, const char *bdf)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmLock) lock = vfm_lock_device (sr, bdf, 0, NULL);
  g_autoptr (VfmIntent) it = lock ? vfm_journal_read_intent (sr, bdf, NULL) : NULL;
  VfmBindResult *r = NULL;

  if (it == NULL)
    return NULL;
  if (recover_locked (host, it, &r) && !vfm_journal_clear_intent (sr, bdf, r->error ? NULL : &r->error))
    g_prefix_error (&r->error, "cannot clear the intent of %s: ", bdf);
  return r;
}

/* A batch record: the members whose locks are free (a live batch holds all
 * of its own) are recovered, read again under their locks. */
static void
recover_batch (VfmHost *host, const char *batch, GPtrArray *out)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (GPtrArray) listed = vfm_journal_read_batch (sr, batch, NULL);
  g_autoptr (GPtrArray) members = NULL;
  g_autoptr (GPtrArray) resolved = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GHashTable) held = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree const char **names = NULL;
  g_autofree VfmLock **locks = NULL;
  g_autofree GError **errors = NULL;

  if (listed == NULL)
    return;
  names = g_new0 (const char *, listed->len);
  locks = g_new0 (VfmLock *, listed->len);
  errors = g_new0 (GError *, listed->len);
  for (guint i = 0; i < listed->len; i++)
    names[i] = ((VfmIntent *) g_ptr_array_index (listed, i))->bdf;
  vfm_lock_devices (sr, names, listed->len, 0, locks, errors);
  for (guint i = 0; i < listed->len; i++) {
    g_clear_error (&errors[i]);
    if (locks[i] != NULL)
      g_hash_table_add (held, (gpointer) names[i]);
  }
  /* read again: the batch may have finished while we locked */
  if (g_hash_table_size (held) > 0 && (members = vfm_journal_read_batch (sr, batch, NULL)) != NULL)
    for (guint i = 0; i < members->len; i++) {
      const VfmIntent *it = g_ptr_array_index (members, i);
      VfmBindResult *r = NULL;
      if (!g_hash_table_contains (held, it->bdf))
        continue;
      if (recover_locked (host, it, &r))
        g_ptr_array_add (resolved, g_strdup (it->bdf));
      g_ptr_array_add (out, r);
    }
  if (resolved->len > 0)
    drop_from_batch (sr, batch, resolved);
  for (guint i = 0; i < listed->len; i++)
    g_clear_pointer (&locks[i], vfm_lock_release);
}

GPtrArray *
vfm_binder_recover (VfmHost *host)
{
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) intents = vfm_journal_list_intents (vfm_host_sysroot (host), warnings);
  g_autoptr (GHashTable) batches = g_hash_table_new (g_str_hash, g_str_equal);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);

  for (guint i = 0; i < intents->len; i++) {
    const VfmIntent *it = g_ptr_array_index (intents, i);
    if (it->batch != NULL) {
      if (g_hash_table_add (batches, it->batch))
        recover_batch (host, it->batch, out);
    } else {
      VfmBindResult *r = recover_one (host, it->bdf);
      if (r != NULL)
        g_ptr_array_add (out, r);
    }
  }
  for (guint i = 0; i < warnings->len; i++)
    g_ptr_array_add (out, vfm_bind_result_new_damaged (g_ptr_array_index (warnings, i)));
  return out;
}

void
vfm_json_add_bind_results (JsonBuilder *b, GPtrArray *results)
{
  json_builder_set_member_name (b, "results");
  json_builder_begin_array (b);
  for (guint i = 0; i < results->len; i++)
    json_builder_add_value (b, vfm_bind_result_to_json (g_ptr_array_index (results, i)));
  json_builder_end_array (b);
}

JsonNode *
vfm_bind_result_to_json (const VfmBindResult *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", r->bdf);
  vfm_json_add_str (b, "op", r->op);
  vfm_json_add_str (b, "driver", r->driver);
  vfm_json_add_str (b, "previous_driver", r->previous_driver);
  vfm_json_add_bool (b, "changed", r->changed);
  vfm_json_add_str (b, "message", r->message);
  vfm_json_add_strv (b, "steps", r->steps);
  vfm_json_add_strv (b, "warnings", r->warnings);
  json_builder_set_member_name (b, "iommu_group");
  if (r->group != NULL)
    json_builder_add_value (b, vfm_group_status_to_json (r->group));
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "seconds");
  json_builder_add_double_value (b, r->seconds);
  json_builder_set_member_name (b, "error");
  if (r->error != NULL) {
    json_builder_begin_object (b);
    vfm_json_add_str (b, "name", vfm_error_name (r->error));
    vfm_json_add_str (b, "message", r->error->message);
    json_builder_end_object (b);
  } else {
    json_builder_add_null_value (b);
  }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
