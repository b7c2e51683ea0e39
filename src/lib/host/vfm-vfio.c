/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-vfio.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-iommu.h"
#include "vfm-lock.h"
#include "vfm-sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <linux/vfio.h>
#include <string.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Debian 12's linux/vfio.h predates PRE_COPY (kernel 6.2; Decisions 7). */
#ifndef VFIO_MIGRATION_PRE_COPY
#define VFIO_MIGRATION_PRE_COPY (1 << 2)
#endif

/* Not in Debian 12's uapi headers (kernel 6.1): iommufd's IOMMU_GET_HW_INFO
 * (6.6, dirty tracking capability 6.7) and VFIO's cdev bind (6.6); the
 * numbers and layouts of include/uapi/linux/iommufd.h and vfio.h. */
#define VFM_IOMMUFD_TYPE ';'
#define VFM_IOMMU_GET_HW_INFO _IO (VFM_IOMMUFD_TYPE, 0x8a)
#define VFM_IOMMU_HW_CAP_DIRTY_TRACKING (1ULL << 0)
#define VFM_VFIO_DEVICE_BIND_IOMMUFD _IO (VFIO_TYPE, VFIO_BASE + 18)

struct vfm_vfio_device_bind_iommufd {
  guint32 argsz;
  guint32 flags;
  gint32 iommufd;
  guint32 out_devid;
};

struct vfm_iommu_hw_info {
  guint32 size;
  guint32 flags;
  guint32 dev_id;
  guint32 data_len;
  guint64 data_uptr;
  guint32 out_data_type;
  guint32 reserved;
  guint64 out_capabilities;
};

const char *
vfm_dirty_tracking_name (VfmDirtyTracking t)
{
  switch (t) {
  case VFM_DIRTY_DEVICE:
    return "device";
  case VFM_DIRTY_IOMMU:
    return "iommu";
  case VFM_DIRTY_NONE:
  default:
    return "none";
  }
}

VfmDirtyTracking
vfm_dirty_tracking_from_json (JsonObject *o, const char *member)
{
  JsonNode *n = o ? json_object_get_member (o, member) : NULL;
  const char *v;
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n))
    return VFM_DIRTY_NONE;
  if (json_node_get_value_type (n) == G_TYPE_BOOLEAN)
    return json_node_get_boolean (n) ? VFM_DIRTY_DEVICE : VFM_DIRTY_NONE;
  if (json_node_get_value_type (n) != G_TYPE_STRING || (v = json_node_get_string (n)) == NULL)
    return VFM_DIRTY_NONE;
  return strcmp (v, "device") == 0 ? VFM_DIRTY_DEVICE : strcmp (v, "iommu") == 0 ? VFM_DIRTY_IOMMU : VFM_DIRTY_NONE;
}

void
vfm_vfio_caps_free (VfmVfioCaps *c)
{
  if (c == NULL)
    return;
  g_free (c->bdf);
  g_free (c->detail);
  g_free (c->source);
  g_free (c->key);
  g_free (c);
}

static void
set_flags (VfmVfioCaps *c, guint64 flags)
{
  c->flags = flags;
  c->migration = TRUE;
  c->stop_copy = (flags & VFIO_MIGRATION_STOP_COPY) != 0;
  c->p2p = (flags & VFIO_MIGRATION_P2P) != 0;
  c->pre_copy = (flags & VFIO_MIGRATION_PRE_COPY) != 0;
}

/* The cache key: whatever could change the kernel's answer. mlx5's answer
 * also depends on the VF's devlink bit and hisi's on its PF; those are not
 * read yet, and a bind or unbind drops the entry anyway. */
char *
vfm_vfio_cache_key (VfmHost *host, VfmPciDevice *dev)
{
  const char *module = vfm_pci_device_module (dev);
  char srcversion[128] = "";
  if (module != NULL) {
    g_autofree char *dir = vfm_sysroot_sys_module_dir (vfm_host_sysroot (host), module);
    g_autofree char *path = g_build_filename (dir, "srcversion", NULL);
    vfm_sysfs_read (path, srcversion, sizeof srcversion);
  }
  return g_strdup_printf ("%s %s %s %04x:%04x:%04x:%04x", vfm_pci_device_driver (dev) ? vfm_pci_device_driver (dev) : "-",
                          module ? module : "-", *srcversion ? srcversion : "-", vfm_pci_device_vendor (dev),
                          vfm_pci_device_device (dev), vfm_pci_device_subsystem_vendor (dev),
                          vfm_pci_device_subsystem_device (dev));
}

static char *
cache_path (VfmSysroot *sr, const char *bdf)
{
  g_autofree char *state = vfm_sysroot_state_dir (sr);
  g_autofree char *name = g_strconcat (bdf, ".json", NULL);
  return g_build_filename (state, "probe", name, NULL);
}

void
vfm_vfio_forget (VfmSysroot *sr, const char *bdf)
{
  g_autofree char *path = cache_path (sr, bdf);
  unlink (path);
}

static void
save (VfmSysroot *sr, const VfmVfioCaps *c)
{
  g_autofree char *path = cache_path (sr, c->bdf);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (b);
  vfm_json_add_str (b, "key", c->key);
  vfm_json_add_bool (b, "migration", c->migration);
  vfm_json_add_int (b, "flags", (gint64) c->flags);
  vfm_json_add_str (b, "dirty_tracking", vfm_dirty_tracking_name (c->dirty_tracking));
  vfm_json_add_str (b, "detail", c->detail);
  vfm_json_add_str (b, "source", c->source);
  vfm_json_add_int (b, "probed_at", c->probed_at);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  text = json_generator_to_data (gen, NULL);
  if (g_mkdir_with_parents (dir, 0755) == 0)
    g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, NULL);
}

static VfmVfioCaps *
cached (VfmSysroot *sr, const char *name, char *key /* taken */)
{
  g_autofree char *path = cache_path (sr, name);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o;
  VfmVfioCaps *c;

  if (!vfm_json_load_file (parser, path, 1024 * 1024, NULL) || json_parser_get_root (parser) == NULL ||
      !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_free (key);
    return NULL;
  }
  o = json_node_get_object (json_parser_get_root (parser));
  if (g_strcmp0 (vfm_json_get_str_or (o, "key", ""), key) != 0) {
    g_free (key);
    return NULL; /* the driver, module or device changed since */
  }
  c = g_new0 (VfmVfioCaps, 1);
  c->bdf = g_strdup (name);
  c->key = key;
  if (vfm_json_get_bool_or (o, "migration", FALSE))
    set_flags (c, (guint64) vfm_json_get_int_or (o, "flags", 0));
  c->dirty_tracking = vfm_dirty_tracking_from_json (o, "dirty_tracking");
  c->detail = g_strdup (vfm_json_get_str_or (o, "detail", ""));
  c->source = g_strdup (vfm_json_get_str_or (o, "source", "kernel"));
  c->probed_at = vfm_json_get_int_or (o, "probed_at", 0);
  return c;
}

VfmVfioCaps *
vfm_vfio_cached (VfmHost *host, VfmPciDevice *dev)
{
  return cached (vfm_host_sysroot (host), vfm_pci_device_bdf (dev), vfm_vfio_cache_key (host, dev));
}

/* A synthetic host declares the kernel's answer per driver in
 * ROOT/.kmock/vfio/DRIVER: words among stop_copy p2p pre_copy dirty_tracking
 * (the device tracks) iommu_dirty_tracking (the IOMMU does), or "enotty"
 * (tests/hosts/LAYOUT.md). */
static gboolean
probe_synthetic (VfmSysroot *sr, const char *driver, VfmVfioCaps *c, GError **error)
{
  g_autofree char *name = g_build_filename ("vfio", driver, NULL);
  g_autofree char *path = vfm_sysroot_synthetic_file (sr, name);
  g_autofree char *text = NULL;
  g_auto (GStrv) words = NULL;
  guint64 flags = 0;

  if (!g_file_get_contents (path, &text, NULL, NULL)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                 "a --sysroot host has no VFIO device to ask, and declares no answer for %s in %s",
                 driver, path);
    return FALSE;
  }
  c->source = g_strdup ("synthetic");
  words = g_strsplit_set (g_strstrip (text), " \t\n,", -1);
  if (g_strv_contains ((const char * const *) words, "enotty")) {
    c->detail = g_strdup ("VFIO_DEVICE_FEATURE MIGRATION: ENOTTY (the driver has no migration support)");
    return TRUE;
  }
  flags |= g_strv_contains ((const char * const *) words, "stop_copy") ? VFIO_MIGRATION_STOP_COPY : 0;
  flags |= g_strv_contains ((const char * const *) words, "p2p") ? VFIO_MIGRATION_P2P : 0;
  flags |= g_strv_contains ((const char * const *) words, "pre_copy") ? VFIO_MIGRATION_PRE_COPY : 0;
  set_flags (c, flags);
  if (g_strv_contains ((const char * const *) words, "dirty_tracking"))
    c->dirty_tracking = VFM_DIRTY_DEVICE;
  else if (g_strv_contains ((const char * const *) words, "iommu_dirty_tracking"))
    c->dirty_tracking = VFM_DIRTY_IOMMU;
  c->detail = g_strdup_printf ("VFIO_DEVICE_FEATURE MIGRATION: flags 0x%" G_GINT64_MODIFIER "x", flags);
  return TRUE;
}

static int
xioctl (int fd, unsigned long req, void *arg)
{
  int r;
  do
    r = ioctl (fd, req, arg);
  while (r < 0 && errno == EINTR);
  return r;
}

/* A device that answers the DMA_LOGGING_START probe may still not track:
 * the kernel's mtty sample accepts START and fails REPORT, and QEMU, trusting
 * the probe, then fails the migration at run time ("ram_save_setup failed").
 * So the probe runs the whole cycle on one small range - START, REPORT,
 * STOP - on a device nothing holds (it was just opened, which reset it).
 * NULL when it works, else what failed. */
static char *
dma_logging_works (int dfd)
{
  enum { PAGE = 4096, PAGES = 64 };
  guint64 bitmap[PAGES / 64] = { 0 };
  struct vfio_device_feature_dma_logging_range range = { .iova = 0, .length = PAGE * PAGES };
  struct {
    struct vfio_device_feature hdr;
    struct vfio_device_feature_dma_logging_control ctl;
  } start = { { .argsz = sizeof start, .flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START },
              { .page_size = PAGE, .num_ranges = 1, .ranges = (uintptr_t) &range } };
  struct {
    struct vfio_device_feature hdr;
    struct vfio_device_feature_dma_logging_report rep;
  } report = { { .argsz = sizeof report, .flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT },
               { .iova = 0, .length = PAGE * PAGES, .page_size = PAGE, .bitmap = (uintptr_t) bitmap } };
  struct vfio_device_feature stop = { .argsz = sizeof stop,
                                      .flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP };
  char *why = NULL;
  int saved;

  if (xioctl (dfd, VFIO_DEVICE_FEATURE, &start) < 0) {
    saved = errno;
    return g_strdup_printf ("DMA_LOGGING_START fails (%s)", g_strerror (saved));
  }
  if (xioctl (dfd, VFIO_DEVICE_FEATURE, &report) < 0) {
    saved = errno;
    why = g_strdup_printf ("DMA_LOGGING_REPORT fails (%s)", g_strerror (saved));
  }
  xioctl (dfd, VFIO_DEVICE_FEATURE, &stop);
  return why;
}

/* A VFIO device opened the group way (VFIO's legacy container API, which
 * every kernel with VFIO migration has): container, group, type1v2 IOMMU,
 * device fd. Closing the three (vfio_close) lets go of it. */
typedef struct {
  int container, group, device;
} VfioOpen;

static void
vfio_close (VfioOpen *v)
{
  if (v->device >= 0)
    close (v->device);
  if (v->group >= 0)
    close (v->group);
  if (v->container >= 0)
    close (v->container);
  v->container = v->group = v->device = -1;
}

static gboolean
vfio_open (VfmSysroot *sr, const char *name, gint group, VfioOpen *v, GError **error)
{
  g_autofree char *container_path = vfm_sysroot_dev_vfio (sr, -1);
  g_autofree char *group_path = vfm_sysroot_dev_vfio (sr, group);
  struct vfio_group_status status = { .argsz = sizeof status };
  int saved;

  v->container = v->group = v->device = -1;
  if (group < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED, "it has no IOMMU group");
    return FALSE;
  }
  if ((v->container = open (container_path, O_RDWR | O_CLOEXEC)) < 0) {
    saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot open %s: %s", container_path, g_strerror (saved));
    goto fail;
  }
  if (xioctl (v->container, VFIO_GET_API_VERSION, NULL) != VFIO_API_VERSION ||
      xioctl (v->container, VFIO_CHECK_EXTENSION, (void *) (uintptr_t) VFIO_TYPE1v2_IOMMU) <= 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED, "the VFIO container lacks the type1v2 IOMMU");
    goto fail;
  }
  if ((v->group = open (group_path, O_RDWR | O_CLOEXEC)) < 0) {
    saved = errno;
    g_set_error (error, VFM_ERROR, saved == EBUSY ? VFM_ERROR_BUSY : VFM_ERROR_FAILED, "cannot open %s: %s%s",
                 group_path, g_strerror (saved), saved == EBUSY ? " (in use, e.g. by a VM)" : "");
    goto fail;
  }
  if (xioctl (v->group, VFIO_GROUP_GET_STATUS, &status) < 0 || !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_BUSY, "IOMMU group %d is not viable (a member is on a host driver)", group);
    goto fail;
  }
  if (xioctl (v->group, VFIO_GROUP_SET_CONTAINER, &v->container) < 0 ||
      xioctl (v->container, VFIO_SET_IOMMU, (void *) (uintptr_t) VFIO_TYPE1v2_IOMMU) < 0) {
    saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot set up the VFIO container: %s", g_strerror (saved));
    goto fail;
  }
  if ((v->device = xioctl (v->group, VFIO_GROUP_GET_DEVICE_FD, (void *) name)) < 0) {
    saved = errno;
    g_set_error (error, VFM_ERROR, saved == EBUSY ? VFM_ERROR_BUSY : VFM_ERROR_FAILED,
                 "cannot open the VFIO device: %s", g_strerror (saved));
    goto fail;
  }
  return TRUE;
fail:
  vfio_close (v);
  return FALSE;
}

/* Open the device, then ask. */
static gboolean
probe_kernel (VfmSysroot *sr, const char *name, gint group, VfmVfioCaps *c, GError **error)
{
  VfioOpen v;
  int dfd, saved;
  struct {
    struct vfio_device_feature hdr;
    struct vfio_device_feature_migration mig;
  } feat = { 0 };
  struct vfio_device_feature probe = { .argsz = sizeof probe };

  c->source = g_strdup ("kernel");
  if (!vfio_open (sr, name, group, &v, error))
    return FALSE;
  dfd = v.device;

  feat.hdr.argsz = sizeof feat;
  feat.hdr.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION;
  if (xioctl (dfd, VFIO_DEVICE_FEATURE, &feat) == 0) {
    set_flags (c, feat.mig.flags);
    c->detail = g_strdup_printf ("VFIO_DEVICE_FEATURE MIGRATION: flags 0x%llx", (unsigned long long) feat.mig.flags);
  } else if (errno == ENOTTY) {
    c->detail = g_strdup ("VFIO_DEVICE_FEATURE MIGRATION: ENOTTY (the driver has no migration support)");
  } else {
    saved = errno;
    c->detail = g_strdup_printf ("VFIO_DEVICE_FEATURE MIGRATION: %s", g_strerror (saved));
  }
  /* DMA_LOGGING_START is SET-only: PROBE alone asks whether it exists */
  probe.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
  if (xioctl (dfd, VFIO_DEVICE_FEATURE, &probe) == 0) {
    g_autofree char *why = dma_logging_works (dfd);
    c->dirty_tracking = why == NULL ? VFM_DIRTY_DEVICE : VFM_DIRTY_NONE;
    if (why != NULL) {
      g_autofree char *d = c->detail;
      c->detail = g_strdup_printf ("%s; DMA logging is announced but %s: no device dirty tracking", d, why);
    }
  }
  vfio_close (&v);
  return TRUE;
}

static const char *
mig_state_name (guint32 s)
{
  static const char *const names[] = { "ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
                                        "PRE_COPY", "PRE_COPY_P2P" };
  return s < G_N_ELEMENTS (names) ? names[s] : "unknown";
}

/* The device's VFIO migration state (GET of MIG_DEVICE_STATE); -1 when
 * the driver has none (ENOTTY) or the kernel does not answer. */
static gint
mig_state (int dfd)
{
  struct {
    struct vfio_device_feature hdr;
    struct vfio_device_feature_mig_state st;
  } feat = { { .argsz = sizeof feat, .flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE },
              { .device_state = 0, .data_fd = -1 } };
  if (xioctl (dfd, VFIO_DEVICE_FEATURE, &feat) < 0)
    return -1;
  return (gint) feat.st.device_state;
}

static gboolean refuse_if_held (VfmSysroot *sr, const char *name, gint group, GError **error);

/* A synthetic host declares a mediated device's migration state in
 * ROOT/.kmock/mig-state/UUID ("resuming", "running", …; "noreset" added:
 * a reset does not bring it back); a reset rewrites it to "running". */
static gboolean
ready_synthetic (VfmSysroot *sr, const char *uuid, char **note, GError **error)
{
  g_autofree char *name = g_build_filename ("mig-state", uuid, NULL);
  g_autofree char *path = vfm_sysroot_synthetic_file (sr, name);
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL) || g_str_has_prefix (g_strstrip (text), "running"))
    return TRUE;
  if (strstr (text, "noreset") != NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_BUSY, "its VFIO migration state is %s and a reset did not end it", text);
    return FALSE;
  }
  *note = g_strdup_printf ("its VFIO migration state was %s (left so by an earlier migration that ended "
                           "without it); reset to running", text);
  return g_file_set_contents (path, "running\n", -1, error);
}

gboolean
vfm_vfio_mdev_ready (VfmHost *host, const VfmMdev *m, char **note, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autofree char *lock_name = g_strdup_printf ("mdev-%s", m->uuid);
  g_autoptr (VfmLock) lock = NULL;
  VfioOpen v;
  gint st;
  gboolean ok = TRUE;

  *note = NULL;
  if ((lock = vfm_lock_named (sr, lock_name, 10000, error)) == NULL || !refuse_if_held (sr, m->uuid, m->iommu_group, error))
    return FALSE;
  if (!vfm_sysroot_is_real (sr))
    return ready_synthetic (sr, m->uuid, note, error);
  if (!vfio_open (sr, m->uuid, m->iommu_group, &v, error))
    return FALSE;
  st = mig_state (v.device);
  if (st >= 0 && st != VFIO_DEVICE_STATE_RUNNING) {
    /* a driver that keeps the state across close (the mtty sample: no reset
     * on close, and no VFIO_DEVICE_FLAGS_RESET, so QEMU never resets it)
     * hands the next QEMU no migration data fd: "load of migration failed:
     * Bad file descriptor". VFIO_DEVICE_RESET returns it to RUNNING. */
    gint was = st;
    if (xioctl (v.device, VFIO_DEVICE_RESET, NULL) == 0)
      st = mig_state (v.device);
    if (st == VFIO_DEVICE_STATE_RUNNING)
      *note = g_strdup_printf ("its VFIO migration state was %s (left so by an earlier migration that ended "
                               "without it); reset to RUNNING", mig_state_name ((guint32) was));
    else {
      g_set_error (error, VFM_ERROR, VFM_ERROR_BUSY, "its VFIO migration state is %s and VFIO_DEVICE_RESET did not "
                   "end it: recreate it", mig_state_name ((guint32) st));
      ok = FALSE;
    }
  }
  vfio_close (&v);
  return ok;
}

/* The device's VFIO cdev ("vfioN", from DEVDIR/vfio-dev/), or NULL. */
static char *
cdev_name (const char *devdir)
{
  g_autofree char *dir = g_build_filename (devdir, "vfio-dev", NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *n;
  while (d != NULL && (n = g_dir_read_name (d)) != NULL)
    if (g_str_has_prefix (n, "vfio"))
      return g_strdup (n);
  return NULL;
}

/* IOMMU dirty tracking, asked the only way the kernel answers it: the device
 * bound to an iommufd through its VFIO cdev, then IOMMU_GET_HW_INFO's
 * capabilities. Called after the group path let go of the device (one
 * opener at a time). NULL when the IOMMU tracks, else why not, in words. */
static char *
iommu_dirty_tracking (VfmSysroot *sr, const char *devdir)
{
  g_autofree char *cdev = cdev_name (devdir);
  g_autofree char *iommu_path = vfm_sysroot_dev_iommu (sr);
  g_autofree char *cdev_path = NULL;
  struct vfm_vfio_device_bind_iommufd bind = { .argsz = sizeof bind };
  struct vfm_iommu_hw_info info = { .size = sizeof info };
  int ifd = -1, dfd = -1, saved;
  char *why = NULL;

  if (cdev == NULL)
    return g_strdup ("the device has no VFIO cdev (a kernel without CONFIG_VFIO_DEVICE_CDEV)");
  if ((ifd = open (iommu_path, O_RDWR | O_CLOEXEC)) < 0) {
    saved = errno;
    return g_strdup_printf ("no iommufd: %s: %s (the iommufd module, CONFIG_IOMMUFD)", iommu_path, g_strerror (saved));
  }
  cdev_path = vfm_sysroot_dev_vfio_cdev (sr, cdev);
  if ((dfd = open (cdev_path, O_RDWR | O_CLOEXEC)) < 0) {
    saved = errno;
    why = g_strdup_printf ("cannot open %s: %s", cdev_path, g_strerror (saved));
  } else if (bind.iommufd = ifd, xioctl (dfd, VFM_VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
    saved = errno;
    why = g_strdup_printf ("VFIO_DEVICE_BIND_IOMMUFD: %s", g_strerror (saved));
  } else if (info.dev_id = bind.out_devid, xioctl (ifd, VFM_IOMMU_GET_HW_INFO, &info) < 0) {
    saved = errno;
    why = g_strdup_printf ("IOMMU_GET_HW_INFO: %s%s", g_strerror (saved),
                           saved == EOPNOTSUPP ? " (no IOMMU driver behind the device: an emulated one such as a mediated "
                                                 "device, or a kernel without CONFIG_IOMMUFD_DRIVER)" : "");
  } else if (!(info.out_capabilities & VFM_IOMMU_HW_CAP_DIRTY_TRACKING)) {
    why = g_strdup_printf ("IOMMU_GET_HW_INFO: capabilities 0x%llx, no IOMMU_HW_CAP_DIRTY_TRACKING",
                           (unsigned long long) info.out_capabilities);
  }
  if (dfd >= 0)
    close (dfd);
  close (ifd);
  return why;
}

/* The device's answer first, the IOMMU's when the device has none. */
static void
probe_iommu (VfmSysroot *sr, const char *devdir, VfmVfioCaps *c)
{
  g_autofree char *why = NULL, *d = c->detail;
  if (c->dirty_tracking == VFM_DIRTY_DEVICE)
    return;
  why = iommu_dirty_tracking (sr, devdir);
  if (why == NULL)
    c->dirty_tracking = VFM_DIRTY_IOMMU;
  c->detail = g_strdup_printf ("%s; IOMMU dirty tracking: %s", d ? d : "", why ? why : "yes (iommufd)");
}

/* Opening a device a process holds would race it (a QEMU starting or
 * receiving a migration fails with EBUSY) and resets what it holds. */
static gboolean
refuse_if_held (VfmSysroot *sr, const char *name, gint group, GError **error)
{
  g_autoptr (GPtrArray) holders = vfm_vfio_holders (sr, name, group, NULL);
  if (holders->len == 0)
    return TRUE;
  g_set_error (error, VFM_ERROR, VFM_ERROR_BUSY, "busy: in use by %s (probing would reset it); its last probe stands",
               (const char *) g_ptr_array_index (holders, 0));
  return FALSE;
}

VfmVfioCaps *
vfm_vfio_probe (VfmHost *host, VfmPciDevice *dev, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  const char *bdf = vfm_pci_device_bdf (dev);
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (VfmVfioCaps) c = g_new0 (VfmVfioCaps, 1);
  const char *driver;

  c->bdf = g_strdup (bdf);
  if ((lock = vfm_lock_device (sr, bdf, 10000, error)) == NULL)
    goto fail;
  vfm_pci_device_reload (dev);
  driver = vfm_pci_device_driver (dev);
  if (driver == NULL || !vfm_host_is_vfio_driver (host, driver)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED, "it is on %s, not on a VFIO driver (bind it first)",
                 driver ? driver : "no driver");
    goto fail;
  }
  if (!refuse_if_held (sr, bdf, vfm_pci_device_iommu_group (dev), error))
    goto fail;
  c->key = vfm_vfio_cache_key (host, dev);
  c->probed_at = g_get_real_time () / G_USEC_PER_SEC;
  if (!(vfm_sysroot_is_real (sr) ? probe_kernel (sr, bdf, vfm_pci_device_iommu_group (dev), c, error)
                                 : probe_synthetic (sr, driver, c, error)))
    goto fail;
  if (vfm_sysroot_is_real (sr)) {
    g_autofree char *devdir = vfm_sysroot_pci_device_dir (sr, bdf);
    probe_iommu (sr, devdir, c);
  }
  save (sr, c);
  return g_steal_pointer (&c);
fail:
  g_prefix_error (error, "cannot probe %s: ", bdf);
  return NULL;
}

/* Who holds a VFIO device: the processes that have its group's
 * /dev/vfio/GROUP (or, with the VFIO cdev, its /dev/vfio/devices/vfioN) open,
 * found by reading /proc/PID/fd links - never by opening the group, which
 * races a QEMU that is starting or receiving a migration and makes it fail
 * with EBUSY (DESIGN.md, Decisions 14). Each holder as "PID (COMM)". A
 * synthetic host marks devices in use with ROOT/.kmock/in-use/NAME, NAME
 * being the BDF or the mdev's UUID. */
GPtrArray *
vfm_vfio_holders (VfmSysroot *sr, const char *name, gint group, const char *cdev)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *proc = NULL, *group_dev = NULL, *cdev_dev = NULL;
  g_autoptr (GDir) d = NULL;
  const char *pid;

  if (!vfm_sysroot_is_real (sr)) {
    g_autofree char *rel = g_build_filename ("in-use", name, NULL);
    g_autofree char *mark = vfm_sysroot_synthetic_file (sr, rel);
    g_autofree char *who = NULL;
    if (!g_file_test (mark, G_FILE_TEST_EXISTS))
      return out;
    /* its first line may name the holder as /proc would ("4242 (qemu)") */
    if (g_file_get_contents (mark, &who, NULL, NULL) && strchr (who, '\n') != NULL)
      *strchr (who, '\n') = '\0';
    g_ptr_array_add (out, g_strdup (who != NULL && *g_strstrip (who) ? who : "a process (synthetic host)"));
    return out;
  }
  if (group < 0 && cdev == NULL)
    return out;
  group_dev = group >= 0 ? vfm_sysroot_dev_vfio (sr, group) : NULL;
  cdev_dev = cdev ? vfm_sysroot_dev_vfio_cdev (sr, cdev) : NULL;
  proc = vfm_sysroot_proc_file (sr, "");
  if ((d = g_dir_open (proc, 0, NULL)) == NULL)
    return out;
  while ((pid = g_dir_read_name (d)) != NULL) {
    g_autofree char *fd_dir = NULL;
    g_autoptr (GDir) fds = NULL;
    const char *fd;
    gboolean holds = FALSE;
    if (!g_ascii_isdigit (pid[0]))
      continue;
    fd_dir = g_build_filename (proc, pid, "fd", NULL);
    if ((fds = g_dir_open (fd_dir, 0, NULL)) == NULL)
      continue; /* gone, or not ours to read */
    while (!holds && (fd = g_dir_read_name (fds)) != NULL) {
      g_autofree char *link = g_build_filename (fd_dir, fd, NULL);
      g_autofree char *target = g_file_read_link (link, NULL);
      holds = target != NULL && (g_strcmp0 (target, group_dev) == 0 || g_strcmp0 (target, cdev_dev) == 0);
    }
    if (holds) {
      g_autofree char *comm_path = g_build_filename (proc, pid, "comm", NULL);
      g_autofree char *comm = NULL;
      if (g_file_get_contents (comm_path, &comm, NULL, NULL))
        g_strchomp (comm);
      g_ptr_array_add (out, g_strdup_printf ("%s (%s)", pid, comm ? comm : "?"));
    }
  }
  return out;
}

gboolean
vfm_vfio_in_use (VfmSysroot *sr, const char *bdf, gint group)
{
  g_autoptr (GPtrArray) holders = vfm_vfio_holders (sr, bdf, group, NULL);
  return holders->len > 0;
}

/* ---- mediated devices ---- */

/* What could change an mdev's answer: its parent's driver and type. */
static char *
mdev_key (VfmSysroot *sr, const VfmMdev *m)
{
  return g_strdup_printf ("mdev %s %s", m->parent ? m->parent : "-", m->type ? m->type : "-");
}

VfmVfioCaps *
vfm_vfio_cached_mdev (VfmHost *host, const VfmMdev *m)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  return cached (sr, m->uuid, mdev_key (sr, m));
}

/* Like vfm_vfio_probe, for a mediated device (the device name in its IOMMU
 * group is its UUID). A synthetic host declares the answer per type in
 * ROOT/.kmock/vfio/mdev-TYPE. */
VfmVfioCaps *
vfm_vfio_probe_mdev (VfmHost *host, const VfmMdev *m, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autofree char *lock_name = g_strdup_printf ("mdev-%s", m->uuid);
  g_autofree char *synthetic = g_strdup_printf ("mdev-%s", m->type ? m->type : "unknown");
  g_autoptr (VfmLock) lock = NULL;
  g_autoptr (VfmVfioCaps) c = g_new0 (VfmVfioCaps, 1);

  c->bdf = g_strdup (m->uuid);
  if ((lock = vfm_lock_named (sr, lock_name, 10000, error)) == NULL || !refuse_if_held (sr, m->uuid, m->iommu_group, error))
    goto fail;
  if (m->driver == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED, "it has no driver (vfio_mdev not loaded?)");
    goto fail;
  }
  c->key = mdev_key (sr, m);
  c->probed_at = g_get_real_time () / G_USEC_PER_SEC;
  if (!(vfm_sysroot_is_real (sr) ? probe_kernel (sr, m->uuid, m->iommu_group, c, error)
                                 : probe_synthetic (sr, synthetic, c, error)))
    goto fail;
  if (vfm_sysroot_is_real (sr)) {
    g_autofree char *devs = vfm_sysroot_mdev_devices_dir (sr);
    g_autofree char *devdir = g_build_filename (devs, m->uuid, NULL);
    probe_iommu (sr, devdir, c);
  }
  save (sr, c);
  return g_steal_pointer (&c);
fail:
  g_prefix_error (error, "cannot probe mediated device %s: ", m->uuid);
  return NULL;
}
