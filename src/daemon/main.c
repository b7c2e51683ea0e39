/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfmigd: a thin main over libvfmig. Recovery and policy first, then the
 * varlink socket, then udev; sleeps in the main loop until a client or a
 * uevent arrives. */
#include "vfm-config.h"
#include "vfm-host-uuid.h"
#include "vfm-worker.h"
#include "vfm-claims.h"
#include "vfm-daemon.h"
#include "vfm-error.h"
#include "vfm-journal.h"
#include "vfm-methods.h"
#include "vfm-server.h"
#include "vfm-systemd.h"
#include "vfm-udev-monitor.h"

#include <glib-unix.h>
#include <locale.h>
#include <stdio.h>

#define REQUEST_TIMEOUT_DEFAULT 30
#define REQUEST_TIMEOUT_MAX 3600

typedef struct {
  VfmDaemonConfig config;
  GMainLoop *loop;
  VfmServer *server;
  VfmHotplug *hotplug;
} VfmDaemon;

static gboolean
on_stopped (gpointer user_data)
{
  g_main_loop_quit (user_data);
  return G_SOURCE_REMOVE;
}

static gboolean
on_signal (gpointer user_data)
{
  VfmDaemon *d = user_data;
  vfm_daemon_log (G_LOG_LEVEL_MESSAGE, "stop", NULL, "stopping: waiting for running calls");
  vfm_sd_notify ("STOPPING=1", NULL);
  vfm_server_stop (d->server, on_stopped, d->loop);
  return G_SOURCE_REMOVE;
}

static void
on_uevent (const char *action, const char *bdf, gpointer user_data)
{
  VfmDaemon *d = user_data;
  /* only what vfmigd acts on is logged: a new VF alone brings a "change"
   * too, and a bind its own "bind", on the way to the binds */
  if (g_str_equal (action, "add")) {
    vfm_daemon_log (G_LOG_LEVEL_DEBUG, action, bdf, "uevent %s %s", action, bdf);
    vfm_hotplug_added (d->hotplug, bdf);
  } else if (g_str_equal (action, "remove")) {
    vfm_daemon_log (G_LOG_LEVEL_DEBUG, action, bdf, "uevent %s %s", action, bdf);
    vfm_worker_removed (&d->config, bdf);
  }
}

/* Damaged state files are named at start (recovery names damaged intents) and
 * left where they are for the administrator; Status reports them too. */
static void
log_state_problems (const VfmDaemonConfig *config)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmHost) host = vfm_host_new (config->sysroot, &error);
  g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) owned = NULL;
  g_autoptr (VfmClaim) none = NULL;

  if (host == NULL) {
    vfm_daemon_log (G_LOG_LEVEL_WARNING, "start", NULL, "cannot check vfmig's state: %s", error->message);
    return;
  }
  owned = vfm_journal_list_owned (vfm_host_sysroot (host), problems);
  /* a lookup reads the claims file whole and, unlike a listing, changes nothing */
  if ((none = vfm_claim_store_get (vfm_host_sysroot (host), "", &error)) == NULL && !g_error_matches (error, VFM_ERROR, VFM_ERROR_NOT_FOUND))
    g_ptr_array_add (problems, g_strdup (error->message));
  for (guint i = 0; i < problems->len; i++)
    vfm_daemon_log (G_LOG_LEVEL_WARNING, "start", NULL, "damaged state, left in place: %s",
                    (char *) g_ptr_array_index (problems, i));
}

int
main (int argc, char **argv)
{
  VfmDaemon d = { 0 };
  gboolean no_udev = FALSE, udev = FALSE, version = FALSE;
  gint request_timeout = REQUEST_TIMEOUT_DEFAULT;
  g_autofree char *sysroot = NULL, *socket_path = NULL;
  GOptionEntry entries[] = {
    { "sysroot", 0, 0, G_OPTION_ARG_FILENAME, &sysroot, "Serve a synthetic host rooted at DIR", "DIR" },
    { "socket", 0, 0, G_OPTION_ARG_FILENAME, &socket_path, "Listen on PATH instead of the default", "PATH" },
    { "no-udev", 0, 0, G_OPTION_ARG_NONE, &no_udev, "Do not watch udev for PCI devices", NULL },
    { "udev", 0, 0, G_OPTION_ARG_NONE, &udev, "Watch udev even under --sysroot", NULL },
    { "request-timeout", 0, 0, G_OPTION_ARG_INT, &request_timeout,
      "Close a connection whose message has not arrived whole SECONDS after it began (1-3600, default 30)",
      "SECONDS" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- vfmig daemon (varlink io.vfmig)");
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmSysroot) sr = NULL;
  g_autoptr (VfmUdevMonitor) monitor = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (VfmServer) server = NULL;

  setlocale (LC_ALL, "");
  /* a worker thread with nothing to do exits at once instead of waiting in
   * GLib's pool of unused threads: an idle daemon has no thread to wake */
  g_thread_pool_set_max_unused_threads (0);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc > 1) {
    fprintf (stderr, "vfmigd: %s\n", error ? error->message : "unexpected argument");
    return 2;
  }
  if (request_timeout < 1 || request_timeout > REQUEST_TIMEOUT_MAX) {
    fprintf (stderr, "vfmigd: --request-timeout takes 1 to %d seconds, not %d\n", REQUEST_TIMEOUT_MAX,
             request_timeout);
    return 2;
  }
  if (version) {
    printf ("vfmigd %s\n", VFM_VERSION);
    return 0;
  }
  d.config.sysroot = sysroot;
  d.config.socket_path = socket_path;
  d.config.group = (char *) "vfmig";
  d.config.request_timeout = request_timeout;
  /* under a sysroot the host's udev speaks of the real machine, not of the
   * synthetic one: off unless asked for */
  sr = vfm_sysroot_new (sysroot, &error);
  if (sr == NULL) {
    fprintf (stderr, "vfmigd: %s\n", error->message);
    return 1;
  }
  d.config.udev = !no_udev && (udev || vfm_sysroot_is_real (sr));
  if ((d.config.host_uuid = vfm_host_uuid (sr, &error)) == NULL) {
    fprintf (stderr, "vfmigd: %s\n", error->message);
    return 1;
  }

  /* watch udev before the start-up scan: a device added meanwhile waits in
   * the monitor's socket instead of falling between scan and watch (binding
   * it twice is a no-op) */
  if (d.config.udev)
    d.hotplug = vfm_worker_hotplug_new (&d.config);
  if (d.config.udev && (monitor = vfm_udev_monitor_new (on_uevent, &d, &error)) == NULL) {
    fprintf (stderr, "vfmigd: %s\n", error->message);
    return 1;
  }
  if (monitor != NULL)
    vfm_hotplug_set_drain (d.hotplug, (VfmHotplugDrain) vfm_udev_monitor_drain, monitor);
  vfm_worker_start (&d.config, d.hotplug);
  log_state_problems (&d.config);
  if ((server = vfm_server_new (&d.config, &error)) == NULL) {
    fprintf (stderr, "vfmigd: %s\n", error->message);
    return 1;
  }
  loop = g_main_loop_new (NULL, FALSE);
  d.loop = loop;
  d.server = server;
  g_unix_signal_add (SIGTERM, on_signal, &d);
  g_unix_signal_add (SIGINT, on_signal, &d);
  vfm_daemon_log (G_LOG_LEVEL_MESSAGE, "start", NULL, "vfmigd %s listening on %s (host %s, udev %s)",
                  VFM_VERSION, vfm_server_address (server), vfm_sysroot_root (sr), d.config.udev ? "on" : "off");
  if (!vfm_sd_notify ("READY=1\nSTATUS=Serving io.vfmig", &error))
    vfm_daemon_log (G_LOG_LEVEL_WARNING, "start", NULL, "%s", error->message);
  g_main_loop_run (loop);
  /* no new event (the main loop reads no more); a round under way finishes
   * (a kill instead would leave its journal record to the next start's
   * recovery), reading the monitor it may, so the monitor goes after it */
  g_clear_pointer (&d.hotplug, vfm_hotplug_free);
  g_clear_pointer (&monitor, vfm_udev_monitor_free);
  g_free (d.config.host_uuid);
  return 0;
}
