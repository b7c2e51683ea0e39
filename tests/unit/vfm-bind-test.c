/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bind layer (src/lib/bind) under the kernel mock (tests/mock), which
 * makes a synthetic host's sysfs react like the kernel: binds verified by
 * the driver link, roll-back after injected faults, journal replay after a
 * crash between two sysfs writes. */
#include "vfm-autobind.h"
#include "vfm-batch.h"
#include "vfm-binder.h"
#include "vfm-error.h"
#include "vfm-hotplug.h"
#include "vfm-journal.h"
#include "vfm-lock.h"
#include "vfm-status.h"
#include "vfm-sysfs.h"

#include "vfm-test-host.h"

#include <signal.h>
#include <sys/wait.h>

/* gen-host.py --profile server --pfs 2 --vfs-per-pf 2 (see vfm-host-test.c) */
#define MLX_PF "0000:10:00.0"
#define VF "0000:10:00.2"
#define VF1 "0000:10:00.3"

typedef struct {
  char *root;
  VfmHost *host;
  VfmSysroot *sr;   /* the host's */
} Fixture;

static char *
attr_path (Fixture *f, const char *bdf, const char *attr)
{
  return g_build_filename (f->root, "sys/bus/pci/devices", bdf, attr, NULL);
}

/* The driver as the tree says, read without the library. */
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
  g_autofree char *link = attr_path (f, bdf, "driver");
  g_autofree char *target = g_file_read_link (link, NULL);
  return target ? g_path_get_basename (target) : NULL;
}

static char *
override_of (Fixture *f, const char *bdf)
{
  g_autofree char *path = attr_path (f, bdf, "driver_override");
  char *text = vfm_test_read (path);
  g_assert_nonnull (text);
  return g_strstrip (text);
}

static void
clear_log (Fixture *f)
{
  g_autofree char *log = g_build_filename (f->root, ".kmock", "log", NULL);
  vfm_test_write (log, "");
}

static void
mock_control (Fixture *f, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (f->root, ".kmock", name, NULL);
  vfm_test_write (path, text);
}

/* The mock's log, as one string, for order assertions. */
static void
assert_log (Fixture *f, const char *want)
{
  g_autofree char *log = vfm_test_mock_log (f->root);
  g_assert_cmpstr (log, ==, want);
}

static gboolean
intent_exists (Fixture *f, const char *bdf)
{
  g_autofree char *name = g_strconcat (bdf, ".json", NULL);
  g_autofree char *path = g_build_filename (f->root, "var/lib/vfmig/intent", name, NULL);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* Puts a VF on its host driver as the kernel would after a probe with the
 * PF's autoprobe on: override, drivers_probe, override cleared. */
static void
put_on (Fixture *f, const char *bdf, const char *driver)
{
  g_autofree char *ov = attr_path (f, bdf, "driver_override");
  g_autofree char *probe = g_build_filename (f->root, "sys/bus/pci/drivers_probe", NULL);
  g_autofree char *value = g_strdup_printf ("%s\n", driver);
  g_autofree char *now = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (vfm_sysfs_write (ov, value, &error));
  g_assert_true (vfm_sysfs_write (probe, bdf, &error));
  g_assert_true (vfm_sysfs_write (ov, "\n", &error));
  g_assert_no_error (error);
  now = link_driver (f, bdf);
  g_assert_cmpstr (now, ==, driver);
  clear_log (f);
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  f->root = vfm_test_gen_host ("server", 2, 2);
  f->host = vfm_host_new (f->root, &error);
  g_assert_no_error (error);
  f->sr = vfm_host_sysroot (f->host);
  clear_log (f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  vfm_host_free (f->host);
  vfm_test_rm_rf (f->root);
  g_free (f->root);
}

/* ---- bind and unbind ---- */

static void
test_bind_vfio_pci (Fixture *f, gconstpointer data)
{
  g_autoptr (VfmBindResult) r = vfm_binder_bind (f->host, VF, "vfio-pci", 0);
  g_autoptr (VfmOwned) owned = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *now = link_driver (f, VF);
  g_autofree char *drv_link = g_build_filename (f->root, "sys/bus/pci/drivers/vfio-pci", VF, NULL);
  g_autofree char *group_dev = g_strdup_printf ("%s/dev/vfio/%d", f->root,
                                                vfm_pci_device_iommu_group (vfm_host_device (f->host, VF, NULL)));

  g_assert_no_error (r->error);
  g_assert_true (r->changed);
  g_assert_cmpstr (r->driver, ==, "vfio-pci");
  g_assert_null (r->previous_driver);
  g_assert_cmpstr (now, ==, "vfio-pci");
  g_assert_true (g_file_test (drv_link, G_FILE_TEST_IS_SYMLINK));
  g_assert_true (g_file_test (group_dev, G_FILE_TEST_EXISTS));
  /* the kernel's protocol, in order; no unbind of an unbound device */
  assert_log (f, "override " VF " vfio-pci\nprobe " VF " -> vfio-pci\n");
  /* the result's group is the one after the bind */
  g_assert_nonnull (r->group);
  g_assert_true (r->group->viable);

  /* vfmig owns it now, and remembers it came from no driver */
  owned = vfm_journal_read_owned (f->sr, VF, &error);
  g_assert_no_error (error);
  g_assert_nonnull (owned);
  g_assert_cmpstr (owned->driver, ==, "vfio-pci");
  g_assert_null (owned->original_driver);
  g_assert_false (intent_exists (f, VF));

  /* again: nothing to do, nothing written */
  clear_log (f);
  {
    g_autoptr (VfmBindResult) again = vfm_binder_bind (f->host, VF, "vfio-pci", 0);
    g_assert_no_error (again->error);
    g_assert_false (again->changed);
    assert_log (f, "");
  }

  /* unbind: back to no driver, override cleared, record gone */
  {
    g_autoptr (VfmBindResult) u = vfm_binder_unbind (f->host, VF, 0);
    g_autofree char *after = link_driver (f, VF);
    g_autofree char *ov = override_of (f, VF);
    g_assert_no_error (u->error);
    g_assert_true (u->changed);
    g_assert_null (after);
    g_assert_cmpstr (ov, ==, "(null)");
    g_assert_false (is_owned (f->sr, VF));
    g_assert_false (g_file_test (group_dev, G_FILE_TEST_EXISTS));
  }
}

/* From a host driver to the selected variant driver and back: the owned
 * record keeps the host driver, and unbind returns the device to it. */
static void
test_bind_selected_and_back (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmOwned) owned = NULL;

  put_on (f, VF, "mlx5_core");
  {
    g_autoptr (VfmBindResult) r = vfm_binder_bind (f->host, VF, NULL, 0);
    g_autofree char *now = link_driver (f, VF);
    g_assert_no_error (r->error);
    g_assert_cmpstr (r->driver, ==, "mlx5_vfio_pci");
    g_assert_cmpstr (r->previous_driver, ==, "mlx5_core");
    g_assert_cmpstr (now, ==, "mlx5_vfio_pci");
    assert_log (f, "override " VF " mlx5_vfio_pci\nunbind mlx5_core " VF "\nprobe " VF " -> mlx5_vfio_pci\n");
  }
  owned = vfm_journal_read_owned (f->sr, VF, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (owned->driver, ==, "mlx5_vfio_pci");
  g_assert_cmpstr (owned->original_driver, ==, "mlx5_core");
  g_assert_null (owned->original_override);

  /* a second bind to another VFIO driver keeps the original host driver */
  {
    g_autoptr (VfmBindResult) r = vfm_binder_bind (f->host, VF, "vfio-pci", 0);
    g_autoptr (VfmOwned) again = vfm_journal_read_owned (f->sr, VF, NULL);
    g_assert_no_error (r->error);
    g_assert_cmpstr (again->driver, ==, "vfio-pci");
    g_assert_cmpstr (again->original_driver, ==, "mlx5_core");
  }

  clear_log (f);
  {
    g_autoptr (VfmBindResult) u = vfm_binder_unbind (f->host, VF, 0);
    g_autofree char *now = link_driver (f, VF);
    g_autofree char *ov = override_of (f, VF);
    g_assert_no_error (u->error);
    g_assert_cmpstr (u->driver, ==, "mlx5_core");
    g_assert_cmpstr (now, ==, "mlx5_core");
    g_assert_cmpstr (ov, ==, "(null)");
    assert_log (f, "unbind vfio-pci " VF "\noverride " VF " mlx5_core\nprobe " VF " -> mlx5_core\noverride " VF
                   " (null)\n");
    g_assert_false (is_owned (f->sr, VF));
  }

  /* not vfmig's: unbind refuses, there is no host driver to return to */
  {
    g_autoptr (VfmBindResult) u = vfm_binder_unbind (f->host, VF, 0);
    g_assert_error (u->error, VFM_ERROR, VFM_ERROR_NOT_FOUND);
  }
}

/* A probe failure (injected through the mock) leaves the device unbound;
 * the binder sees no driver link and puts it back on its previous driver
 * and override. Nothing is owned, no intent is left. */
static void
test_probe_failure_rolls_back (Fixture *f, gconstpointer data)
{
  g_autoptr (VfmBindResult) r = NULL;
  g_autofree char *now = NULL;
  g_autofree char *ov = NULL;

  put_on (f, VF, "mlx5_core");
  mock_control (f, "fail/probe/vfio-pci", "19\n");
  r = vfm_binder_bind (f->host, VF, "vfio-pci", 0);
  g_assert_error (r->error, VFM_ERROR, VFM_ERROR_BIND);
  g_assert_nonnull (strstr (r->error->message, "cannot bind " VF " to vfio-pci: "));
  g_assert_nonnull (strstr (r->error->message, "probe failed"));
  g_assert_nonnull (strstr (r->error->message, "rolled back to mlx5_core"));
  g_assert_false (r->changed);

  now = link_driver (f, VF);
  ov = override_of (f, VF);
  g_assert_cmpstr (now, ==, "mlx5_core");
  g_assert_cmpstr (ov, ==, "(null)");
  assert_log (f, "override " VF " vfio-pci\nunbind mlx5_core " VF "\nprobe " VF " -> none\n"
                 "override " VF " mlx5_core\nprobe " VF " -> mlx5_core\noverride " VF " (null)\n");
  g_assert_false (is_owned (f->sr, VF));
  g_assert_false (intent_exists (f, VF));
  g_assert_null (r->group); /* a failed bind reports no group */
}

/* The same from no driver: back to unbound with the override it had. */
static void
test_probe_failure_unbound (Fixture *f, gconstpointer data)
{
  g_autoptr (VfmBindResult) r = NULL;
  g_autofree char *now = NULL;
  g_autofree char *ov = NULL;

  mock_control (f, "fail/probe/mlx5_vfio_pci", "");
  r = vfm_binder_bind (f->host, VF, "mlx5_vfio_pci", 0);
  g_assert_error (r->error, VFM_ERROR, VFM_ERROR_BIND);
  g_assert_nonnull (strstr (r->error->message, "rolled back to no driver"));
  now = link_driver (f, VF);
  ov = override_of (f, VF);
  g_assert_null (now);
  g_assert_cmpstr (ov, ==, "(null)");
  g_assert_false (intent_exists (f, VF));
}

/* An unbind the kernel refuses: the device never left its driver. */
static void
test_unbind_failure (Fixture *f, gconstpointer data)
{
  g_autoptr (VfmBindResult) r = NULL;
  g_autofree char *now = NULL;
  g_autofree char *ov = NULL;

  put_on (f, VF, "mlx5_core");
  mock_control (f, "fail/unbind/mlx5_core", "16\n");
  r = vfm_binder_bind (f->host, VF, "vfio-pci", 0);
  g_assert_error (r->error, VFM_ERROR, VFM_ERROR_BIND);
  g_assert_nonnull (strstr (r->error->message, "unbind from mlx5_core"));
  now = link_driver (f, VF);
  ov = override_of (f, VF);
  g_assert_cmpstr (now, ==, "mlx5_core");
  g_assert_cmpstr (ov, ==, "(null)");
  g_assert_false (is_owned (f->sr, VF));
  g_assert_false (intent_exists (f, VF));
}

/* Host safety comes before anything is touched. */
static void
test_refusals (Fixture *f, gconstpointer data)
{
  {
    /* a PF that controls VFs */
    g_autoptr (VfmBindResult) r = vfm_binder_bind (f->host, MLX_PF, "vfio-pci", 0);
    g_assert_error (r->error, VFM_ERROR, VFM_ERROR_REFUSED);
    g_assert_nonnull (strstr (r->error->message, "controls 2 VFs"));
  }
  {
    /* a NIC with the host's addresses */
    g_autofree char *addrs = g_build_filename (f->root, ".kmock/addresses/enp5s0f0", NULL);
    g_autoptr (VfmBindResult) r = NULL;
    vfm_test_write (addrs, "192.0.2.4/24\n");
    r = vfm_binder_bind (f->host, "0000:05:00.0", "vfio-pci", 0);
    g_assert_error (r->error, VFM_ERROR, VFM_ERROR_REFUSED);
    g_assert_nonnull (strstr (r->error->message, "enp5s0f0 is up with 192.0.2.4/24"));
  }
  {
    /* not a VFIO driver, not a driver name */
    g_autoptr (VfmBindResult) a = vfm_binder_bind (f->host, VF, "mlx5_core", 0);
    g_autoptr (VfmBindResult) b = vfm_binder_bind (f->host, VF, "../vfio-pci", 0);
    g_assert_error (a->error, VFM_ERROR, VFM_ERROR_NOT_FOUND);
    g_assert_error (b->error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT);
  }
  assert_log (f, "");
  g_assert_false (intent_exists (f, VF));

  /* a dry run says the steps and changes nothing */
  {
    g_autoptr (VfmBindResult) r = vfm_binder_bind (f->host, VF, "vfio-pci", VFM_BIND_DRY_RUN);
    g_autofree char *now = link_driver (f, VF);
    g_assert_no_error (r->error);
    g_assert_false (r->changed);
    g_assert_cmpuint (r->steps->len, >=, 3);
    g_assert_null (now);
    assert_log (f, "");
    g_assert_false (intent_exists (f, VF));
    g_assert_false (is_owned (f->sr, VF));
  }
}

/* ---- journal replay ---- */

/* Runs a bind in a child that the mock kills (SIGKILL) right after its Nth
 * kernel operation, as a crash between two sysfs writes would. */
static void
crash_after (Fixture *f, guint n, const char *bdf, const char *driver, gboolean unbind)
{
  g_autofree char *count = g_strdup_printf ("%u\n", n);
  int status = 0;
  pid_t pid;

  mock_control (f, "kill_after", count);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0) {
    VfmHost *host = vfm_host_new (f->root, NULL);
    VfmBindResult *r = unbind ? vfm_binder_unbind (host, bdf, 0) : vfm_binder_bind (host, bdf, driver, 0);
    (void) r;
    _exit (3); /* not reached: the mock kills us first */
  }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
  g_assert_true (intent_exists (f, bdf));
}

/* Killed between unbind and drivers_probe: the device is on no driver with
 * the target's override. Replay rolls it back to the host driver. */
static void
test_recover_rolls_back (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) results = NULL;
  g_autoptr (VfmHost) host = NULL;
  g_autofree char *mid = NULL, *now = NULL, *ov = NULL;
  const VfmBindResult *r;

  put_on (f, VF, "mlx5_core");
  crash_after (f, 2, VF, "vfio-pci", FALSE);
  mid = link_driver (f, VF);
  g_assert_null (mid);
  assert_log (f, "override " VF " vfio-pci\nunbind mlx5_core " VF "\n");

  host = vfm_host_new (f->root, NULL);
  results = vfm_batch_recover (host);
  g_assert_cmpuint (results->len, ==, 1);
  r = g_ptr_array_index (results, 0);
  g_assert_no_error (r->error);
  g_assert_cmpstr (r->op, ==, "recover");
  g_assert_cmpstr (r->bdf, ==, VF);
  g_assert_true (r->changed);
  g_assert_cmpstr (r->driver, ==, "mlx5_core");
  g_assert_nonnull (strstr (r->message, "rolled back to mlx5_core"));

  now = link_driver (f, VF);
  ov = override_of (f, VF);
  g_assert_cmpstr (now, ==, "mlx5_core");
  g_assert_cmpstr (ov, ==, "(null)");
  g_assert_false (intent_exists (f, VF));
  g_assert_false (is_owned (f->sr, VF));

  /* nothing left to replay */
  {
    g_autoptr (GPtrArray) again = vfm_batch_recover (host);
    g_assert_cmpuint (again->len, ==, 0);
  }
}

/* Killed after drivers_probe bound the target, before the owned record was
 * written: the bind had completed, so replay records it. */
static void
test_recover_finishes (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) results = NULL;
  g_autoptr (VfmHost) host = NULL;
  g_autoptr (VfmOwned) owned = NULL;
  g_autofree char *now = NULL;
  const VfmBindResult *r;

  put_on (f, VF, "mlx5_core");
  crash_after (f, 3, VF, "vfio-pci", FALSE);
  g_assert_false (is_owned (f->sr, VF));

  host = vfm_host_new (f->root, NULL);
  results = vfm_batch_recover (host);
  g_assert_cmpuint (results->len, ==, 1);
  r = g_ptr_array_index (results, 0);
  g_assert_no_error (r->error);
  g_assert_cmpstr (r->driver, ==, "vfio-pci");
  g_assert_nonnull (strstr (r->message, "had completed"));

  now = link_driver (f, VF);
  g_assert_cmpstr (now, ==, "vfio-pci");
  owned = vfm_journal_read_owned (f->sr, VF, NULL);
  g_assert_nonnull (owned);
  g_assert_cmpstr (owned->driver, ==, "vfio-pci");
  g_assert_cmpstr (owned->original_driver, ==, "mlx5_core");
  g_assert_false (intent_exists (f, VF));

  /* and the recorded original is what unbind returns it to */
  {
    g_autoptr (VfmBindResult) u = vfm_binder_unbind (host, VF, 0);
    g_autofree char *back = link_driver (f, VF);
    g_assert_no_error (u->error);
    g_assert_cmpstr (back, ==, "mlx5_core");
  }
}

/* An interrupted return to the host driver: the device had already left
 * vfio-pci; replay puts it back where the operation started (vfio-pci,
 * still owned). */
static void
test_recover_interrupted_unbind (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) results = NULL;
  g_autoptr (VfmHost) host = NULL;
  g_autofree char *now = NULL;
  const VfmBindResult *r;

  put_on (f, VF, "mlx5_core");
  {
    g_autoptr (VfmBindResult) b = vfm_binder_bind (f->host, VF, "vfio-pci", 0);
    g_assert_no_error (b->error);
  }
  clear_log (f);
  crash_after (f, 1, VF, NULL, TRUE);
  assert_log (f, "unbind vfio-pci " VF "\n");

  host = vfm_host_new (f->root, NULL);
  results = vfm_batch_recover (host);
  g_assert_cmpuint (results->len, ==, 1);
  r = g_ptr_array_index (results, 0);
  g_assert_no_error (r->error);
  g_assert_cmpstr (r->driver, ==, "vfio-pci");
  now = link_driver (f, VF);
  g_assert_cmpstr (now, ==, "vfio-pci");
  g_assert_true (is_owned (f->sr, VF));
  g_assert_false (intent_exists (f, VF));
}

/* An intent whose device lock is held belongs to a live operation: replay
 * leaves it alone. A damaged intent is reported and left in place. */
static void
test_recover_skips (Fixture *f, gconstpointer data)
{
  VfmIntent it = { .op = VFM_INTENT_BIND, .bdf = VF, .target_driver = "vfio-pci", .previous_driver = NULL };
  g_autofree char *bad = g_build_filename (f->root, "var/lib/vfmig/intent", VF1 ".json", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) results = NULL;
  g_autoptr (VfmLock) lock = NULL;
  const VfmBindResult *r;

  g_assert_true (vfm_journal_write_intent (f->sr, &it, &error));
  vfm_test_write (bad, "{\"op\": \"bind\", \"target_driver\": 7}");
  lock = vfm_lock_device (f->sr, VF, 0, &error);
  g_assert_no_error (error);

  results = vfm_batch_recover (f->host);
  g_assert_cmpuint (results->len, ==, 1);
  r = g_ptr_array_index (results, 0);
  g_assert_cmpstr (r->op, ==, "recover");
  g_assert_false (r->changed);
  g_assert_cmpuint (r->warnings->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (r->warnings, 0), bad));
  g_assert_nonnull (strstr (g_ptr_array_index (r->warnings, 0), "left in place"));
  g_assert_true (intent_exists (f, VF));
  g_assert_true (g_file_test (bad, G_FILE_TEST_EXISTS));
  assert_log (f, "");

  /* the lock released (its holder gone): now it is replayed */
  g_clear_pointer (&lock, vfm_lock_release);
  g_clear_pointer (&results, g_ptr_array_unref);
  results = vfm_batch_recover (f->host);
  g_assert_cmpuint (results->len, ==, 2);
  g_assert_false (intent_exists (f, VF));
}

/* ---- batches ---- */

static void
test_batch_bind_and_status (Fixture *f, gconstpointer data)
{
  g_autoptr (GPtrArray) bdfs = g_ptr_array_new ();
  VfmBatchOptions opts = { .driver = "vfio-pci" };
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) results = NULL;
  g_autoptr (VfmStatus) st = NULL;

  g_ptr_array_add (bdfs, VF);
  g_ptr_array_add (bdfs, VF1);
  results = vfm_batch_bind (f->host, bdfs, &opts, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (results->len, ==, 2);
  for (guint i = 0; i < 2; i++) {
    const VfmBindResult *r = g_ptr_array_index (results, i);
    g_autofree char *now = link_driver (f, r->bdf);
    g_assert_no_error (r->error);
    g_assert_cmpstr (now, ==, "vfio-pci");
  }
  st = vfm_status_read (f->host);
  g_assert_cmpuint (st->owned->len, ==, 2);
  g_assert_cmpuint (st->intents->len, ==, 0);
  g_assert_cmpuint (st->problems->len, ==, 0);

  /* restore returns everything vfmig owns */
  g_clear_pointer (&results, g_ptr_array_unref);
  results = vfm_batch_restore (f->host, 0, NULL);
  g_assert_cmpuint (results->len, ==, 2);
  for (guint i = 0; i < 2; i++) {
    const VfmBindResult *r = g_ptr_array_index (results, i);
    g_autofree char *now = link_driver (f, r->bdf);
    g_assert_no_error (r->error);
    g_assert_null (now);
  }
  g_clear_pointer (&st, vfm_status_free);
  st = vfm_status_read (f->host);
  g_assert_cmpuint (st->owned->len, ==, 0);
}

/* A batch record a dead process left (VF half-bound: override set, no
 * driver; VF1 bound, no owned record yet). A bind of VF alone - which, like
 * the hook's and vfmigd's, does not run the whole recovery first - finds
 * it once it holds VF's lock, rolls VF back and then binds it; VF1 stays in
 * the record, and the next recovery records its finished bind. */
static void
test_batch_record_recovered_under_lock (Fixture *f, gconstpointer data)
{
  const char *batch = "0b1f7c4e-1a2b-4c3d-8e9f-a0b1c2d3e4f5";
  g_autoptr (GPtrArray) intents = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_intent_free);
  g_autoptr (GPtrArray) left = NULL, listed = NULL, again = NULL;
  g_autoptr (VfmBindResult) r = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *ov = attr_path (f, VF, "driver_override");
  g_autofree char *ov1 = attr_path (f, VF1, "driver_override");
  g_autofree char *probe = g_build_filename (f->root, "sys/bus/pci/drivers_probe", NULL);
  g_autofree char *now = NULL, *now1 = NULL;
  const char *bdfs[] = { VF, VF1 };

  for (guint i = 0; i < G_N_ELEMENTS (bdfs); i++) {
    VfmIntent *it = g_new0 (VfmIntent, 1);
    it->op = VFM_INTENT_BIND;
    it->bdf = g_strdup (bdfs[i]);
    it->target_driver = g_strdup ("vfio-pci");
    it->pid = 999999;
    g_ptr_array_add (intents, it);
  }
  g_assert_true (vfm_journal_write_batch (f->sr, batch, intents, &error));
  g_assert_no_error (error);
  g_assert_true (vfm_sysfs_write (ov, "vfio-pci\n", &error));
  g_assert_true (vfm_sysfs_write (ov1, "vfio-pci\n", &error));
  g_assert_true (vfm_sysfs_write (probe, VF1, &error));
  g_assert_no_error (error);
  listed = vfm_journal_list_intents (f->sr, NULL);
  g_assert_cmpuint (listed->len, ==, 2);
  g_assert_cmpstr (((VfmIntent *) g_ptr_array_index (listed, 0))->batch, ==, batch);

  r = vfm_binder_bind (f->host, VF, "vfio-pci", 0);
  g_assert_no_error (r->error);
  g_assert_true (r->changed);
  g_assert_cmpuint (r->warnings->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (r->warnings, 0), "interrupted bind rolled back to no driver"));
  g_assert_true (is_owned (f->sr, VF));
  g_assert_false (is_owned (f->sr, VF1));
  left = vfm_journal_read_batch (f->sr, batch, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (left->len, ==, 1);
  g_assert_cmpstr (((VfmIntent *) g_ptr_array_index (left, 0))->bdf, ==, VF1);

  again = vfm_batch_recover (f->host);
  g_assert_cmpuint (again->len, ==, 1);
  g_assert_nonnull (strstr (((VfmBindResult *) g_ptr_array_index (again, 0))->message, "had completed; recorded it"));
  g_assert_true (is_owned (f->sr, VF1));
  now = link_driver (f, VF);
  now1 = link_driver (f, VF1);
  g_assert_cmpstr (now, ==, "vfio-pci");
  g_assert_cmpstr (now1, ==, "vfio-pci");
  g_clear_pointer (&listed, g_ptr_array_unref);
  listed = vfm_journal_list_intents (f->sr, NULL);
  g_assert_cmpuint (listed->len, ==, 0);
}

/* vfmigd's add of a VF whose PF a live vf create works on (its sriov record
 * names a live pid: this test's) leaves the VF to it; once the record names
 * a dead process, the same add binds it by policy. */
static void
test_autobind_leaves_vf_create_its_vfs (Fixture *f, gconstpointer data)
{
  g_autofree char *pol = g_build_filename (f->root, "etc/vfmig/policies.d/t.conf", NULL);
  VfmSriovIntent rec = { .op = VFM_SRIOV_CREATE, .pf = (char *) MLX_PF, .numvfs = 2, .pid = getpid () };
  g_autoptr (GError) error = NULL;
  g_autofree char *now = NULL, *later = NULL;

  vfm_test_write (pol, "[Policy cx]\nIds=15b3:101e\nManage=true\nAutoBind=true\n");
  g_assert_true (vfm_journal_write_sriov (f->sr, &rec, &error));
  g_assert_no_error (error);
  {
    g_autoptr (VfmHost) host = vfm_host_new (f->root, NULL);
    g_autoptr (GPtrArray) events = vfm_autobind_device (host, VF);
    g_assert_cmpuint (events->len, ==, 1);
    g_assert_cmpint (((VfmPolicyEvent *) g_ptr_array_index (events, 0))->level, ==, G_LOG_LEVEL_DEBUG);
    g_assert_nonnull (strstr (((VfmPolicyEvent *) g_ptr_array_index (events, 0))->message, "left to the vf create"));
  }
  now = link_driver (f, VF);
  g_assert_null (now);
  g_assert_false (is_owned (f->sr, VF));

  rec.pid = 999999; /* past pid_max: no such process */
  g_assert_true (vfm_journal_write_sriov (f->sr, &rec, &error));
  {
    g_autoptr (VfmHost) host = vfm_host_new (f->root, NULL);
    g_autoptr (GPtrArray) events = vfm_autobind_device (host, VF);
    g_assert_cmpuint (events->len, ==, 1);
    g_assert_nonnull (strstr (((VfmPolicyEvent *) g_ptr_array_index (events, 0))->message, "bound " VF));
  }
  later = link_driver (f, VF);
  g_assert_cmpstr (later, ==, "mlx5_vfio_pci");
  g_assert_true (is_owned (f->sr, VF));
}

/* vfmigd's hotplug worker (vfm-hotplug): what it was told, and the add it
 * passes on when the worker says it waits for it (as the daemon's main loop
 * passes on the events the kernel sent during the write). */
typedef struct {
  VfmHotplug *hp;
  GMutex lock;
  GPtrArray *seen;        /* "topic: message" */
  const char *announce;   /* added when the worker waits for one more VF */
  const char *queued;     /* added when the worker reads the monitor (drain) */
  guint drains;
} HotplugSeen;

/* the daemon's uevent monitor, read by the worker: what the kernel sent
 * and the main loop did not read yet */
static gboolean
hotplug_drain (gpointer data)
{
  HotplugSeen *s = data;
  s->drains++;
  if (s->queued != NULL)
    vfm_hotplug_added (s->hp, g_steal_pointer (&s->queued));
  return TRUE;
}

static void
hotplug_event (const VfmPolicyEvent *e, gpointer data)
{
  HotplugSeen *s = data;
  g_mutex_lock (&s->lock);
  g_ptr_array_add (s->seen, g_strdup_printf ("%s: %s", e->topic, e->message));
  g_mutex_unlock (&s->lock);
  if (s->announce != NULL && strstr (e->message, "waiting for the add events of 1 more VFs") != NULL)
    vfm_hotplug_added (s->hp, s->announce);
}

#define AUTO_BIND_POLICY "[Policy cx]\nIds=15b3:101e\nManage=true\nAutoBind=true\n"

/* A hotplug worker on the fixture's host with POLICY in policies.d/t.conf;
 * TIMEOUT_MS: its announce timeout (0: the default); DRAIN: a monitor's
 * socket it reads (hotplug_drain) */
static void
hotplug_start (Fixture *f, HotplugSeen *s, const char *policy, guint timeout_ms, gboolean drain)
{
  g_autofree char *pol = g_build_filename (f->root, "etc/vfmig/policies.d/t.conf", NULL);
  vfm_test_write (pol, policy);
  s->seen = g_ptr_array_new_with_free_func (g_free);
  g_mutex_init (&s->lock);
  s->hp = vfm_hotplug_new (f->root, hotplug_event, s);
  if (timeout_ms > 0)
    vfm_hotplug_set_announce_timeout (s->hp, timeout_ms);
  if (drain)
    vfm_hotplug_set_drain (s->hp, hotplug_drain, s);
}

static void
hotplug_add (HotplugSeen *s, const char *bdf)
{
  vfm_hotplug_added (s->hp, bdf);
  vfm_hotplug_wait_idle (s->hp);
}

/* the worker gone, what it said in the test's log */
static void
hotplug_stop (HotplugSeen *s)
{
  g_clear_pointer (&s->hp, vfm_hotplug_free);
  for (guint i = 0; i < s->seen->len; i++)
    g_test_message ("event: %s", (char *) g_ptr_array_index (s->seen, i));
}

static void
hotplug_seen_clear (HotplugSeen *s)
{
  g_clear_pointer (&s->hp, vfm_hotplug_free);
  g_ptr_array_unref (s->seen);
  g_mutex_clear (&s->lock);
}

static guint
count_seen (HotplugSeen *s, const char *needle)
{
  guint n = 0;
  for (guint i = 0; i < s->seen->len; i++)
    n += strstr (g_ptr_array_index (s->seen, i), needle) != NULL;
  return n;
}

/* The add of one VF of a write that created two: the worker applies its
 * policy, waits for the other's add (it comes while it waits), then binds
 * both as ONE request: one journal record for both, each bound once,
 * nothing left pending. */
static void
test_hotplug_one_write_one_batch (Fixture *f, gconstpointer data)
{
  HotplugSeen s = { .announce = VF1 };
  g_autoptr (GPtrArray) pending = NULL;
  g_autofree char *now = NULL, *now1 = NULL;

  hotplug_start (f, &s, AUTO_BIND_POLICY, 0, FALSE);
  hotplug_add (&s, VF);
  hotplug_stop (&s);
  g_assert_cmpuint (count_seen (&s, "auto-bind of 2 devices as one request (journal record batch-"), ==, 1);
  g_assert_cmpuint (count_seen (&s, ": " VF " " VF1), ==, 1);
  g_assert_cmpuint (count_seen (&s, "auto-bind of"), ==, 1);
  g_assert_cmpuint (count_seen (&s, "bound " VF " to mlx5_vfio_pci"), ==, 1);
  g_assert_cmpuint (count_seen (&s, "bound " VF1 " to mlx5_vfio_pci"), ==, 1);
  g_assert_cmpuint (count_seen (&s, "waiting for the add events of 1 more VFs"), ==, 1);
  /* the announced VF's policy was applied before the wait for the other */
  g_assert_cmpuint (count_seen (&s, "hotplug round: 2 devices; no write under way and its VFs announced"), ==, 1);
  g_assert_cmpuint (count_seen (&s, "(the policy of 1 applied by then)"), ==, 1);
  now = link_driver (f, VF);
  now1 = link_driver (f, VF1);
  g_assert_cmpstr (now, ==, "mlx5_vfio_pci");
  g_assert_cmpstr (now1, ==, "mlx5_vfio_pci");
  g_assert_true (is_owned (f->sr, VF));
  g_assert_true (is_owned (f->sr, VF1));
  pending = vfm_journal_list_intents (f->sr, NULL);
  g_assert_cmpuint (pending->len, ==, 0);
  hotplug_seen_clear (&s);
}

/* The other VF's add is in the monitor's socket, which nobody else reads
 * (the main loop has not had the CPU yet): once the write is over the
 * worker reads it itself and binds both as one request, without waiting
 * for anyone to pass it on. */
static void
test_hotplug_reads_queued_events (Fixture *f, gconstpointer data)
{
  HotplugSeen s = { .queued = VF1 };
  g_autofree char *now = NULL, *now1 = NULL;

  hotplug_start (f, &s, AUTO_BIND_POLICY, 200, TRUE);
  hotplug_add (&s, VF);
  hotplug_stop (&s);
  g_assert_cmpuint (s.drains, >=, 1);
  g_assert_null (s.queued);
  g_assert_cmpuint (count_seen (&s, "auto-bind of 2 devices as one request (journal record batch-"), ==, 1);
  g_assert_cmpuint (count_seen (&s, "waiting for the add events"), ==, 0);
  g_assert_cmpuint (count_seen (&s, "not announced"), ==, 0);
  now = link_driver (f, VF);
  now1 = link_driver (f, VF1);
  g_assert_cmpstr (now, ==, "mlx5_vfio_pci");
  g_assert_cmpstr (now1, ==, "mlx5_vfio_pci");
  hotplug_seen_clear (&s);
}

/* A VF re-added on its own (a rescan) while its sibling stays unbound,
 * never announced: once the monitor's socket is read to its end the sibling
 * is known not to be of a write, so the round does not wait for it (the
 * deadline is a minute here: waiting would fail the test by its timeout),
 * binds the announced VF alone and leaves the sibling. */
static void
test_hotplug_rescan_does_not_wait (Fixture *f, gconstpointer data)
{
  HotplugSeen s = { 0 };
  g_autofree char *now = NULL, *now1 = NULL;

  hotplug_start (f, &s, AUTO_BIND_POLICY, 60000, TRUE);
  hotplug_add (&s, VF);
  hotplug_stop (&s);
  g_assert_cmpuint (count_seen (&s, "1 unbound VFs of the same PFs were not announced, so not made by this write"), ==, 1);
  g_assert_cmpuint (count_seen (&s, "waiting for the add events"), ==, 0);
  g_assert_cmpuint (count_seen (&s, "bound " VF " to mlx5_vfio_pci"), ==, 1);
  g_assert_cmpuint (count_seen (&s, "auto-bind of"), ==, 0);
  now = link_driver (f, VF);
  now1 = link_driver (f, VF1);
  g_assert_cmpstr (now, ==, "mlx5_vfio_pci");
  g_assert_null (now1);
  hotplug_seen_clear (&s);
}

/* The add of the other VF never comes (a lost event): past the deadline the
 * worker binds the announced one alone, says so, and leaves the other to its
 * own add; when that comes, it is bound in a round of its own. */
static void
test_hotplug_unannounced_vf_left (Fixture *f, gconstpointer data)
{
  HotplugSeen s = { 0 };
  g_autofree char *now = NULL, *now1 = NULL, *later1 = NULL;

  hotplug_start (f, &s, AUTO_BIND_POLICY, 200, FALSE);
  hotplug_add (&s, VF);
  g_assert_cmpuint (count_seen (&s, "1 VFs created with the others were not announced within 200 ms"), ==, 1);
  g_assert_cmpuint (count_seen (&s, "bound " VF " to mlx5_vfio_pci"), ==, 1);
  g_assert_cmpuint (count_seen (&s, "auto-bind of"), ==, 0); /* a request of one: its own record */
  now = link_driver (f, VF);
  now1 = link_driver (f, VF1);
  g_assert_cmpstr (now, ==, "mlx5_vfio_pci");
  g_assert_null (now1);
  g_assert_false (is_owned (f->sr, VF1));

  hotplug_add (&s, VF1);
  hotplug_stop (&s);
  later1 = link_driver (f, VF1);
  g_assert_cmpstr (later1, ==, "mlx5_vfio_pci");
  g_assert_cmpuint (count_seen (&s, "bound " VF " to"), ==, 1);
  g_assert_cmpuint (count_seen (&s, "bound " VF1 " to mlx5_vfio_pci"), ==, 1);
  hotplug_seen_clear (&s);
}

/* The worker keeps the parsed database from round to round, but a policy
 * edited in place (same file) applies from the next round on; seen by
 * inotify or by the key (DATA: the mode of the start-up's watch). */
static void
test_hotplug_policy_edit_applies (Fixture *f, gconstpointer data)
{
  g_autofree char *pol = g_build_filename (f->root, "etc/vfmig/policies.d/t.conf", NULL);
  HotplugSeen s = { .announce = VF1 };
  g_autofree char *before = NULL, *after = NULL, *after1 = NULL;

  hotplug_start (f, &s, "[Policy cx]\nIds=15b3:101e\nManage=true\nAutoBind=false\n", 0, FALSE);
  {
    /* as vfmigd's start does: the database read at start is the first round's */
    g_autoptr (VfmHost) host = vfm_host_new (f->root, NULL);
    VfmDbWatch *watch = vfm_db_watch_new (host, GPOINTER_TO_INT (data));
    g_assert_nonnull (vfm_host_db (host, NULL));
    vfm_hotplug_keep_db (s.hp, host, watch);
  }
  hotplug_add (&s, VF);
  before = link_driver (f, VF);
  g_assert_null (before);
  g_assert_cmpuint (count_seen (&s, "bound "), ==, 0);

  vfm_test_write (pol, AUTO_BIND_POLICY);
  hotplug_add (&s, VF);
  hotplug_stop (&s);
  after = link_driver (f, VF);
  after1 = link_driver (f, VF1);
  g_assert_cmpstr (after, ==, "mlx5_vfio_pci");
  g_assert_cmpstr (after1, ==, "mlx5_vfio_pci");
  g_assert_cmpuint (count_seen (&s, "auto-bind of 2 devices as one request"), ==, 1);
  hotplug_seen_clear (&s);
}

int
main (int argc, char **argv)
{
  vfm_test_preload_mock (argv);
  g_test_init (&argc, &argv, NULL);

#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/bind/vfio-pci", test_bind_vfio_pci);
  ADD ("/bind/selected-and-back", test_bind_selected_and_back);
  ADD ("/bind/probe-failure-rolls-back", test_probe_failure_rolls_back);
  ADD ("/bind/probe-failure-unbound", test_probe_failure_unbound);
  ADD ("/bind/unbind-failure", test_unbind_failure);
  ADD ("/bind/refusals-and-dry-run", test_refusals);
  ADD ("/bind/recover/rolls-back", test_recover_rolls_back);
  ADD ("/bind/recover/finishes", test_recover_finishes);
  ADD ("/bind/recover/interrupted-unbind", test_recover_interrupted_unbind);
  ADD ("/bind/recover/skips-live-and-damaged", test_recover_skips);
  ADD ("/bind/batch/bind-status-restore", test_batch_bind_and_status);
  ADD ("/bind/batch/record-recovered-under-lock", test_batch_record_recovered_under_lock);
  ADD ("/bind/autobind/leaves-vf-create-its-vfs", test_autobind_leaves_vf_create_its_vfs);
  ADD ("/bind/hotplug/one-write-one-batch", test_hotplug_one_write_one_batch);
  ADD ("/bind/hotplug/unannounced-vf-left", test_hotplug_unannounced_vf_left);
  ADD ("/bind/hotplug/reads-queued-events", test_hotplug_reads_queued_events);
  ADD ("/bind/hotplug/rescan-does-not-wait", test_hotplug_rescan_does_not_wait);
  g_test_add ("/bind/hotplug/policy-edit-applies", Fixture, GINT_TO_POINTER (VFM_DB_WATCH_AUTO), fixture_set_up,
              test_hotplug_policy_edit_applies, fixture_tear_down);
  g_test_add ("/bind/hotplug/policy-edit-applies-key", Fixture, GINT_TO_POINTER (VFM_DB_WATCH_KEY), fixture_set_up,
              test_hotplug_policy_edit_applies, fixture_tear_down);
#undef ADD
  return g_test_run ();
}
