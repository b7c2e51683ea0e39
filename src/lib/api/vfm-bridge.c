/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-bridge.h"
#include "vfm-error.h"
#include "vfm-local.h"
#include "vfm-varlink.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static gboolean
write_all (int fd, const char *data, gsize len, GError **error)
{
  while (len > 0) {
    gssize n = write (fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int saved = errno;
      g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "bridge: cannot write a reply: %s", g_strerror (saved));
      return FALSE;
    }
    data += n;
    len -= (gsize) n;
  }
  return TRUE;
}

/* One call: its reply, or its error, as the daemon would send it. */
static char *
answer (const VfmMethodCall *tmpl, VfmVarlinkCall *call)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) error_parameters = NULL;
  g_autoptr (JsonObject) reply = vfm_local_call (tmpl, call->method, call->parameters, &error_parameters, &error);
  g_autoptr (JsonNode) node = NULL;

  if (reply != NULL) {
    node = json_node_new (JSON_NODE_OBJECT);
    json_node_set_object (node, reply);
    return vfm_varlink_reply_new (node, FALSE);
  }
  if (error_parameters != NULL) {
    node = json_node_new (JSON_NODE_OBJECT);
    json_node_set_object (node, error_parameters);
  }
  return vfm_varlink_error_reply_new (error, node);
}

gboolean
vfm_bridge_serve (int in_fd, int out_fd, const VfmMethodCall *tmpl, GError **error)
{
  g_autoptr (GByteArray) in = g_byte_array_new ();
  char chunk[65536];

  for (;;) {
    g_autofree char *text = NULL;
    g_autoptr (VfmVarlinkCall) call = NULL;
    g_autofree char *out = NULL;
    gssize n;

    if (!vfm_varlink_take_message (in, &text, error)) {
      g_prefix_error (error, "bridge: ");
      return FALSE;
    }
    if (text == NULL) {
      n = read (in_fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0) {
        int saved = errno;
        g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "bridge: cannot read: %s", g_strerror (saved));
        return FALSE;
      }
      if (n == 0) {
        if (in->len > 0) {
          g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "bridge: the input ended inside a message");
          return FALSE;
        }
        return TRUE;
      }
      g_byte_array_append (in, (const guint8 *) chunk, (guint) n);
      continue;
    }
    /* depth and strictness are checked before json-glib parses it */
    if ((call = vfm_varlink_call_parse (text, strlen (text), error)) == NULL) {
      g_prefix_error (error, "bridge: ");
      return FALSE;
    }
    out = answer (tmpl, call);
    if (!(call->flags & VFM_VARLINK_CALL_ONEWAY) && !write_all (out_fd, out, strlen (out) + 1, error))
      return FALSE;
  }
}
