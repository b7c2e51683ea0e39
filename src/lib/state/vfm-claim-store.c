/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-claim-store.h"
#include "vfm-error.h"
#include "vfm-ids.h"
#include "vfm-json.h"
#include "vfm-lock.h"

#include <string.h>

#define CLAIMS_MAX_BYTES (16 * 1024 * 1024)

void
vfm_claim_device_free (VfmClaimDevice *d)
{
  g_free (d->source_bdf);
  g_free (d->bdf);
  g_free (d->driver);
  g_free (d->source_uuid);
  g_free (d->uuid);
  g_free (d->mdev_parent);
  g_free (d->mdev_type);
  g_free (d);
}

void
vfm_claim_free (VfmClaim *c)
{
  if (c == NULL)
    return;
  g_free (c->id);
  g_free (c->domain_uuid);
  g_free (c->domain_name);
  g_free (c->state);
  g_free (c->held_by);
  g_free (c->pid_ns);
  g_ptr_array_unref (c->devices);
  g_free (c);
}

VfmClaim *
vfm_claim_new (void)
{
  VfmClaim *c = g_new0 (VfmClaim, 1);
  c->devices = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_device_free);
  return c;
}

JsonNode *
vfm_claim_to_json (const VfmClaim *c)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "id", c->id);
  vfm_json_add_str (b, "domain_uuid", c->domain_uuid);
  vfm_json_add_str (b, "domain_name", c->domain_name);
  vfm_json_add_str (b, "state", c->state);
  vfm_json_add_int (b, "created_at", c->created_at);
  vfm_json_add_int (b, "expires_at", c->expires_at);
  vfm_json_add_str (b, "held_by", c->held_by);
  vfm_json_add_str (b, "pid_ns", c->pid_ns);
  vfm_json_add_int (b, "held_pid", c->held_pid);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  for (guint i = 0; i < c->devices->len; i++) {
    const VfmClaimDevice *d = g_ptr_array_index (c->devices, i);
    json_builder_begin_object (b);
    vfm_json_add_str (b, "source_bdf", d->source_bdf);
    vfm_json_add_str (b, "bdf", d->bdf);
    vfm_json_add_str (b, "driver", d->driver);
    vfm_json_add_bool (b, "bound", d->bound);
    if (d->uuid != NULL) {
      vfm_json_add_str (b, "source_uuid", d->source_uuid);
      vfm_json_add_str (b, "uuid", d->uuid);
      vfm_json_add_str (b, "mdev_parent", d->mdev_parent);
      vfm_json_add_str (b, "mdev_type", d->mdev_type);
      vfm_json_add_bool (b, "created", d->created);
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static char *
dup_member (JsonObject *o, const char *k)
{
  JsonNode *n = json_object_get_member (o, k);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (n));
}

VfmClaim *
vfm_claim_from_json (JsonNode *node, GError **error)
{
  g_autoptr (VfmClaim) c = vfm_claim_new ();
  JsonObject *o;
  JsonArray *devs;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "a claim must be a JSON object");
    return NULL;
  }
  o = json_node_get_object (node);
  c->id = dup_member (o, "id");
  c->domain_uuid = dup_member (o, "domain_uuid");
  c->domain_name = dup_member (o, "domain_name");
  c->state = dup_member (o, "state");
  c->created_at = vfm_json_get_int_or (o, "created_at", 0);
  c->expires_at = vfm_json_get_int_or (o, "expires_at", 0);
  c->held_by = dup_member (o, "held_by");
  c->pid_ns = dup_member (o, "pid_ns");
  c->held_pid = vfm_json_get_int_or (o, "held_pid", 0);
  if (c->id == NULL || !json_object_has_member (o, "devices") ||
      !JSON_NODE_HOLDS_ARRAY (json_object_get_member (o, "devices"))) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "a claim needs an id and a devices array");
    return NULL;
  }
  devs = json_object_get_array_member (o, "devices");
  for (guint i = 0; i < json_array_get_length (devs); i++) {
    JsonNode *dn = json_array_get_element (devs, i);
    VfmClaimDevice *d;
    if (!JSON_NODE_HOLDS_OBJECT (dn)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "claim %s: devices[%u] is not an object", c->id, i);
      return NULL;
    }
    d = g_new0 (VfmClaimDevice, 1);
    g_ptr_array_add (c->devices, d);
    d->source_bdf = dup_member (json_node_get_object (dn), "source_bdf");
    d->bdf = dup_member (json_node_get_object (dn), "bdf");
    d->driver = dup_member (json_node_get_object (dn), "driver");
    d->bound = vfm_json_get_bool_or (json_node_get_object (dn), "bound", FALSE);
    d->source_uuid = dup_member (json_node_get_object (dn), "source_uuid");
    d->uuid = dup_member (json_node_get_object (dn), "uuid");
    d->mdev_parent = dup_member (json_node_get_object (dn), "mdev_parent");
    d->mdev_type = dup_member (json_node_get_object (dn), "mdev_type");
    d->created = vfm_json_get_bool_or (json_node_get_object (dn), "created", FALSE);
    if (d->uuid != NULL) {
      /* a mediated device: names that become sysfs paths are checked here */
      if (!g_uuid_string_is_valid (d->uuid) || (d->source_uuid && !g_uuid_string_is_valid (d->source_uuid)) ||
          d->mdev_type == NULL || strchr (d->mdev_type, '/') || d->mdev_parent == NULL ||
          strchr (d->mdev_parent, '/') || d->bdf != NULL) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "claim %s: devices[%u] is a malformed mediated device", c->id, i);
        return NULL;
      }
      continue;
    }
    if (!vfm_bdf_is_valid (d->bdf) || (d->source_bdf && !vfm_bdf_is_valid (d->source_bdf))) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "claim %s: devices[%u] has no valid bdf", c->id, i);
      return NULL;
    }
  }
  return g_steal_pointer (&c);
}

/* ---- the claims file ---- */

static char *
claims_path (VfmSysroot *sr)
{
  g_autofree char *state = vfm_sysroot_state_dir (sr);
  return g_build_filename (state, "claims.json", NULL);
}

/* Reads every claim; expired ones go to expired (when not NULL) or are
 * dropped. A damaged file is an error naming it: claims are never silently
 * forgotten. */
GPtrArray *
vfm_claim_store_load (VfmSysroot *sr, GPtrArray *expired, GError **error)
{
  g_autofree char *path = claims_path (sr);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_free);
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  JsonNode *root;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return out;
  if (!vfm_json_load_file (parser, path, CLAIMS_MAX_BYTES, &local) || (root = json_parser_get_root (parser)) == NULL ||
      !JSON_NODE_HOLDS_ARRAY (root)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "claims file %s is damaged: %s", path,
                 local ? local->message : "not a JSON array");
    g_ptr_array_unref (out);
    return NULL;
  }
  for (guint i = 0; i < json_array_get_length (json_node_get_array (root)); i++) {
    VfmClaim *c = vfm_claim_from_json (json_array_get_element (json_node_get_array (root), i), &local);
    if (c == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "claims file %s: %s", path, local->message);
      g_ptr_array_unref (out);
      return NULL;
    }
    if (c->expires_at != 0 && c->expires_at <= now && expired != NULL)
      g_ptr_array_add (expired, c);
    else if (c->expires_at != 0 && c->expires_at <= now)
      vfm_claim_free (c);
    else
      g_ptr_array_add (out, c);
  }
  return out;
}

gboolean
vfm_claim_store_save (VfmSysroot *sr, GPtrArray *claims, GError **error)
{
  g_autofree char *path = claims_path (sr);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;

  json_builder_begin_array (b);
  for (guint i = 0; i < claims->len; i++)
    json_builder_add_value (b, vfm_claim_to_json (g_ptr_array_index (claims, i)));
  json_builder_end_array (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  text = json_generator_to_data (gen, NULL);
  if (g_mkdir_with_parents (dir, 0755) < 0 ||
      !g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot write %s: %s", path, local ? local->message : "mkdir failed");
    return FALSE;
  }
  return TRUE;
}

/* BDFs held by a live claim. */
GHashTable *
vfm_claim_store_taken (VfmSysroot *sr)
{
  g_autoptr (GPtrArray) claims = vfm_claim_store_load (sr, NULL, NULL);
  GHashTable *taken = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; claims && i < claims->len; i++) {
    const VfmClaim *c = g_ptr_array_index (claims, i);
    for (guint j = 0; j < c->devices->len; j++) {
      const VfmClaimDevice *d = g_ptr_array_index (c->devices, j);
      g_hash_table_add (taken, g_strdup (d->uuid ? d->uuid : d->bdf));
    }
  }
  return taken;
}

VfmClaim *
vfm_claim_store_find (GPtrArray *claims, const char *id)
{
  for (guint i = 0; i < claims->len; i++)
    if (g_strcmp0 (((VfmClaim *) g_ptr_array_index (claims, i))->id, id) == 0)
      return g_ptr_array_index (claims, i);
  return NULL;
}

VfmClaim *
vfm_claim_copy (const VfmClaim *c)
{
  g_autoptr (JsonNode) n = vfm_claim_to_json (c);
  return vfm_claim_from_json (n, NULL);
}

gboolean
vfm_claim_store_edit (VfmSysroot *sr, const char *id, VfmClaimEdit edit, gpointer data, gboolean remove, GError **error)
{
  g_autoptr (VfmLock) lock = vfm_lock_named (sr, "claims", VFM_CLAIMS_LOCK_MS, error);
  g_autoptr (GPtrArray) claims = NULL;
  g_autoptr (GPtrArray) expired = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_free);
  VfmClaim *c;

  if (lock == NULL || (claims = vfm_claim_store_load (sr, expired, error)) == NULL)
    return FALSE;
  if ((c = vfm_claim_store_find (claims, id)) == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no claim %s (expired or released)", id);
    return FALSE;
  }
  if (edit != NULL && !edit (c, data, error))
    return FALSE;
  if (remove)
    g_ptr_array_remove (claims, c);
  /* expired claims stay in the file: only their expiry (migrate's claims)
   * drops them, after giving back what they bound or created (found by
   * vfm-state-test: an edit of one claim erased every expired one) */
  for (guint i = 0; i < expired->len; i++)
    g_ptr_array_add (claims, g_steal_pointer (&g_ptr_array_index (expired, i)));
  return vfm_claim_store_save (sr, claims, error);
}

VfmClaim *
vfm_claim_store_get (VfmSysroot *sr, const char *id, GError **error)
{
  g_autoptr (GPtrArray) claims = vfm_claim_store_load (sr, NULL, error);
  VfmClaim *c;
  if (claims == NULL)
    return NULL;
  if ((c = vfm_claim_store_find (claims, id)) == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no claim %s (expired or released)", id);
    return NULL;
  }
  return vfm_claim_copy (c);
}

/* Why the claims file cannot be read, or NULL (read-only: nothing expires). */
char *
vfm_claim_store_problem (VfmSysroot *sr)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) claims = vfm_claim_store_load (sr, NULL, &error);
  return claims == NULL ? g_strdup (error->message) : NULL;
}
