/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-backend.h"

struct _VfmBackend {
  char *name;
  VfmBackendCallFunc call;
  gpointer data;
  GDestroyNotify free_data;
};

VfmBackend *
vfm_backend_new (const char *name, VfmBackendCallFunc call, gpointer data, GDestroyNotify free_data)
{
  VfmBackend *b = g_new0 (VfmBackend, 1);
  b->name = g_strdup (name);
  b->call = call;
  b->data = data;
  b->free_data = free_data;
  return b;
}

void
vfm_backend_free (VfmBackend *b)
{
  if (b == NULL)
    return;
  if (b->free_data != NULL)
    b->free_data (b->data);
  g_free (b->name);
  g_free (b);
}

const char *
vfm_backend_name (VfmBackend *b)
{
  return b->name;
}

JsonObject *
vfm_backend_call (VfmBackend *b, const char *method, JsonObject *parameters, JsonObject **error_parameters,
                  GError **error)
{
  g_autoptr (JsonObject) empty = parameters ? NULL : json_object_new ();
  if (error_parameters != NULL)
    *error_parameters = NULL;
  return b->call (b->data, method, parameters ? parameters : empty, error_parameters, error);
}

static JsonObject *
varlink_call (gpointer data, const char *method, JsonObject *parameters, JsonObject **error_parameters,
              GError **error)
{
  VfmVarlinkClient *client = data;
  JsonObject *reply = vfm_varlink_client_call (client, method, parameters, error);
  JsonObject *ep;

  if (reply == NULL && error_parameters != NULL && (ep = vfm_varlink_client_last_error_parameters (client)) != NULL)
    *error_parameters = json_object_ref (ep);
  return reply;
}

VfmBackend *
vfm_backend_new_varlink (const char *name, VfmVarlinkClient *client)
{
  return vfm_backend_new (name, varlink_call, client, (GDestroyNotify) vfm_varlink_client_free);
}
