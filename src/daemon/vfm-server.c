/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-server.h"
#include "vfm-authz.h"
#include "vfm-error.h"
#include "vfm-methods.h"
#include "vfm-systemd.h"
#include "vfm-varlink.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define MAX_CONNECTIONS 256
/* so that one user cannot hold every slot; root may, up to MAX_CONNECTIONS */
#define MAX_CONNECTIONS_PER_UID 32

typedef struct _VfmConnection VfmConnection;

struct _VfmServer {
  const VfmDaemonConfig *config;
  GSocketService *service;
  char *address;          /* for messages */
  char *unlink_path;      /* the socket we made (not one systemd passed) */
  GHashTable *connections;/* VfmConnection* (a reference each) */
  GHashTable *per_uid;    /* uid -> connections open (non-root peers) */
  GHashTable *refusing;   /* uids at their cap whose refusal was logged */
  guint next_id;
  guint running;          /* calls in worker threads */
  gboolean stopping;
  GSourceFunc stopped;
  gpointer stopped_data;
};

struct _VfmConnection {
  gint ref;
  guint id;
  VfmServer *server;
  GSocketConnection *stream;
  GCancellable *cancellable;
  VfmCredentials peer;
  GByteArray *in;
  guint8 *chunk;
  char *out;              /* the reply being written */
  gboolean busy;          /* a call runs or a reply is being written */
  guint deadline;         /* source closing a message begun but unfinished */
  gboolean counted;       /* in server->per_uid */
  gboolean reading;
  gboolean closed;
};

typedef struct {
  VfmConnection *conn;
  const VfmMethod *method;
  VfmMethodCall call;
  gboolean oneway;
} VfmCallData;

static void connection_process (VfmConnection *c);

static VfmConnection *
connection_ref (VfmConnection *c)
{
  g_atomic_int_inc (&c->ref);
  return c;
}

static void
connection_unref (VfmConnection *c)
{
  if (!g_atomic_int_dec_and_test (&c->ref))
    return;
  g_clear_handle_id (&c->deadline, g_source_remove);
  g_clear_object (&c->stream);
  g_clear_object (&c->cancellable);
  g_byte_array_unref (c->in);
  g_free (c->chunk);
  g_free (c->out);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmConnection, connection_unref)

/* Takes a connection of a non-root peer into its uid's count; FALSE when the
 * uid holds its share already. A refusal is logged once, until the uid drops
 * below its cap again, so a client hammering at the cap cannot flood the log. */
static gboolean
uid_admit (VfmServer *server, uid_t uid)
{
  gpointer key = GUINT_TO_POINTER ((guint) uid);
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (server->per_uid, key));

  if (uid == 0)
    return TRUE;
  if (n >= MAX_CONNECTIONS_PER_UID) {
    if (g_hash_table_add (server->refusing, key))
      vfm_daemon_log (G_LOG_LEVEL_WARNING, "connection", NULL,
                      "refusing connections from uid %u: it has %u open, the most one user may hold",
                      (unsigned) uid, n);
    return FALSE;
  }
  g_hash_table_insert (server->per_uid, key, GUINT_TO_POINTER (n + 1));
  return TRUE;
}

static void
uid_release (VfmServer *server, uid_t uid)
{
  gpointer key = GUINT_TO_POINTER ((guint) uid);
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (server->per_uid, key));

  if (n > 1)
    g_hash_table_insert (server->per_uid, key, GUINT_TO_POINTER (n - 1));
  else
    g_hash_table_remove (server->per_uid, key);
  g_hash_table_remove (server->refusing, key);
}

static void
connection_close (VfmConnection *c, const char *why)
{
  if (c->closed)
    return;
  c->closed = TRUE;
  g_clear_handle_id (&c->deadline, g_source_remove);
  if (why != NULL)
    vfm_daemon_log (G_LOG_LEVEL_MESSAGE, "connection", NULL, "connection %u (uid %u, pid %d) closed: %s", c->id,
                    (unsigned) c->peer.uid, (int) c->peer.pid, why);
  g_cancellable_cancel (c->cancellable);
  g_io_stream_close (G_IO_STREAM (c->stream), NULL, NULL);
  if (c->server != NULL) {
    if (c->counted)
      uid_release (c->server, c->peer.uid);
    g_hash_table_remove (c->server->connections, c);
  }
}

static gboolean
on_deadline (gpointer user_data)
{
  VfmConnection *c = user_data;
  g_autofree char *why = g_strdup_printf ("no complete message within %u s", c->server->config->request_timeout);

  c->deadline = 0;
  connection_close (c, why);
  return G_SOURCE_REMOVE;
}

static void
on_written (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (VfmConnection) c = user_data;
  g_autoptr (GError) error = NULL;

  g_clear_pointer (&c->out, g_free);
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, &error)) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      connection_close (c, error->message);
    return;
  }
  c->busy = FALSE;
  connection_process (c);
}

/* Sends one message (text and its NUL); the connection stays busy until it
 * is written, so replies leave in the order of the calls. */
static void
connection_send (VfmConnection *c, char *text)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (c->stream));

  c->busy = TRUE;
  c->out = text;
  g_output_stream_write_all_async (out, c->out, strlen (c->out) + 1, G_PRIORITY_DEFAULT, c->cancellable,
                                   on_written, connection_ref (c));
}

static void
send_error (VfmConnection *c, const GError *error)
{
  connection_send (c, vfm_varlink_error_reply_new (error, NULL));
}

static void
on_read (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (VfmConnection) c = user_data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);

  c->reading = FALSE;
  if (n < 0) {
    if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      connection_close (c, error->message);
    return;
  }
  if (n == 0) {
    /* the peer hung up; a message it left unterminated is dropped */
    if (c->in->len > 0)
      connection_close (c, "the peer hung up in the middle of a message (no NUL terminator)");
    else
      connection_close (c, NULL);
    return;
  }
  g_byte_array_append (c->in, c->chunk, n);
  connection_process (c);
}

static void
connection_read (VfmConnection *c)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (c->stream));

  if (c->reading || c->closed)
    return;
  c->reading = TRUE;
  g_input_stream_read_async (in, c->chunk, READ_CHUNK, G_PRIORITY_DEFAULT, c->cancellable, on_read,
                             connection_ref (c));
}

static void
call_data_free (VfmCallData *d)
{
  connection_unref (d->conn);
  json_object_unref (d->call.parameters);
  g_free (d);
}

/* What a method did, in the daemon's structured log. */
static void
server_log (GLogLevelFlags level, const char *op, const char *device, const char *message)
{
  vfm_daemon_log (level, op, device, "%s", message);
}

/* In a worker thread: the method, and its reply serialized. */
static void
run_call (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VfmCallData *d = task_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) extra = NULL;
  g_autoptr (JsonNode) reply = d->method->func (&d->call, &extra, &error);

  if (reply != NULL) {
    g_task_return_pointer (task, vfm_varlink_reply_new (reply, FALSE), g_free);
    return;
  }
  if (error == NULL)
    g_set_error (&error, VFM_ERROR, VFM_ERROR_FAILED, "%s failed without saying why", d->method->name);
  vfm_daemon_log (G_LOG_LEVEL_MESSAGE, d->method->name, NULL, "%s from uid %u: %s: %s", d->method->name,
                  (unsigned) d->conn->peer.uid, vfm_varlink_error_name (error), error->message);
  g_task_return_pointer (task, vfm_varlink_error_reply_new (error, extra), g_free);
}

static void
server_call_done (VfmServer *server)
{
  server->running--;
  if (server->stopping && server->running == 0 && server->stopped != NULL)
    server->stopped (server->stopped_data);
}

static void
on_call_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  VfmCallData *d = g_task_get_task_data (G_TASK (res));
  VfmConnection *c = d->conn;
  g_autofree char *reply = g_task_propagate_pointer (G_TASK (res), NULL);

  if (c->server != NULL)
    server_call_done (c->server);
  if (c->closed)
    return;
  if (d->oneway || reply == NULL) {
    c->busy = FALSE;
    connection_process (c);
    return;
  }
  connection_send (c, g_steal_pointer (&reply));
}

static void
start_call (VfmConnection *c, VfmVarlinkCall *call, const VfmMethod *method)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_call_done, NULL);
  VfmCallData *d = g_new0 (VfmCallData, 1);

  d->conn = connection_ref (c);
  d->method = method;
  d->call.sysroot = c->server->config->sysroot;
  d->call.host_uuid = c->server->config->host_uuid;
  d->call.product = "vfmigd";
  d->call.log = server_log;
  d->call.parameters = json_object_ref (call->parameters);
  d->oneway = (call->flags & VFM_VARLINK_CALL_ONEWAY) != 0;
  g_task_set_task_data (task, d, (GDestroyNotify) call_data_free);
  g_task_set_name (task, method->name);
  c->busy = TRUE;
  c->server->running++;
  g_task_run_in_thread (task, run_call);
}

/* One message from the peer: a call, or a broken peer to hang up on. */
static void
connection_handle (VfmConnection *c, const char *text, gsize len)
{
  g_autoptr (GError) error = NULL;
  /* depth and strictness are checked before json-glib parses it */
  g_autoptr (VfmVarlinkCall) call = vfm_varlink_call_parse (text, len, &error);
  g_autofree char *interface = NULL;
  const VfmMethod *method;
  const char *member;

  if (call == NULL) {
    connection_close (c, error->message);
    return;
  }
  vfm_daemon_log (G_LOG_LEVEL_DEBUG, call->method, NULL, "connection %u (uid %u, pid %d) calls %s", c->id,
                  (unsigned) c->peer.uid, (int) c->peer.pid, call->method);
  vfm_varlink_interface_of (call->method, &interface, &member);
  method = vfm_methods_lookup (call->method);
  if (!vfm_methods_interface_known (interface))
    g_set_error_literal (&error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_INTERFACE_NOT_FOUND, interface);
  else if (method == NULL)
    g_set_error_literal (&error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_METHOD_NOT_FOUND, call->method);
  else if (!vfm_authz_check (&c->peer, c->server->config->group, call->method, method->access, &error))
    vfm_daemon_log (G_LOG_LEVEL_WARNING, call->method, NULL, "denied %s to uid %u (pid %d): %s", call->method,
                    (unsigned) c->peer.uid, (int) c->peer.pid, error->message);
  if (error == NULL)
    start_call (c, call, method);
  else if (!(call->flags & VFM_VARLINK_CALL_ONEWAY))
    send_error (c, error);
}

static void
connection_process (VfmConnection *c)
{
  while (!c->busy && !c->closed) {
    g_autoptr (GError) error = NULL;
    g_autofree char *text = NULL;

    if (!vfm_varlink_take_message (c->in, &text, &error)) {
      connection_close (c, error->message);
      return;
    }
    if (text == NULL) {
      /* a message has begun: it has until the deadline to arrive whole (a
       * connection idle between messages has none) */
      if (c->in->len > 0 && c->deadline == 0)
        c->deadline = g_timeout_add (c->server->config->request_timeout * 1000, on_deadline, c);
      connection_read (c);
      return;
    }
    g_clear_handle_id (&c->deadline, g_source_remove);
    connection_handle (c, text, strlen (text));
  }
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *stream, GObject *source, gpointer user_data)
{
  VfmServer *server = user_data;
  g_autoptr (GError) error = NULL;
  VfmConnection *c;
  VfmCredentials peer;

  if (server->stopping)
    return TRUE;
  if (g_hash_table_size (server->connections) >= MAX_CONNECTIONS) {
    vfm_daemon_log (G_LOG_LEVEL_WARNING, "connection", NULL, "refusing a connection: %u are open",
                    MAX_CONNECTIONS);
    g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
    return TRUE;
  }
  if (!vfm_authz_peer_of (g_socket_connection_get_socket (stream), &peer, &error)) {
    vfm_daemon_log (G_LOG_LEVEL_WARNING, "connection", NULL, "refusing a connection: %s", error->message);
    g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
    return TRUE;
  }
  if (!uid_admit (server, peer.uid)) {
    g_io_stream_close (G_IO_STREAM (stream), NULL, NULL);
    return TRUE;
  }
  c = g_new0 (VfmConnection, 1);
  c->ref = 1;
  c->id = ++server->next_id;
  c->server = server;
  c->stream = g_object_ref (stream);
  c->cancellable = g_cancellable_new ();
  c->peer = peer;
  c->counted = peer.uid != 0;
  c->in = g_byte_array_new ();
  c->chunk = g_malloc (READ_CHUNK);
  g_hash_table_add (server->connections, c);
  connection_process (c);
  return TRUE;
}

static gboolean
socket_answers (const char *path)
{
  g_autoptr (GSocket) s = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, NULL);
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
  return s != NULL && g_socket_connect (s, addr, NULL, NULL);
}

/* The socket at path, mode 0666 (authorization is per method). A stale
 * socket of a daemon that died is replaced; a live one is an error. */
static gboolean
listen_on_path (VfmServer *server, const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr (GSocketAddress) addr = NULL;
  struct sockaddr_un sa;
  struct stat st;

  if (strlen (path) >= sizeof sa.sun_path) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "socket path %s is longer than %zu bytes", path,
                 sizeof sa.sun_path - 1);
    return FALSE;
  }
  if (g_mkdir_with_parents (dir, 0755) < 0) {
    int saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot create %s: %s", dir, g_strerror (saved));
    return FALSE;
  }
  if (lstat (path, &st) == 0) {
    if (!S_ISSOCK (st.st_mode)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "%s exists and is not a socket", path);
      return FALSE;
    }
    if (socket_answers (path)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_BUSY, "another vfmigd listens on %s", path);
      return FALSE;
    }
    unlink (path);
  }
  addr = g_unix_socket_address_new (path);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (server->service), addr, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, error))
    return FALSE;
  server->unlink_path = g_strdup (path);
  if (chmod (path, 0666) < 0) {
    int saved = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot make %s mode 0666: %s", path, g_strerror (saved));
    return FALSE;
  }
  return TRUE;
}

static gboolean
listen_on_passed (VfmServer *server, int fd, GError **error)
{
  g_autoptr (GSocket) socket = g_socket_new_from_fd (fd, error);
  if (socket == NULL || !g_socket_listener_add_socket (G_SOCKET_LISTENER (server->service), socket, NULL, error))
    return FALSE;
  return TRUE;
}

VfmServer *
vfm_server_new (const VfmDaemonConfig *config, GError **error)
{
  g_autoptr (VfmServer) server = g_new0 (VfmServer, 1);
  g_autoptr (GError) local = NULL;
  int fd;

  server->config = config;
  server->connections = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) connection_unref, NULL);
  server->per_uid = g_hash_table_new (NULL, NULL);
  server->refusing = g_hash_table_new (NULL, NULL);
  server->service = g_socket_service_new ();
  /* clients connecting at once wait in the kernel's queue, not in EAGAIN */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (server->service), SOMAXCONN);
  fd = vfm_sd_listen_fd (&local);
  if (local != NULL) {
    g_propagate_error (error, g_steal_pointer (&local));
    return NULL;
  }
  if (fd >= 0 && config->socket_path == NULL) {
    server->address = g_strdup ("the socket systemd passed");
    if (!listen_on_passed (server, fd, error)) {
      g_prefix_error (error, "cannot listen on %s: ", server->address);
      return NULL;
    }
  } else {
    g_autoptr (VfmSysroot) sr = NULL;
    g_autofree char *run = NULL;
    if (config->socket_path != NULL) {
      server->address = g_strdup (config->socket_path);
    } else {
      if ((sr = vfm_sysroot_new (config->sysroot, error)) == NULL)
        return NULL;
      run = vfm_sysroot_run_dir (sr);
      server->address = g_build_filename (run, "vfmigd.sock", NULL);
    }
    if (!listen_on_path (server, server->address, error)) {
      g_prefix_error (error, "cannot listen on %s: ", server->address);
      return NULL;
    }
  }
  g_signal_connect (server->service, "incoming", G_CALLBACK (on_incoming), server);
  g_socket_service_start (server->service);
  return g_steal_pointer (&server);
}

const char *
vfm_server_address (VfmServer *server)
{
  return server->address;
}

void
vfm_server_stop (VfmServer *server, GSourceFunc done, gpointer user_data)
{
  server->stopping = TRUE;
  server->stopped = done;
  server->stopped_data = user_data;
  g_socket_service_stop (server->service);
  if (server->running == 0)
    done (user_data);
}

void
vfm_server_free (VfmServer *server)
{
  GHashTableIter it;
  VfmConnection *c;

  if (server == NULL)
    return;
  if (server->service != NULL) {
    g_socket_service_stop (server->service);
    g_socket_listener_close (G_SOCKET_LISTENER (server->service));
    g_signal_handlers_disconnect_by_data (server->service, server);
  }
  /* connections outlive the server only as long as their callbacks run */
  g_hash_table_iter_init (&it, server->connections);
  while (g_hash_table_iter_next (&it, (gpointer *) &c, NULL)) {
    c->server = NULL;
    c->closed = TRUE;
    g_clear_handle_id (&c->deadline, g_source_remove);
    g_cancellable_cancel (c->cancellable);
    g_io_stream_close (G_IO_STREAM (c->stream), NULL, NULL);
  }
  g_hash_table_unref (server->connections);
  g_hash_table_unref (server->per_uid);
  g_hash_table_unref (server->refusing);
  if (server->unlink_path != NULL)
    unlink (server->unlink_path);
  g_clear_object (&server->service);
  g_free (server->unlink_path);
  g_free (server->address);
  g_free (server);
}
