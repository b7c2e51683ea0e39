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

/* After a failed step: back to where the operation started and its intent
 * cleared; when even that fails the intent stays, and the next command or
 * vfmigd's start retries the roll-back. */
static void
fail_and_roll_back (VfmSysroot *sr, VfmPciDevice *dev, VfmBindResult *r, const char *prev_driver,
                    const char *prev_override, const GError *step_error, const char *where)
{
  g_autoptr (GError) rb = NULL;
  if (roll_back (sr, dev, r, prev_driver, prev_override, &rb)) {
    vfm_journal_clear_intent (sr, vfm_pci_device_bdf (dev), NULL);
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_BIND, "%s; %s %s", step_error->message, where,
                 prev_driver ? prev_driver : "no driver");
  } else {
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_BIND, "%s; roll-back failed too (%s), left for recovery",
                 step_error->message, rb->message);
  }
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

VfmBindResult *
vfm_binder_bind (VfmHost *host, const char *bdf_in, const char *driver_name, VfmBindFlags flags)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  gboolean dry = (flags & VFM_BIND_DRY_RUN) != 0;
  gint64 start = g_get_monotonic_time ();
  VfmBindResult *r = vfm_bind_result_new (bdf_in, "bind");
  g_autofree char *target = NULL, *module = NULL, *prev_driver = NULL, *prev_override = NULL;
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (VfmOwned) owned = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (GPtrArray) reasons = NULL;
  VfmPciDevice *dev;
  const char *bdf;

  dev = vfm_host_device (host, bdf_in, &r->error);
  if (dev == NULL)
    goto out;
  bdf = vfm_pci_device_bdf (dev);
  g_free (r->bdf);
  r->bdf = g_strdup (bdf);

  if (driver_name != NULL) {
    if (!vfm_binder_resolve_driver (host, driver_name, &target, &module, &r->error))
      goto out;
  } else {
    g_autoptr (VfmSelection) sel = vfm_host_select (host, dev, &r->error);
    if (sel == NULL)
      goto out;
    if (sel->selected == NULL) {
      g_set_error (&r->error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no driver selected: %s", sel->reason);
      goto out;
    }
    target = g_strdup (sel->selected->driver);
    module = g_strdup (sel->selected->module);
  }
  r->driver = g_strdup (target);
  use_registered_name (host, r, &target, module);

  /* host safety, before anything is touched */
  reasons = vfm_safety_check (sr, dev);
  if (vfm_pci_device_sriov_numvfs (dev) > 0)
    g_ptr_array_add (reasons, g_strdup_printf ("it is a PF that controls %d VFs",
                                               vfm_pci_device_sriov_numvfs (dev)));
  if (reasons->len > 0) {
    g_ptr_array_add (reasons, NULL);
    g_autofree char *why = g_strjoinv ("; ", (char **) reasons->pdata);
    if (!(flags & VFM_BIND_FORCE)) {
      g_set_error (&r->error, VFM_ERROR, VFM_ERROR_REFUSED, "%s (use --force if the host can spare it)", why);
      goto out;
    }
    g_ptr_array_add (r->warnings, g_strdup_printf ("forced although %s", why));
  }

  if (!dry && (lock = vfm_lock_device (sr, bdf, LOCK_TIMEOUT_MS, &r->error)) == NULL)
    goto out;

  vfm_pci_device_reload (dev);
  prev_driver = g_strdup (vfm_pci_device_driver (dev));
  prev_override = g_strdup (vfm_pci_device_driver_override (dev));
  r->previous_driver = g_strdup (prev_driver);
  if (g_strcmp0 (prev_driver, target) == 0) {
    owned = vfm_journal_read_owned (sr, bdf, NULL);
    r->message = g_strdup_printf ("%s is already bound to %s%s; nothing to do", bdf, target,
                                  owned ? "" : " (not by vfmig)");
    goto out;
  }
  if (prev_driver != NULL && !refuse_if_held (sr, dev, r))
    goto out;

  if (!ensure_driver_registered (host, r, dry, &target, module, &r->error))
    goto out;

  /* remember the host driver: from an earlier vfmig bind if there is one */
  owned = vfm_journal_read_owned (sr, bdf, NULL);
  {
    VfmIntent intent = {
      .op = VFM_INTENT_BIND,
      .bdf = (char *) bdf,
      .target_driver = target,
      .previous_driver = prev_driver,
      .previous_override = prev_override,
      .original_driver = owned ? owned->original_driver : prev_driver,
      .original_override = owned ? owned->original_override : prev_override,
      .started_at = g_get_real_time () / G_USEC_PER_SEC,
      .pid = getpid (),
    };
    g_ptr_array_add (r->steps, g_strdup_printf ("journal: intent bind %s -> %s", bdf, target));
    if (!dry && !vfm_journal_write_intent (sr, &intent, &r->error))
      goto out;

    if (!write_override (sr, r, dry, bdf, target, &local) ||
        (prev_driver != NULL && !write_unbind (sr, r, dry, bdf, prev_driver, &local)) ||
        !write_probe (sr, r, dry, bdf, &local) || (!dry && !verify_driver (dev, r, target, &local))) {
      fail_and_roll_back (sr, dev, r, prev_driver, prev_override, local, "rolled back to");
      goto out;
    }
    if (dry) {
      g_ptr_array_add (r->steps, g_strdup_printf ("verify driver link is %s", target));
      g_ptr_array_add (r->steps, g_strdup ("journal: record original driver, clear intent"));
      r->message = g_strdup_printf ("would bind %s to %s (now %s)", bdf, target, prev_driver ? prev_driver : "unbound");
      goto out;
    }
    VfmOwned rec = {
      .bdf = (char *) bdf,
      .original_driver = intent.original_driver,
      .original_override = intent.original_override,
      .driver = target,
      .bound_at = intent.started_at,
    };
    if (!vfm_journal_write_owned (sr, &rec, &r->error) || !vfm_journal_clear_intent (sr, bdf, &r->error))
      goto out;
  }
  vfm_vfio_forget (sr, bdf); /* a probe answer belongs to the previous binding */
  r->changed = TRUE;
  r->message = g_strdup_printf ("bound %s to %s (was %s)", bdf, target, prev_driver ? prev_driver : "unbound");

out:
  if (r->error != NULL)
    g_prefix_error (&r->error, "cannot bind %s%s%s: ", r->bdf, r->driver ? " to " : "", r->driver ? r->driver : "");
  /* a dry run changed nothing: the group as it is now would blame the
   * device's own current driver */
  finish (r, start, host, r->error || dry ? NULL : dev);
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
      fail_and_roll_back (sr, dev, r, prev_driver, prev_override, local, "left on");
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

/* An intent left by a process that died mid-operation: a verified result is
 * kept, anything else is rolled back to where the operation started. NULL
 * when there is nothing to recover: the device's lock is held (the operation
 * is alive: the kernel drops the lock of a dead holder), or the intent was
 * cleared by the time we held it. */
static VfmBindResult *
recover_one (VfmHost *host, const char *bdf)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmLock) lock = vfm_lock_device (sr, bdf, 0, NULL);
  g_autoptr (VfmIntent) it = lock ? vfm_journal_read_intent (sr, bdf, NULL) : NULL;
  VfmBindResult *r;
  gint64 start = g_get_monotonic_time ();
  VfmPciDevice *dev;
  const char *now;

  if (it == NULL)
    return NULL;
  r = vfm_bind_result_new (it->bdf, "recover");
  dev = vfm_host_device (host, it->bdf, &r->error);
  if (dev == NULL) {
    /* the device is gone (hot-removed): nothing to finish */
    g_clear_error (&r->error);
    vfm_journal_clear_intent (sr, it->bdf, NULL);
    vfm_journal_remove_owned (sr, it->bdf, NULL);
    r->message = g_strdup_printf ("%s: interrupted %s dropped, the device is gone", it->bdf,
                                  vfm_intent_op_to_string (it->op));
    goto out;
  }
  vfm_pci_device_reload (dev);
  now = vfm_pci_device_driver (dev);
  r->previous_driver = g_strdup (now);

  if (it->op == VFM_INTENT_BIND && it->target_driver && g_strcmp0 (now, it->target_driver) == 0) {
    VfmOwned rec = { .bdf = it->bdf, .original_driver = it->original_driver,
                     .original_override = it->original_override, .driver = it->target_driver,
                     .bound_at = it->started_at };
    if (!vfm_journal_write_owned (sr, &rec, &r->error) || !vfm_journal_clear_intent (sr, it->bdf, &r->error))
      goto out;
    r->driver = g_strdup (now);
    r->message = g_strdup_printf ("%s: interrupted bind to %s had completed; recorded it", it->bdf, now);
  } else if (it->op == VFM_INTENT_UNBIND && g_strcmp0 (now, it->target_driver) == 0) {
    if (!write_override (sr, r, FALSE, it->bdf, it->original_override, &r->error) ||
        !vfm_journal_remove_owned (sr, it->bdf, &r->error) || !vfm_journal_clear_intent (sr, it->bdf, &r->error))
      goto out;
    r->driver = g_strdup (now);
    r->message = g_strdup_printf ("%s: interrupted return to %s had completed; finished it", it->bdf,
                                  now ? now : "no driver");
  } else {
    if (!roll_back (sr, dev, r, it->previous_driver, it->previous_override, &r->error))
      goto out;
    vfm_journal_clear_intent (sr, it->bdf, NULL);
    r->driver = g_strdup (it->previous_driver);
    r->message = g_strdup_printf ("%s: interrupted %s rolled back to %s", it->bdf,
                                  vfm_intent_op_to_string (it->op),
                                  it->previous_driver ? it->previous_driver : "no driver");
  }
  r->changed = TRUE;
out:
  if (r->error != NULL)
    g_prefix_error (&r->error, "cannot recover the interrupted %s of %s: ",
                    vfm_intent_op_to_string (it->op), it->bdf);
  r->seconds = (g_get_monotonic_time () - start) / 1e6;
  return r;
}

GPtrArray *
vfm_binder_recover (VfmHost *host)
{
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) intents = vfm_journal_list_intents (vfm_host_sysroot (host), warnings);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);

  for (guint i = 0; i < intents->len; i++) {
    VfmBindResult *r = recover_one (host, ((VfmIntent *) g_ptr_array_index (intents, i))->bdf);
    if (r != NULL)
      g_ptr_array_add (out, r);
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
