/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-journal.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-strings.h"
#include "vfm-ids.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

/* a record is a few hundred bytes: anything near this is not one */
#define RECORD_MAX_BYTES (1024 * 1024)

void
vfm_owned_free (VfmOwned *o)
{
  if (o == NULL)
    return;
  g_free (o->bdf);
  g_free (o->original_driver);
  g_free (o->original_override);
  g_free (o->driver);
  g_free (o->origin);
  g_free (o);
}

void
vfm_intent_free (VfmIntent *i)
{
  if (i == NULL)
    return;
  g_free (i->bdf);
  g_free (i->target_driver);
  g_free (i->previous_driver);
  g_free (i->previous_override);
  g_free (i->original_driver);
  g_free (i->original_override);
  g_free (i->batch);
  g_free (i);
}

static void
migration_device_free (VfmMigrationDevice *d)
{
  g_free (d->bdf);
  g_free (d->alias);
  g_free (d->to);
  g_free (d->hostdev);
  g_free (d);
}

VfmMigrationRecord *
vfm_migration_record_new (void)
{
  VfmMigrationRecord *m = g_new0 (VfmMigrationRecord, 1);
  m->devices = g_ptr_array_new_with_free_func ((GDestroyNotify) migration_device_free);
  return m;
}

void
vfm_migration_record_free (VfmMigrationRecord *m)
{
  if (m == NULL)
    return;
  g_free (m->domain_uuid);
  g_free (m->domain_name);
  g_free (m->source_uri);
  g_free (m->dest_uri);
  g_free (m->peer);
  g_free (m->claim_id);
  g_free (m->phase);
  g_ptr_array_unref (m->devices);
  g_free (m);
}

void
vfm_mdev_record_free (VfmMdevRecord *r)
{
  if (r == NULL)
    return;
  g_free (r->uuid);
  g_free (r->parent);
  g_free (r->type);
  g_free (r);
}

void
vfm_sriov_intent_free (VfmSriovIntent *i)
{
  if (i == NULL)
    return;
  g_free (i->pf);
  g_free (i);
}

const char *
vfm_sriov_op_to_string (VfmSriovOp op)
{
  return op == VFM_SRIOV_CREATE ? "vf-create" : "vf-destroy";
}

const char *
vfm_intent_op_to_string (VfmIntentOp op)
{
  return op == VFM_INTENT_BIND ? "bind" : "unbind";
}

static char *
record_dir (VfmSysroot *sr, const char *kind)
{
  g_autofree char *state = vfm_sysroot_state_dir (sr);
  return g_build_filename (state, kind, NULL);
}

static char *
record_path (VfmSysroot *sr, const char *kind, const char *bdf)
{
  g_autofree char *dir = record_dir (sr, kind);
  g_autofree char *name = g_strconcat (bdf, ".json", NULL);
  return g_build_filename (dir, name, NULL);
}

/* Records are named by BDF, migrations by domain UUID, mediated devices by
 * theirs: a name is never a path. */
static gboolean
is_uuid_kind (const char *kind)
{
  return strcmp (kind, "migrations") == 0 || strcmp (kind, "mdev") == 0;
}

#define BATCH_PREFIX "batch-"

/* intent/batch-UUID.json: a batch's record beside the devices' own */
static gboolean
is_batch_name (const char *kind, const char *name)
{
  return strcmp (kind, "intent") == 0 && g_str_has_prefix (name, BATCH_PREFIX) &&
         g_uuid_string_is_valid (name + strlen (BATCH_PREFIX));
}

static gboolean
name_is_valid (const char *kind, const char *name)
{
  return name != NULL && (is_uuid_kind (kind) ? g_uuid_string_is_valid (name)
                                              : vfm_bdf_is_valid (name) || is_batch_name (kind, name));
}

/* What a crash may cost each kind (see the header). GLib's CONSISTENT
 * fsyncs the temporary file and, after the rename, the directory; a new
 * owned record (ONLY_EXISTING) gets neither. */
static GFileSetContentsFlags
durability (const char *kind)
{
  if (strcmp (kind, "intent") == 0)
    return G_FILE_SET_CONTENTS_CONSISTENT;
  if (strcmp (kind, "owned") == 0)
    return G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_ONLY_EXISTING;
  return G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE;
}

static gboolean
write_record (VfmSysroot *sr, const char *kind, const char *bdf, JsonNode *node, GError **error)
{
  g_autofree char *dir = record_dir (sr, kind);
  g_autofree char *path = record_path (sr, kind, bdf);
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;

  if (!name_is_valid (kind, bdf)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "journal: invalid %s \"%s\"",
                 !is_uuid_kind (kind) ? "BDF" : strcmp (kind, "mdev") == 0 ? "mediated device UUID" : "domain UUID",
                 bdf ? bdf : "");
    return FALSE;
  }
  if (g_mkdir_with_parents (dir, 0755) < 0) {
    int saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot create %s: %s", dir, g_strerror (saved));
    return FALSE;
  }
  json_generator_set_root (gen, node);
  json_generator_set_pretty (gen, TRUE);
  text = json_generator_to_data (gen, NULL);
  /* always temp file and rename; the fsyncs per kind */
  if (!g_file_set_contents_full (path, text, -1, durability (kind), 0644, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot write journal %s: %s", path, local->message);
    return FALSE;
  }
  return TRUE;
}

static JsonObject *
read_record (const char *path, JsonParser *parser, gboolean *absent, GError **error)
{
  g_autoptr (GError) local = NULL;
  JsonNode *root;

  *absent = FALSE;
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    *absent = TRUE;
    return NULL;
  }
  if (!vfm_json_load_file (parser, path, RECORD_MAX_BYTES, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s is unreadable: %s", path, local->message);
    return NULL;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: not a JSON object", path);
    return NULL;
  }
  return json_node_get_object (root);
}

/* What a record's members must be. A member of the wrong type makes the
 * record damaged, never "absent": a string where a driver name belongs could
 * otherwise turn into "no driver" and send a device the wrong way. */
typedef struct {
  const char *key;
  GType type;         /* G_TYPE_STRING (null allowed unless required), G_TYPE_INT64, G_TYPE_BOOLEAN */
  gboolean required;
} Member;

static gboolean
check_members (JsonObject *o, const char *path, const Member *spec, GError **error)
{
  for (const Member *m = spec; m->key != NULL; m++) {
    JsonNode *n = json_object_get_member (o, m->key);
    gboolean null = n == NULL || JSON_NODE_HOLDS_NULL (n);
    if (null && m->required) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: \"%s\" is missing", path, m->key);
      return FALSE;
    }
    if (null && (m->type == G_TYPE_STRING || n == NULL))
      continue;
    if (null || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != m->type) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: \"%s\" is not a %s", path, m->key,
                   m->type == G_TYPE_STRING ? "string" : m->type == G_TYPE_INT64 ? "number" : "boolean");
      return FALSE;
    }
  }
  return TRUE;
}

static char *
get_str (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return g_strdup (json_node_get_string (n));
}

static gboolean
get_str_is_null (JsonObject *o, const char *key)
{
  g_autofree char *v = get_str (o, key);
  return v == NULL;
}

/* An integer member, 0 when absent or of another type (a damaged record
 * must not trip json-glib's assertions). */
static gint64
get_int (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return 0;
  return json_node_get_int (n);
}

static gboolean
remove_record (VfmSysroot *sr, const char *kind, const char *bdf, GError **error)
{
  g_autofree char *path = NULL;
  if (!name_is_valid (kind, bdf)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "journal: invalid name \"%s\"", bdf ? bdf : "");
    return FALSE;
  }
  path = record_path (sr, kind, bdf);
  if (unlink (path) < 0 && errno != ENOENT) {
    int saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot remove %s: %s", path, g_strerror (saved));
    return FALSE;
  }
  return TRUE;
}

static GPtrArray *
list_names (VfmSysroot *sr, const char *kind)
{
  g_autofree char *dir = record_dir (sr, kind);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *bdf = NULL;
    if (!g_str_has_suffix (name, ".json"))
      continue;
    bdf = g_strndup (name, strlen (name) - 5);
    if (name_is_valid (kind, bdf))
      g_ptr_array_add (out, g_steal_pointer (&bdf));
  }
  vfm_strings_sort (out);
  return out;
}

typedef gpointer (*RecordReader) (VfmSysroot *sr, const char *name, GError **error);

/* Every record of a kind that reads; each one that does not is a warning
 * naming its file. */
static GPtrArray *
list_records (VfmSysroot *sr, const char *kind, RecordReader read, GDestroyNotify free_record, GPtrArray *warnings)
{
  g_autoptr (GPtrArray) names = list_names (sr, kind);
  GPtrArray *out = g_ptr_array_new_with_free_func (free_record);
  for (guint i = 0; i < names->len; i++) {
    g_autoptr (GError) error = NULL;
    gpointer record = read (sr, g_ptr_array_index (names, i), &error);
    if (record != NULL)
      g_ptr_array_add (out, record);
    else if (error != NULL && warnings != NULL)
      g_ptr_array_add (warnings, g_strdup (error->message));
  }
  return out;
}

JsonNode *
vfm_owned_to_json (const VfmOwned *o)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", o->bdf);
  vfm_json_add_str (b, "driver", o->driver);
  vfm_json_add_str (b, "original_driver", o->original_driver);
  vfm_json_add_str (b, "original_override", o->original_override);
  vfm_json_add_int (b, "bound_at", o->bound_at);
  if (o->origin != NULL) /* only where it says something: a bind's record keeps its shape */
    vfm_json_add_str (b, "origin", o->origin);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

VfmOwned *
vfm_owned_from_json (JsonObject *o, const char *origin, GError **error)
{
  static const Member spec[] = {
    { "driver", G_TYPE_STRING, TRUE }, { "original_driver", G_TYPE_STRING, FALSE },
    { "original_override", G_TYPE_STRING, FALSE }, { "bound_at", G_TYPE_INT64, FALSE },
    { "origin", G_TYPE_STRING, FALSE }, { NULL }
  };
  VfmOwned *r;

  if (!check_members (o, origin, spec, error))
    return NULL;
  r = g_new0 (VfmOwned, 1);
  r->bdf = get_str (o, "bdf");
  r->original_driver = get_str (o, "original_driver");
  r->original_override = get_str (o, "original_override");
  r->driver = get_str (o, "driver");
  r->bound_at = get_int (o, "bound_at");
  r->origin = get_str (o, "origin");
  return r;
}

gboolean
vfm_journal_write_owned (VfmSysroot *sr, const VfmOwned *o, GError **error)
{
  g_autoptr (JsonNode) node = vfm_owned_to_json (o);
  return write_record (sr, "owned", o->bdf, node, error);
}

VfmOwned *
vfm_journal_read_owned (VfmSysroot *sr, const char *bdf, GError **error)
{
  g_autofree char *path = record_path (sr, "owned", bdf);
  g_autoptr (JsonParser) parser = json_parser_new ();
  gboolean absent;
  JsonObject *o = read_record (path, parser, &absent, error);
  VfmOwned *r;

  if (o == NULL || (r = vfm_owned_from_json (o, path, error)) == NULL)
    return NULL;
  g_free (r->bdf); /* the file's name is the device */
  r->bdf = g_strdup (bdf);
  return r;
}

gboolean
vfm_journal_remove_owned (VfmSysroot *sr, const char *bdf, GError **error)
{
  return remove_record (sr, "owned", bdf, error);
}

GPtrArray *
vfm_journal_list_owned (VfmSysroot *sr, GPtrArray *warnings)
{
  return list_records (sr, "owned", (RecordReader) vfm_journal_read_owned, (GDestroyNotify) vfm_owned_free, warnings);
}

JsonNode *
vfm_intent_to_json (const VfmIntent *i)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", i->bdf);
  vfm_json_add_str (b, "op", vfm_intent_op_to_string (i->op));
  vfm_json_add_str (b, "target_driver", i->target_driver);
  vfm_json_add_str (b, "previous_driver", i->previous_driver);
  vfm_json_add_str (b, "previous_override", i->previous_override);
  vfm_json_add_str (b, "original_driver", i->original_driver);
  vfm_json_add_str (b, "original_override", i->original_override);
  vfm_json_add_int (b, "started_at", i->started_at);
  vfm_json_add_int (b, "pid", i->pid);
  if (i->batch != NULL)
    vfm_json_add_str (b, "batch", i->batch);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

VfmIntent *
vfm_intent_from_json (JsonObject *o, const char *origin, GError **error)
{
  static const Member spec[] = {
    { "op", G_TYPE_STRING, TRUE }, { "target_driver", G_TYPE_STRING, FALSE },
    { "previous_driver", G_TYPE_STRING, FALSE }, { "previous_override", G_TYPE_STRING, FALSE },
    { "original_driver", G_TYPE_STRING, FALSE }, { "original_override", G_TYPE_STRING, FALSE },
    { "started_at", G_TYPE_INT64, FALSE }, { "pid", G_TYPE_INT64, FALSE }, { NULL }
  };
  g_autofree char *op = NULL;
  VfmIntent *r;

  if (!check_members (o, origin, spec, error))
    return NULL;
  op = get_str (o, "op");
  if (g_strcmp0 (op, "bind") != 0 && g_strcmp0 (op, "unbind") != 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: unknown op \"%s\"", origin, op ? op : "");
    return NULL;
  }
  if (g_strcmp0 (op, "bind") == 0 && get_str_is_null (o, "target_driver")) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: a bind without \"target_driver\"", origin);
    return NULL;
  }
  r = g_new0 (VfmIntent, 1);
  r->op = g_strcmp0 (op, "bind") == 0 ? VFM_INTENT_BIND : VFM_INTENT_UNBIND;
  r->bdf = get_str (o, "bdf");
  r->target_driver = get_str (o, "target_driver");
  r->previous_driver = get_str (o, "previous_driver");
  r->previous_override = get_str (o, "previous_override");
  r->original_driver = get_str (o, "original_driver");
  r->original_override = get_str (o, "original_override");
  r->started_at = get_int (o, "started_at");
  r->pid = (gint) get_int (o, "pid");
  return r;
}

gboolean
vfm_journal_write_intent (VfmSysroot *sr, const VfmIntent *i, GError **error)
{
  g_autoptr (JsonNode) node = vfm_intent_to_json (i);
  return write_record (sr, "intent", i->bdf, node, error);
}

VfmIntent *
vfm_journal_read_intent (VfmSysroot *sr, const char *bdf, GError **error)
{
  g_autofree char *path = record_path (sr, "intent", bdf);
  g_autoptr (JsonParser) parser = json_parser_new ();
  gboolean absent;
  JsonObject *o = read_record (path, parser, &absent, error);
  VfmIntent *r;

  if (o == NULL || (r = vfm_intent_from_json (o, path, error)) == NULL)
    return NULL;
  g_free (r->bdf);
  r->bdf = g_strdup (bdf);
  return r;
}

gboolean
vfm_journal_clear_intent (VfmSysroot *sr, const char *bdf, GError **error)
{
  return remove_record (sr, "intent", bdf, error);
}

/* A batch record: {"batch": UUID, "intents": [intent, ...]}; each member is
 * checked as a device's own intent is, and one damaged member makes the
 * whole record damaged (recovery then leaves all of it to the operator, as
 * it does a damaged intent). */
GPtrArray *
vfm_journal_read_batch (VfmSysroot *sr, const char *uuid, GError **error)
{
  g_autofree char *name = g_strconcat (BATCH_PREFIX, uuid, NULL);
  g_autofree char *path = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_intent_free);
  gboolean absent;
  JsonObject *o;
  JsonNode *members;

  if (!is_batch_name ("intent", name)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "journal: invalid batch UUID \"%s\"", uuid);
    return NULL;
  }
  path = record_path (sr, "intent", name);
  if ((o = read_record (path, parser, &absent, error)) == NULL)
    return NULL;
  members = json_object_get_member (o, "intents");
  if (members == NULL || !JSON_NODE_HOLDS_ARRAY (members)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: \"intents\" is not an array", path);
    return NULL;
  }
  for (guint i = 0; i < json_array_get_length (json_node_get_array (members)); i++) {
    JsonNode *n = json_array_get_element (json_node_get_array (members), i);
    VfmIntent *it;
    g_autofree char *bdf = NULL;
    if (!JSON_NODE_HOLDS_OBJECT (n)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: intents[%u] is not an object", path, i);
      return NULL;
    }
    bdf = get_str (json_node_get_object (n), "bdf");
    if (bdf == NULL || !vfm_bdf_is_valid (bdf)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: intents[%u] has no valid bdf", path, i);
      return NULL;
    }
    if ((it = vfm_intent_from_json (json_node_get_object (n), path, error)) == NULL)
      return NULL;
    g_free (it->batch);
    it->batch = g_strdup (uuid);
    g_ptr_array_add (out, it);
  }
  return g_steal_pointer (&out);
}

gboolean
vfm_journal_write_batch (VfmSysroot *sr, const char *uuid, GPtrArray *intents, GError **error)
{
  g_autofree char *name = g_strconcat (BATCH_PREFIX, uuid, NULL);
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonNode) node = NULL;

  if (intents->len == 0)
    return remove_record (sr, "intent", name, error);
  b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "batch", uuid);
  json_builder_set_member_name (b, "intents");
  json_builder_begin_array (b);
  for (guint i = 0; i < intents->len; i++) {
    VfmIntent copy = *(const VfmIntent *) g_ptr_array_index (intents, i);
    copy.batch = NULL; /* the record's name says it */
    json_builder_add_value (b, vfm_intent_to_json (&copy));
  }
  json_builder_end_array (b);
  json_builder_end_object (b);
  node = json_builder_get_root (b);
  return write_record (sr, "intent", name, node, error);
}

GPtrArray *
vfm_journal_list_intents (VfmSysroot *sr, GPtrArray *warnings)
{
  g_autoptr (GPtrArray) names = list_names (sr, "intent");
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_intent_free);
  for (guint i = 0; i < names->len; i++) {
    const char *name = g_ptr_array_index (names, i);
    g_autoptr (GError) error = NULL;
    if (is_batch_name ("intent", name)) {
      g_autoptr (GPtrArray) members = vfm_journal_read_batch (sr, name + strlen (BATCH_PREFIX), &error);
      if (members != NULL)
        g_ptr_array_extend_and_steal (out, g_steal_pointer (&members));
    } else {
      VfmIntent *it = vfm_journal_read_intent (sr, name, &error);
      if (it != NULL)
        g_ptr_array_add (out, it);
    }
    if (error != NULL && warnings != NULL)
      g_ptr_array_add (warnings, g_strdup (error->message));
  }
  return out;
}

/* The PF is "bdf", as in every record; journals written before 0.2 named it
 * "pf" (still read). */
JsonNode *
vfm_sriov_intent_to_json (const VfmSriovIntent *i)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", i->pf);
  vfm_json_add_str (b, "op", vfm_sriov_op_to_string (i->op));
  vfm_json_add_int (b, "numvfs", i->numvfs);
  vfm_json_add_int (b, "previous_numvfs", i->previous_numvfs);
  vfm_json_add_int (b, "previous_autoprobe", i->previous_autoprobe);
  vfm_json_add_int (b, "started_at", i->started_at);
  vfm_json_add_int (b, "pid", i->pid);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

VfmSriovIntent *
vfm_sriov_intent_from_json (JsonObject *o, const char *origin, GError **error)
{
  static const Member spec[] = {
    { "op", G_TYPE_STRING, TRUE }, { "numvfs", G_TYPE_INT64, TRUE }, { "previous_numvfs", G_TYPE_INT64, TRUE },
    { "previous_autoprobe", G_TYPE_INT64, TRUE }, { "started_at", G_TYPE_INT64, FALSE },
    { "pid", G_TYPE_INT64, FALSE }, { NULL }
  };
  g_autofree char *op = NULL;
  VfmSriovIntent *r;

  if (!check_members (o, origin, spec, error))
    return NULL;
  op = get_str (o, "op");
  if (g_strcmp0 (op, "vf-create") != 0 && g_strcmp0 (op, "vf-destroy") != 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: unknown op \"%s\"", origin, op ? op : "");
    return NULL;
  }
  r = g_new0 (VfmSriovIntent, 1);
  r->op = g_strcmp0 (op, "vf-create") == 0 ? VFM_SRIOV_CREATE : VFM_SRIOV_DESTROY;
  r->pf = get_str (o, "bdf");
  if (r->pf == NULL)
    r->pf = get_str (o, "pf");
  r->numvfs = (gint) get_int (o, "numvfs");
  r->previous_numvfs = (gint) get_int (o, "previous_numvfs");
  r->previous_autoprobe = get_int (o, "previous_autoprobe") != 0;
  r->started_at = get_int (o, "started_at");
  r->pid = (gint) get_int (o, "pid");
  return r;
}

gboolean
vfm_journal_write_sriov (VfmSysroot *sr, const VfmSriovIntent *i, GError **error)
{
  g_autoptr (JsonNode) node = vfm_sriov_intent_to_json (i);
  return write_record (sr, "sriov", i->pf, node, error);
}

VfmSriovIntent *
vfm_journal_read_sriov (VfmSysroot *sr, const char *pf, GError **error)
{
  g_autofree char *path = record_path (sr, "sriov", pf);
  g_autoptr (JsonParser) parser = json_parser_new ();
  gboolean absent;
  JsonObject *o = read_record (path, parser, &absent, error);
  VfmSriovIntent *r;

  if (o == NULL || (r = vfm_sriov_intent_from_json (o, path, error)) == NULL)
    return NULL;
  g_free (r->pf);
  r->pf = g_strdup (pf);
  return r;
}

gboolean
vfm_journal_clear_sriov (VfmSysroot *sr, const char *pf, GError **error)
{
  return remove_record (sr, "sriov", pf, error);
}

GPtrArray *
vfm_journal_list_sriov (VfmSysroot *sr, GPtrArray *warnings)
{
  return list_records (sr, "sriov", (RecordReader) vfm_journal_read_sriov, (GDestroyNotify) vfm_sriov_intent_free, warnings);
}

static gboolean
get_bool (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN &&
         json_node_get_boolean (n);
}

JsonNode *
vfm_migration_record_to_json (const VfmMigrationRecord *m)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "domain_uuid", m->domain_uuid);
  vfm_json_add_str (b, "domain_name", m->domain_name);
  vfm_json_add_str (b, "source_uri", m->source_uri);
  vfm_json_add_str (b, "dest_uri", m->dest_uri);
  vfm_json_add_str (b, "peer", m->peer);
  vfm_json_add_str (b, "claim_id", m->claim_id);
  vfm_json_add_str (b, "phase", m->phase);
  vfm_json_add_bool (b, "prepared", m->prepared);
  vfm_json_add_bool (b, "persistent", m->persistent);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  for (guint i = 0; i < m->devices->len; i++) {
    const VfmMigrationDevice *d = g_ptr_array_index (m->devices, i);
    json_builder_begin_object (b);
    vfm_json_add_str (b, "bdf", d->bdf);
    vfm_json_add_str (b, "alias", d->alias);
    vfm_json_add_str (b, "to", d->to);
    vfm_json_add_bool (b, "detached", d->detached);
    vfm_json_add_str (b, "hostdev", d->hostdev);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  vfm_json_add_int (b, "started_at", m->started_at);
  vfm_json_add_int (b, "pid", m->pid);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

VfmMigrationRecord *
vfm_migration_record_from_json (JsonObject *o, const char *origin, GError **error)
{
  static const Member spec[] = {
    { "domain_name", G_TYPE_STRING, TRUE }, { "source_uri", G_TYPE_STRING, TRUE },
    { "dest_uri", G_TYPE_STRING, TRUE }, { "peer", G_TYPE_STRING, TRUE }, { "claim_id", G_TYPE_STRING, FALSE },
    { "phase", G_TYPE_STRING, FALSE }, { "prepared", G_TYPE_BOOLEAN, FALSE }, { "persistent", G_TYPE_BOOLEAN, FALSE },
    { "started_at", G_TYPE_INT64, FALSE }, { "pid", G_TYPE_INT64, FALSE }, { NULL }
  };
  g_autoptr (VfmMigrationRecord) m = NULL;
  JsonNode *devs;

  if (!check_members (o, origin, spec, error))
    return NULL;
  m = vfm_migration_record_new ();
  m->domain_uuid = get_str (o, "domain_uuid");
  m->domain_name = get_str (o, "domain_name");
  m->source_uri = get_str (o, "source_uri");
  m->dest_uri = get_str (o, "dest_uri");
  m->peer = get_str (o, "peer");
  m->claim_id = get_str (o, "claim_id");
  m->phase = get_str (o, "phase");
  m->prepared = get_bool (o, "prepared");
  m->persistent = get_bool (o, "persistent");
  m->started_at = get_int (o, "started_at");
  m->pid = (gint) get_int (o, "pid");
  if (m->domain_name == NULL || m->source_uri == NULL || m->dest_uri == NULL || m->peer == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: domain_name, source_uri, dest_uri or peer missing",
                 origin);
    return NULL;
  }
  devs = json_object_get_member (o, "devices");
  /* a device list of the wrong shape is damage, not "no devices": recovery
   * would otherwise leave detached devices out of the guest (found by
   * vfm-state-test) */
  if (devs != NULL && !JSON_NODE_HOLDS_NULL (devs) && !JSON_NODE_HOLDS_ARRAY (devs)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: \"devices\" is not an array", origin);
    return NULL;
  }
  for (guint i = 0; devs != NULL && JSON_NODE_HOLDS_ARRAY (devs) && i < json_array_get_length (json_node_get_array (devs)); i++) {
    static const Member dspec[] = {
      { "bdf", G_TYPE_STRING, TRUE }, { "alias", G_TYPE_STRING, FALSE }, { "to", G_TYPE_STRING, FALSE },
      { "detached", G_TYPE_BOOLEAN, FALSE }, { "hostdev", G_TYPE_STRING, FALSE }, { NULL }
    };
    JsonNode *dn = json_array_get_element (json_node_get_array (devs), i);
    VfmMigrationDevice *d;
    if (!JSON_NODE_HOLDS_OBJECT (dn)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: devices[%u] is not an object", origin, i);
      return NULL;
    }
    if (!check_members (json_node_get_object (dn), origin, dspec, error))
      return NULL;
    d = g_new0 (VfmMigrationDevice, 1);
    d->bdf = get_str (json_node_get_object (dn), "bdf");
    d->alias = get_str (json_node_get_object (dn), "alias");
    d->to = get_str (json_node_get_object (dn), "to");
    d->detached = get_bool (json_node_get_object (dn), "detached");
    d->hostdev = get_str (json_node_get_object (dn), "hostdev");
    if (d->bdf == NULL || !vfm_bdf_is_valid (d->bdf) || (d->to != NULL && !vfm_bdf_is_valid (d->to))) {
      migration_device_free (d);
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: devices[%u] has no valid bdf", origin, i);
      return NULL;
    }
    g_ptr_array_add (m->devices, d);
  }
  return g_steal_pointer (&m);
}

gboolean
vfm_journal_write_migration (VfmSysroot *sr, const VfmMigrationRecord *m, GError **error)
{
  g_autoptr (JsonNode) node = vfm_migration_record_to_json (m);
  return write_record (sr, "migrations", m->domain_uuid, node, error);
}

VfmMigrationRecord *
vfm_journal_read_migration (VfmSysroot *sr, const char *uuid, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  gboolean absent;
  JsonObject *o;
  VfmMigrationRecord *m;

  if (!name_is_valid ("migrations", uuid)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "journal: invalid domain UUID \"%s\"", uuid);
    return NULL;
  }
  path = record_path (sr, "migrations", uuid);
  if ((o = read_record (path, parser, &absent, error)) == NULL ||
      (m = vfm_migration_record_from_json (o, path, error)) == NULL)
    return NULL;
  g_free (m->domain_uuid);
  m->domain_uuid = g_strdup (uuid);
  return m;
}

gboolean
vfm_journal_remove_migration (VfmSysroot *sr, const char *uuid, GError **error)
{
  return remove_record (sr, "migrations", uuid, error);
}

GPtrArray *
vfm_journal_list_migrations (VfmSysroot *sr, GPtrArray *warnings)
{
  return list_records (sr, "migrations", (RecordReader) vfm_journal_read_migration, (GDestroyNotify) vfm_migration_record_free, warnings);
}

/* The UUID is the file's name; "uuid" is kept in the file for people. */
JsonNode *
vfm_mdev_record_to_json (const VfmMdevRecord *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "uuid", r->uuid);
  vfm_json_add_str (b, "parent", r->parent);
  vfm_json_add_str (b, "type", r->type);
  vfm_json_add_int (b, "created_at", r->created_at);
  vfm_json_add_int (b, "pid", r->pid);
  vfm_json_add_bool (b, "complete", r->complete);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

VfmMdevRecord *
vfm_mdev_record_from_json (JsonObject *o, const char *origin, GError **error)
{
  static const Member spec[] = {
    { "uuid", G_TYPE_STRING, FALSE }, { "parent", G_TYPE_STRING, TRUE }, { "type", G_TYPE_STRING, TRUE },
    { "created_at", G_TYPE_INT64, FALSE }, { "pid", G_TYPE_INT64, FALSE }, { "complete", G_TYPE_BOOLEAN, FALSE },
    { NULL }
  };
  g_autoptr (VfmMdevRecord) r = NULL;

  if (!check_members (o, origin, spec, error))
    return NULL;
  r = g_new0 (VfmMdevRecord, 1);
  r->uuid = get_str (o, "uuid");
  r->parent = get_str (o, "parent");
  r->type = get_str (o, "type");
  r->created_at = get_int (o, "created_at");
  r->pid = (gint) get_int (o, "pid");
  r->complete = get_bool (o, "complete");
  /* they name sysfs directories: never a path */
  if (*r->parent == '\0' || *r->parent == '.' || strchr (r->parent, '/') != NULL || *r->type == '\0' ||
      *r->type == '.' || strchr (r->type, '/') != NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "journal %s: \"parent\" or \"type\" is not a name", origin);
    return NULL;
  }
  return g_steal_pointer (&r);
}

gboolean
vfm_journal_write_mdev (VfmSysroot *sr, const VfmMdevRecord *r, GError **error)
{
  g_autoptr (JsonNode) node = vfm_mdev_record_to_json (r);
  return write_record (sr, "mdev", r->uuid, node, error);
}

VfmMdevRecord *
vfm_journal_read_mdev (VfmSysroot *sr, const char *uuid, GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  gboolean absent;
  JsonObject *o;
  VfmMdevRecord *r;

  if (!name_is_valid ("mdev", uuid)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "journal: invalid mediated device UUID \"%s\"",
                 uuid ? uuid : "");
    return NULL;
  }
  path = record_path (sr, "mdev", uuid);
  if ((o = read_record (path, parser, &absent, error)) == NULL ||
      (r = vfm_mdev_record_from_json (o, path, error)) == NULL)
    return NULL;
  g_free (r->uuid);
  r->uuid = g_strdup (uuid);
  return r;
}

gboolean
vfm_journal_remove_mdev (VfmSysroot *sr, const char *uuid, GError **error)
{
  return remove_record (sr, "mdev", uuid, error);
}

GPtrArray *
vfm_journal_list_mdevs (VfmSysroot *sr, GPtrArray *warnings)
{
  return list_records (sr, "mdev", (RecordReader) vfm_journal_read_mdev, (GDestroyNotify) vfm_mdev_record_free, warnings);
}
