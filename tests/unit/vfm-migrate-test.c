/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migrate layer (src/lib/migrate): claims on a migration's destination,
 * on a synthetic host under the kernel mock (prepare binds, release with
 * restore returns); the migration's step table. */
#include "vfm-claims.h"
#include "vfm-error.h"
#include "vfm-journal.h"
#include "vfm-migrate.h"
#include "vfm-sysfs.h"

#include "vfm-test-host.h"

#include <sys/wait.h>

/* gen-host.py --profile server --pfs 2 --vfs-per-pf 2 (see vfm-host-test.c) */
#define VF0 "0000:10:00.2"
#define VF1 "0000:10:00.3"
#define ICE_VF0 "0000:11:01.0"
#define DOMAIN_UUID "6f1e3d7a-52c4-4b8e-9d0a-1f2e3d4c5b6a"

typedef struct {
  char *root;
  VfmHost *host;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->root = vfm_test_gen_host ("server", 2, 2);
  f->host = vfm_host_new (f->root, &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  vfm_host_free (f->host);
  vfm_test_rm_rf (f->root);
  g_free (f->root);
}

/* Whether vfmig holds a record of owning bdf. */
static gboolean
is_owned (VfmSysroot *sr, const char *bdf)
{
  g_autoptr (VfmOwned) o = vfm_journal_read_owned (sr, bdf, NULL);
  return o != NULL;
}

static char *
link_driver (Fixture *f, const char *bdf)
{
  g_autofree char *link = g_build_filename (f->root, "sys/bus/pci/devices", bdf, "driver", NULL);
  g_autofree char *target = g_file_read_link (link, NULL);
  return target ? g_path_get_basename (target) : NULL;
}

static void
assert_driver (Fixture *f, const char *bdf, const char *want)
{
  g_autofree char *now = link_driver (f, bdf);
  g_assert_cmpstr (now, ==, want);
}

/* A VF on its host driver, as after a probe with the PF's autoprobe on. */
static void
put_on (Fixture *f, const char *bdf, const char *driver)
{
  g_autofree char *ov = g_build_filename (f->root, "sys/bus/pci/devices", bdf, "driver_override", NULL);
  g_autofree char *probe = g_build_filename (f->root, "sys/bus/pci/drivers_probe", NULL);
  g_autofree char *value = g_strdup_printf ("%s\n", driver);
  g_autoptr (GError) error = NULL;

  g_assert_true (vfm_sysfs_write (ov, value, &error));
  g_assert_true (vfm_sysfs_write (probe, bdf, &error));
  g_assert_true (vfm_sysfs_write (ov, "\n", &error));
  g_assert_no_error (error);
  assert_driver (f, bdf, driver);
}

static VfmClaimWant *
want_mlx (const char *source_bdf)
{
  VfmClaimWant *w = g_new0 (VfmClaimWant, 1);
  w->source_bdf = g_strdup (source_bdf);
  w->vendor = 0x15b3;
  w->device = 0x101e;
  w->subsystem_vendor = 0x15b3;
  w->subsystem_device = 0x0016;
  w->class_code = 0x020000;
  w->driver = g_strdup ("mlx5_vfio_pci");
  return w;
}

static VfmClaimWant *
want_ice (void)
{
  VfmClaimWant *w = g_new0 (VfmClaimWant, 1);
  w->source_bdf = g_strdup ("0000:3b:01.0");
  w->vendor = 0x8086;
  w->device = 0x1889;
  w->subsystem_vendor = 0x8086;
  w->subsystem_device = 0x0002;
  w->class_code = 0x020000;
  w->driver = g_strdup ("vfio-pci");
  return w;
}

static GPtrArray *
wants (VfmClaimWant *first, ...)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_claim_want_free);
  va_list ap;
  va_start (ap, first);
  for (VfmClaimWant *w = first; w != NULL; w = va_arg (ap, VfmClaimWant *))
    g_ptr_array_add (out, w);
  va_end (ap);
  return out;
}

static VfmClaim *
claim (Fixture *f, GPtrArray *w, GError **error)
{
  return vfm_claims_claim (f->host, DOMAIN_UUID, "guest1", w, 600, error);
}

static const char *
claimed_bdf (const VfmClaim *c, guint i)
{
  return ((VfmClaimDevice *) g_ptr_array_index (c->devices, i))->bdf;
}

/* ---- choosing devices ---- */

static void
test_claim_free_matching (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) w1 = wants (want_mlx ("0000:3b:00.2"), want_ice (), NULL);
  g_autoptr (GPtrArray) w2 = wants (want_mlx ("0000:3b:00.2"), NULL);
  g_autoptr (GPtrArray) w3 = wants (want_mlx ("0000:3b:00.2"), NULL);
  g_autoptr (VfmClaim) a = NULL, b = NULL, c = NULL;
  g_autoptr (GHashTable) taken = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  const VfmClaimDevice *d;

  a = claim (f, w1, &error);
  g_assert_no_error (error);
  g_assert_nonnull (a);
  g_assert_true (g_uuid_string_is_valid (a->id));
  g_assert_cmpstr (a->state, ==, "claimed");
  g_assert_cmpint (a->expires_at, >=, now + 590);
  g_assert_cmpint (a->expires_at, <=, now + 610);
  g_assert_cmpuint (a->devices->len, ==, 2);
  d = g_ptr_array_index (a->devices, 0);
  g_assert_true (g_str_equal (d->bdf, VF0) || g_str_equal (d->bdf, VF1));
  g_assert_cmpstr (d->source_bdf, ==, "0000:3b:00.2");
  g_assert_cmpstr (d->driver, ==, "mlx5_vfio_pci");
  g_assert_false (d->bound);
  d = g_ptr_array_index (a->devices, 1);
  g_assert_true (g_str_has_prefix (d->bdf, "0000:11:01."));
  g_assert_cmpstr (d->driver, ==, "vfio-pci");

  /* the second claim gets the other ConnectX VF, the third none */
  b = claim (f, w2, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claimed_bdf (b, 0), !=, claimed_bdf (a, 0));
  g_assert_true (g_str_equal (claimed_bdf (b, 0), VF0) || g_str_equal (claimed_bdf (b, 0), VF1));
  c = claim (f, w3, &error);
  g_assert_null (c);
  g_assert_error (error, VFM_ERROR, VFM_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, "no free device 15b3:101e"));
  g_clear_error (&error);

  /* the store holds exactly the two */
  taken = vfm_claim_store_taken (vfm_host_sysroot (f->host));
  g_assert_cmpuint (g_hash_table_size (taken), ==, 3);
  g_assert_true (g_hash_table_contains (taken, VF0));
  g_assert_true (g_hash_table_contains (taken, VF1));
  {
    g_autoptr (GPtrArray) list = vfm_claims_list (f->host, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (list->len, ==, 2);
  }

  /* released: free again */
  g_assert_true (vfm_claims_release (f->host, b->id, FALSE, NULL, &error));
  g_assert_no_error (error);
  c = claim (f, w3, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claimed_bdf (c, 0), ==, claimed_bdf (b, 0));
}

/* Two devices in one claim are two devices; the source's own address is
 * preferred when it is free; other subsystem ids are not a match. */
static void
test_claim_choice (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) pair = wants (want_mlx (NULL), want_mlx (NULL), NULL);
  g_autoptr (GPtrArray) same_bdf = wants (want_mlx (VF1), NULL);
  g_autoptr (GPtrArray) other_ss = wants (want_mlx (NULL), NULL);
  g_autoptr (VfmClaim) a = NULL, b = NULL;

  a = claim (f, pair, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (a->devices->len, ==, 2);
  g_assert_cmpstr (claimed_bdf (a, 0), !=, claimed_bdf (a, 1));
  g_assert_true (vfm_claims_release (f->host, a->id, FALSE, NULL, &error));

  b = claim (f, same_bdf, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claimed_bdf (b, 0), ==, VF1);
  g_assert_true (vfm_claims_release (f->host, b->id, FALSE, NULL, &error));

  ((VfmClaimWant *) g_ptr_array_index (other_ss, 0))->subsystem_device = 0x0017;
  g_assert_null (claim (f, other_ss, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_BUSY);
}

/* A device on a host driver is not free; one a VM holds is not free; one
 * already on VFIO and unused is. */
static void
test_claim_not_free (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) w = wants (want_mlx (NULL), NULL);
  g_autofree char *in_use = g_build_filename (f->root, ".kmock/in-use", VF1, NULL);
  g_autoptr (VfmClaim) c = NULL;

  put_on (f, VF0, "mlx5_core");
  {
    g_autoptr (VfmBindResult) r = vfm_binder_bind (f->host, VF1, "mlx5_vfio_pci", 0);
    g_assert_no_error (r->error);
  }
  vfm_test_write (in_use, "");
  g_assert_null (claim (f, w, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_BUSY);
  g_clear_error (&error);

  g_assert_cmpint (g_unlink (in_use), ==, 0);
  c = claim (f, w, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claimed_bdf (c, 0), ==, VF1);
}

/* Several processes claiming at once (the claims lock): each device goes to
 * one claim only. */
static void
test_claim_concurrent (Fixture *f, gconstpointer data)
{
  enum { N = 4 };
  pid_t pids[N];
  int out[2];
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  guint busy = 0;
  char buf[64];
  FILE *in;

  g_assert_cmpint (pipe (out), ==, 0);
  for (int i = 0; i < N; i++) {
    pids[i] = fork ();
    g_assert_cmpint (pids[i], >=, 0);
    if (pids[i] == 0) {
      VfmHost *host = vfm_host_new (f->root, NULL);
      GPtrArray *w = wants (want_mlx (NULL), NULL);
      GError *e = NULL;
      VfmClaim *c = vfm_claims_claim (host, DOMAIN_UUID, "guest1", w, 600, &e);
      char line[64];
      const char *what = c ? claimed_bdf (c, 0) : g_error_matches (e, VFM_ERROR, VFM_ERROR_BUSY) ? "busy" : "error";
      int n = g_snprintf (line, sizeof line, "%s\n", what);
      _exit (write (out[1], line, n) == n ? 0 : 1);
    }
  }
  close (out[1]);
  in = fdopen (out[0], "r");
  while (fgets (buf, sizeof buf, in) != NULL) {
    g_strchomp (buf);
    if (strcmp (buf, "busy") == 0) {
      busy++;
      continue;
    }
    g_assert_cmpstr (buf, !=, "error");
    g_assert_false (g_hash_table_contains (seen, buf));
    g_hash_table_add (seen, g_strdup (buf));
  }
  fclose (in);
  for (int i = 0; i < N; i++) {
    int status;
    g_assert_cmpint (waitpid (pids[i], &status, 0), ==, pids[i]);
    g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  }
  g_assert_cmpuint (g_hash_table_size (seen), ==, 2);
  g_assert_cmpuint (busy, ==, N - 2);
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GPtrArray) list = vfm_claims_list (f->host, &error);
    g_assert_cmpuint (list->len, ==, 2);
  }
}

/* ---- prepare and release ---- */

static void
test_prepare_release_restore (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) w = wants (want_mlx (NULL), want_mlx (NULL), NULL);
  g_autoptr (VfmClaim) c = NULL;
  g_autoptr (GPtrArray) prepared = NULL;
  g_autoptr (GPtrArray) returned = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);
  VfmSysroot *sr = vfm_host_sysroot (f->host);

  /* VF1 was on mlx5_vfio_pci before the migration came: prepare leaves it
   * alone, and restore must not take it away */
  {
    g_autoptr (VfmBindResult) r = vfm_binder_bind (f->host, VF1, "mlx5_vfio_pci", 0);
    g_assert_no_error (r->error);
  }
  c = claim (f, w, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (c->devices->len, ==, 2);
  /* the device already on the wanted driver ranks first */
  g_assert_cmpstr (claimed_bdf (c, 0), ==, VF1);
  g_assert_cmpstr (claimed_bdf (c, 1), ==, VF0);

  prepared = vfm_claims_prepare (f->host, c->id, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (prepared->len, ==, 2);
  assert_driver (f, VF0, "mlx5_vfio_pci");
  assert_driver (f, VF1, "mlx5_vfio_pci");
  {
    g_autoptr (VfmClaim) now = vfm_claim_store_get (sr, c->id, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (now->state, ==, "prepared");
    g_assert_false (((VfmClaimDevice *) g_ptr_array_index (now->devices, 0))->bound);
    g_assert_true (((VfmClaimDevice *) g_ptr_array_index (now->devices, 1))->bound);
  }
  {
    g_autoptr (VfmOwned) o = vfm_journal_read_owned (sr, VF0, NULL);
    g_assert_nonnull (o);
    g_assert_null (o->original_driver);
  }

  g_assert_true (vfm_claims_release (f->host, c->id, TRUE, returned, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (returned->len, ==, 1);
  g_assert_cmpstr (((VfmBindResult *) g_ptr_array_index (returned, 0))->bdf, ==, VF0);
  assert_driver (f, VF0, NULL);
  assert_driver (f, VF1, "mlx5_vfio_pci");
  g_assert_false (is_owned (sr, VF0));
  g_assert_true (is_owned (sr, VF1));
  g_assert_null (vfm_claim_store_get (sr, c->id, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND);
}

/* Without restore the devices stay on VFIO, free for the next claim. */
static void
test_release_keep (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) w = wants (want_mlx (NULL), NULL);
  g_autoptr (VfmClaim) c = claim (f, w, &error);
  g_autoptr (GPtrArray) prepared = NULL;
  g_autoptr (VfmClaim) next = NULL;

  g_assert_no_error (error);
  prepared = vfm_claims_prepare (f->host, c->id, &error);
  g_assert_no_error (error);
  assert_driver (f, claimed_bdf (c, 0), "mlx5_vfio_pci");
  g_assert_true (vfm_claims_release (f->host, c->id, FALSE, NULL, &error));
  assert_driver (f, claimed_bdf (c, 0), "mlx5_vfio_pci");

  next = claim (f, w, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (claimed_bdf (next, 0), ==, claimed_bdf (c, 0));
}

static gboolean
expire_now (VfmClaim *c, gpointer data, GError **error)
{
  c->expires_at = g_get_real_time () / G_USEC_PER_SEC - 1;
  return TRUE;
}

/* A lease that ran out ends like a release with restore. */
static void
test_expiry_returns (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) w = wants (want_mlx (VF0), NULL);
  g_autoptr (VfmClaim) c = claim (f, w, &error);
  g_autoptr (GPtrArray) prepared = NULL;
  g_autoptr (GPtrArray) list = NULL;
  VfmSysroot *sr = vfm_host_sysroot (f->host);

  g_assert_no_error (error);
  g_assert_cmpstr (claimed_bdf (c, 0), ==, VF0);
  prepared = vfm_claims_prepare (f->host, c->id, &error);
  g_assert_no_error (error);
  assert_driver (f, VF0, "mlx5_vfio_pci");

  g_assert_true (vfm_claim_store_edit (sr, c->id, expire_now, NULL, FALSE, &error));
  list = vfm_claims_list (f->host, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 0);
  assert_driver (f, VF0, NULL);
  g_assert_false (is_owned (sr, VF0));

  /* an expired claim cannot be renewed or adopted */
  g_assert_false (vfm_claims_renew (f->host, c->id, 600, &error));
  g_assert_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND);
}

/* An expired claim must be returned even when the next access is an edit of
 * another claim (renew, adopt, prepare, release all rewrite the file). */
static void
test_expiry_survives_other_edit (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) wa = wants (want_mlx (VF0), NULL);
  g_autoptr (GPtrArray) wb = wants (want_mlx (VF1), NULL);
  g_autoptr (VfmClaim) a = claim (f, wa, &error);
  g_autoptr (VfmClaim) b = claim (f, wb, &error);
  g_autoptr (GPtrArray) prepared = NULL;
  g_autoptr (GPtrArray) list = NULL;
  g_autofree char *left = NULL;
  VfmSysroot *sr = vfm_host_sysroot (f->host);

  g_assert_no_error (error);
  prepared = vfm_claims_prepare (f->host, a->id, &error);
  g_assert_no_error (error);
  assert_driver (f, VF0, "mlx5_vfio_pci");
  g_assert_true (vfm_claim_store_edit (sr, a->id, expire_now, NULL, FALSE, &error));

  /* the other migration renews its lease first */
  g_assert_true (vfm_claims_renew (f->host, b->id, 600, &error));
  g_assert_no_error (error);
  list = vfm_claims_list (f->host, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, ==, 1);

  left = link_driver (f, VF0);
  if (left != NULL)
    g_test_message ("%s stays on %s, owned by vfmig, with no claim left to return it", VF0, left);
  g_assert_null (left);
  g_assert_false (is_owned (sr, VF0));
}

/* ---- the wants on the wire ---- */

static void
test_wants_json (void)
{
  g_autoptr (GPtrArray) w = wants (want_mlx ("0000:3b:00.2"), want_ice (), NULL);
  g_autoptr (JsonNode) node = vfm_claim_wants_to_json (w);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) back = vfm_claim_wants_from_json (node, &error);
  const VfmClaimWant *m;

  g_assert_no_error (error);
  g_assert_cmpuint (back->len, ==, 2);
  m = g_ptr_array_index (back, 0);
  g_assert_cmpstr (m->source_bdf, ==, "0000:3b:00.2");
  g_assert_cmphex (m->vendor, ==, 0x15b3);
  g_assert_cmphex (m->subsystem_device, ==, 0x0016);
  g_assert_cmphex (m->class_code, ==, 0x020000);
  g_assert_cmpstr (m->driver, ==, "mlx5_vfio_pci");

  static const char *bad[] = {
    "{}",
    "[{\"vendor\": 5571, \"device\": \"101e\", \"subsystem_vendor\": \"15b3\", \"subsystem_device\": \"0016\", \"class\": \"020000\"}]",
    "[{\"vendor\": \"15b3x\", \"device\": \"101e\", \"subsystem_vendor\": \"15b3\", \"subsystem_device\": \"0016\", \"class\": \"020000\"}]",
    "[{\"vendor\": \"15b3\", \"device\": \"101e\", \"subsystem_vendor\": \"15b3\", \"subsystem_device\": \"0016\", \"class\": \"1020000\"}]",
    "[{\"vendor\": \"15b3\", \"device\": \"101e\", \"subsystem_vendor\": \"15b3\", \"subsystem_device\": \"0016\", \"class\": \"020000\", \"driver\": \"../x\"}]",
    "[{\"vendor\": \"15b3\", \"device\": \"101e\", \"subsystem_vendor\": \"15b3\", \"subsystem_device\": \"0016\", \"class\": \"020000\", \"source_bdf\": \"3b:00.2\"}]",
    "[1]",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autoptr (JsonParser) p = json_parser_new ();
    GPtrArray *r;
    g_assert_true (json_parser_load_from_data (p, bad[i], -1, NULL));
    r = vfm_claim_wants_from_json (json_parser_get_root (p), &error);
    g_assert_null (r);
    g_assert_nonnull (error);
    g_clear_error (&error);
  }
}

/* ---- the migration sequence ---- */

static void
test_step_names (void)
{
  static const char *want[] = { "pre-flight", "journal", "claim", "prepare", "detach", "migrate", "verify",
                                "attach", "adopt", "source", NULL };
  const char * const *names = vfm_migrate_step_names ();
  g_assert_nonnull (names);
  g_assert_cmpstrv (names, want);
}

int
main (int argc, char **argv)
{
  vfm_test_preload_mock (argv);
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/migrate/claims/free-matching", test_claim_free_matching);
  ADD ("/migrate/claims/choice", test_claim_choice);
  ADD ("/migrate/claims/not-free", test_claim_not_free);
  ADD ("/migrate/claims/concurrent", test_claim_concurrent);
  ADD ("/migrate/claims/prepare-release-restore", test_prepare_release_restore);
  ADD ("/migrate/claims/release-keep", test_release_keep);
  ADD ("/migrate/claims/expiry-returns", test_expiry_returns);
  ADD ("/migrate/claims/expiry-survives-other-edit", test_expiry_survives_other_edit);
  g_test_add_func ("/migrate/claims/wants-json", test_wants_json);
  g_test_add_func ("/migrate/step-names", test_step_names);
#undef ADD
  return g_test_run ();
}
