/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-mdev-ops.h"
#include "vfm-binder.h"
#include "vfm-claim-store.h"
#include "vfm-error.h"
#include "vfm-journal.h"
#include "vfm-lock.h"
#include "vfm-vfio.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define LOCK_TIMEOUT_MS 10000

/* The lock of one instance, a name beside the devices' BDFs. */
static VfmLock *
lock_instance (VfmSysroot *sr, const char *uuid, guint timeout_ms, GError **error)
{
  g_autofree char *name = g_strconcat ("mdev-", uuid, NULL);
  return vfm_lock_named (sr, name, timeout_ms, error);
}

static gboolean
name_is_safe (const char *name)
{
  return name != NULL && *name != '\0' && *name != '.' && strchr (name, '/') == NULL && strlen (name) < 128;
}

static char *
join_names (GPtrArray *names)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < names->len; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", (const char *) g_ptr_array_index (names, i));
  return g_string_free (s, FALSE);
}

char *
vfm_mdev_ops_mdevctl_definition (VfmHost *host, const char *uuid)
{
  g_autofree char *dir = vfm_sysroot_mdevctl_dir (vfm_host_sysroot (host));
  g_autoptr (GDir) d = NULL;
  const char *parent;

  if (!vfm_mdev_uuid_is_valid (uuid) || (d = g_dir_open (dir, 0, NULL)) == NULL)
    return NULL;
  while ((parent = g_dir_read_name (d)) != NULL) {
    g_autofree char *path = NULL;
    if (!name_is_safe (parent))
      continue;
    path = g_build_filename (dir, parent, uuid, NULL);
    if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
      return g_steal_pointer (&path);
  }
  return NULL;
}

gboolean
vfm_mdev_ops_created_by_vfmig (VfmHost *host, const char *uuid)
{
  g_autoptr (VfmMdevRecord) r = vfm_mdev_uuid_is_valid (uuid) ? vfm_journal_read_mdev (vfm_host_sysroot (host), uuid, NULL)
                                                              : NULL;
  return r != NULL;
}

JsonNode *
vfm_mdev_ops_to_json (VfmHost *host, const VfmMdev *m)
{
  JsonNode *node = vfm_mdev_to_json (m);
  g_autofree char *def = vfm_mdev_ops_mdevctl_definition (host, m->uuid);
  JsonObject *o = json_node_get_object (node);
  json_object_set_boolean_member (o, "created_by_vfmig", vfm_mdev_ops_created_by_vfmig (host, m->uuid));
  json_object_set_boolean_member (o, "mdevctl_defined", def != NULL);
  return node;
}

/* With the VFIO cdev (iommufd), an mdev has /sys/bus/mdev/devices/UUID/vfio-dev/vfioN. */
static char *
instance_cdev (VfmSysroot *sr, const char *uuid)
{
  g_autofree char *devices = vfm_sysroot_mdev_devices_dir (sr);
  g_autofree char *dir = g_build_filename (devices, uuid, "vfio-dev", NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (name, "vfio") && name_is_safe (name))
      return g_strdup (name);
  return NULL;
}

/* "4242 (qemu-system-x86), 4250 (vfio-test)", or NULL when nothing holds it. */
static char *
instance_holders (VfmSysroot *sr, const VfmMdev *m)
{
  g_autofree char *cdev = instance_cdev (sr, m->uuid);
  g_autoptr (GPtrArray) holders = vfm_vfio_holders (sr, m->uuid, m->iommu_group, cdev);
  return holders->len > 0 ? join_names (holders) : NULL;
}

/* Parent, type and UUID as the kernel would take them, each refusal naming
 * what is wrong and what there is instead. */
static gboolean
check_create (VfmHost *host, const char *parent, const char *type, const char *uuid, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (GPtrArray) parents = NULL, types = NULL, names = NULL;
  g_autofree char *def = NULL, *list = NULL;
  const VfmMdevType *t = NULL;

  if (!name_is_safe (parent)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a parent device name", parent ? parent : "");
    return FALSE;
  }
  if (!name_is_safe (type)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a type name", type ? type : "");
    return FALSE;
  }
  if (!vfm_mdev_uuid_is_valid (uuid)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "\"%s\" is not a UUID (8-4-4-4-12 hexadecimal digits)", uuid ? uuid : "");
    return FALSE;
  }
  parents = vfm_mdev_parents (sr);
  if (!g_ptr_array_find_with_equal_func (parents, parent, g_str_equal, NULL)) {
    list = join_names (parents);
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no parent device %s: %s%s", parent,
                 parents->len ? "this host's parents are " : "this host has no mediated device parent",
                 list);
    return FALSE;
  }
  types = vfm_mdev_types (sr, parent);
  names = g_ptr_array_new ();
  for (guint i = 0; i < types->len; i++) {
    const VfmMdevType *c = g_ptr_array_index (types, i);
    g_ptr_array_add (names, c->name);
    if (g_strcmp0 (c->name, type) == 0)
      t = c;
  }
  if (t == NULL) {
    list = join_names (names);
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "%s has no type %s (its types: %s)", parent, type,
                 names->len ? list : "none");
    return FALSE;
  }
  if (t->available_instances == 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_BUSY, "no capacity left: %s on %s has available_instances 0", type, parent);
    return FALSE;
  }
  if ((def = vfm_mdev_ops_mdevctl_definition (host, uuid)) != NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_REFUSED, "%s is defined by mdevctl (%s): vfmig leaves it to mdevctl "
                 "(mdevctl start --uuid %s)", uuid, def, uuid);
    return FALSE;
  }
  return TRUE;
}

VfmMdev *
vfm_mdev_ops_create (VfmHost *host, const char *parent, const char *type, const char *uuid_in, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autofree char *uuid = uuid_in != NULL ? g_ascii_strdown (uuid_in, -1) : g_uuid_string_random ();
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (VfmMdev) there = NULL;
  g_autoptr (VfmMdevRecord) rec = NULL;
  g_autoptr (GError) kernel = NULL;
  VfmMdev *m;

  if (!check_create (host, parent, type, uuid, error) || (lock = lock_instance (sr, uuid, LOCK_TIMEOUT_MS, error)) == NULL)
    goto refused;
  if ((there = vfm_mdev_get (sr, uuid, NULL)) != NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "%s exists already (a %s on %s)", uuid,
                 there->type ? there->type : "mediated device", there->parent ? there->parent : "?");
    goto refused;
  }
  /* the record first: a crash after the kernel's create leaves it for recover */
  rec = g_new0 (VfmMdevRecord, 1);
  rec->uuid = g_strdup (uuid);
  rec->parent = g_strdup (parent);
  rec->type = g_strdup (type);
  rec->created_at = g_get_real_time () / G_USEC_PER_SEC;
  rec->pid = getpid ();
  if (!vfm_journal_write_mdev (sr, rec, error))
    goto refused;
  if (!vfm_mdev_create (sr, parent, type, uuid, &kernel)) {
    /* nothing half-made stays: an instance that appeared but is not what was
     * asked goes again, and so does the record */
    g_autoptr (VfmMdev) half = vfm_mdev_get (sr, uuid, NULL);
    g_autoptr (GError) undo = NULL;
    if (half != NULL && !vfm_mdev_remove (sr, uuid, &undo)) {
      g_set_error (error, VFM_ERROR, kernel->code, "%s; removing what appeared failed too (%s): left for recovery",
                   kernel->message, undo->message);
      return NULL;
    }
    vfm_journal_remove_mdev (sr, uuid, NULL);
    g_propagate_error (error, g_steal_pointer (&kernel));
    return NULL;
  }
  if ((m = vfm_mdev_get (sr, uuid, error)) == NULL) {
    g_prefix_error (error, "created %s on %s, then: ", type, parent);
    return NULL;
  }
  /* done: from now on it is vfmig's instance, not an interrupted create */
  rec->complete = TRUE;
  if (!vfm_journal_write_mdev (sr, rec, error)) {
    g_prefix_error (error, "created %s %s on %s, but: ", type, uuid, parent);
    vfm_mdev_free (m);
    return NULL;
  }
  return m;

refused:
  g_prefix_error (error, "cannot create a %s on %s: ", type ? type : "mediated device", parent ? parent : "?");
  return NULL;
}

gboolean
vfm_mdev_ops_remove (VfmHost *host, const char *uuid_in, gboolean force, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autofree char *uuid = uuid_in != NULL ? g_ascii_strdown (uuid_in, -1) : NULL;
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (VfmMdev) m = NULL, after = NULL;
  g_autofree char *holders = NULL, *def = NULL;

  if (!vfm_mdev_uuid_is_valid (uuid)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "\"%s\" is not a UUID (8-4-4-4-12 hexadecimal digits)", uuid_in ? uuid_in : "");
    goto fail;
  }
  if ((lock = lock_instance (sr, uuid, LOCK_TIMEOUT_MS, error)) == NULL)
    goto fail;
  if ((m = vfm_mdev_get (sr, uuid, error)) == NULL) {
    /* gone some other way: its record, if any, goes too */
    vfm_journal_remove_mdev (sr, uuid, NULL);
    goto fail;
  }
  if ((holders = instance_holders (sr, m)) != NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_BUSY, "it is in use by %s (its /dev/vfio/%d is open)", holders,
                 m->iommu_group);
    goto fail;
  }
  if ((def = vfm_mdev_ops_mdevctl_definition (host, uuid)) != NULL && !force) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_REFUSED,
                 "mdevctl defines it (%s): left to mdevctl (mdevctl stop --uuid %s), or --force", def, uuid);
    goto fail;
  }
  if (!vfm_mdev_remove (sr, uuid, error))
    return FALSE; /* its message names the instance */
  if ((after = vfm_mdev_get (sr, uuid, NULL)) != NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "the kernel accepted the remove, but the instance is still there");
    goto fail;
  }
  vfm_journal_remove_mdev (sr, uuid, NULL); /* if it stays, recover drops it: the instance is gone */
  return TRUE;

fail:
  g_prefix_error (error, "cannot remove mediated device %s: ", uuid ? uuid : "");
  return FALSE;
}

static gboolean
process_alive (gint pid)
{
  return pid > 0 && (kill (pid, 0) == 0 || errno == EPERM);
}

static VfmBindResult *
recover_one (VfmHost *host, const char *uuid, GHashTable *claimed)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmLock) lock = lock_instance (sr, uuid, 0, NULL);
  g_autoptr (VfmMdevRecord) rec = lock ? vfm_journal_read_mdev (sr, uuid, NULL) : NULL;
  g_autoptr (VfmMdev) m = NULL;
  g_autofree char *holders = NULL, *def = NULL;
  gint64 start = g_get_monotonic_time ();
  VfmBindResult *r;

  /* an operation under way holds the lock; a creator that still runs (the
   * daemon, a migration) is not a crash: its instance is its business */
  if (rec == NULL || process_alive (rec->pid))
    return NULL;
  m = vfm_mdev_get (sr, uuid, NULL);
  /* a create that finished made an instance the operator asked for: only
   * its record goes, once the instance is gone */
  if (rec->complete && m != NULL)
    return NULL;
  r = vfm_bind_result_new (uuid, "recover");
  if (m == NULL) {
    if (vfm_journal_remove_mdev (sr, uuid, &r->error)) {
      r->message = g_strdup_printf ("%s: the %s on %s vfmig created is gone; its record dropped", uuid, rec->type,
                                    rec->parent);
      r->changed = TRUE;
    }
  } else if (g_strcmp0 (m->type, rec->type) != 0 || g_strcmp0 (m->parent, rec->parent) != 0) {
    vfm_journal_remove_mdev (sr, uuid, NULL);
    r->message = g_strdup_printf ("%s is a %s on %s, not the %s on %s vfmig created: left alone, record dropped", uuid,
                                  m->type ? m->type : "?", m->parent ? m->parent : "?", rec->type, rec->parent);
  } else if ((holders = instance_holders (sr, m)) != NULL) {
    r->message = g_strdup_printf ("%s, the %s on %s vfmig created, is in use by %s: kept", uuid, rec->type,
                                  rec->parent, holders);
  } else if (claimed != NULL && g_hash_table_contains (claimed, uuid)) {
    r->message = g_strdup_printf ("%s, the %s on %s vfmig created, is held by a migration's claim: kept", uuid,
                                  rec->type, rec->parent);
  } else if ((def = vfm_mdev_ops_mdevctl_definition (host, uuid)) != NULL) {
    vfm_journal_remove_mdev (sr, uuid, NULL);
    r->message = g_strdup_printf ("%s (%s on %s) is defined by mdevctl now (%s): left to it, record dropped", uuid,
                                  rec->type, rec->parent, def);
  } else {
    g_ptr_array_add (r->steps, g_strdup_printf ("write \"1\" to /sys/bus/mdev/devices/%s/remove", uuid));
    if (vfm_mdev_remove (sr, uuid, &r->error) && vfm_journal_remove_mdev (sr, uuid, &r->error)) {
      r->message = g_strdup_printf ("%s: the %s on %s vfmig created (pid %d) and nothing uses: removed", uuid, rec->type,
                                    rec->parent, rec->pid);
      r->changed = TRUE;
    }
  }
  if (r->error != NULL)
    g_prefix_error (&r->error, "cannot recover mediated device %s: ", uuid);
  r->seconds = (g_get_monotonic_time () - start) / 1e6;
  return r;
}

GPtrArray *
vfm_mdev_ops_recover (VfmHost *host)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) records = vfm_journal_list_mdevs (sr, warnings);
  g_autoptr (GHashTable) claimed = NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);

  if (records->len > 0)
    claimed = vfm_claim_store_taken (sr);
  for (guint i = 0; i < records->len; i++) {
    VfmBindResult *r = recover_one (host, ((VfmMdevRecord *) g_ptr_array_index (records, i))->uuid, claimed);
    if (r != NULL)
      g_ptr_array_add (out, r);
  }
  for (guint i = 0; i < warnings->len; i++)
    g_ptr_array_add (out, vfm_bind_result_new_damaged (g_ptr_array_index (warnings, i)));
  return out;
}
