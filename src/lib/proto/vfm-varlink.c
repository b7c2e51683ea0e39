/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-varlink.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>
#include <string.h>

G_DEFINE_QUARK (vfm-varlink-error-quark, vfm_varlink_error)

static const struct {
  VfmVarlinkError code;
  const char *name;
  const char *key;   /* the one parameter the standard error carries */
} service_errors[] = {
  { VFM_VARLINK_ERROR_INTERFACE_NOT_FOUND, "org.varlink.service.InterfaceNotFound", "interface" },
  { VFM_VARLINK_ERROR_METHOD_NOT_FOUND, "org.varlink.service.MethodNotFound", "method" },
  { VFM_VARLINK_ERROR_METHOD_NOT_IMPLEMENTED, "org.varlink.service.MethodNotImplemented", "method" },
  { VFM_VARLINK_ERROR_INVALID_PARAMETER, "org.varlink.service.InvalidParameter", "parameter" },
};

void
vfm_varlink_call_free (VfmVarlinkCall *call)
{
  if (call == NULL)
    return;
  g_free (call->method);
  g_clear_pointer (&call->parameters, json_object_unref);
  g_free (call);
}

static gboolean
protocol_error (GError **error, const char *what)
{
  g_set_error (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_PROTOCOL, "malformed call: %s", what);
  return FALSE;
}

static gboolean
optional_flag (JsonObject *obj, const char *name, gboolean *out, GError **error)
{
  JsonNode *n = json_object_get_member (obj, name);
  *out = FALSE;
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return protocol_error (error, "a flag is not a boolean");
  *out = json_node_get_boolean (n);
  return TRUE;
}

/* A method name is an interface name (reverse domain, at least two labels),
 * a dot, and a member starting with an upper-case letter. */
static gboolean
method_name_is_valid (const char *method)
{
  const char *dot = strrchr (method, '.');
  if (dot == NULL || dot == method || !g_ascii_isupper (dot[1]) || memchr (method, '.', dot - method) == NULL)
    return FALSE;
  for (const char *p = method; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '-' && *p != '_')
      return FALSE;
  return strstr (method, "..") == NULL;
}

VfmVarlinkCall *
vfm_varlink_call_parse (const char *text, gsize len, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (VfmVarlinkCall) call = g_new0 (VfmVarlinkCall, 1);
  g_autoptr (GError) local = NULL;
  JsonObject *obj;
  JsonNode *method, *params;
  gboolean oneway, more, upgrade;

  if (!g_utf8_validate (text, len, NULL)) {
    protocol_error (error, "not UTF-8");
    return NULL;
  }
  if (!vfm_json_load_data (parser, text, len, &local)) {
    g_set_error (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_PROTOCOL, "malformed call: %s", local->message);
    return NULL;
  }
  /* an empty, blank or comment-only message parses to no root at all */
  if (json_parser_get_root (parser) == NULL || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    protocol_error (error, "not a JSON object");
    return NULL;
  }
  obj = json_node_get_object (json_parser_get_root (parser));
  method = json_object_get_member (obj, "method");
  if (method == NULL || json_node_get_value_type (method) != G_TYPE_STRING ||
      !method_name_is_valid (json_node_get_string (method))) {
    protocol_error (error, "no valid \"method\"");
    return NULL;
  }
  params = json_object_get_member (obj, "parameters");
  if (params != NULL && !JSON_NODE_HOLDS_NULL (params) && !JSON_NODE_HOLDS_OBJECT (params)) {
    protocol_error (error, "\"parameters\" is not an object");
    return NULL;
  }
  if (!optional_flag (obj, "oneway", &oneway, error) || !optional_flag (obj, "more", &more, error) ||
      !optional_flag (obj, "upgrade", &upgrade, error))
    return NULL;
  if (oneway && more) {
    protocol_error (error, "\"oneway\" and \"more\" together");
    return NULL;
  }
  call->method = g_strdup (json_node_get_string (method));
  call->parameters = params && JSON_NODE_HOLDS_OBJECT (params) ? json_object_ref (json_node_get_object (params))
                                                               : json_object_new ();
  call->flags = (oneway ? VFM_VARLINK_CALL_ONEWAY : 0) | (more ? VFM_VARLINK_CALL_MORE : 0);
  /* upgrade hands the connection to another protocol: vfmig has none */
  if (upgrade) {
    protocol_error (error, "\"upgrade\" is not supported");
    return NULL;
  }
  return g_steal_pointer (&call);
}

/* Takes the first complete message out of the bytes received so far.
 * TRUE with *message NULL: incomplete, read more. FALSE: the peer broke the
 * protocol (a message beyond VFM_VARLINK_MAX_MESSAGE). */
gboolean
vfm_varlink_take_message (GByteArray *buffer, char **message, GError **error)
{
  const guint8 *nul = buffer->len > 0 ? memchr (buffer->data, '\0', buffer->len) : NULL;
  gsize len;

  *message = NULL;
  if (nul == NULL) {
    if (buffer->len > VFM_VARLINK_MAX_MESSAGE) {
      g_set_error (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_PROTOCOL,
                   "message larger than %d bytes", VFM_VARLINK_MAX_MESSAGE);
      return FALSE;
    }
    return TRUE;
  }
  len = nul - buffer->data;
  if (len > VFM_VARLINK_MAX_MESSAGE) {
    g_set_error (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_PROTOCOL,
                 "message larger than %d bytes", VFM_VARLINK_MAX_MESSAGE);
    return FALSE;
  }
  *message = g_strndup ((const char *) buffer->data, len);
  g_byte_array_remove_range (buffer, 0, len + 1);
  return TRUE;
}

static char *
node_to_string (JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, node);
  return json_generator_to_data (gen, NULL);
}

char *
vfm_varlink_reply_new (JsonNode *parameters, gboolean continues)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "parameters");
  if (parameters != NULL)
    json_builder_add_value (b, json_node_copy (parameters));
  else {
    json_builder_begin_object (b);
    json_builder_end_object (b);
  }
  if (continues) {
    json_builder_set_member_name (b, "continues");
    json_builder_add_boolean_value (b, TRUE);
  }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return node_to_string (root);
}

const char *
vfm_varlink_error_name (const GError *error)
{
  if (error->domain == VFM_VARLINK_ERROR)
    for (gsize i = 0; i < G_N_ELEMENTS (service_errors); i++)
      if (service_errors[i].code == (VfmVarlinkError) error->code)
        return service_errors[i].name;
  return vfm_error_name (error);
}

/* {"error": NAME, "parameters": {...}}: the standard errors carry their one
 * value; vfmig's carry "message" and whatever `extra` (an object) adds. */
char *
vfm_varlink_error_reply_new (const GError *error, JsonNode *extra)
{
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  JsonObject *obj = json_object_new ();
  const char *key = "message";

  if (error->domain == VFM_VARLINK_ERROR)
    for (gsize i = 0; i < G_N_ELEMENTS (service_errors); i++)
      if (service_errors[i].code == (VfmVarlinkError) error->code)
        key = service_errors[i].key;
  json_object_set_string_member (params, key, error->message);
  if (extra != NULL && JSON_NODE_HOLDS_OBJECT (extra)) {
    JsonObjectIter it;
    const char *name;
    JsonNode *value;
    json_object_iter_init (&it, json_node_get_object (extra));
    while (json_object_iter_next (&it, &name, &value))
      if (!json_object_has_member (params, name))
        json_object_set_member (params, name, json_node_copy (value));
  }
  json_object_set_string_member (obj, "error", vfm_varlink_error_name (error));
  json_object_set_object_member (obj, "parameters", json_object_ref (params));
  json_node_take_object (root, obj);
  return node_to_string (root);
}

char *
vfm_varlink_call_new (const char *method, JsonNode *parameters, VfmVarlinkCallFlags flags)
{
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  JsonObject *obj = json_object_new ();

  json_object_set_string_member (obj, "method", method);
  if (parameters != NULL)
    json_object_set_member (obj, "parameters", json_node_copy (parameters));
  if (flags & VFM_VARLINK_CALL_ONEWAY)
    json_object_set_boolean_member (obj, "oneway", TRUE);
  if (flags & VFM_VARLINK_CALL_MORE)
    json_object_set_boolean_member (obj, "more", TRUE);
  json_node_take_object (root, obj);
  return node_to_string (root);
}

/* "io.vfmig.List" -> "io.vfmig" and "List" (a view into method). */
gboolean
vfm_varlink_interface_of (const char *method, char **interface, const char **member)
{
  const char *dot = strrchr (method, '.');
  if (dot == NULL)
    return FALSE;
  *interface = g_strndup (method, dot - method);
  *member = dot + 1;
  return TRUE;
}

static gboolean
invalid_parameter (GError **error, const char *name)
{
  g_set_error_literal (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_INVALID_PARAMETER, name);
  return FALSE;
}

gboolean
vfm_varlink_params_check (JsonObject *params, const char * const *known, GError **error)
{
  JsonObjectIter it;
  const char *name;
  JsonNode *value;

  json_object_iter_init (&it, params);
  while (json_object_iter_next (&it, &name, &value))
    if (known == NULL || !g_strv_contains (known, name))
      return invalid_parameter (error, name);
  return TRUE;
}

static JsonNode *
get_param (JsonObject *params, const char *name)
{
  JsonNode *n = json_object_get_member (params, name);
  return n != NULL && !JSON_NODE_HOLDS_NULL (n) ? n : NULL;
}

gboolean
vfm_varlink_param_bool (JsonObject *params, const char *name, gboolean *out, GError **error)
{
  JsonNode *n = get_param (params, name);
  *out = FALSE;
  if (n == NULL)
    return TRUE;
  if (json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return invalid_parameter (error, name);
  *out = json_node_get_boolean (n);
  return TRUE;
}

gboolean
vfm_varlink_param_string (JsonObject *params, const char *name, gboolean required, const char **out,
                          GError **error)
{
  JsonNode *n = get_param (params, name);
  *out = NULL;
  if (n == NULL)
    return required ? invalid_parameter (error, name) : TRUE;
  if (json_node_get_value_type (n) != G_TYPE_STRING)
    return invalid_parameter (error, name);
  *out = json_node_get_string (n);
  return TRUE;
}

gboolean
vfm_varlink_param_strv (JsonObject *params, const char *name, gboolean required, GPtrArray **out,
                        GError **error)
{
  JsonNode *n = get_param (params, name);
  g_autoptr (GPtrArray) v = g_ptr_array_new_with_free_func (g_free);
  JsonArray *a;

  *out = NULL;
  if (n == NULL)
    return required ? invalid_parameter (error, name) : TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    return invalid_parameter (error, name);
  a = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonNode *e = json_array_get_element (a, i);
    if (json_node_get_value_type (e) != G_TYPE_STRING)
      return invalid_parameter (error, name);
    g_ptr_array_add (v, g_strdup (json_node_get_string (e)));
  }
  *out = g_steal_pointer (&v);
  return TRUE;
}

/* --- the client --- */

struct _VfmVarlinkClient {
  GSocket *socket;
  GByteArray *in;
  JsonObject *last_error_parameters;
  GSubprocess *process;   /* the command on the other end, or NULL */
};

VfmVarlinkClient *
vfm_varlink_client_connect (const char *path, GError **error)
{
  g_autoptr (VfmVarlinkClient) c = g_new0 (VfmVarlinkClient, 1);
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);

  c->in = g_byte_array_new ();
  c->socket = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT, error);
  if (c->socket == NULL || !g_socket_connect (c->socket, addr, NULL, error)) {
    g_prefix_error (error, "cannot connect to %s: ", path);
    return NULL;
  }
  return g_steal_pointer (&c);
}

/* The command's stdin and stdout are one end of a socket pair: the same
 * stream code serves a socket and a bridge. */
VfmVarlinkClient *
vfm_varlink_client_spawn (const char * const *argv, GError **error)
{
  g_autoptr (VfmVarlinkClient) c = g_new0 (VfmVarlinkClient, 1);
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  int fds[2];

  c->in = g_byte_array_new ();
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
    int saved = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "socketpair: %s", g_strerror (saved));
    return NULL;
  }
  g_subprocess_launcher_take_stdin_fd (launcher, fds[1]);
  g_subprocess_launcher_take_stdout_fd (launcher, dup (fds[1]));
  c->process = g_subprocess_launcher_spawnv (launcher, argv, error);
  if (c->process == NULL || (c->socket = g_socket_new_from_fd (fds[0], error)) == NULL) {
    if (c->socket == NULL)
      close (fds[0]);
    g_prefix_error (error, "cannot start %s: ", argv[0]);
    return NULL;
  }
  return g_steal_pointer (&c);
}

void
vfm_varlink_client_free (VfmVarlinkClient *c)
{
  if (c == NULL)
    return;
  if (c->socket != NULL)
    g_socket_close (c->socket, NULL);
  g_clear_object (&c->socket);
  if (c->process != NULL) /* it sees the end of its input and exits */
    g_subprocess_wait (c->process, NULL, NULL);
  g_clear_object (&c->process);
  g_byte_array_unref (c->in);
  g_clear_pointer (&c->last_error_parameters, json_object_unref);
  g_free (c);
}

JsonObject *
vfm_varlink_client_last_error_parameters (VfmVarlinkClient *c)
{
  return c->last_error_parameters;
}

static gboolean
send_all (GSocket *socket, const char *data, gsize len, GError **error)
{
  while (len > 0) {
    gssize n = g_socket_send (socket, data, len, NULL, error);
    if (n < 0)
      return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}

static JsonObject *
read_message (VfmVarlinkClient *c, GError **error)
{
  g_autofree char *text = NULL;
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  char chunk[65536];

  for (;;) {
    gssize n;
    if (!vfm_varlink_take_message (c->in, &text, error))
      return NULL;
    if (text != NULL)
      break;
    n = g_socket_receive (c->socket, chunk, sizeof chunk, NULL, error);
    if (n < 0)
      return NULL;
    if (n == 0) {
      g_set_error (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_PROTOCOL, "the service closed the connection");
      return NULL;
    }
    g_byte_array_append (c->in, (const guint8 *) chunk, n);
  }
  /* a peer's reply is text from outside: depth and strictness first */
  if (!vfm_json_load_data (parser, text, strlen (text), error))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_set_error (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_PROTOCOL, "a reply is not a JSON object");
    return NULL;
  }
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

/* An error reply becomes a GError in VFM_ERROR when vfmig knows the name,
 * so callers handle the daemon's errors like the library's. */
static void
set_remote_error (VfmVarlinkClient *c, const char *name, JsonObject *params, GError **error)
{
  const char *message = NULL;

  g_clear_pointer (&c->last_error_parameters, json_object_unref);
  c->last_error_parameters = params ? json_object_ref (params) : json_object_new ();
  for (gsize i = 0; i < G_N_ELEMENTS (service_errors); i++) {
    if (strcmp (name, service_errors[i].name) == 0) {
      JsonNode *v = json_object_get_member (c->last_error_parameters, service_errors[i].key);
      message = v && json_node_get_value_type (v) == G_TYPE_STRING ? json_node_get_string (v) : "";
      g_set_error_literal (error, VFM_VARLINK_ERROR, service_errors[i].code, message);
      return;
    }
  }
  if (json_object_has_member (c->last_error_parameters, "message"))
    message = vfm_json_get_str_or (c->last_error_parameters, "message", NULL);
  for (int code = 0; code < 256; code++) {
    GError probe = { VFM_ERROR, code, NULL };
    if (strcmp (vfm_error_name (&probe), name) == 0) {
      g_set_error_literal (error, VFM_ERROR, code, message ? message : name);
      return;
    }
  }
  g_set_error (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_REMOTE, "%s%s%s", name,
               message ? ": " : "", message ? message : "");
}

static gboolean
call_internal (VfmVarlinkClient *c, const char *method, JsonObject *parameters, VfmVarlinkCallFlags flags,
               VfmVarlinkReplyFunc func, gpointer user_data, GError **error)
{
  g_autoptr (JsonNode) pnode = NULL;
  g_autofree char *text = NULL;
  gboolean continues = TRUE;

  if (parameters != NULL) {
    pnode = json_node_new (JSON_NODE_OBJECT);
    json_node_set_object (pnode, parameters);
  }
  text = vfm_varlink_call_new (method, pnode, flags);
  if (!send_all (c->socket, text, strlen (text) + 1, error)) {
    g_prefix_error (error, "cannot call %s: ", method);
    return FALSE;
  }
  while (continues) {
    g_autoptr (JsonObject) reply = read_message (c, error);
    g_autoptr (JsonObject) empty = json_object_new ();
    JsonNode *err, *params;

    if (reply == NULL) {
      g_prefix_error (error, "%s: ", method);
      return FALSE;
    }
    params = json_object_get_member (reply, "parameters");
    err = json_object_get_member (reply, "error");
    if ((params != NULL && !JSON_NODE_HOLDS_OBJECT (params)) ||
        (err != NULL && json_node_get_value_type (err) != G_TYPE_STRING)) {
      g_set_error (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_PROTOCOL, "%s: malformed reply", method);
      return FALSE;
    }
    if (err != NULL) {
      set_remote_error (c, json_node_get_string (err), params ? json_node_get_object (params) : NULL, error);
      return FALSE;
    }
    continues = vfm_json_get_bool_or (reply, "continues", FALSE);
    if (continues && !(flags & VFM_VARLINK_CALL_MORE)) {
      g_set_error (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_PROTOCOL,
                   "%s: the service streamed replies to a call without \"more\"", method);
      return FALSE;
    }
    if (!func (params ? json_node_get_object (params) : empty, continues, user_data, error))
      return FALSE;
  }
  return TRUE;
}

/* Every reply goes to func, the last one with continues FALSE. */
gboolean
vfm_varlink_client_call_more (VfmVarlinkClient *c, const char *method, JsonObject *parameters,
                              VfmVarlinkReplyFunc func, gpointer user_data, GError **error)
{
  return call_internal (c, method, parameters, VFM_VARLINK_CALL_MORE, func, user_data, error);
}

static gboolean
keep_last (JsonObject *parameters, gboolean continues, gpointer user_data, GError **error)
{
  JsonObject **out = user_data;
  g_clear_pointer (out, json_object_unref);
  *out = json_object_ref (parameters);
  return TRUE;
}

/* One call, one reply: its parameters, or NULL with error set. */
JsonObject *
vfm_varlink_client_call (VfmVarlinkClient *c, const char *method, JsonObject *parameters, GError **error)
{
  g_autoptr (JsonObject) out = NULL;

  if (!call_internal (c, method, parameters, 0, keep_last, &out, error))
    return NULL;
  return g_steal_pointer (&out);
}
