/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-peer.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <gio/gio.h>
#include <string.h>

struct _VfmPeer {
  char *spec;
  char *ssh_host;   /* NULL: in process */
  VfmHost *host;    /* in process */
};

VfmPeer *
vfm_peer_new (const char *spec, GError **error)
{
  g_autoptr (VfmPeer) p = g_new0 (VfmPeer, 1);
  p->spec = g_strdup (spec);
  if (g_str_has_prefix (spec, "ssh://")) {
    const char *h = spec + strlen ("ssh://");
    if (*h == '\0' || *h == '-' || strpbrk (h, "/ \t\n;&|`$") != NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a host for ssh", h);
      return NULL;
    }
    p->ssh_host = g_strdup (h);
    return g_steal_pointer (&p);
  }
  if (g_strcmp0 (spec, "local") == 0)
    p->host = vfm_host_new (NULL, error);
  else if (g_str_has_prefix (spec, "sysroot:"))
    p->host = vfm_host_new (spec + strlen ("sysroot:"), error);
  else
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "\"%s\" is not a peer (ssh://HOST, sysroot:DIR or local)", spec);
  return p->host ? g_steal_pointer (&p) : NULL;
}

void
vfm_peer_free (VfmPeer *p)
{
  if (p == NULL)
    return;
  g_free (p->spec);
  g_free (p->ssh_host);
  g_clear_pointer (&p->host, vfm_host_free);
  g_free (p);
}

const char *
vfm_peer_spec (VfmPeer *p)
{
  return p->spec;
}

/* ssh HOST vfmigctl ARGS… --json, stdin from input; the JSON it prints. */
static JsonNode *
remote (VfmPeer *p, const char * const *args, const char *input, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GBytes) out = NULL, err = NULL;
  g_autoptr (GBytes) in = input ? g_bytes_new (input, strlen (input)) : NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;

  for (const char *a = "ssh\0-o\0BatchMode=yes\0--\0"; *a; a += strlen (a) + 1)
    g_ptr_array_add (argv, (char *) a);
  g_ptr_array_add (argv, p->ssh_host);
  g_ptr_array_add (argv, (char *) "vfmigctl");
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, (char *) "--json");
  g_ptr_array_add (argv, NULL);
  proc = g_subprocess_newv ((const char * const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                            error);
  if (proc == NULL || !g_subprocess_communicate (proc, in, NULL, &out, &err, error))
    return NULL;
  if (!vfm_json_load_data (parser, g_bytes_get_data (out, NULL), g_bytes_get_size (out), NULL) ||
      (root = json_parser_get_root (parser)) == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "%s: vfmigctl %s gave no answer: %.*s", p->ssh_host, args[0],
                 (int) g_bytes_get_size (err), (const char *) g_bytes_get_data (err, NULL));
    return NULL;
  }
  if (JSON_NODE_HOLDS_OBJECT (root) && json_object_has_member (json_node_get_object (root), "error")) {
    JsonNode *en = json_object_get_member (json_node_get_object (root), "error");
    JsonObject *e = JSON_NODE_HOLDS_OBJECT (en) ? json_node_get_object (en) : NULL;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "%s: %s", p->ssh_host,
                 e ? vfm_json_get_str_or (e, "message", "failed") : "failed");
    return NULL;
  }
  return json_node_copy (root);
}

VfmHostProfile *
vfm_peer_profile (VfmPeer *p, GError **error)
{
  const char *args[] = { "profile", NULL };
  g_autoptr (JsonNode) node = NULL;
  if (p->host != NULL)
    return vfm_host_profile_build (p->host, error);
  if ((node = remote (p, args, NULL, error)) == NULL)
    return NULL;
  return vfm_host_profile_from_json (node, p->spec, error);
}

VfmClaim *
vfm_peer_claim (VfmPeer *p, const char *uuid, const char *name, GPtrArray *wants, guint ttl_s, GError **error)
{
  g_autoptr (JsonNode) wnode = NULL, node = NULL;
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autofree char *ttl = g_strdup_printf ("%u", ttl_s);
  g_autofree char *input = NULL;
  const char *args[] = { "claim", "--domain-uuid", uuid ? uuid : "", "--domain-name", name ? name : "", "--ttl", ttl, NULL };

  if (p->host != NULL)
    return vfm_claims_claim (p->host, uuid, name, wants, ttl_s, error);
  wnode = vfm_claim_wants_to_json (wants);
  json_generator_set_root (gen, wnode);
  input = json_generator_to_data (gen, NULL);
  if ((node = remote (p, args, input, error)) == NULL)
    return NULL;
  return vfm_claim_from_json (node, error);
}

gboolean
vfm_peer_prepare (VfmPeer *p, const char *id, GError **error)
{
  const char *args[] = { "prepare", id, NULL };
  g_autoptr (JsonNode) node = NULL;
  if (p->host != NULL) {
    g_autoptr (GPtrArray) r = vfm_claims_prepare (p->host, id, error);
    return r != NULL;
  }
  node = remote (p, args, NULL, error);
  return node != NULL;
}

gboolean
vfm_peer_release (VfmPeer *p, const char *id, gboolean restore, GError **error)
{
  const char *args[] = { "release", id, restore ? "--restore" : NULL, NULL };
  g_autoptr (JsonNode) node = NULL;
  if (p->host != NULL)
    return vfm_claims_release (p->host, id, restore, NULL, error);
  node = remote (p, args, NULL, error);
  return node != NULL;
}
