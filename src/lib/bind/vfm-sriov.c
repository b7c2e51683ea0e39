/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-sriov.h"
#include "vfm-journal.h"
#include "vfm-devlink.h"
#include "vfm-error.h"
#include "vfm-lock.h"
#include "vfm-netlink.h"
#include "vfm-sysfs.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LOCK_TIMEOUT_MS 10000

void
vfm_vf_result_free (VfmVfResult *r)
{
  if (r == NULL)
    return;
  g_free (r->pf);
  g_ptr_array_unref (r->steps);
  g_ptr_array_unref (r->vfs);
  g_ptr_array_unref (r->binds);
  g_free (r->message);
  g_clear_error (&r->error);
  g_free (r);
}

static VfmVfResult *
result_new (const char *pf)
{
  VfmVfResult *r = g_new0 (VfmVfResult, 1);
  r->pf = g_strdup (pf);
  r->steps = g_ptr_array_new_with_free_func (g_free);
  r->vfs = g_ptr_array_new_with_free_func (g_free);
  r->binds = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);
  return r;
}

static gboolean
pf_write (GPtrArray *steps, VfmSysroot *sr, const char *pf, gboolean dry, const char *attr, const char *value,
          GError **error)
{
  g_autofree char *path = vfm_sysroot_pci_device_attr (sr, pf, attr);
  g_ptr_array_add (steps, g_strdup_printf ("write \"%s\" to %s", value, path));
  if (dry)
    return TRUE;
  if (!vfm_sysfs_write (path, value, error)) {
    g_prefix_error (error, "%s: ", attr);
    return FALSE;
  }
  return TRUE;
}

/* "auto": a locally administered unicast MAC derived from the PF and VF
 * index, stable across re-creation; otherwise VF i gets MAC + i. */
static gboolean
vf_mac (const char *spec, const char *pf, gint index, char out[18], GError **error)
{
  guint b[6];
  guint64 v;

  if (g_strcmp0 (spec, "auto") == 0) {
    guint32 h = g_str_hash (pf);
    g_snprintf (out, 18, "02:%02x:%02x:%02x:%02x:%02x", (h >> 24) & 0xff, (h >> 16) & 0xff,
                (h >> 8) & 0xff, h & 0xff, index & 0xff);
    return TRUE;
  }
  if (strlen (spec) != 17 || sscanf (spec, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6 ||
      (b[0] & 1)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "\"%s\" is not a unicast MAC address (aa:bb:cc:dd:ee:ff, or auto)", spec);
    return FALSE;
  }
  v = 0;
  for (int i = 0; i < 6; i++)
    v = (v << 8) | b[i];
  v += (guint64) index;
  g_snprintf (out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", (guint) (v >> 40) & 0xff, (guint) (v >> 32) & 0xff,
              (guint) (v >> 24) & 0xff, (guint) (v >> 16) & 0xff, (guint) (v >> 8) & 0xff, (guint) v & 0xff);
  return TRUE;
}

/* Returns the VFs of pf that vfmig bound to their original drivers. */
static gboolean
return_owned_vfs (VfmHost *host, VfmPciDevice *pf, VfmVfResult *r, VfmBindFlags flags)
{
  g_autoptr (GPtrArray) vfs = vfm_pci_device_vfs (pf);
  guint failed = 0;

  for (guint i = 0; i < vfs->len; i++) {
    const char *vf = g_ptr_array_index (vfs, i);
    g_autoptr (VfmOwned) owned = vfm_journal_read_owned (vfm_host_sysroot (host), vf, NULL);
    if (owned != NULL) {
      VfmBindResult *b = vfm_binder_unbind (host, vf, flags);
      failed += b->error != NULL;
      g_ptr_array_add (r->binds, b);
    }
  }
  if (failed > 0) {
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_BIND, "%u of its VFs could not be returned; VFs kept", failed);
    return FALSE;
  }
  return TRUE;
}

static char *
pf_netdev (VfmPciDevice *pf)
{
  g_autoptr (GPtrArray) nets = vfm_pci_device_net (pf);
  return nets->len > 0 ? g_strdup (g_ptr_array_index (nets, 0)) : NULL;
}

static gint
read_autoprobe (VfmSysroot *sr, const char *pf)
{
  g_autofree char *path = vfm_sysroot_pci_device_attr (sr, pf, "sriov_drivers_autoprobe");
  gint v = 1;
  return vfm_sysfs_read_int (path, &v) ? v != 0 : 1;
}

/* The record written before the first change to the PF (vfm-journal.h). */
static VfmSriovIntent *
begin_intent (VfmSysroot *sr, VfmPciDevice *pf, VfmSriovOp op, gint numvfs, GError **error)
{
  g_autoptr (VfmSriovIntent) it = g_new0 (VfmSriovIntent, 1);
  it->op = op;
  it->pf = g_strdup (vfm_pci_device_bdf (pf));
  it->numvfs = numvfs;
  it->previous_numvfs = vfm_pci_device_sriov_numvfs (pf);
  it->previous_autoprobe = read_autoprobe (sr, it->pf);
  it->started_at = g_get_real_time () / G_USEC_PER_SEC;
  it->pid = getpid ();
  if (!vfm_journal_write_sriov (sr, it, error))
    return NULL;
  return g_steal_pointer (&it);
}

/* Undoes a vf create that did not finish (it failed, or its process died):
 * the VFs it bound go back, the VFs it created go away, autoprobe is as it
 * was. VFs removed on the way to a new count cannot come back: the PF ends
 * with none then, a state the kernel defines. */
static gboolean
roll_back_create (VfmHost *host, VfmPciDevice *pf, const VfmSriovIntent *it, GPtrArray *steps, GPtrArray *binds,
                  GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (GPtrArray) vfs = NULL;
  char buf[16];
  guint failed = 0;

  vfm_pci_device_reload (pf);
  vfs = vfm_pci_device_vfs (pf);
  for (guint i = 0; i < vfs->len; i++) {
    const char *vf = g_ptr_array_index (vfs, i);
    g_autoptr (VfmOwned) owned = vfm_journal_read_owned (sr, vf, NULL);
    VfmBindResult *b;
    if (owned == NULL || owned->bound_at < it->started_at)
      continue;
    b = vfm_binder_unbind (host, vf, 0);
    failed += b->error != NULL;
    g_ptr_array_add (binds, b);
  }
  if (failed > 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_BIND, "%u of its VFs could not be returned; VFs kept", failed);
    return FALSE;
  }
  if (vfm_pci_device_sriov_numvfs (pf) != it->previous_numvfs && vfm_pci_device_sriov_numvfs (pf) != 0 &&
      !pf_write (steps, sr, it->pf, FALSE, "sriov_numvfs", "0", error))
    return FALSE;
  g_snprintf (buf, sizeof buf, "%d", it->previous_autoprobe);
  if (read_autoprobe (sr, it->pf) != it->previous_autoprobe &&
      !pf_write (steps, sr, it->pf, FALSE, "sriov_drivers_autoprobe", buf, error))
    return FALSE;
  vfm_pci_device_reload (pf);
  return vfm_journal_clear_sriov (sr, it->pf, error);
}

/* Finishes a vf destroy: its owned VFs were returned first, so what is
 * left is the count and autoprobe. */
static gboolean
finish_destroy (VfmSysroot *sr, VfmPciDevice *pf, const VfmSriovIntent *it, GPtrArray *steps, GError **error)
{
  vfm_pci_device_reload (pf);
  if (vfm_pci_device_sriov_numvfs (pf) != 0 && !pf_write (steps, sr, it->pf, FALSE, "sriov_numvfs", "0", error))
    return FALSE;
  if (read_autoprobe (sr, it->pf) != 1 && !pf_write (steps, sr, it->pf, FALSE, "sriov_drivers_autoprobe", "1", error))
    return FALSE;
  vfm_pci_device_reload (pf);
  return vfm_journal_clear_sriov (sr, it->pf, error);
}

VfmVfResult *
vfm_sriov_create (VfmHost *host, const char *pf_in, gint numvfs, const VfmVfOptions *opts)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  gboolean dry = (opts->flags & VFM_BIND_DRY_RUN) != 0;
  gint64 start = g_get_monotonic_time ();
  VfmVfResult *r = result_new (pf_in);
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (VfmSriovIntent) intent = NULL;
  g_autofree char *netdev = NULL;
  char buf[16];
  VfmPciDevice *pf;
  gint total, now;

  pf = vfm_host_device (host, pf_in, &r->error);
  if (pf == NULL)
    goto out;
  g_free (r->pf);
  r->pf = g_strdup (vfm_pci_device_bdf (pf));
  total = vfm_pci_device_sriov_totalvfs (pf);
  if (total <= 0) {
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_UNSUPPORTED, "it has no SR-IOV capability (sriov_totalvfs absent or 0)");
    goto out;
  }
  if (numvfs < 1 || numvfs > total) {
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "%d VFs asked, it supports 1 to %d", numvfs, total);
    goto out;
  }
  if (opts->mac != NULL) {
    char probe[18];
    if (!vf_mac (opts->mac, r->pf, 0, probe, &r->error))
      goto out;
  }
  if (opts->vlan > 4094) {
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "VLAN %d is out of range (0-4094)", opts->vlan);
    goto out;
  }
  netdev = pf_netdev (pf);
  if ((opts->mac != NULL || opts->vlan >= 0) && netdev == NULL) {
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                 "it has no network interface, so VF MAC/VLAN cannot be set through it");
    goto out;
  }
  /* netlink settings cannot reach a synthetic host: say so before anything changes */
  if (!dry && !vfm_sysroot_is_real (sr) && (opts->migratable || opts->mac != NULL || opts->vlan >= 0)) {
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                 "devlink and VF MAC/VLAN are netlink to the running kernel; they cannot be set on a --sysroot host");
    goto out;
  }
  if (!dry && (lock = vfm_lock_device (sr, r->pf, LOCK_TIMEOUT_MS, &r->error)) == NULL)
    goto out;
  vfm_pci_device_reload (pf);
  if (!dry && (intent = begin_intent (sr, pf, VFM_SRIOV_CREATE, numvfs, &r->error)) == NULL)
    goto out;

  /* Changing the count removes every VF: return the ones vfmig bound first,
   * so no record outlives its device and no VF vanishes under its driver. */
  vfm_pci_device_reload (pf);
  if (vfm_pci_device_sriov_numvfs (pf) != numvfs && !return_owned_vfs (host, pf, r, opts->flags))
    goto out;

  /* The PF's driver would probe the new VFs inside the sriov_numvfs write,
   * before udev or vfmig could act (DESIGN.md, Decisions 9): keep it off them. */
  if (!pf_write (r->steps, sr, r->pf, dry, "sriov_drivers_autoprobe", "0", &r->error))
    goto out;
  vfm_pci_device_reload (pf);
  now = vfm_pci_device_sriov_numvfs (pf);
  if (now != numvfs) {
    /* the kernel refuses to change a non-zero count except through 0 */
    if (now != 0 && !pf_write (r->steps, sr, r->pf, dry, "sriov_numvfs", "0", &r->error))
      goto out;
    g_snprintf (buf, sizeof buf, "%d", numvfs);
    if (!pf_write (r->steps, sr, r->pf, dry, "sriov_numvfs", buf, &r->error))
      goto out;
  } else {
    g_ptr_array_add (r->steps, g_strdup_printf ("keep the %d VFs that exist", now));
  }
  r->numvfs = numvfs;
  vfm_pci_device_reload (pf);
  if (!dry) {
    g_autoptr (GPtrArray) vfs = vfm_pci_device_vfs (pf);
    g_ptr_array_extend_and_steal (r->vfs, g_steal_pointer (&vfs));
    if ((gint) r->vfs->len != numvfs) {
      g_set_error (&r->error, VFM_ERROR, VFM_ERROR_FAILED, "the kernel created %u VFs, not %d", r->vfs->len, numvfs);
      goto out;
    }
  }

  /* while the VFs are unbound: mlx5 changes the capability only then */
  for (gint i = 0; i < numvfs; i++) {
    if (opts->migratable && !vfm_devlink_set_vf_migratable (sr, "pci", r->pf, i, opts->switchdev, dry, r->steps, &r->error))
      goto out;
    if (opts->mac != NULL) {
      char mac[18];
      vf_mac (opts->mac, r->pf, i, mac, NULL);
      if (!vfm_netlink_set_vf_mac (sr, netdev, i, mac, dry, r->steps, &r->error))
        goto out;
    }
    if (opts->vlan >= 0 && !vfm_netlink_set_vf_vlan (sr, netdev, i, opts->vlan, dry, r->steps, &r->error))
      goto out;
  }

  if (!opts->no_bind && !dry) {
    guint failed = 0;
    /* the VFs it created, bound as one request (one journal record) */
    g_autoptr (GPtrArray) binds = vfm_binder_bind_many (host, r->vfs, NULL, opts->flags, NULL, NULL, NULL);
    for (guint i = 0; i < binds->len; i++) {
      VfmBindResult *b = g_ptr_array_index (binds, i);
      failed += b->error != NULL;
      g_ptr_array_add (r->binds, g_steal_pointer (&g_ptr_array_index (binds, i)));
    }
    if (failed > 0) {
      g_set_error (&r->error, VFM_ERROR, VFM_ERROR_BIND, "%u of %u VFs could not be bound (each was rolled back)",
                   failed, r->vfs->len);
      goto out;
    }
  }
  r->message = g_strdup_printf ("%s %d VF%s on %s (autoprobe off)%s%s%s", dry ? "would create" : "created",
                                numvfs, numvfs == 1 ? "" : "s", r->pf,
                                opts->migratable ? ", migratable set" : "",
                                opts->mac ? ", MAC set" : "",
                                opts->no_bind ? "" : dry ? ", then bind them" : ", bound");
  if (intent != NULL && !vfm_journal_clear_sriov (sr, r->pf, &r->error))
    goto out;
  g_clear_pointer (&intent, vfm_sriov_intent_free);
out:
  if (r->error != NULL && intent != NULL) {
    /* all or nothing: no VF is left half-prepared */
    g_autoptr (GError) e = NULL;
    if (roll_back_create (host, pf, intent, r->steps, r->binds, &e))
      g_prefix_error (&r->error, "rolled back; ");
    else
      g_prefix_error (&r->error, "roll-back failed too (%s), left for recovery; ", e->message);
  }
  if (r->error != NULL)
    g_prefix_error (&r->error, "cannot create VFs on %s: ", r->pf);
  r->seconds = (g_get_monotonic_time () - start) / 1e6;
  return r;
}

/* Returns the VFs vfmig bound, then removes every VF and gives the PF's
 * driver its autoprobe back (the kernel's default). */
VfmVfResult *
vfm_sriov_destroy (VfmHost *host, const char *pf_in, VfmBindFlags flags)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  gboolean dry = (flags & VFM_BIND_DRY_RUN) != 0;
  gint64 start = g_get_monotonic_time ();
  VfmVfResult *r = result_new (pf_in);
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (VfmSriovIntent) intent = NULL;
  g_autoptr (GPtrArray) vfs = NULL;
  VfmPciDevice *pf;

  pf = vfm_host_device (host, pf_in, &r->error);
  if (pf == NULL)
    goto out;
  g_free (r->pf);
  r->pf = g_strdup (vfm_pci_device_bdf (pf));
  if (vfm_pci_device_sriov_totalvfs (pf) <= 0) {
    g_set_error (&r->error, VFM_ERROR, VFM_ERROR_UNSUPPORTED, "it has no SR-IOV capability");
    goto out;
  }
  if (!dry && (lock = vfm_lock_device (sr, r->pf, LOCK_TIMEOUT_MS, &r->error)) == NULL)
    goto out;
  vfm_pci_device_reload (pf);
  vfs = vfm_pci_device_vfs (pf);
  for (guint i = 0; i < vfs->len; i++)
    g_ptr_array_add (r->vfs, g_strdup (g_ptr_array_index (vfs, i)));
  if (!dry && (intent = begin_intent (sr, pf, VFM_SRIOV_DESTROY, 0, &r->error)) == NULL)
    goto out;
  if (!return_owned_vfs (host, pf, r, flags)) {
    /* nothing removed yet: the VFs stay as they are */
    if (intent != NULL)
      vfm_journal_clear_sriov (sr, r->pf, NULL);
    goto out;
  }
  if (!pf_write (r->steps, sr, r->pf, dry, "sriov_numvfs", "0", &r->error) ||
      !pf_write (r->steps, sr, r->pf, dry, "sriov_drivers_autoprobe", "1", &r->error))
    goto out;
  if (intent != NULL && !vfm_journal_clear_sriov (sr, r->pf, &r->error))
    goto out;
  r->message = g_strdup_printf ("%s %u VF%s of %s", dry ? "would remove" : "removed", r->vfs->len,
                                r->vfs->len == 1 ? "" : "s", r->pf);
out:
  if (r->error != NULL)
    g_prefix_error (&r->error, "cannot destroy VFs of %s: ", r->pf);
  r->seconds = (g_get_monotonic_time () - start) / 1e6;
  return r;
}

/* One interrupted vf create/destroy (vfm-journal.h), under the PF's lock:
 * NULL when its operation is alive (the lock is held) or done. */
static VfmBindResult *
recover_one (VfmHost *host, const char *pf_bdf)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmLock) lock = vfm_lock_device (sr, pf_bdf, 0, NULL);
  g_autoptr (VfmSriovIntent) it = lock ? vfm_journal_read_sriov (sr, pf_bdf, NULL) : NULL;
  g_autoptr (GPtrArray) binds = NULL;
  gint64 start = g_get_monotonic_time ();
  VfmBindResult *r;
  VfmPciDevice *pf;

  if (it == NULL)
    return NULL;
  r = vfm_bind_result_new (pf_bdf, "recover");
  binds = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);
  pf = vfm_host_device (host, pf_bdf, NULL);
  if (pf == NULL) {
    vfm_journal_clear_sriov (sr, pf_bdf, NULL);
    r->message = g_strdup_printf ("%s: interrupted %s dropped, the PF is gone", pf_bdf, vfm_sriov_op_to_string (it->op));
  } else if (it->op == VFM_SRIOV_CREATE) {
    if (roll_back_create (host, pf, it, r->steps, binds, &r->error))
      r->message = g_strdup_printf ("%s: interrupted vf create rolled back: %d VF%s, autoprobe %d", pf_bdf,
                                    vfm_pci_device_sriov_numvfs (pf), vfm_pci_device_sriov_numvfs (pf) == 1 ? "" : "s",
                                    it->previous_autoprobe);
  } else {
    if (finish_destroy (sr, pf, it, r->steps, &r->error))
      r->message = g_strdup_printf ("%s: interrupted vf destroy finished: no VFs, autoprobe 1", pf_bdf);
  }
  for (guint i = 0; i < binds->len; i++) {
    const VfmBindResult *b = g_ptr_array_index (binds, i);
    g_ptr_array_add (r->steps, g_strdup_printf ("%s", b->error ? b->error->message : b->message));
  }
  r->changed = r->error == NULL;
  if (r->error != NULL)
    g_prefix_error (&r->error, "cannot recover the interrupted %s of %s: ", vfm_sriov_op_to_string (it->op), pf_bdf);
  r->seconds = (g_get_monotonic_time () - start) / 1e6;
  return r;
}

GPtrArray *
vfm_sriov_recover (VfmHost *host)
{
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) intents = vfm_journal_list_sriov (vfm_host_sysroot (host), warnings);
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);

  for (guint i = 0; i < intents->len; i++) {
    VfmBindResult *r = recover_one (host, ((VfmSriovIntent *) g_ptr_array_index (intents, i))->pf);
    if (r != NULL)
      g_ptr_array_add (out, r);
  }
  for (guint i = 0; i < warnings->len; i++)
    g_ptr_array_add (out, vfm_bind_result_new_damaged (g_ptr_array_index (warnings, i)));
  return out;
}
