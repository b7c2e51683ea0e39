/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-autobind.h"
#include "vfm-early-boot.h"
#include "vfm-batch.h"
#include "vfm-binder.h"
#include "vfm-error.h"
#include "vfm-ids.h"
#include "vfm-journal.h"
#include "vfm-lock.h"
#include "vfm-sysfs.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>

void
vfm_policy_event_free (VfmPolicyEvent *e)
{
  if (e == NULL)
    return;
  g_free (e->bdf);
  g_free (e->message);
  g_free (e);
}

G_GNUC_PRINTF (5, 6) static void
event (GPtrArray *events, GLogLevelFlags level, const char *topic, const char *bdf, const char *fmt, ...)
{
  VfmPolicyEvent *e = g_new0 (VfmPolicyEvent, 1);
  va_list ap;
  va_start (ap, fmt);
  e->level = level;
  e->topic = topic;
  e->bdf = g_strdup (bdf);
  e->message = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_ptr_array_add (events, e);
}

static GPtrArray *
events_new (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_policy_event_free);
}

/* Would a policy manage this PF's VFs? The VFs present answer for
 * themselves; with none, the VF identity the PF announces (sriov_vf_device)
 * is evaluated, so autoprobe is off before the first VF exists. */
static gboolean
pf_vfs_managed (VfmHost *host, VfmPciDevice *pf)
{
  g_autoptr (GPtrArray) vfs = vfm_pci_device_vfs (pf);
  g_autofree char *attr = vfm_sysroot_pci_device_attr (vfm_host_sysroot (host), vfm_pci_device_bdf (pf),
                                                        "sriov_vf_device");
  g_autoptr (VfmSelection) sel = NULL;
  VfmDb *db = vfm_host_db (host, NULL);
  VfmDeviceIds ids;
  guint32 vf_device;

  for (guint i = 0; vfs != NULL && i < vfs->len; i++) {
    VfmPciDevice *vf = vfm_host_device (host, g_ptr_array_index (vfs, i), NULL);
    g_autoptr (VfmSelection) vsel = vf ? vfm_host_select (host, vf, NULL) : NULL;
    if (vsel != NULL && vsel->managed)
      return TRUE;
  }
  if (db == NULL || !vfm_sysfs_read_hex (attr, &vf_device))
    return FALSE;
  vfm_pci_device_ids (pf, NULL, vfm_db_uses_revision (db), &ids);
  ids.device = vf_device;
  ids.is_vf = TRUE;
  ids.has_vfs = FALSE;
  ids.pf_driver = vfm_pci_device_driver (pf);
  sel = vfm_select (db, &ids);
  return sel->managed;
}

static void
autoprobe_off (VfmHost *host, VfmPciDevice *pf, GPtrArray *events)
{
  const char *bdf = vfm_pci_device_bdf (pf);
  g_autofree char *attr = vfm_sysroot_pci_device_attr (vfm_host_sysroot (host), bdf, "sriov_drivers_autoprobe");
  g_autoptr (GError) error = NULL;
  gint value;

  if (!vfm_sysfs_read_int (attr, &value) || value == 0 || !pf_vfs_managed (host, pf))
    return;
  if (!vfm_sysfs_write (attr, "0", &error))
    event (events, G_LOG_LEVEL_WARNING, "autoprobe", bdf, "cannot turn off VF autoprobe on %s: %s", bdf,
                    error->message);
  else
    event (events, G_LOG_LEVEL_MESSAGE, "autoprobe", bdf,
                    "turned off VF autoprobe on %s: a policy manages its VFs", bdf);
}

/* A vfmigctl vf create (or destroy) under way on the PF, by a live process:
 * it binds the VFs it creates itself, so the daemon leaves them alone (the
 * sriov record is written before sriov_numvfs and removed after the binds;
 * a dead creator's record is recovery's, not a reason to wait). */
static gint
vf_create_under_way (VfmHost *host, VfmPciDevice *dev)
{
  const char *pf = vfm_pci_device_physfn (dev);
  g_autoptr (VfmSriovIntent) it = pf ? vfm_journal_read_sriov (vfm_host_sysroot (host), pf, NULL) : NULL;

  if (it == NULL || it->pid <= 0)
    return 0;
  /* signal 0: whether the process exists (EPERM: it does, not ours) */
  return kill (it->pid, 0) == 0 || errno == EPERM ? it->pid : 0;
}

/* The policy's part before any binding: autoprobe off on a managed PF,
 * then whether the device is to be bound (a policy marks it auto-bind, it
 * is not on its selected driver, no live vf create binds it itself): its
 * selection when it is, NULL when not. */
static VfmSelection *
wants_bind (VfmHost *host, VfmPciDevice *dev, GPtrArray *events)
{
  const char *bdf = vfm_pci_device_bdf (dev);
  g_autoptr (VfmSelection) sel = NULL;
  g_autoptr (GError) error = NULL;
  gint creator;

  if (vfm_pci_device_sriov_totalvfs (dev) > 0)
    autoprobe_off (host, dev, events);
  if ((sel = vfm_host_select (host, dev, &error)) == NULL) {
    event (events, G_LOG_LEVEL_WARNING, "policy", bdf, "cannot apply policy to %s: %s", bdf, error->message);
    return NULL;
  }
  if (!sel->auto_bind || g_strcmp0 (vfm_pci_device_driver (dev), sel->selected->driver) == 0)
    return NULL;
  if ((creator = vf_create_under_way (host, dev)) > 0) {
    event (events, G_LOG_LEVEL_DEBUG, "autobind", bdf, "%s left to the vf create of pid %d, which binds it", bdf,
           creator);
    return NULL;
  }
  return g_steal_pointer (&sel);
}

/* The devices a policy binds, with their selections (bind_devices) */
typedef struct {
  GPtrArray *bdfs;       /* const char *: the devices' own */
  GPtrArray *selections; /* VfmSelection *, owned */
} ToBind;

static void
to_bind_init (ToBind *t)
{
  t->bdfs = g_ptr_array_new ();
  t->selections = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_selection_free);
}

static void
to_bind_add_if_wanted (ToBind *t, VfmHost *host, VfmPciDevice *dev, GPtrArray *events)
{
  VfmSelection *sel = wants_bind (host, dev, events);
  if (sel == NULL)
    return;
  g_ptr_array_add (t->bdfs, (gpointer) vfm_pci_device_bdf (dev));
  g_ptr_array_add (t->selections, sel);
}

static void
to_bind_clear (ToBind *t)
{
  g_ptr_array_unref (t->bdfs);
  g_ptr_array_unref (t->selections);
}

/* The devices to bind, as one request (vfm_binder_bind_selected, to the
 * drivers the policy selected): their locks in one pass, one journal
 * record, each verified; a result per device. */
static void
bind_devices (VfmHost *host, ToBind *t, GPtrArray *events)
{
  g_autoptr (GPtrArray) recovered = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);
  g_autoptr (GPtrArray) results = NULL;
  g_autoptr (GString) members = g_string_new (NULL);
  const char *batch = NULL;

  if (t->bdfs->len == 0)
    return;
  results = vfm_binder_bind_selected (host, t->bdfs, t->selections, recovered);
  for (guint i = 0; i < recovered->len; i++) {
    const VfmBindResult *r = g_ptr_array_index (recovered, i);
    event (events, r->error ? G_LOG_LEVEL_WARNING : G_LOG_LEVEL_MESSAGE, "recover", r->bdf, "first recovered: %s",
           r->error ? r->error->message : r->message);
  }
  for (guint i = 0; i < results->len; i++) {
    const VfmBindResult *r = g_ptr_array_index (results, i);
    if (r->error != NULL)
      event (events, G_LOG_LEVEL_WARNING, "autobind", r->bdf, "cannot auto-bind %s: %s", r->bdf, r->error->message);
    else
      event (events, G_LOG_LEVEL_MESSAGE, "autobind", r->bdf, "%s", r->message);
    if (r->batch != NULL) {
      batch = r->batch;
      g_string_append_printf (members, " %s", r->bdf);
    }
  }
  if (batch != NULL)
    event (events, G_LOG_LEVEL_MESSAGE, "autobind", NULL,
           "auto-bind of %u devices as one request (journal record batch-%s):%s", results->len, batch,
           members->str);
}

struct _VfmAutobind {
  VfmHost *host;
  GPtrArray *events;
  GError *db_error; /* no database: each device says so */
  ToBind to_bind;
};

VfmAutobind *
vfm_autobind_new (VfmHost *host)
{
  VfmAutobind *a = g_new0 (VfmAutobind, 1);
  a->host = host;
  a->events = events_new ();
  (void) vfm_host_db (host, &a->db_error);
  to_bind_init (&a->to_bind);
  return a;
}

void
vfm_autobind_add (VfmAutobind *a, const char *bdf)
{
  g_autoptr (GError) local = NULL;
  VfmPciDevice *dev;

  if (a->db_error != NULL) {
    event (a->events, G_LOG_LEVEL_WARNING, "policy", bdf, "cannot apply policy to %s: %s", bdf,
           a->db_error->message);
    return;
  }
  if ((dev = vfm_host_device (a->host, bdf, &local)) == NULL)
    event (a->events, G_LOG_LEVEL_WARNING, "policy", bdf, "cannot apply policy to %s: %s", bdf, local->message);
  else
    to_bind_add_if_wanted (&a->to_bind, a->host, dev, a->events);
}

GPtrArray *
vfm_autobind_finish (VfmAutobind *a)
{
  GPtrArray *events = a->events;
  bind_devices (a->host, &a->to_bind, events);
  to_bind_clear (&a->to_bind);
  g_clear_error (&a->db_error);
  g_free (a);
  return events;
}

GPtrArray *
vfm_autobind_devices (VfmHost *host, GPtrArray *bdfs)
{
  VfmAutobind *a = vfm_autobind_new (host);
  for (guint i = 0; i < bdfs->len; i++)
    vfm_autobind_add (a, g_ptr_array_index (bdfs, i));
  return vfm_autobind_finish (a);
}

GPtrArray *
vfm_autobind_start (VfmHost *host)
{
  GPtrArray *events = events_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) recovered = NULL;
  g_autoptr (GPtrArray) devices = NULL;
  ToBind to_bind;

  if (vfm_host_db (host, &error) == NULL) {
    event (events, G_LOG_LEVEL_WARNING, "recover", NULL, "cannot recover or apply policy: %s", error->message);
    return events;
  }
  {
    /* what the initramfs bound before any host driver becomes vfmig's */
    g_autoptr (GPtrArray) adopted = vfm_early_boot_adopt (host);
    for (guint i = 0; i < adopted->len; i++)
      event (events, G_LOG_LEVEL_MESSAGE, "early-boot", NULL, "%s", (const char *) g_ptr_array_index (adopted, i));
  }
  recovered = vfm_batch_recover (host);
  for (guint i = 0; i < recovered->len; i++) {
    const VfmBindResult *r = g_ptr_array_index (recovered, i);
    if (r->error != NULL)
      event (events, G_LOG_LEVEL_WARNING, "recover", r->bdf, "%s", r->error->message);
    else if (r->message != NULL)
      event (events, G_LOG_LEVEL_MESSAGE, "recover", r->bdf, "%s", r->message);
    for (guint j = 0; j < r->warnings->len; j++)
      event (events, G_LOG_LEVEL_WARNING, "recover", r->bdf, "damaged state: %s",
             (const char *) g_ptr_array_index (r->warnings, j));
  }
  if ((devices = vfm_host_devices (host, NULL, &error)) == NULL) {
    event (events, G_LOG_LEVEL_WARNING, "policy", NULL, "cannot apply policy: %s", error->message);
    return events;
  }
  /* every device to bind as one request */
  to_bind_init (&to_bind);
  for (guint i = 0; i < devices->len; i++)
    to_bind_add_if_wanted (&to_bind, host, g_ptr_array_index (devices, i), events);
  bind_devices (host, &to_bind, events);
  to_bind_clear (&to_bind);
  return events;
}

GPtrArray *
vfm_autobind_device (VfmHost *host, const char *bdf)
{
  g_autoptr (GPtrArray) one = g_ptr_array_new ();
  g_ptr_array_add (one, (gpointer) bdf);
  return vfm_autobind_devices (host, one);
}

GPtrArray *
vfm_autobind_removed (VfmHost *host, const char *bdf)
{
  GPtrArray *events = events_new ();
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (VfmOwned) owned = NULL;

  if (!vfm_bdf_is_valid (bdf))
    return events;
  /* under the device's lock, and only when it is really gone: a remove
   * followed at once by an add of a new device at the address is possible */
  if ((lock = vfm_lock_device (sr, bdf, 10000, &error)) == NULL ||
      (owned = vfm_journal_read_owned (sr, bdf, NULL)) == NULL || vfm_host_device (host, bdf, NULL) != NULL)
    return events;
  if (!vfm_journal_remove_owned (sr, bdf, &error))
    event (events, G_LOG_LEVEL_WARNING, "remove", bdf, "%s was removed, but its record stays: %s", bdf,
           error->message);
  else
    event (events, G_LOG_LEVEL_MESSAGE, "remove", bdf,
           "%s was removed while bound to %s: dropped its record (it came from %s)", bdf,
           owned->driver ? owned->driver : "?", owned->original_driver ? owned->original_driver : "no driver");
  return events;
}
