/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-worker.h"
#include "vfm-autobind.h"

#include <gio/gio.h>

typedef GPtrArray *(*PolicyCall) (VfmHost *host, const char *bdf);

static void
log_events (GPtrArray *events)
{
  for (guint i = 0; i < events->len; i++) {
    const VfmPolicyEvent *e = g_ptr_array_index (events, i);
    vfm_daemon_log (e->level, e->topic, e->bdf, "%s", e->message);
  }
}

static GPtrArray *
call_start (VfmHost *host, const char *bdf)
{
  return vfm_autobind_start (host);
}

static void
run (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const VfmDaemonConfig *config = g_object_get_data (G_OBJECT (task), "config");
  PolicyCall call = g_object_get_data (G_OBJECT (task), "call");
  const char *bdf = task_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmHost) host = vfm_host_new (config->sysroot, &error);
  g_autoptr (GPtrArray) events = NULL;

  if (host == NULL) {
    vfm_daemon_log (G_LOG_LEVEL_WARNING, "policy", bdf, "cannot open the host: %s", error->message);
    return;
  }
  events = call (host, bdf);
  log_events (events);
}

static void
spawn (const VfmDaemonConfig *config, PolicyCall call, const char *name, const char *bdf)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, NULL, NULL);
  g_object_set_data (G_OBJECT (task), "config", (gpointer) config);
  g_object_set_data (G_OBJECT (task), "call", call);
  g_task_set_task_data (task, g_strdup (bdf), g_free);
  g_task_set_name (task, name);
  g_task_run_in_thread (task, run);
}

/* At start the daemon waits for recovery and policy before it serves; the
 * database read for it is the hotplug worker's first (HOTPLUG: may be
 * NULL). */
void
vfm_worker_start (const VfmDaemonConfig *config, VfmHotplug *hotplug)
{
  g_autoptr (VfmDbWatch) watch = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmHost) host = vfm_host_new (config->sysroot, &error);
  g_autoptr (GPtrArray) events = NULL;

  if (host == NULL) {
    vfm_daemon_log (G_LOG_LEVEL_WARNING, "recover", NULL, "cannot recover or apply policy: %s", error->message);
    return;
  }
  /* what the database is read from, before it is */
  if (hotplug != NULL) {
    watch = vfm_db_watch_new (host, VFM_DB_WATCH_AUTO);
    vfm_daemon_log (vfm_db_watch_uses_key (watch) ? G_LOG_LEVEL_MESSAGE : G_LOG_LEVEL_INFO, "start", NULL,
                    "driver database and policies: changes seen by %s",
                    vfm_db_watch_describe (watch));
  }
  events = call_start (host, NULL);
  log_events (events);
  if (hotplug != NULL)
    vfm_hotplug_keep_db (hotplug, host, g_steal_pointer (&watch));
}

static void
log_event (const VfmPolicyEvent *e, gpointer user_data)
{
  vfm_daemon_log (e->level, e->topic, e->bdf, "%s", e->message);
}

/* Add events are coalesced (lib/bind/vfm-hotplug): one worker thread
 * binds the VFs of one sriov_numvfs write as one request. */
VfmHotplug *
vfm_worker_hotplug_new (const VfmDaemonConfig *config)
{
  return vfm_hotplug_new (config->sysroot, log_event, NULL);
}

void
vfm_worker_removed (const VfmDaemonConfig *config, const char *bdf)
{
  spawn (config, vfm_autobind_removed, "removed", bdf);
}
