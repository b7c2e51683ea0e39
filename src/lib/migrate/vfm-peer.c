/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-peer.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-varlink.h"

#include <gio/gio.h>
#include <string.h>

struct _VfmPeer {
  char *spec;
  char *ssh_host;             /* NULL: in process */
  VfmVarlinkClient *remote;   /* ssh HOST vfmigctl bridge, opened on first use */
  VfmHost *host;              /* in process */
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
  g_clear_pointer (&p->remote, vfm_varlink_client_free);
  g_clear_pointer (&p->host, vfm_host_free);
  g_free (p);
}

const char *
vfm_peer_spec (VfmPeer *p)
{
  return p->spec;
}

/* The destination's vfmig over ssh, speaking the daemon's varlink methods
 * through `vfmigctl bridge`; the first call says which protocol we speak
 * (another major is refused there, with Unsupported). */
static VfmVarlinkClient *
remote (VfmPeer *p, GError **error)
{
  const char *argv[] = { "ssh", "-o", "BatchMode=yes", "--", p->ssh_host, "vfmigctl", "bridge", NULL };
  g_autoptr (VfmVarlinkClient) c = NULL;
  g_autoptr (JsonObject) hello = json_object_new ();
  g_autoptr (JsonObject) reply = NULL;

  if (p->remote != NULL)
    return p->remote;
  json_object_set_int_member (hello, "protocol_major", VFM_PROTOCOL_MAJOR);
  if ((c = vfm_varlink_client_spawn (argv, error)) == NULL ||
      (reply = vfm_varlink_client_call (c, "io.vfmig.Hello", hello, error)) == NULL) {
    g_prefix_error (error, "cannot reach vfmig on %s (ssh %s vfmigctl bridge): ", p->ssh_host, p->ssh_host);
    return NULL;
  }
  p->remote = g_steal_pointer (&c);
  return p->remote;
}

static JsonObject *
remote_call (VfmPeer *p, const char *method, JsonObject *params, GError **error)
{
  VfmVarlinkClient *c = remote (p, error);
  JsonObject *reply = c ? vfm_varlink_client_call (c, method, params, error) : NULL;
  if (reply == NULL && c != NULL)
    g_prefix_error (error, "%s: ", p->ssh_host);
  return reply;
}

static JsonNode *
object_node (JsonObject *o)
{
  JsonNode *n = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (n, o);
  return n;
}

VfmHostProfile *
vfm_peer_profile (VfmPeer *p, GError **error)
{
  g_autoptr (JsonObject) reply = NULL;
  g_autoptr (JsonNode) node = NULL;
  if (p->host != NULL)
    return vfm_host_profile_build (p->host, error);
  if ((reply = remote_call (p, "io.vfmig.Profile", NULL, error)) == NULL)
    return NULL;
  node = object_node (reply);
  return vfm_host_profile_from_json (node, p->spec, error);
}

VfmClaim *
vfm_peer_claim (VfmPeer *p, const char *uuid, const char *name, GPtrArray *wants, guint ttl_s, GError **error)
{
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (JsonObject) reply = NULL;
  g_autoptr (JsonNode) node = NULL;

  if (p->host != NULL)
    return vfm_claims_claim (p->host, uuid, name, wants, ttl_s, error);
  if (uuid != NULL)
    json_object_set_string_member (params, "domain_uuid", uuid);
  if (name != NULL)
    json_object_set_string_member (params, "domain_name", name);
  json_object_set_member (params, "wants", vfm_claim_wants_to_json (wants));
  json_object_set_int_member (params, "ttl_s", ttl_s);
  if ((reply = remote_call (p, "io.vfmig.Claim", params, error)) == NULL)
    return NULL;
  node = object_node (reply);
  return vfm_claim_from_json (node, error);
}

gboolean
vfm_peer_prepare (VfmPeer *p, const char *id, GError **error)
{
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (JsonObject) reply = NULL;
  if (p->host != NULL) {
    g_autoptr (GPtrArray) r = vfm_claims_prepare (p->host, id, error);
    return r != NULL;
  }
  json_object_set_string_member (params, "claim_id", id);
  reply = remote_call (p, "io.vfmig.Prepare", params, error);
  return reply != NULL;
}

gboolean
vfm_peer_release (VfmPeer *p, const char *id, gboolean restore, GError **error)
{
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (JsonObject) reply = NULL;
  if (p->host != NULL)
    return vfm_claims_release (p->host, id, restore, NULL, error);
  json_object_set_string_member (params, "claim_id", id);
  json_object_set_boolean_member (params, "restore", restore);
  reply = remote_call (p, "io.vfmig.Release", params, error);
  return reply != NULL;
}

gboolean
vfm_peer_renew (VfmPeer *p, const char *id, guint ttl_s, GError **error)
{
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (JsonObject) reply = NULL;
  if (p->host != NULL)
    return vfm_claims_renew (p->host, id, ttl_s, error);
  json_object_set_string_member (params, "claim_id", id);
  json_object_set_int_member (params, "ttl_s", ttl_s);
  reply = remote_call (p, "io.vfmig.Renew", params, error);
  return reply != NULL;
}

gboolean
vfm_peer_adopt (VfmPeer *p, const char *id, gboolean *adopted, GError **error)
{
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (JsonObject) reply = NULL;
  g_autoptr (GError) local = NULL;
  if (p->host != NULL)
    return vfm_claims_adopt (p->host, id, adopted, error);
  json_object_set_string_member (params, "claim_id", id);
  if ((reply = remote_call (p, "io.vfmig.Adopt", params, &local)) == NULL) {
    /* a peer before protocol 1.3 has no Adopt: its claim ends as it did then */
    if (g_error_matches (local, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_METHOD_NOT_FOUND) ||
        strstr (local->message, "MethodNotFound") != NULL)
      return vfm_peer_release (p, id, FALSE, error);
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  if (adopted != NULL)
    *adopted = json_object_get_boolean_member_with_default (reply, "adopted", FALSE);
  return TRUE;
}
