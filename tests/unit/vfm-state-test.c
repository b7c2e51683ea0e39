/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state layer (src/lib/state): journal records, the claims file and the
 * host uuid, in a throwaway sysroot. */
#include "vfm-claim-store.h"
#include "vfm-error.h"
#include "vfm-host-uuid.h"
#include "vfm-journal.h"
#include "vfm-json.h"

#include "vfm-test-host.h"

#define BDF "0000:3b:00.2"
#define BDF2 "0000:3b:00.3"
#define UUID "6f1e3d7a-52c4-4b8e-9d0a-1f2e3d4c5b6a"

typedef struct {
  char *root;
  VfmSysroot *sr;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->root = vfm_test_make_tmp ("vfm-state");
  f->sr = vfm_sysroot_new (f->root, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  vfm_sysroot_free (f->sr);
  vfm_test_rm_rf (f->root);
  g_free (f->root);
}

static char *
record_path (Fixture *f, const char *kind, const char *name)
{
  g_autofree char *file = g_strconcat (name, ".json", NULL);
  return g_build_filename (f->root, "var/lib/vfmig", kind, file, NULL);
}

/* The file on disk, parsed. */
static JsonNode *
load_node (const char *path)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  g_assert_true (json_parser_load_from_file (parser, path, &error));
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

static void
assert_json_equal (JsonNode *a, JsonNode *b)
{
  if (!json_node_equal (a, b)) {
    g_autofree char *sa = vfm_json_to_string (a, TRUE);
    g_autofree char *sb = vfm_json_to_string (b, TRUE);
    g_assert_cmpstr (sa, ==, sb);
  }
}

/* The file holds exactly vfm_X_to_json of the record (DESIGN.md: one shape
 * per record, shared with the API). */
static void
assert_file_is (const char *path, JsonNode *node)
{
  g_autoptr (JsonNode) on_disk = load_node (path);
  assert_json_equal (on_disk, node);
}

/* ---- round trips and the one-record-shape property ---- */

static void
test_owned_round_trip (Fixture *f, gconstpointer data)
{
  VfmOwned o = { .bdf = BDF, .original_driver = "mlx5_core", .original_override = NULL,
                 .driver = "mlx5_vfio_pci", .bound_at = 1700000000 };
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmOwned) back = NULL;
  g_autoptr (JsonNode) shape = vfm_owned_to_json (&o);
  g_autofree char *path = record_path (f, "owned", BDF);

  g_assert_true (vfm_journal_write_owned (f->sr, &o, &error));
  g_assert_no_error (error);
  assert_file_is (path, shape);

  back = vfm_journal_read_owned (f->sr, BDF, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  g_assert_cmpstr (back->bdf, ==, BDF);
  g_assert_cmpstr (back->original_driver, ==, "mlx5_core");
  g_assert_null (back->original_override);
  g_assert_cmpstr (back->driver, ==, "mlx5_vfio_pci");
  g_assert_cmpint (back->bound_at, ==, 1700000000);
  {
    g_autoptr (JsonNode) again = vfm_owned_to_json (back);
    assert_json_equal (again, shape);
  }

  /* removed: absent, which is not an error */
  g_assert_true (vfm_journal_remove_owned (f->sr, BDF, &error));
  g_assert_null (vfm_journal_read_owned (f->sr, BDF, &error));
  g_assert_no_error (error);
  /* removing what is not there is fine too */
  g_assert_true (vfm_journal_remove_owned (f->sr, BDF, &error));
  g_assert_no_error (error);
}

static void
test_intent_round_trip (Fixture *f, gconstpointer data)
{
  VfmIntent i = { .op = VFM_INTENT_BIND, .bdf = BDF, .target_driver = "vfio-pci", .previous_driver = "iavf",
                  .previous_override = "iavf", .original_driver = "ice", .original_override = NULL,
                  .started_at = 1700000001, .pid = 4242 };
  VfmIntent u = { .op = VFM_INTENT_UNBIND, .bdf = BDF2, .target_driver = NULL, .previous_driver = "vfio-pci",
                  .started_at = 5, .pid = 1 };
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) shape = vfm_intent_to_json (&i);
  g_autofree char *path = record_path (f, "intent", BDF);

  g_assert_true (vfm_journal_write_intent (f->sr, &i, &error));
  g_assert_true (vfm_journal_write_intent (f->sr, &u, &error));
  g_assert_no_error (error);
  assert_file_is (path, shape);
  {
    g_autoptr (VfmIntent) back = vfm_journal_read_intent (f->sr, BDF, &error);
    g_autoptr (JsonNode) again = NULL;
    g_assert_no_error (error);
    g_assert_cmpint (back->op, ==, VFM_INTENT_BIND);
    g_assert_cmpstr (back->target_driver, ==, "vfio-pci");
    g_assert_cmpstr (back->previous_driver, ==, "iavf");
    g_assert_cmpstr (back->previous_override, ==, "iavf");
    g_assert_cmpstr (back->original_driver, ==, "ice");
    g_assert_null (back->original_override);
    g_assert_cmpint (back->started_at, ==, 1700000001);
    g_assert_cmpint (back->pid, ==, 4242);
    again = vfm_intent_to_json (back);
    assert_json_equal (again, shape);
  }
  {
    g_autoptr (VfmIntent) back = vfm_journal_read_intent (f->sr, BDF2, &error);
    g_assert_no_error (error);
    g_assert_cmpint (back->op, ==, VFM_INTENT_UNBIND);
    g_assert_null (back->target_driver);
  }
  {
    g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GPtrArray) all = vfm_journal_list_intents (f->sr, warnings);
    g_assert_cmpuint (all->len, ==, 2);
    g_assert_cmpuint (warnings->len, ==, 0);
    g_assert_cmpstr (((VfmIntent *) g_ptr_array_index (all, 0))->bdf, ==, BDF);
    g_assert_cmpstr (((VfmIntent *) g_ptr_array_index (all, 1))->bdf, ==, BDF2);
  }
  g_assert_true (vfm_journal_clear_intent (f->sr, BDF, &error));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

static void
test_sriov_round_trip (Fixture *f, gconstpointer data)
{
  VfmSriovIntent i = { .op = VFM_SRIOV_CREATE, .pf = BDF, .numvfs = 8, .previous_numvfs = 0,
                       .previous_autoprobe = 1, .started_at = 1700000002, .pid = 77 };
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) shape = vfm_sriov_intent_to_json (&i);
  g_autoptr (VfmSriovIntent) back = NULL;
  g_autoptr (JsonNode) again = NULL;
  g_autofree char *path = record_path (f, "sriov", BDF);

  g_assert_true (vfm_journal_write_sriov (f->sr, &i, &error));
  g_assert_no_error (error);
  assert_file_is (path, shape);
  /* the PF is "bdf", as in every record */
  g_assert_cmpstr (json_object_get_string_member (json_node_get_object (shape), "bdf"), ==, BDF);

  back = vfm_journal_read_sriov (f->sr, BDF, &error);
  g_assert_no_error (error);
  g_assert_cmpint (back->op, ==, VFM_SRIOV_CREATE);
  g_assert_cmpstr (back->pf, ==, BDF);
  g_assert_cmpint (back->numvfs, ==, 8);
  g_assert_cmpint (back->previous_numvfs, ==, 0);
  g_assert_cmpint (back->previous_autoprobe, ==, 1);
  g_assert_cmpint (back->started_at, ==, 1700000002);
  g_assert_cmpint (back->pid, ==, 77);
  again = vfm_sriov_intent_to_json (back);
  assert_json_equal (again, shape);
}

/* Journals written before 0.2 named the PF "pf". */
static void
test_sriov_legacy_pf_key (Fixture *f, gconstpointer data)
{
  g_autofree char *path = record_path (f, "sriov", BDF);
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmSriovIntent) back = NULL;

  vfm_test_write (path, "{\"pf\": \"" BDF "\", \"op\": \"vf-destroy\", \"numvfs\": 0, \"previous_numvfs\": 4,"
                        " \"previous_autoprobe\": 0, \"started_at\": 12, \"pid\": 3}");
  back = vfm_journal_read_sriov (f->sr, BDF, &error);
  g_assert_no_error (error);
  g_assert_nonnull (back);
  g_assert_cmpint (back->op, ==, VFM_SRIOV_DESTROY);
  g_assert_cmpstr (back->pf, ==, BDF);
  g_assert_cmpint (back->previous_numvfs, ==, 4);
  g_assert_cmpint (back->previous_autoprobe, ==, 0);
  {
    /* and from the object alone (the API reads it the same way) */
    g_autoptr (JsonNode) n = load_node (path);
    g_autoptr (VfmSriovIntent) o = vfm_sriov_intent_from_json (json_node_get_object (n), path, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (o->pf, ==, BDF);
  }
  {
    g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GPtrArray) all = vfm_journal_list_sriov (f->sr, warnings);
    g_assert_cmpuint (all->len, ==, 1);
    g_assert_cmpuint (warnings->len, ==, 0);
  }
}

static VfmMigrationRecord *
sample_migration (void)
{
  VfmMigrationRecord *m = vfm_migration_record_new ();
  VfmMigrationDevice *d = g_new0 (VfmMigrationDevice, 1);
  m->domain_uuid = g_strdup (UUID);
  m->domain_name = g_strdup ("guest1");
  m->source_uri = g_strdup ("qemu:///system");
  m->dest_uri = g_strdup ("qemu+ssh://b/system");
  m->peer = g_strdup ("ssh://b");
  m->claim_id = g_strdup ("0d3c5a4e-1111-4222-8333-944455556666");
  m->phase = g_strdup ("migrating");
  m->prepared = TRUE;
  m->persistent = TRUE;
  m->started_at = 1700000003;
  m->pid = 99;
  d->bdf = g_strdup (BDF);
  d->alias = g_strdup ("ua-sriov-0");
  d->to = g_strdup ("0000:5e:00.4");
  d->detached = TRUE;
  g_ptr_array_add (m->devices, d);
  d = g_new0 (VfmMigrationDevice, 1);
  d->bdf = g_strdup (BDF2);
  g_ptr_array_add (m->devices, d);
  return m;
}

static void
test_migration_round_trip (Fixture *f, gconstpointer data)
{
  g_autoptr (VfmMigrationRecord) m = sample_migration ();
  g_autoptr (JsonNode) shape = vfm_migration_record_to_json (m);
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmMigrationRecord) back = NULL;
  g_autoptr (JsonNode) again = NULL;
  g_autofree char *path = record_path (f, "migrations", UUID);
  const VfmMigrationDevice *d;

  g_assert_true (vfm_journal_write_migration (f->sr, m, &error));
  g_assert_no_error (error);
  assert_file_is (path, shape);

  back = vfm_journal_read_migration (f->sr, UUID, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back->domain_uuid, ==, UUID);
  g_assert_cmpstr (back->domain_name, ==, "guest1");
  g_assert_cmpstr (back->peer, ==, "ssh://b");
  g_assert_cmpstr (back->claim_id, ==, m->claim_id);
  g_assert_cmpstr (back->phase, ==, "migrating");
  g_assert_true (back->prepared);
  g_assert_true (back->persistent);
  g_assert_cmpuint (back->devices->len, ==, 2);
  d = g_ptr_array_index (back->devices, 0);
  g_assert_cmpstr (d->bdf, ==, BDF);
  g_assert_cmpstr (d->alias, ==, "ua-sriov-0");
  g_assert_cmpstr (d->to, ==, "0000:5e:00.4");
  g_assert_true (d->detached);
  d = g_ptr_array_index (back->devices, 1);
  g_assert_null (d->to);
  g_assert_false (d->detached);
  again = vfm_migration_record_to_json (back);
  assert_json_equal (again, shape);

  g_assert_true (vfm_journal_remove_migration (f->sr, UUID, &error));
  g_assert_null (vfm_journal_read_migration (f->sr, UUID, &error));
  g_assert_no_error (error);
}

/* A name is never a path: records are named by BDF, migrations by UUID. */
static void
test_names_refused (Fixture *f, gconstpointer data)
{
  VfmOwned o = { .bdf = "../../../etc/x", .driver = "vfio-pci" };
  VfmIntent i = { .op = VFM_INTENT_BIND, .bdf = "0000:3B:00.2", .target_driver = "vfio-pci" };
  VfmSriovIntent s = { .op = VFM_SRIOV_CREATE, .pf = "" };
  g_autoptr (VfmMigrationRecord) m = sample_migration ();
  g_autoptr (GError) error = NULL;
  g_autofree char *state = g_build_filename (f->root, "var/lib/vfmig", NULL);

  g_assert_false (vfm_journal_write_owned (f->sr, &o, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (vfm_journal_write_intent (f->sr, &i, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (vfm_journal_write_sriov (f->sr, &s, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_free (m->domain_uuid);
  m->domain_uuid = g_strdup ("../owned/" BDF);
  g_assert_false (vfm_journal_write_migration (f->sr, m, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (vfm_journal_read_migration (f->sr, "../owned/" BDF, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (vfm_journal_remove_owned (f->sr, "..", &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT);
  /* nothing was written anywhere */
  g_assert_false (g_file_test (state, G_FILE_TEST_EXISTS));
}

/* ---- damaged records ---- */

typedef struct {
  const char *kind;
  const char *name;
  const char *text;
  const char *why;      /* in the error message */
} Damaged;

static const Damaged damaged[] = {
  { "owned", BDF, "{\"driver\": 5, \"original_driver\": \"ice\"}", "\"driver\" is not a string" },
  { "owned", BDF, "{\"driver\": \"vfio-pci\", \"original_driver\": [\"ice\"]}", "\"original_driver\" is not a string" },
  { "owned", BDF, "{\"driver\": \"vfio-pci\", \"bound_at\": \"yesterday\"}", "\"bound_at\" is not a number" },
  { "owned", BDF, "{\"original_driver\": \"ice\"}", "\"driver\" is missing" },
  { "owned", BDF, "[1, 2]", "not a JSON object" },
  { "owned", BDF, "{\"driver\": ", "unreadable" },
  { "intent", BDF, "{\"op\": \"bind\", \"target_driver\": {\"x\": 1}}", "\"target_driver\" is not a string" },
  { "intent", BDF, "{\"op\": \"bind\", \"target_driver\": \"vfio-pci\", \"pid\": true}", "\"pid\" is not a number" },
  { "intent", BDF, "{\"op\": \"rebind\", \"target_driver\": \"vfio-pci\"}", "unknown op" },
  { "intent", BDF, "{\"op\": \"bind\", \"target_driver\": null}", "without \"target_driver\"" },
  { "sriov", BDF, "{\"bdf\": \"" BDF "\", \"op\": \"vf-create\", \"numvfs\": \"4\", \"previous_numvfs\": 0,"
                  " \"previous_autoprobe\": 1}", "\"numvfs\" is not a number" },
  { "sriov", BDF, "{\"bdf\": \"" BDF "\", \"op\": \"vf-create\", \"numvfs\": 4, \"previous_numvfs\": 0}",
    "\"previous_autoprobe\" is missing" },
  { "migrations", UUID, "{\"domain_name\": \"g\", \"source_uri\": \"a\", \"dest_uri\": \"b\", \"peer\": \"p\","
                        " \"prepared\": \"yes\"}", "\"prepared\" is not a boolean" },
  { "migrations", UUID, "{\"domain_name\": \"g\", \"source_uri\": 1, \"dest_uri\": \"b\", \"peer\": \"p\"}",
    "\"source_uri\" is not a string" },
  { "migrations", UUID, "{\"domain_name\": \"g\", \"source_uri\": \"a\", \"dest_uri\": \"b\", \"peer\": \"p\","
                        " \"devices\": [{\"bdf\": \"../x\"}]}", "devices[0] has no valid bdf" },
};

static gpointer
read_any (Fixture *f, const char *kind, const char *name, GError **error, GDestroyNotify *free_func)
{
  if (strcmp (kind, "owned") == 0) {
    *free_func = (GDestroyNotify) vfm_owned_free;
    return vfm_journal_read_owned (f->sr, name, error);
  }
  if (strcmp (kind, "intent") == 0) {
    *free_func = (GDestroyNotify) vfm_intent_free;
    return vfm_journal_read_intent (f->sr, name, error);
  }
  if (strcmp (kind, "sriov") == 0) {
    *free_func = (GDestroyNotify) vfm_sriov_intent_free;
    return vfm_journal_read_sriov (f->sr, name, error);
  }
  *free_func = (GDestroyNotify) vfm_migration_record_free;
  return vfm_journal_read_migration (f->sr, name, error);
}

static GPtrArray *
list_any (Fixture *f, const char *kind, GPtrArray *warnings)
{
  if (strcmp (kind, "owned") == 0)
    return vfm_journal_list_owned (f->sr, warnings);
  if (strcmp (kind, "intent") == 0)
    return vfm_journal_list_intents (f->sr, warnings);
  if (strcmp (kind, "sriov") == 0)
    return vfm_journal_list_sriov (f->sr, warnings);
  return vfm_journal_list_migrations (f->sr, warnings);
}

/* A member of the wrong type makes the record damaged - an error naming the
 * file - never "absent"; list_* reports it as a warning and still lists the
 * records that read. */
static void
test_damaged_records (Fixture *f, gconstpointer data)
{
  for (guint k = 0; k < G_N_ELEMENTS (damaged); k++) {
    const Damaged *d = &damaged[k];
    g_autofree char *path = record_path (f, d->kind, d->name);
    g_autoptr (GError) error = NULL;
    g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GPtrArray) listed = NULL;
    GDestroyNotify free_func = NULL;
    gpointer rec;

    g_test_message ("%s: %s", d->kind, d->text);
    vfm_test_write (path, d->text);
    rec = read_any (f, d->kind, d->name, &error, &free_func);
    if (rec != NULL)
      free_func (rec);
    g_assert_null (rec);
    g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
    g_assert_nonnull (strstr (error->message, path));
    g_assert_nonnull (strstr (error->message, d->why));

    listed = list_any (f, d->kind, warnings);
    g_assert_cmpuint (listed->len, ==, 0);
    g_assert_cmpuint (warnings->len, ==, 1);
    g_assert_cmpstr (g_ptr_array_index (warnings, 0), ==, error->message);
    g_assert_cmpint (g_unlink (path), ==, 0);
  }
}

/* Every member of every record shape, given a value of another type, makes
 * the record damaged with the member named. The record's name ("bdf",
 * "domain_uuid") comes from its file name, and "devices" has its own test. */
static void
test_every_member_typed (Fixture *f, gconstpointer data)
{
  VfmOwned o = { .bdf = BDF, .original_driver = "ice", .original_override = "ice", .driver = "vfio-pci",
                 .bound_at = 1 };
  VfmIntent i = { .op = VFM_INTENT_BIND, .bdf = BDF, .target_driver = "vfio-pci", .previous_driver = "iavf",
                  .previous_override = "iavf", .original_driver = "ice", .original_override = "ice",
                  .started_at = 2, .pid = 3 };
  VfmSriovIntent s = { .op = VFM_SRIOV_CREATE, .pf = BDF, .numvfs = 4, .previous_autoprobe = 1, .started_at = 4,
                       .pid = 5 };
  g_autoptr (VfmMigrationRecord) m = sample_migration ();
  struct {
    const char *kind, *name;
    JsonNode *node;
  } shapes[] = {
    { "owned", BDF, vfm_owned_to_json (&o) },
    { "intent", BDF, vfm_intent_to_json (&i) },
    { "sriov", BDF, vfm_sriov_intent_to_json (&s) },
    { "migrations", UUID, vfm_migration_record_to_json (m) },
  };
  guint checked = 0;

  for (guint k = 0; k < G_N_ELEMENTS (shapes); k++) {
    g_autofree char *path = record_path (f, shapes[k].kind, shapes[k].name);
    g_autofree char *original = vfm_json_to_string (shapes[k].node, FALSE);
    g_autoptr (GList) members = json_object_get_members (json_node_get_object (shapes[k].node));

    for (GList *l = members; l != NULL; l = l->next) {
      const char *key = l->data;
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonNode *copy;
      JsonObject *obj;
      JsonNode *member;
      g_autofree char *text = NULL;
      g_autofree char *named = g_strdup_printf ("\"%s\"", key);
      g_autoptr (GError) error = NULL;
      GDestroyNotify free_func = NULL;
      gpointer rec;

      if (g_str_equal (key, "bdf") || g_str_equal (key, "domain_uuid") || g_str_equal (key, "devices"))
        continue;
      /* a deep copy: json_node_copy shares the object */
      g_assert_true (json_parser_load_from_data (parser, original, -1, NULL));
      copy = json_parser_get_root (parser);
      obj = json_node_get_object (copy);
      member = json_object_get_member (obj, key);
      if (JSON_NODE_HOLDS_VALUE (member) && json_node_get_value_type (member) == G_TYPE_STRING)
        json_object_set_int_member (obj, key, 1);
      else if (JSON_NODE_HOLDS_VALUE (member) && json_node_get_value_type (member) == G_TYPE_INT64)
        json_object_set_string_member (obj, key, "1");
      else if (JSON_NODE_HOLDS_VALUE (member) && json_node_get_value_type (member) == G_TYPE_BOOLEAN)
        json_object_set_string_member (obj, key, "true");
      else
        json_object_set_array_member (obj, key, json_array_new ());
      text = vfm_json_to_string (copy, TRUE);
      g_test_message ("%s: %s", shapes[k].kind, key);
      vfm_test_write (path, text);

      rec = read_any (f, shapes[k].kind, shapes[k].name, &error, &free_func);
      if (rec != NULL)
        free_func (rec);
      g_assert_null (rec);
      g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
      g_assert_nonnull (strstr (error->message, path));
      g_assert_nonnull (strstr (error->message, named));
      checked++;
    }
    json_node_unref (shapes[k].node);
  }
  g_assert_cmpuint (checked, ==, 4 + 8 + 6 + 10);
}

/* Good and damaged records side by side; files that are not records (a
 * temp file, a name that is not a BDF) are not listed at all. */
static void
test_list_mixed (Fixture *f, gconstpointer data)
{
  VfmOwned good = { .bdf = BDF2, .driver = "vfio-pci", .original_driver = "iavf", .bound_at = 1 };
  g_autofree char *bad = record_path (f, "owned", BDF);
  g_autofree char *junk = record_path (f, "owned", "not-a-bdf");
  g_autofree char *dir = g_path_get_dirname (bad);
  g_autofree char *tmp = g_build_filename (dir, BDF ".json.XYZ123", NULL);
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) owned = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (vfm_journal_write_owned (f->sr, &good, &error));
  g_assert_no_error (error);
  vfm_test_write (bad, "{\"driver\": false}");
  vfm_test_write (junk, "{\"driver\": 1}");
  vfm_test_write (tmp, "{");
  owned = vfm_journal_list_owned (f->sr, warnings);
  g_assert_cmpuint (owned->len, ==, 1);
  g_assert_cmpstr (((VfmOwned *) g_ptr_array_index (owned, 0))->bdf, ==, BDF2);
  g_assert_cmpstr (((VfmOwned *) g_ptr_array_index (owned, 0))->original_driver, ==, "iavf");
  g_assert_cmpuint (warnings->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (warnings, 0), bad));
  g_assert_nonnull (strstr (g_ptr_array_index (warnings, 0), "\"driver\" is not a string"));
}

/* The devices of a migration record are members like the others: a wrong
 * type there must make the record damaged too, or a recovery would read
 * "nothing was detached" and leave the guest without its devices. */
static void
test_migration_devices_wrong_type (Fixture *f, gconstpointer data)
{
  static const char *texts[] = {
    "{\"domain_name\": \"g\", \"source_uri\": \"a\", \"dest_uri\": \"b\", \"peer\": \"p\","
    " \"devices\": \"" BDF "\"}",
    "{\"domain_name\": \"g\", \"source_uri\": \"a\", \"dest_uri\": \"b\", \"peer\": \"p\","
    " \"devices\": [{\"bdf\": \"" BDF "\", \"detached\": \"yes\"}]}",
    "{\"domain_name\": \"g\", \"source_uri\": \"a\", \"dest_uri\": \"b\", \"peer\": \"p\","
    " \"devices\": [\"" BDF "\"]}",
  };
  g_autofree char *path = record_path (f, "migrations", UUID);
  guint wrong = 0;

  for (guint k = 0; k < G_N_ELEMENTS (texts); k++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (VfmMigrationRecord) m = NULL;
    vfm_test_write (path, texts[k]);
    m = vfm_journal_read_migration (f->sr, UUID, &error);
    if (m != NULL) {
      g_test_message ("read as a record with %u device(s), not damaged: %s", m->devices->len, texts[k]);
      wrong++;
      continue;
    }
    g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
    g_assert_nonnull (strstr (error->message, path));
  }
  g_assert_cmpuint (wrong, ==, 0);
}

/* ---- the claims file ---- */

static VfmClaim *
make_claim (const char *id, const char *dev_bdf, gint64 expires_at)
{
  VfmClaim *c = vfm_claim_new ();
  VfmClaimDevice *d = g_new0 (VfmClaimDevice, 1);
  c->id = g_strdup (id);
  c->domain_uuid = g_strdup (UUID);
  c->domain_name = g_strdup ("guest1");
  c->state = g_strdup ("claimed");
  c->created_at = 1000;
  c->expires_at = expires_at;
  d->source_bdf = g_strdup ("0000:17:00.2");
  d->bdf = g_strdup (dev_bdf);
  d->driver = g_strdup ("mlx5_vfio_pci");
  d->bound = TRUE;
  g_ptr_array_add (c->devices, d);
  return c;
}

static gint64
now_s (void)
{
  return g_get_real_time () / G_USEC_PER_SEC;
}

static void
test_claims_save_load (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) claims = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_free);
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (f->root, "var/lib/vfmig/claims.json", NULL);

  /* no file: no claims, no problem */
  back = vfm_claim_store_load (f->sr, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->len, ==, 0);
  g_clear_pointer (&back, g_ptr_array_unref);
  g_assert_null (vfm_claim_store_problem (f->sr));

  g_ptr_array_add (claims, make_claim ("c1", BDF, now_s () + 3600));
  g_ptr_array_add (claims, make_claim ("c2", BDF2, 0));
  g_assert_true (vfm_claim_store_save (f->sr, claims, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));

  back = vfm_claim_store_load (f->sr, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->len, ==, 2);
  for (guint i = 0; i < 2; i++) {
    g_autoptr (JsonNode) a = vfm_claim_to_json (g_ptr_array_index (claims, i));
    g_autoptr (JsonNode) b = vfm_claim_to_json (g_ptr_array_index (back, i));
    assert_json_equal (a, b);
  }
  {
    VfmClaim *c2 = vfm_claim_store_find (back, "c2");
    const VfmClaimDevice *d = g_ptr_array_index (c2->devices, 0);
    g_assert_cmpstr (d->bdf, ==, BDF2);
    g_assert_cmpstr (d->source_bdf, ==, "0000:17:00.2");
    g_assert_cmpstr (d->driver, ==, "mlx5_vfio_pci");
    g_assert_true (d->bound);
    g_assert_cmpint (c2->expires_at, ==, 0);
    g_assert_null (vfm_claim_store_find (back, "c3"));
  }
  {
    g_autoptr (VfmClaim) got = vfm_claim_store_get (f->sr, "c1", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (got->id, ==, "c1");
    g_assert_null (vfm_claim_store_get (f->sr, "nope", &error));
    g_assert_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND);
  }
}

/* A lease that ran out goes to the expired list (or is dropped from the
 * result); a claim without expiry never runs out. */
static void
test_claims_expiry (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) claims = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_free);
  g_autoptr (GPtrArray) expired = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_free);
  g_autoptr (GPtrArray) live = NULL;
  g_autoptr (GPtrArray) live2 = NULL;
  g_autoptr (GHashTable) taken = NULL;
  g_autoptr (GError) error = NULL;

  g_ptr_array_add (claims, make_claim ("old", BDF, now_s () - 10));
  g_ptr_array_add (claims, make_claim ("new", BDF2, now_s () + 3600));
  g_ptr_array_add (claims, make_claim ("running", "0000:3b:00.4", 0));
  g_assert_true (vfm_claim_store_save (f->sr, claims, &error));

  live = vfm_claim_store_load (f->sr, expired, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (live->len, ==, 2);
  g_assert_nonnull (vfm_claim_store_find (live, "new"));
  g_assert_nonnull (vfm_claim_store_find (live, "running"));
  g_assert_cmpuint (expired->len, ==, 1);
  g_assert_cmpstr (((VfmClaim *) g_ptr_array_index (expired, 0))->id, ==, "old");

  live2 = vfm_claim_store_load (f->sr, NULL, &error);
  g_assert_cmpuint (live2->len, ==, 2);
  g_assert_null (vfm_claim_store_find (live2, "old"));
  g_assert_null (vfm_claim_store_get (f->sr, "old", &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND);

  /* the taken set: devices of live claims only */
  taken = vfm_claim_store_taken (f->sr);
  g_assert_cmpuint (g_hash_table_size (taken), ==, 2);
  g_assert_true (g_hash_table_contains (taken, BDF2));
  g_assert_true (g_hash_table_contains (taken, "0000:3b:00.4"));
  g_assert_false (g_hash_table_contains (taken, BDF));
}

static gboolean
edit_state (VfmClaim *c, gpointer data, GError **error)
{
  g_free (c->state);
  c->state = g_strdup (data);
  return TRUE;
}

static gboolean
edit_refuse (VfmClaim *c, gpointer data, GError **error)
{
  g_free (c->state);
  c->state = g_strdup ("must-not-be-saved");
  g_set_error (error, VFM_ERROR, VFM_ERROR_REFUSED, "no");
  return FALSE;
}

static void
test_claims_edit_remove (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) claims = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_free);
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) taken = NULL;

  g_ptr_array_add (claims, make_claim ("a", BDF, now_s () + 3600));
  g_ptr_array_add (claims, make_claim ("b", BDF2, now_s () + 3600));
  g_assert_true (vfm_claim_store_save (f->sr, claims, &error));

  g_assert_true (vfm_claim_store_edit (f->sr, "a", edit_state, "prepared", FALSE, &error));
  g_assert_no_error (error);
  {
    g_autoptr (VfmClaim) a = vfm_claim_store_get (f->sr, "a", &error);
    g_autoptr (VfmClaim) b = vfm_claim_store_get (f->sr, "b", &error);
    g_assert_cmpstr (a->state, ==, "prepared");
    g_assert_cmpstr (b->state, ==, "claimed");
  }

  /* an edit that fails changes nothing */
  g_assert_false (vfm_claim_store_edit (f->sr, "a", edit_refuse, NULL, TRUE, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_REFUSED);
  g_clear_error (&error);
  {
    g_autoptr (VfmClaim) a = vfm_claim_store_get (f->sr, "a", &error);
    g_assert_no_error (error);
    g_assert_cmpstr (a->state, ==, "prepared");
  }

  /* no such claim */
  g_assert_false (vfm_claim_store_edit (f->sr, "zzz", edit_state, "x", FALSE, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* remove */
  g_assert_true (vfm_claim_store_edit (f->sr, "a", NULL, NULL, TRUE, &error));
  g_assert_no_error (error);
  g_assert_null (vfm_claim_store_get (f->sr, "a", &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND);
  g_clear_error (&error);
  taken = vfm_claim_store_taken (f->sr);
  g_assert_cmpuint (g_hash_table_size (taken), ==, 1);
  g_assert_true (g_hash_table_contains (taken, BDF2));
}

/* A damaged file is an error naming it, from every entry point; claims are
 * never silently forgotten, and nothing overwrites the file. */
static void
test_claims_damaged (Fixture *f, gconstpointer data)
{
  static const char *texts[] = {
    "{\"id\": \"a\"}",                                     /* not an array */
    "[{\"id\": \"a\", \"devices\": [{\"bdf\": \"../x\"}]}]", /* a device that is not a BDF */
    "[{\"devices\": []}]",                                 /* no id */
    "[{\"id\": \"a\", \"devices\": {}}]",                  /* devices not an array */
    "[{\"id\": \"a\", \"devices\": [\"" BDF "\"]}]",       /* a device that is not an object */
    "[{'id': 'a'}]",                                       /* not strict JSON */
    "[",
  };
  g_autofree char *path = g_build_filename (f->root, "var/lib/vfmig/claims.json", NULL);

  for (guint k = 0; k < G_N_ELEMENTS (texts); k++) {
    g_autoptr (GError) error = NULL;
    g_autofree char *problem = NULL;
    g_autofree char *after = NULL;
    g_autoptr (GHashTable) taken = NULL;
    GPtrArray *loaded;

    g_test_message ("%s", texts[k]);
    vfm_test_write (path, texts[k]);
    loaded = vfm_claim_store_load (f->sr, NULL, &error);
    g_assert_null (loaded);
    g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
    g_assert_nonnull (strstr (error->message, path));
    g_clear_error (&error);

    problem = vfm_claim_store_problem (f->sr);
    g_assert_nonnull (problem);
    g_assert_nonnull (strstr (problem, path));

    g_assert_false (vfm_claim_store_edit (f->sr, "a", NULL, NULL, TRUE, &error));
    g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);
    g_clear_error (&error);
    g_assert_null (vfm_claim_store_get (f->sr, "a", &error));
    g_assert_error (error, VFM_ERROR, VFM_ERROR_PARSE);

    taken = vfm_claim_store_taken (f->sr);
    g_assert_cmpuint (g_hash_table_size (taken), ==, 0);
    after = vfm_test_read (path);
    g_assert_cmpstr (after, ==, texts[k]);
  }
}

/* ---- host uuid ---- */

static void
test_host_uuid (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *a = vfm_host_uuid (f->sr, &error);
  g_autofree char *b = vfm_host_uuid (f->sr, &error);
  g_autofree char *path = g_build_filename (f->root, "var/lib/vfmig/host-uuid", NULL);
  g_autofree char *c = NULL;

  g_assert_no_error (error);
  g_assert_true (g_uuid_string_is_valid (a));
  g_assert_cmpstr (a, ==, b);
  /* a damaged one is replaced, not returned */
  vfm_test_write (path, "garbage\n");
  c = vfm_host_uuid (f->sr, &error);
  g_assert_no_error (error);
  g_assert_true (g_uuid_string_is_valid (c));
  g_assert_cmpstr (c, !=, a);
}

/* A batch record: its members round-trip with ->batch set, list_intents
 * expands it beside a device's own intent, an empty array removes it, and a
 * damaged one - or one damaged member - is one warning naming the file,
 * never a partial list. */
static void
test_batch_record (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) intents = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_intent_free);
  g_autoptr (GPtrArray) back = NULL, listed = NULL, empty = g_ptr_array_new ();
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  g_autofree char *name = g_strconcat ("batch-", UUID, NULL);
  g_autofree char *path = record_path (f, "intent", name);
  VfmIntent own = { .op = VFM_INTENT_UNBIND, .bdf = (char *) "0000:3b:00.4", .pid = 7 };
  const char *bdfs[] = { BDF, BDF2 };
  const char *bad[] = {
    "{\"batch\": \"x\", \"intents\": 5}",
    "{\"intents\": [{\"bdf\": \"0000:3b:00.2\", \"op\": \"bind\", \"target_driver\": \"vfio-pci\"}, "
    "{\"bdf\": \"0000:3b:00.3\", \"target_driver\": \"vfio-pci\"}]}",
    "{\"intents\": [{\"bdf\": \"../x\", \"op\": \"bind\", \"target_driver\": \"vfio-pci\"}]}",
    "[",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bdfs); i++) {
    VfmIntent *it = g_new0 (VfmIntent, 1);
    it->op = VFM_INTENT_BIND;
    it->bdf = g_strdup (bdfs[i]);
    it->target_driver = g_strdup ("vfio-pci");
    it->previous_driver = i == 0 ? g_strdup ("mlx5_core") : NULL;
    it->pid = 42;
    g_ptr_array_add (intents, it);
  }
  g_assert_true (vfm_journal_write_batch (f->sr, UUID, intents, &error));
  g_assert_no_error (error);
  g_assert_true (vfm_journal_write_intent (f->sr, &own, &error));
  back = vfm_journal_read_batch (f->sr, UUID, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->len, ==, 2);
  for (guint i = 0; i < back->len; i++) {
    const VfmIntent *a = g_ptr_array_index (intents, i), *b = g_ptr_array_index (back, i);
    g_assert_cmpstr (b->bdf, ==, a->bdf);
    g_assert_cmpstr (b->target_driver, ==, a->target_driver);
    g_assert_cmpstr (b->previous_driver, ==, a->previous_driver);
    g_assert_cmpint (b->pid, ==, 42);
    g_assert_cmpstr (b->batch, ==, UUID);
  }
  listed = vfm_journal_list_intents (f->sr, warnings);
  g_assert_cmpuint (warnings->len, ==, 0);
  g_assert_cmpuint (listed->len, ==, 3);
  g_assert_cmpstr (((VfmIntent *) g_ptr_array_index (listed, 2))->batch, ==, UUID);
  g_assert_null (((VfmIntent *) g_ptr_array_index (listed, 0))->batch);
  g_assert_true (vfm_journal_write_batch (f->sr, UUID, empty, &error));
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_true (vfm_journal_clear_intent (f->sr, own.bdf, &error));

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (GPtrArray) w = g_ptr_array_new_with_free_func (g_free);
    g_autoptr (GPtrArray) l = NULL;
    g_autoptr (GError) e = NULL;
    g_autoptr (GPtrArray) none = NULL;
    vfm_test_write (path, bad[i]);
    none = vfm_journal_read_batch (f->sr, UUID, &e);
    g_assert_null (none);
    g_assert_error (e, VFM_ERROR, VFM_ERROR_PARSE);
    g_assert_nonnull (strstr (e->message, path));
    l = vfm_journal_list_intents (f->sr, w);
    g_assert_cmpuint (l->len, ==, 0);
    g_assert_cmpuint (w->len, ==, 1);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/state/journal/owned-round-trip", test_owned_round_trip);
  ADD ("/state/journal/intent-round-trip", test_intent_round_trip);
  ADD ("/state/journal/sriov-round-trip", test_sriov_round_trip);
  ADD ("/state/journal/sriov-legacy-pf-key", test_sriov_legacy_pf_key);
  ADD ("/state/journal/migration-round-trip", test_migration_round_trip);
  ADD ("/state/journal/names-refused", test_names_refused);
  ADD ("/state/journal/damaged-records", test_damaged_records);
  ADD ("/state/journal/every-member-typed", test_every_member_typed);
  ADD ("/state/journal/list-mixed", test_list_mixed);
  ADD ("/state/journal/batch-record", test_batch_record);
  ADD ("/state/journal/migration-devices-wrong-type", test_migration_devices_wrong_type);
  ADD ("/state/claims/save-load", test_claims_save_load);
  ADD ("/state/claims/expiry", test_claims_expiry);
  ADD ("/state/claims/edit-remove", test_claims_edit_remove);
  ADD ("/state/claims/damaged", test_claims_damaged);
  ADD ("/state/host-uuid", test_host_uuid);
#undef ADD
  return g_test_run ();
}
