/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-udev-monitor.h"
#include "vfm-error.h"

#include <errno.h>
#include <glib-unix.h>
#include <libudev.h>

typedef struct udev VfmUdev;
typedef struct udev_monitor VfmUdevMon;
typedef struct udev_device VfmUdevDevice;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmUdev, udev_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmUdevMon, udev_monitor_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmUdevDevice, udev_device_unref)

struct _VfmUdevMonitor {
  GMutex lock; /* the main loop's reads and vfm_udev_monitor_drain's */
  struct udev *udev;
  struct udev_monitor *monitor;
  guint source;
  VfmUdevFunc func;
  gpointer user_data;
};

/* One message, if one is there (the socket does not block), passed on
 * before the lock is let go (so a drain that returns has passed on all it
 * or the main loop read). FALSE when none is left. libudev skips the
 * kernel's messages of other subsystems. */
static gboolean
receive_one (VfmUdevMonitor *m)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&m->lock);
  g_autoptr (VfmUdevDevice) dev = NULL;
  const char *action, *bdf;

  errno = 0;
  if ((dev = udev_monitor_receive_device (m->monitor)) == NULL)
    return errno != 0 && errno != EAGAIN && errno != EWOULDBLOCK; /* ENOBUFS and the like: read on */
  action = udev_device_get_action (dev);
  bdf = udev_device_get_sysname (dev);
  if (action != NULL && bdf != NULL)
    m->func (action, bdf, m->user_data);
  return TRUE;
}

static gboolean
on_event (int fd, GIOCondition cond, gpointer user_data)
{
  (void) receive_one (user_data);
  return G_SOURCE_CONTINUE;
}

gboolean
vfm_udev_monitor_drain (VfmUdevMonitor *m)
{
  /* bounded: a flood of events is the main loop's to read */
  for (guint i = 0; i < 256; i++)
    if (!receive_one (m))
      return TRUE;
  return FALSE;
}

VfmUdevMonitor *
vfm_udev_monitor_new (VfmUdevFunc func, gpointer user_data, GError **error)
{
  g_autoptr (VfmUdev) u = udev_new ();
  g_autoptr (VfmUdevMon) mon = NULL;
  VfmUdevMonitor *m;

  /* The kernel's own uevents, not udev's: udev forwards an event only after
   * its rules ran, which for a new VF took half of the hotplug time in the
   * lab (docs/BENCHMARKS.md). vfmigd needs nothing udev adds: it reads sysfs,
   * which the kernel completes before it announces the device. */
  if (u == NULL || (mon = udev_monitor_new_from_netlink (u, "kernel")) == NULL ||
      udev_monitor_filter_add_match_subsystem_devtype (mon, "pci", NULL) < 0 ||
      udev_monitor_enable_receiving (mon) < 0) {
    int saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot watch udev for PCI events: %s",
                 g_strerror (saved ? saved : EIO));
    return NULL;
  }
  m = g_new0 (VfmUdevMonitor, 1);
  g_mutex_init (&m->lock);
  m->udev = g_steal_pointer (&u);
  m->monitor = g_steal_pointer (&mon);
  m->func = func;
  m->user_data = user_data;
  m->source = g_unix_fd_add (udev_monitor_get_fd (m->monitor), G_IO_IN, on_event, m);
  return m;
}

void
vfm_udev_monitor_free (VfmUdevMonitor *m)
{
  if (m == NULL)
    return;
  g_clear_handle_id (&m->source, g_source_remove);
  udev_monitor_unref (m->monitor);
  udev_unref (m->udev);
  g_mutex_clear (&m->lock);
  g_free (m);
}
