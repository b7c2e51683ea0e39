/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-local.h"
#include "vfm-error.h"
#include "vfm-host-uuid.h"

JsonObject *
vfm_local_call (const VfmMethodCall *tmpl, const char *method, JsonObject *parameters, JsonObject **error_parameters,
                GError **error)
{
  VfmMethodCall call = *tmpl;
  g_autofree char *interface = NULL;
  g_autoptr (JsonNode) reply = NULL, extra = NULL;
  const VfmMethod *m;
  const char *member;

  if (!vfm_varlink_interface_of (method, &interface, &member)) {
    g_set_error_literal (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_METHOD_NOT_FOUND, method);
    return NULL;
  }
  if (!vfm_methods_interface_known (interface)) {
    g_set_error_literal (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_INTERFACE_NOT_FOUND, interface);
    return NULL;
  }
  if ((m = vfm_methods_lookup (method)) == NULL) {
    g_set_error_literal (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_METHOD_NOT_FOUND, method);
    return NULL;
  }
  call.parameters = parameters;
  reply = m->func (&call, &extra, error);
  if (reply == NULL) {
    if (error != NULL && *error == NULL)
      g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "%s failed without saying why", method);
    if (error_parameters != NULL && extra != NULL && JSON_NODE_HOLDS_OBJECT (extra))
      *error_parameters = json_object_ref (json_node_get_object (extra));
    return NULL;
  }
  if (!JSON_NODE_HOLDS_OBJECT (reply)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "%s answered something other than an object", method);
    return NULL;
  }
  return json_object_ref (json_node_get_object (reply));
}

typedef struct {
  VfmMethodCall call;
  char *sysroot;
  char *host_uuid;
} Local;

static void
local_free (Local *l)
{
  g_free (l->sysroot);
  g_free (l->host_uuid);
  g_free (l);
}

static JsonObject *
local_backend_call (gpointer data, const char *method, JsonObject *parameters, JsonObject **error_parameters,
                    GError **error)
{
  Local *l = data;
  /* the host's identity only when asked: it is a file under vfmig's state */
  if (l->host_uuid == NULL && g_str_equal (method, "io.vfmig.Hello")) {
    g_autoptr (VfmSysroot) sr = vfm_sysroot_new (l->sysroot, error);
    if (sr == NULL || (l->host_uuid = vfm_host_uuid (sr, error)) == NULL)
      return NULL;
    l->call.host_uuid = l->host_uuid;
  }
  return vfm_local_call (&l->call, method, parameters, error_parameters, error);
}

VfmBackend *
vfm_local_backend_new (const VfmMethodCall *call)
{
  Local *l = g_new0 (Local, 1);
  l->call = *call;
  l->sysroot = g_strdup (call->sysroot);
  l->call.sysroot = l->sysroot;
  l->call.parameters = NULL;
  l->call.host_uuid = NULL;
  return vfm_backend_new ("in-process", local_backend_call, l, (GDestroyNotify) local_free);
}
