/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-claims.h"
#include "vfm-batch.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-ids.h"
#include "vfm-journal.h"
#include "vfm-lock.h"
#include "vfm-mdev-ops.h"
#include "vfm-vfio.h"

#include <string.h>


void
vfm_claim_want_free (VfmClaimWant *w)
{
  if (w == NULL)
    return;
  g_free (w->source_bdf);
  g_free (w->driver);
  g_free (w->source_uuid);
  g_free (w->mdev_type);
  g_free (w->mdev_parent);
  g_free (w);
}

VfmClaimWant *
vfm_claim_want_for_device (const VfmDeviceProfile *d)
{
  VfmClaimWant *w = g_new0 (VfmClaimWant, 1);
  w->source_bdf = g_strdup (d->bdf);
  w->vendor = d->vendor;
  w->device = d->device;
  w->subsystem_vendor = d->subsystem_vendor;
  w->subsystem_device = d->subsystem_device;
  w->class_code = d->class_code;
  w->driver = g_strdup (d->vfio_bound ? d->driver : d->selected_driver);
  return w;
}

VfmClaimWant *
vfm_claim_want_for_mdev (const char *source_uuid, const char *type, const char *parent)
{
  VfmClaimWant *w = g_new0 (VfmClaimWant, 1);
  w->source_uuid = g_strdup (source_uuid);
  w->mdev_type = g_strdup (type);
  w->mdev_parent = g_strdup (parent);
  return w;
}

static char *
dup_member (JsonObject *o, const char *k)
{
  JsonNode *n = json_object_get_member (o, k);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (n));
}

JsonNode *
vfm_claim_wants_to_json (GPtrArray *wants)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_array (b);
  for (guint i = 0; i < wants->len; i++) {
    const VfmClaimWant *w = g_ptr_array_index (wants, i);
    char buf[16];
    json_builder_begin_object (b);
    if (w->mdev_type != NULL) {
      vfm_json_add_str (b, "source_uuid", w->source_uuid);
      vfm_json_add_str (b, "mdev_type", w->mdev_type);
      vfm_json_add_str (b, "mdev_parent", w->mdev_parent);
      json_builder_end_object (b);
      continue;
    }
    vfm_json_add_str (b, "source_bdf", w->source_bdf);
#define HEX(key, val, width) g_snprintf (buf, sizeof buf, "%0*x", width, val); vfm_json_add_str (b, key, buf);
    HEX ("vendor", w->vendor, 4);
    HEX ("device", w->device, 4);
    HEX ("subsystem_vendor", w->subsystem_vendor, 4);
    HEX ("subsystem_device", w->subsystem_device, 4);
    HEX ("class", w->class_code, 6);
#undef HEX
    vfm_json_add_str (b, "driver", w->driver);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  return json_builder_get_root (b);
}

static gboolean
hex_member (JsonObject *o, const char *k, guint max, guint *out)
{
  const char *s = vfm_json_get_str_or (o, k, NULL);
  char *end = NULL;
  guint64 v;
  if (s == NULL || *s == '\0')
    return FALSE;
  v = g_ascii_strtoull (s, &end, 16);
  if (end == NULL || *end != '\0' || v > max)
    return FALSE;
  *out = (guint) v;
  return TRUE;
}

GPtrArray *
vfm_claim_wants_from_json (JsonNode *node, GError **error)
{
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_want_free);
  JsonArray *a;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "the devices wanted must be a JSON array");
    return NULL;
  }
  a = json_node_get_array (node);
  if (json_array_get_length (a) > 256) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "at most 256 devices per claim");
    return NULL;
  }
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonNode *n = json_array_get_element (a, i);
    JsonObject *o;
    VfmClaimWant *w;
    guint v, d, sv, sd, cls;
    if (!JSON_NODE_HOLDS_OBJECT (n)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "wanted device %u is not an object", i);
      return NULL;
    }
    o = json_node_get_object (n);
    if (vfm_json_get_str_or (o, "mdev_type", NULL) != NULL) {
      w = g_new0 (VfmClaimWant, 1);
      g_ptr_array_add (out, w);
      w->mdev_type = dup_member (o, "mdev_type");
      w->mdev_parent = dup_member (o, "mdev_parent");
      w->source_uuid = dup_member (o, "source_uuid");
      if (strchr (w->mdev_type, '/') || !*w->mdev_type || (w->mdev_parent && strchr (w->mdev_parent, '/')) ||
          (w->source_uuid && !g_uuid_string_is_valid (w->source_uuid))) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "wanted device %u: bad mdev_type, mdev_parent or source_uuid", i);
        return NULL;
      }
      continue;
    }
    if (!hex_member (o, "vendor", 0xffff, &v) || !hex_member (o, "device", 0xffff, &d) ||
        !hex_member (o, "subsystem_vendor", 0xffff, &sv) || !hex_member (o, "subsystem_device", 0xffff, &sd) ||
        !hex_member (o, "class", 0xffffff, &cls)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "wanted device %u: ids must be hex strings", i);
      return NULL;
    }
    w = g_new0 (VfmClaimWant, 1);
    g_ptr_array_add (out, w);
    w->vendor = v;
    w->device = d;
    w->subsystem_vendor = sv;
    w->subsystem_device = sd;
    w->class_code = cls;
    w->source_bdf = dup_member (o, "source_bdf");
    w->driver = dup_member (o, "driver");
    if ((w->source_bdf && !vfm_bdf_is_valid (w->source_bdf)) ||
        (w->driver && (strchr (w->driver, '/') || !*w->driver))) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "wanted device %u: bad source_bdf or driver", i);
      return NULL;
    }
  }
  return g_steal_pointer (&out);
}

/* A free instance the claim took but did not create is handed back as it
 * was found: an incoming QEMU that died while RESUMING leaves it so with a
 * driver that keeps the state across close (mtty); vfm_vfio_mdev_ready
 * resets it. */
static void
return_taken (VfmHost *host, const VfmClaim *c, const VfmClaimDevice *d, GPtrArray *results)
{
  g_autoptr (VfmMdev) m = vfm_mdev_get (vfm_host_sysroot (host), d->uuid, NULL);
  g_autofree char *note = NULL;
  g_autoptr (GError) e = NULL;
  VfmBindResult *r;

  if (m == NULL || !vfm_vfio_mdev_ready (host, m, &note, &e)) {
    g_debug ("claim %s: mediated device %s not checked: %s", c->id, d->uuid, e ? e->message : "gone");
    return;
  }
  if (note == NULL)
    return;
  r = vfm_bind_result_new (d->uuid, "mdev-reset");
  r->changed = TRUE;
  r->message = g_strdup_printf ("mediated device %s: %s", d->uuid, note);
  if (results != NULL)
    g_ptr_array_add (results, r);
  else
    vfm_bind_result_free (r);
}

/* A mediated device the claim created goes, unless a process holds it (a
 * guest started with it after all: then it is that guest's); one it took
 * free is returned as it was found. */
static void
remove_created (VfmHost *host, const VfmClaim *c, const VfmClaimDevice *d, GPtrArray *results)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmMdev) m = NULL;
  g_autoptr (GPtrArray) holders = NULL;
  VfmBindResult *r;

  if (!d->created) {
    return_taken (host, c, d, results);
    return;
  }
  if ((m = vfm_mdev_get (sr, d->uuid, NULL)) == NULL)
    return;
  r = vfm_bind_result_new (d->uuid, "mdev-remove");
  holders = vfm_vfio_holders (sr, d->uuid, m->iommu_group, NULL);
  if (holders->len > 0) {
    r->message = g_strdup_printf ("kept mediated device %s: in use by %s", d->uuid,
                                  (const char *) g_ptr_array_index (holders, 0));
  } else if (vfm_mdev_ops_remove (host, d->uuid, FALSE, &r->error)) {
    r->changed = TRUE;
    r->message = g_strdup_printf ("removed mediated device %s (%s on %s), which claim %s created", d->uuid,
                                  d->mdev_type, d->mdev_parent, c->id);
  } else {
    g_debug ("claim %s: %s", c->id, r->error->message);
  }
  if (results != NULL)
    g_ptr_array_add (results, r);
  else
    vfm_bind_result_free (r);
}

/* The devices a claim's prepare bound go back to their original drivers
 * (ones already on their driver before it are left alone); mediated devices
 * it created are removed. */
static void
return_bound (VfmHost *host, const VfmClaim *c, GPtrArray *results)
{
  for (guint i = 0; i < c->devices->len; i++) {
    const VfmClaimDevice *d = g_ptr_array_index (c->devices, i);
    g_autoptr (VfmOwned) owned = NULL;
    VfmBindResult *r;
    if (d->uuid != NULL) {
      remove_created (host, c, d, results);
      continue;
    }
    if (!d->bound || (owned = vfm_journal_read_owned (vfm_host_sysroot (host), d->bdf, NULL)) == NULL)
      continue;
    r = vfm_binder_unbind (host, d->bdf, 0);
    if (r->error != NULL) /* it keeps its owned record: restore returns it later */
      g_debug ("claim %s: cannot return %s: %s", c->id, d->bdf, r->error->message);
    if (results != NULL)
      g_ptr_array_add (results, r);
    else
      vfm_bind_result_free (r);
  }
}

/* The first process holding one of the claim's devices - the one with PID
 * pid when pid is not 0 - as "DEVICE: PID (COMM)", read from /proc (never by
 * opening the device), or NULL. */
static char *
claim_holder (VfmHost *host, const VfmClaim *c, gint64 pid)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  for (guint i = 0; i < c->devices->len; i++) {
    const VfmClaimDevice *d = g_ptr_array_index (c->devices, i);
    g_autoptr (GPtrArray) holders = NULL;
    if (d->uuid != NULL) {
      g_autoptr (VfmMdev) m = vfm_mdev_get (sr, d->uuid, NULL);
      if (m != NULL)
        holders = vfm_vfio_holders (sr, d->uuid, m->iommu_group, NULL);
    } else if (d->bdf != NULL) {
      VfmPciDevice *dev = vfm_host_device (host, d->bdf, NULL);
      if (dev != NULL)
        holders = vfm_vfio_holders (sr, d->bdf, vfm_pci_device_iommu_group (dev), NULL);
    }
    for (guint j = 0; holders != NULL && j < holders->len; j++) {
      const char *h = g_ptr_array_index (holders, j);
      if (pid == 0 || g_ascii_strtoll (h, NULL, 10) == pid)
        return g_strdup_printf ("%s: %s", d->uuid ? d->uuid : d->bdf, h);
    }
  }
  return NULL;
}

/* Which PID namespace this process sees /proc from: a holder in another one
 * is invisible here (the labs run two libvirtd on one machine that way). */
static char *
pid_namespace (VfmSysroot *sr)
{
  g_autofree char *link = NULL;
  if (!vfm_sysroot_is_real (sr))
    return g_strdup ("synthetic");
  link = vfm_sysroot_proc_file (sr, "self/ns/pid");
  return g_file_read_link (link, NULL);
}

/* A lease that ran out (its migration died, or never came) ends like a
 * release with restore: what its prepare bound is returned, under the claims
 * lock so that no new claim takes a device on its way back. A claim the
 * domain adopted ends when no process holds any of its devices any more -
 * the domain stopped or left (DESIGN.md, Decisions 12) - seen from the PID
 * namespace it was adopted in; its devices stay where they are, free for
 * the next guest. */
static gboolean
expire_claims (VfmHost *host, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmLock) lock = vfm_lock_named (sr, "claims", VFM_CLAIMS_LOCK_MS, error);
  g_autoptr (GPtrArray) expired = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_free);
  g_autoptr (GPtrArray) claims = NULL;
  g_autofree char *ns = NULL;
  guint ended = 0;

  if (lock == NULL || (claims = vfm_claim_store_load (sr, expired, error)) == NULL)
    return FALSE;
  for (guint i = claims->len; i-- > 0;) {
    const VfmClaim *c = g_ptr_array_index (claims, i);
    g_autofree char *holder = NULL;
    if (c->expires_at != 0 || c->pid_ns == NULL)
      continue;
    if (ns == NULL)
      ns = pid_namespace (sr);
    /* its own QEMU still holds one: the domain runs (another process with
     * the device after it would be another guest) */
    if (g_strcmp0 (ns, c->pid_ns) != 0 || (holder = claim_holder (host, c, c->held_pid)) != NULL)
      continue;
    g_message ("claim %s of %s ended: nothing holds its devices any more (the domain stopped or left)", c->id,
               c->domain_name ? c->domain_name : c->domain_uuid ? c->domain_uuid : "?");
    g_ptr_array_remove_index (claims, i);
    ended++;
  }
  if (expired->len == 0)
    return ended == 0 || vfm_claim_store_save (sr, claims, error);
  g_ptr_array_unref (vfm_batch_recover (host)); /* a bind its prepare left half-way */
  for (guint i = 0; i < expired->len; i++) {
    const VfmClaim *c = g_ptr_array_index (expired, i);
    g_debug ("claim %s for %s expired: returning what its prepare bound", c->id,
               c->domain_name ? c->domain_name : "?");
    return_bound (host, c, NULL);
  }
  return vfm_claim_store_save (sr, claims, error);
}

/* A mediated device for w: a free instance of its type (on a parent of the
 * source's name first), else one to create on a parent with room (planned
 * counts the creations this claim already plans per parent and type). The
 * instance with the source's own UUID comes last: where both hosts share a
 * machine (a lab, a local peer) it is the source's device, and a process in
 * another PID namespace holding it is invisible here. */
static const VfmMdevProfile *
free_instance (const VfmHostProfile *here, const VfmClaimWant *w, GHashTable *taken, gboolean allow_source_uuid)
{
  const VfmMdevProfile *best = NULL;
  for (guint j = 0; j < here->mdevs->len; j++) {
    const VfmMdevProfile *m = g_ptr_array_index (here->mdevs, j);
    if (g_strcmp0 (m->type, w->mdev_type) != 0 || m->in_use || m->claimed || g_hash_table_contains (taken, m->uuid))
      continue;
    if (!allow_source_uuid && g_strcmp0 (m->uuid, w->source_uuid) == 0)
      continue;
    if (best == NULL || (g_strcmp0 (m->parent, w->mdev_parent) == 0 && g_strcmp0 (best->parent, w->mdev_parent) != 0))
      best = m;
  }
  return best;
}

/* A free instance that can take an incoming migration (vfm_vfio_mdev_ready:
 * one a dead QEMU left mid-migration is reset first, or passed over). */
static const VfmMdevProfile *
ready_instance (VfmHost *host, const VfmHostProfile *here, const VfmClaimWant *w, GHashTable *taken,
                gboolean allow_source_uuid)
{
  const VfmMdevProfile *m;
  while ((m = free_instance (here, w, taken, allow_source_uuid)) != NULL) {
    g_autoptr (VfmMdev) dev = vfm_mdev_get (vfm_host_sysroot (host), m->uuid, NULL);
    g_autofree char *note = NULL;
    g_autoptr (GError) e = NULL;
    if (dev != NULL && vfm_vfio_mdev_ready (host, dev, &note, &e)) {
      if (note != NULL)
        g_message ("mediated device %s: %s", m->uuid, note);
      return m;
    }
    g_message ("mediated device %s passed over: %s", m->uuid, e ? e->message : "gone");
    g_hash_table_add (taken, m->uuid);
  }
  return NULL;
}

static VfmClaimDevice *
claim_mdev (VfmHost *host, const VfmHostProfile *here, const VfmClaimWant *w, GHashTable *taken, GHashTable *planned,
            GError **error)
{
  const VfmMdevProfile *best = ready_instance (host, here, w, taken, FALSE);
  const VfmMdevTypeProfile *room = NULL;
  VfmClaimDevice *cd = g_new0 (VfmClaimDevice, 1);

  cd->source_uuid = g_strdup (w->source_uuid);
  cd->mdev_type = g_strdup (w->mdev_type);
  if (best == NULL) {
    for (guint j = 0; j < here->mdev_types->len; j++) {
      const VfmMdevTypeProfile *t = g_ptr_array_index (here->mdev_types, j);
      g_autofree char *key = g_strdup_printf ("%s/%s", t->parent, t->name);
      gint left = t->available_instances - GPOINTER_TO_INT (g_hash_table_lookup (planned, key));
      if (g_strcmp0 (t->name, w->mdev_type) != 0 || left <= 0)
        continue;
      if (room == NULL || (g_strcmp0 (t->parent, w->mdev_parent) == 0 && g_strcmp0 (room->parent, w->mdev_parent) != 0))
        room = t;
    }
  }
  if (best == NULL && room == NULL)
    best = ready_instance (host, here, w, taken, TRUE);
  if (best != NULL) {
    g_hash_table_add (taken, best->uuid);
    cd->uuid = g_strdup (best->uuid);
    cd->mdev_parent = g_strdup (best->parent);
    return cd;
  }
  if (room == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_BUSY,
                 "no free mediated device of type %s for %s, and no parent here can create one "
                 "(available_instances 0, or no parent offers the type)",
                 w->mdev_type, w->source_uuid ? w->source_uuid : "the domain");
    vfm_claim_device_free (cd);
    return NULL;
  }
  {
    char *key = g_strdup_printf ("%s/%s", room->parent, room->name);
    g_hash_table_insert (planned, key, GINT_TO_POINTER (GPOINTER_TO_INT (g_hash_table_lookup (planned, key)) + 1));
  }
  cd->uuid = g_uuid_string_random ();
  cd->mdev_parent = g_strdup (room->parent);
  cd->created = TRUE;
  return cd;
}

/* The instances the claim plans to create, made now (its record is saved:
 * what a crash leaves, the lease's end removes). */
static gboolean
create_planned (VfmHost *host, const VfmClaim *c, GError **error)
{
  for (guint i = 0; i < c->devices->len; i++) {
    const VfmClaimDevice *d = g_ptr_array_index (c->devices, i);
    if (d->uuid == NULL || !d->created)
      continue;
    g_autoptr (VfmMdev) m = vfm_mdev_ops_create (host, d->mdev_parent, d->mdev_type, d->uuid, error);
    if (m == NULL) {
      g_prefix_error (error, "claim %s: ", c->id);
      return FALSE;
    }
  }
  return TRUE;
}

VfmClaim *
vfm_claims_claim (VfmHost *host, const char *domain_uuid, const char *domain_name, GPtrArray *wants, guint ttl_s,
                  GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (GPtrArray) claims = NULL;
  g_autoptr (VfmHostProfile) here = NULL;
  g_autoptr (GHashTable) taken = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) planned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (VfmClaim) c = vfm_claim_new ();
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  if (!expire_claims (host, error) || (lock = vfm_lock_named (sr, "claims", VFM_CLAIMS_LOCK_MS, error)) == NULL ||
      (claims = vfm_claim_store_load (sr, NULL, error)) == NULL || (here = vfm_host_profile_build (host, error)) == NULL)
    return NULL;
  for (guint i = 0; i < claims->len; i++) {
    const VfmClaim *o = g_ptr_array_index (claims, i);
    for (guint j = 0; j < o->devices->len; j++) {
      VfmClaimDevice *d = g_ptr_array_index (o->devices, j);
      g_hash_table_add (taken, d->uuid ? d->uuid : d->bdf);
    }
  }
  c->id = g_uuid_string_random ();
  c->domain_uuid = g_strdup (domain_uuid);
  c->domain_name = g_strdup (domain_name);
  c->state = g_strdup ("claimed");
  c->created_at = now;
  c->expires_at = now + (ttl_s ? ttl_s : 300);

  for (guint i = 0; i < wants->len; i++) {
    const VfmClaimWant *w = g_ptr_array_index (wants, i);
    const VfmDeviceProfile *best = NULL;
    int best_score = -1;
    if (w->mdev_type != NULL) {
      VfmClaimDevice *cd = claim_mdev (host, here, w, taken, planned, error);
      if (cd == NULL)
        return NULL;
      g_ptr_array_add (c->devices, cd);
      continue;
    }
    for (guint j = 0; j < here->devices->len; j++) {
      const VfmDeviceProfile *d = g_ptr_array_index (here->devices, j);
      int score = 0;
      if (d->vendor != w->vendor || d->device != w->device || d->subsystem_vendor != w->subsystem_vendor ||
          d->subsystem_device != w->subsystem_device || d->class_code != w->class_code)
        continue;
      /* in use by a VM, held by another claim, or on a host driver: not free */
      if (d->in_use || g_hash_table_contains (taken, d->bdf) || (d->driver != NULL && !d->vfio_bound))
        continue;
      score += g_strcmp0 (d->driver, w->driver) == 0 ? 2 : 0;
      score += g_strcmp0 (d->bdf, w->source_bdf) == 0 ? 1 : 0;
      if (score > best_score) {
        best = d;
        best_score = score;
      }
    }
    if (best == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_BUSY,
                   "no free device %04x:%04x (subsystem %04x:%04x) for %s: all are in use or claimed", w->vendor,
                   w->device, w->subsystem_vendor, w->subsystem_device, w->source_bdf ? w->source_bdf : "the domain");
      return NULL;
    }
    g_hash_table_add (taken, best->bdf);
    VfmClaimDevice *cd = g_new0 (VfmClaimDevice, 1);
    cd->source_bdf = g_strdup (w->source_bdf);
    cd->bdf = g_strdup (best->bdf);
    cd->driver = g_strdup (w->driver ? w->driver : best->selected_driver);
    g_ptr_array_add (c->devices, cd);
  }
  /* the record first: a crash after it leaves a claim whose release or
   * expiry removes what it created */
  g_ptr_array_add (claims, vfm_claim_copy (c));
  if (!vfm_claim_store_save (sr, claims, error))
    return NULL;
  if (!create_planned (host, c, error)) {
    return_bound (host, c, NULL);
    g_ptr_array_remove_index (claims, claims->len - 1);
    vfm_claim_store_save (sr, claims, NULL);
    return NULL;
  }
  return g_steal_pointer (&c);
}

static gboolean
set_ttl (VfmClaim *c, gpointer data, GError **error)
{
  guint ttl = GPOINTER_TO_UINT (data);
  if (c->expires_at != 0)
    c->expires_at = g_get_real_time () / G_USEC_PER_SEC + (ttl ? ttl : 300);
  return TRUE;
}

gboolean
vfm_claims_renew (VfmHost *host, const char *id, guint ttl_s, GError **error)
{
  return vfm_claim_store_edit (vfm_host_sysroot (host), id, set_ttl, GUINT_TO_POINTER (ttl_s), FALSE, error);
}

typedef struct {
  char *held_by, *pid_ns;
  gint64 pid;
} Adoption;

static gboolean
set_running (VfmClaim *c, gpointer data, GError **error)
{
  Adoption *a = data;
  c->expires_at = 0;
  g_free (c->state);
  c->state = g_strdup ("running");
  g_free (c->held_by);
  c->held_by = g_strdup (a->held_by);
  g_free (c->pid_ns);
  c->pid_ns = g_strdup (a->pid_ns);
  c->held_pid = a->pid;
  return TRUE;
}

gboolean
vfm_claims_adopt (VfmHost *host, const char *id, gboolean *adopted, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmClaim) c = NULL;
  Adoption a = { 0 };
  gboolean ok;

  if (adopted != NULL)
    *adopted = FALSE;
  if (!expire_claims (host, error) || (c = vfm_claim_store_get (sr, id, error)) == NULL)
    return FALSE;
  if ((a.held_by = claim_holder (host, c, 0)) == NULL) /* not in use yet: the lease goes on, renewed */
    return vfm_claims_renew (host, id, 0, error);
  a.pid_ns = pid_namespace (sr);
  {
    const char *who = strstr (a.held_by, ": ");
    a.pid = who ? g_ascii_strtoll (who + 2, NULL, 10) : 0;
  }
  ok = vfm_claim_store_edit (sr, id, set_running, &a, FALSE, error);
  if (ok && adopted != NULL)
    *adopted = TRUE;
  g_free (a.held_by);
  g_free (a.pid_ns);
  return ok;
}

GPtrArray *
vfm_claims_list (VfmHost *host, GError **error)
{
  if (!expire_claims (host, error))
    return NULL;
  return vfm_claim_store_load (vfm_host_sysroot (host), NULL, error);
}

/* data: the BDFs this prepare bound (marked already unless a device changed
 * driver meanwhile) */
static gboolean
set_prepared (VfmClaim *c, gpointer data, GError **error)
{
  GHashTable *bound = data;
  if (c->expires_at != 0) {
    g_free (c->state);
    c->state = g_strdup ("prepared");
  }
  for (guint i = 0; i < c->devices->len; i++) {
    VfmClaimDevice *d = g_ptr_array_index (c->devices, i);
    if (d->bdf != NULL) /* a mediated device has no BDF: nothing to bind */
      d->bound |= g_hash_table_contains (bound, d->bdf);
  }
  return TRUE;
}

/* data: the BDFs prepare is about to bind */
static gboolean
mark_binding (VfmClaim *c, gpointer data, GError **error)
{
  GHashTable *to_bind = data;
  for (guint i = 0; i < c->devices->len; i++) {
    VfmClaimDevice *d = g_ptr_array_index (c->devices, i);
    if (d->bdf != NULL) /* a mediated device has no BDF: nothing to bind */
      d->bound |= g_hash_table_contains (to_bind, d->bdf);
  }
  return TRUE;
}

/* A claimed mediated device is there, of its type, on a VFIO driver. */
static gboolean
mdev_ready (VfmHost *host, const VfmClaimDevice *d, GError **error)
{
  g_autoptr (VfmMdev) m = vfm_mdev_get (vfm_host_sysroot (host), d->uuid, error);
  if (m == NULL)
    return FALSE;
  if (g_strcmp0 (m->type, d->mdev_type) != 0 || m->driver == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "mediated device %s is %s on %s, wanted %s on a driver", d->uuid,
                 m->type ? m->type : "of no type", m->driver ? m->driver : "no driver", d->mdev_type);
    return FALSE;
  }
  return TRUE;
}

/* Binds each claimed device to its driver (the binder verifies and rolls
 * back); the claim's state says it was done. The devices it will bind are
 * marked first: whatever stops prepare half-way (a failure, a kill), the
 * release or the lease's end returns those it did bind. */
GPtrArray *
vfm_claims_prepare (VfmHost *host, const char *id, GError **error)
{
  g_autoptr (VfmClaim) c = vfm_claim_store_get (vfm_host_sysroot (host), id, error);
  g_autoptr (GPtrArray) results = NULL;
  g_autoptr (GHashTable) to_bind = g_hash_table_new (g_str_hash, g_str_equal);
  guint failed = 0;

  if (c == NULL)
    return NULL;
  g_ptr_array_unref (vfm_batch_recover (host)); /* an earlier prepare killed half-way */
  for (guint i = 0; i < c->devices->len; i++) {
    const VfmClaimDevice *d = g_ptr_array_index (c->devices, i);
    VfmPciDevice *dev;
    if (d->uuid != NULL)
      continue; /* a mediated device is VFIO's from its creation (vfio_mdev) */
    dev = vfm_host_device (host, d->bdf, NULL);
    if (dev != NULL)
      vfm_pci_device_reload (dev);
    if (dev == NULL || g_strcmp0 (vfm_pci_device_driver (dev), d->driver) != 0)
      g_hash_table_add (to_bind, d->bdf);
  }
  if (g_hash_table_size (to_bind) > 0 && !vfm_claim_store_edit (vfm_host_sysroot (host), id, mark_binding, to_bind, FALSE, error))
    return NULL;
  results = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);
  for (guint i = 0; i < c->devices->len; i++) {
    const VfmClaimDevice *d = g_ptr_array_index (c->devices, i);
    VfmBindResult *r;
    if (d->uuid != NULL) {
      if (!mdev_ready (host, d, error)) {
        g_prefix_error (error, "cannot prepare claim %s: ", id);
        return NULL;
      }
      continue;
    }
    r = vfm_binder_bind (host, d->bdf, d->driver, 0);
    failed += r->error != NULL;
    g_ptr_array_add (results, r);
  }
  if (failed > 0) {
    const VfmBindResult *first = NULL;
    for (guint i = 0; i < results->len && first == NULL; i++)
      if (((VfmBindResult *) g_ptr_array_index (results, i))->error)
        first = g_ptr_array_index (results, i);
    g_set_error (error, VFM_ERROR, VFM_ERROR_BIND, "cannot prepare claim %s: %s", id, first->error->message);
    return NULL;
  }
  {
    g_autoptr (GHashTable) bound = g_hash_table_new (g_str_hash, g_str_equal);
    for (guint i = 0; i < results->len; i++) {
      const VfmBindResult *r = g_ptr_array_index (results, i);
      if (r->changed)
        g_hash_table_add (bound, r->bdf);
    }
    if (!vfm_claim_store_edit (vfm_host_sysroot (host), id, set_prepared, bound, FALSE, error))
      return NULL;
  }
  return g_steal_pointer (&results);
}

/* Ends a claim. With restore, the devices its prepare bound go back to their
 * original drivers (ones already on their driver before are left alone);
 * without, they stay on VFIO, free for the next one. */
gboolean
vfm_claims_release (VfmHost *host, const char *id, gboolean restore, GPtrArray *results, GError **error)
{
  g_autoptr (VfmClaim) c = vfm_claim_store_get (vfm_host_sysroot (host), id, error);
  if (c == NULL)
    return FALSE;
  if (restore) {
    /* a prepare killed half-way left a bind to finish or roll back first */
    g_autoptr (GPtrArray) recovered = vfm_batch_recover (host);
    for (guint i = 0; results != NULL && i < recovered->len; i++)
      g_ptr_array_add (results, g_steal_pointer (&g_ptr_array_index (recovered, i)));
    return_bound (host, c, results);
  }
  return vfm_claim_store_edit (vfm_host_sysroot (host), id, NULL, NULL, TRUE, error);
}
