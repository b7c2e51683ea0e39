/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The io.vfmig methods. Each answers with the JSON shapes of the library's
 * types (their _to_json), which are what vfmigctl prints with --json, so the
 * CLI gives identical results through the daemon, a bridge and in-process. */
#include "vfm-config.h"
#include "vfm-methods.h"
#include "vfm-batch.h"
#include "vfm-binder.h"
#include "vfm-error.h"
#include "vfm-journal.h"
#include "vfm-json.h"
#include "vfm-mdev-ops.h"
#include "vfm-claims.h"
#include "vfm-doctor.h"
#include "vfm-inventory.h"
#include "vfm-status.h"
#include "vfm-varlink.h"
#include "vfm-api-resources.h"

#include <errno.h>
#include <gio/gio.h>
#include <string.h>

#define VFM_VENDOR "vfmig"
#define VFM_URL "https://github.com/vfmig/vfmig"

typedef GPtrArray VfmResults; /* VfmBindResult */

static VfmHost *
open_host (VfmMethodCall *call, gboolean need_db, GError **error)
{
  g_autoptr (VfmHost) host = vfm_host_new (call->sysroot, error);
  if (host == NULL || (need_db && vfm_host_db (host, error) == NULL))
    return NULL;
  return g_steal_pointer (&host);
}

static JsonNode *
object_node (JsonObject *obj)
{
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, obj);
  return node;
}

static JsonNode *
method_hello (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "protocol_major", NULL };
  JsonObject *out;
  JsonNode *peer_major;

  if (!vfm_varlink_params_check (call->parameters, known, error))
    return NULL;
  /* a peer may say which protocol it speaks; another major is refused */
  peer_major = json_object_get_member (call->parameters, "protocol_major");
  if (peer_major != NULL && !JSON_NODE_HOLDS_NULL (peer_major)) {
    if (json_node_get_value_type (peer_major) != G_TYPE_INT64) {
      g_set_error_literal (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_INVALID_PARAMETER, "protocol_major");
      return NULL;
    }
    if (json_node_get_int (peer_major) != VFM_PROTOCOL_MAJOR) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                   "protocol %" G_GINT64_FORMAT " is not supported: this vfmigd speaks protocol %d",
                   json_node_get_int (peer_major), VFM_PROTOCOL_MAJOR);
      return NULL;
    }
  }
  out = json_object_new ();
  json_object_set_int_member (out, "protocol_major", VFM_PROTOCOL_MAJOR);
  json_object_set_int_member (out, "protocol_minor", VFM_PROTOCOL_MINOR);
  json_object_set_string_member (out, "version", VFM_VERSION);
  json_object_set_string_member (out, "host_uuid", call->host_uuid);
  return object_node (out);
}

static JsonNode *
method_list (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "all", NULL };
  g_autoptr (VfmHost) host = NULL;
  g_autoptr (GPtrArray) devices = NULL, mdevs = NULL;
  g_autoptr (JsonArray) list = json_array_new (), mdev_list = json_array_new ();
  JsonObject *out;
  gboolean all;

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_bool (call->parameters, "all", &all, error))
    return NULL;
  if ((host = open_host (call, TRUE, error)) == NULL || (devices = vfm_host_devices (host, NULL, error)) == NULL)
    return NULL;
  for (guint i = 0; i < devices->len; i++) {
    VfmPciDevice *dev = g_ptr_array_index (devices, i);
    g_autoptr (VfmSelection) sel = vfm_host_select (host, dev, error);
    if (sel == NULL)
      return NULL;
    if (all || vfm_device_is_relevant (dev, sel))
      json_array_add_element (list, vfm_device_to_json (host, dev, sel, FALSE));
  }
  out = json_object_new ();
  json_object_set_array_member (out, "devices", g_steal_pointer (&list));
  /* beside the PCI devices, as `vfmigctl mdev list --json` prints them */
  mdevs = vfm_mdev_list (vfm_host_sysroot (host));
  for (guint i = 0; i < mdevs->len; i++)
    json_array_add_element (mdev_list, vfm_mdev_ops_to_json (host, g_ptr_array_index (mdevs, i)));
  json_object_set_array_member (out, "mdevs", g_steal_pointer (&mdev_list));
  return object_node (out);
}

static JsonNode *
method_explain (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "bdf", NULL };
  g_autoptr (VfmHost) host = NULL;
  g_autoptr (VfmSelection) sel = NULL;
  JsonNode *node;
  VfmPciDevice *dev;
  const char *bdf;

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_string (call->parameters, "bdf", TRUE, &bdf, error))
    return NULL;
  if ((host = open_host (call, TRUE, error)) == NULL || (dev = vfm_host_device (host, bdf, error)) == NULL ||
      (sel = vfm_host_select (host, dev, error)) == NULL)
    return NULL;
  node = vfm_selection_to_json (dev, sel);
  json_object_set_member (json_node_get_object (node), "device", vfm_device_to_json (host, dev, sel, TRUE));
  return node;
}

/* The same checks as vfmigctl doctor --json; vfmigd answers for itself, and
 * leaves the libvirt and QEMU versions to vfmigctl (Decisions 19). */
static JsonNode *
method_doctor (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "bdfs", NULL };
  g_autoptr (GPtrArray) bdfs = NULL;
  g_autoptr (VfmHost) host = NULL;
  g_autoptr (VfmDoctorReport) report = NULL;
  VfmDoctorOptions opts = { .in_daemon = g_strcmp0 (call->product, "vfmigd") == 0 };

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_strv (call->parameters, "bdfs", FALSE, &bdfs, error))
    return NULL;
  if ((host = open_host (call, TRUE, error)) == NULL)
    return NULL;
  if (bdfs != NULL)
    g_ptr_array_add (bdfs, NULL);
  report = vfm_doctor_run (host, bdfs ? (const char * const *) bdfs->pdata : NULL, &opts, error);
  return report ? vfm_doctor_report_to_json (report) : NULL;
}

/* The same shape as vfmigctl status --json (vfm-status.c). */
static JsonNode *
method_status (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  g_autoptr (VfmHost) host = NULL;
  g_autoptr (VfmStatus) st = NULL;

  if (!vfm_varlink_params_check (call->parameters, NULL, error) || (host = open_host (call, FALSE, error)) == NULL)
    return NULL;
  st = vfm_status_read (host);
  return vfm_status_to_json (st, host);
}

/* --- changing drivers --- */

static void
call_log (VfmMethodCall *call, GLogLevelFlags level, const char *op, const char *device, const char *message)
{
  if (call->log != NULL)
    call->log (level, op, device, message);
}

static void
log_result (VfmMethodCall *call, const VfmBindResult *r)
{
  if (r->error != NULL)
    call_log (call, G_LOG_LEVEL_WARNING, r->op, r->bdf, r->error->message);
  else if (r->message != NULL)
    call_log (call, G_LOG_LEVEL_MESSAGE, r->op, r->bdf, r->message);
  for (guint i = 0; i < r->warnings->len; i++)
    call_log (call, G_LOG_LEVEL_WARNING, r->op, r->bdf, g_ptr_array_index (r->warnings, i));
}

/* {"results": […]}; when a device failed, the error of the first failure
 * with the results among its parameters (vfmigctl's --json shape). */
static JsonNode *
results_reply (VfmMethodCall *call, GPtrArray *results, JsonNode **error_parameters, GError **error)
{
  g_autoptr (JsonArray) list = json_array_new ();
  const VfmBindResult *first = NULL;
  JsonObject *out = json_object_new ();

  for (guint i = 0; i < results->len; i++) {
    const VfmBindResult *r = g_ptr_array_index (results, i);
    log_result (call, r);
    if (r->error != NULL && first == NULL)
      first = r;
    json_array_add_element (list, vfm_bind_result_to_json (r));
  }
  json_object_set_array_member (out, "results", g_steal_pointer (&list));
  if (first != NULL) {
    *error = g_error_copy (first->error);
    *error_parameters = object_node (out);
    return NULL;
  }
  return object_node (out);
}

static JsonNode *
method_bind (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "bdfs", "all", "driver", "group", "dry_run", "force", NULL };
  g_autoptr (GPtrArray) bdfs = NULL, results = NULL;
  g_autoptr (VfmHost) host = NULL;
  VfmBatchOptions o = { 0 };
  gboolean dry, force;

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_strv (call->parameters, "bdfs", FALSE, &bdfs, error) ||
      !vfm_varlink_param_bool (call->parameters, "all", &o.all, error) ||
      !vfm_varlink_param_string (call->parameters, "driver", FALSE, &o.driver, error) ||
      !vfm_varlink_param_bool (call->parameters, "group", &o.group, error) ||
      !vfm_varlink_param_bool (call->parameters, "dry_run", &dry, error) ||
      !vfm_varlink_param_bool (call->parameters, "force", &force, error))
    return NULL;
  if ((bdfs == NULL || bdfs->len == 0) == !o.all) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "Bind: give bdfs or all (not both)");
    return NULL;
  }
  if ((host = open_host (call, TRUE, error)) == NULL)
    return NULL;
  o.flags = (dry ? VFM_BIND_DRY_RUN : 0) | (force ? VFM_BIND_FORCE : 0);
  o.progress = dry ? NULL : call->progress;
  o.progress_data = call->progress_data;
  if ((results = vfm_batch_bind (host, bdfs, &o, error)) == NULL)
    return NULL;
  return results_reply (call, results, error_parameters, error);
}

static JsonNode *
method_unbind (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "bdfs", "dry_run", NULL };
  g_autoptr (GPtrArray) bdfs = NULL;
  g_autoptr (GPtrArray) results = NULL;
  g_autoptr (VfmHost) host = NULL;
  gboolean dry;

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_strv (call->parameters, "bdfs", TRUE, &bdfs, error) ||
      !vfm_varlink_param_bool (call->parameters, "dry_run", &dry, error))
    return NULL;
  if (bdfs->len == 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "Unbind: bdfs is empty");
    return NULL;
  }
  if ((host = open_host (call, TRUE, error)) == NULL)
    return NULL;
  results = vfm_batch_unbind (host, bdfs, dry ? VFM_BIND_DRY_RUN : 0);
  return results_reply (call, results, error_parameters, error);
}

static void
add_warnings (JsonNode *node, GPtrArray *warnings)
{
  JsonArray *a = json_array_new ();
  for (guint i = 0; i < warnings->len; i++)
    json_array_add_string_element (a, g_ptr_array_index (warnings, i));
  if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    json_object_set_array_member (json_node_get_object (node), "warnings", a);
  else
    json_array_unref (a);
}

static JsonNode *
method_restore (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "dry_run", NULL };
  g_autoptr (GPtrArray) results = NULL;
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (VfmHost) host = NULL;
  JsonNode *reply;
  gboolean dry;

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_bool (call->parameters, "dry_run", &dry, error))
    return NULL;
  if ((host = open_host (call, TRUE, error)) == NULL)
    return NULL;
  results = vfm_batch_restore (host, dry ? VFM_BIND_DRY_RUN : 0, warnings);
  for (guint i = 0; i < warnings->len; i++)
    call_log (call, G_LOG_LEVEL_WARNING, "restore", NULL, g_ptr_array_index (warnings, i));
  reply = results_reply (call, results, error_parameters, error);
  /* damaged records it could not act on, beside the results */
  add_warnings (reply ? reply : *error_parameters, warnings);
  return reply;
}

/* --- claims on a migration's destination (DESIGN.md, Decisions 12) --- */

static JsonNode *
method_profile (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  g_autoptr (VfmHost) host = NULL;
  g_autoptr (VfmHostProfile) p = NULL;

  if (!vfm_varlink_params_check (call->parameters, NULL, error) || (host = open_host (call, TRUE, error)) == NULL ||
      (p = vfm_host_profile_build (host, error)) == NULL)
    return NULL;
  return vfm_host_profile_to_json (p);
}

static JsonNode *
method_inventory (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  g_autoptr (VfmHost) host = NULL;

  if (!vfm_varlink_params_check (call->parameters, NULL, error) || (host = open_host (call, TRUE, error)) == NULL)
    return NULL;
  return vfm_inventory_build (host, error);
}

/* An optional non-negative integer parameter; InvalidParameter when it is
 * of another type. */
static gboolean
param_uint (JsonObject *params, const char *name, guint *out, GError **error)
{
  JsonNode *n = json_object_get_member (params, name);
  if (n == NULL || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64 || json_node_get_int (n) < 0 ||
      json_node_get_int (n) > G_MAXUINT) {
    g_set_error_literal (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_INVALID_PARAMETER, name);
    return FALSE;
  }
  *out = (guint) json_node_get_int (n);
  return TRUE;
}

static JsonNode *
method_claim (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "domain_uuid", "domain_name", "wants", "ttl_s", NULL };
  const char *uuid = NULL, *name = NULL;
  guint ttl = 0;
  g_autoptr (GPtrArray) wants = NULL;
  g_autoptr (VfmHost) host = NULL;
  g_autoptr (VfmClaim) c = NULL;

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_string (call->parameters, "domain_uuid", FALSE, &uuid, error) ||
      !vfm_varlink_param_string (call->parameters, "domain_name", FALSE, &name, error) ||
      !param_uint (call->parameters, "ttl_s", &ttl, error))
    return NULL;
  if ((wants = vfm_claim_wants_from_json (json_object_get_member (call->parameters, "wants"), error)) == NULL) {
    g_prefix_error (error, "Claim: ");
    return NULL;
  }
  if ((host = open_host (call, TRUE, error)) == NULL ||
      (c = vfm_claims_claim (host, uuid, name, wants, ttl, error)) == NULL)
    return NULL;
  call_log (call, G_LOG_LEVEL_MESSAGE, "claim", NULL, c->id);
  return vfm_claim_to_json (c);
}

static JsonNode *
method_renew (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "claim_id", "ttl_s", NULL };
  const char *id;
  guint ttl = 0;
  g_autoptr (VfmHost) host = NULL;

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_string (call->parameters, "claim_id", TRUE, &id, error) ||
      !param_uint (call->parameters, "ttl_s", &ttl, error) || (host = open_host (call, FALSE, error)) == NULL ||
      !vfm_claims_renew (host, id, ttl, error))
    return NULL;
  return object_node (json_object_new ());
}

static JsonNode *
method_adopt (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "claim_id", NULL };
  const char *id;
  gboolean adopted = FALSE;
  g_autoptr (VfmHost) host = NULL;
  g_autoptr (JsonObject) out = json_object_new ();

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_string (call->parameters, "claim_id", TRUE, &id, error) ||
      (host = open_host (call, FALSE, error)) == NULL || !vfm_claims_adopt (host, id, &adopted, error))
    return NULL;
  json_object_set_boolean_member (out, "adopted", adopted);
  return object_node (g_steal_pointer (&out));
}

static JsonNode *
method_prepare (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "claim_id", NULL };
  const char *id;
  g_autoptr (VfmHost) host = NULL;
  g_autoptr (GPtrArray) results = NULL;

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_string (call->parameters, "claim_id", TRUE, &id, error) ||
      (host = open_host (call, TRUE, error)) == NULL || (results = vfm_claims_prepare (host, id, error)) == NULL)
    return NULL;
  return results_reply (call, results, error_parameters, error);
}

static JsonNode *
method_release (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "claim_id", "restore", NULL };
  const char *id;
  gboolean restore;
  g_autoptr (VfmHost) host = NULL;
  g_autoptr (GPtrArray) results = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_bind_result_free);

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_string (call->parameters, "claim_id", TRUE, &id, error) ||
      !vfm_varlink_param_bool (call->parameters, "restore", &restore, error) ||
      (host = open_host (call, TRUE, error)) == NULL || !vfm_claims_release (host, id, restore, results, error))
    return NULL;
  return results_reply (call, results, error_parameters, error);
}

/* --- org.varlink.service --- */

static JsonNode *
method_get_info (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  g_autoptr (JsonArray) interfaces = json_array_new ();
  JsonObject *out;

  if (!vfm_varlink_params_check (call->parameters, NULL, error))
    return NULL;
  json_array_add_string_element (interfaces, "org.varlink.service");
  json_array_add_string_element (interfaces, "io.vfmig");
  out = json_object_new ();
  json_object_set_string_member (out, "vendor", VFM_VENDOR);
  json_object_set_string_member (out, "product", call->product ? call->product : "vfmig");
  json_object_set_string_member (out, "version", VFM_VERSION);
  json_object_set_string_member (out, "url", VFM_URL);
  json_object_set_array_member (out, "interfaces", g_steal_pointer (&interfaces));
  return object_node (out);
}

/* The service interface's definition, as the varlink specification gives it. */
static const char service_description[] =
  "# The Varlink Service Interface is provided by every varlink service. It\n"
  "# describes the service and the interfaces it implements.\n"
  "interface org.varlink.service\n"
  "\n"
  "# Get a list of all the interfaces a service provides and information\n"
  "# about the implementation.\n"
  "method GetInfo() -> (\n"
  "  vendor: string,\n"
  "  product: string,\n"
  "  version: string,\n"
  "  url: string,\n"
  "  interfaces: []string\n"
  ")\n"
  "\n"
  "# Get the description of an interface that is implemented by this service.\n"
  "method GetInterfaceDescription(interface: string) -> (description: string)\n"
  "\n"
  "# The requested interface was not found.\n"
  "error InterfaceNotFound (interface: string)\n"
  "\n"
  "# The requested method was not found\n"
  "error MethodNotFound (method: string)\n"
  "\n"
  "# The interface defines the requested method, but the service does not\n"
  "# implement it.\n"
  "error MethodNotImplemented (method: string)\n"
  "\n"
  "# One of the passed parameters is invalid.\n"
  "error InvalidParameter (parameter: string)\n"
  "\n"
  "# Client is denied access\n"
  "error PermissionDenied ()\n"
  "\n"
  "# Method is expected to be called with 'more' set to true, but wasn't\n"
  "error ExpectedMore ()\n";

static JsonNode *
method_get_interface_description (VfmMethodCall *call, JsonNode **error_parameters, GError **error)
{
  static const char * const known[] = { "interface", NULL };
  g_autoptr (GBytes) idl = NULL;
  g_autoptr (JsonObject) out = json_object_new ();
  const char *name;

  if (!vfm_varlink_params_check (call->parameters, known, error) ||
      !vfm_varlink_param_string (call->parameters, "interface", TRUE, &name, error))
    return NULL;
  if (strcmp (name, "org.varlink.service") == 0) {
    json_object_set_string_member (out, "description", service_description);
  } else if (strcmp (name, "io.vfmig") == 0) {
    /* the resource is NUL-terminated by glib-compile-resources */
    idl = g_resource_lookup_data (vfm_api_get_resource (), "/io/vfmig/api/io.vfmig.varlink", G_RESOURCE_LOOKUP_FLAGS_NONE,
                                  error);
    if (idl == NULL)
      return NULL;
    json_object_set_string_member (out, "description", g_bytes_get_data (idl, NULL));
  } else {
    g_set_error_literal (error, VFM_VARLINK_ERROR, VFM_VARLINK_ERROR_INTERFACE_NOT_FOUND, name);
    return NULL;
  }
  return object_node (g_steal_pointer (&out));
}

static const VfmMethod methods[] = {
  { "io.vfmig.Bind", VFM_ACCESS_WRITE, method_bind },
  { "io.vfmig.Adopt", VFM_ACCESS_WRITE, method_adopt },
  { "io.vfmig.Claim", VFM_ACCESS_WRITE, method_claim },
  { "io.vfmig.Doctor", VFM_ACCESS_READ, method_doctor },
  { "io.vfmig.Explain", VFM_ACCESS_READ, method_explain },
  { "io.vfmig.Hello", VFM_ACCESS_READ, method_hello },
  { "io.vfmig.Inventory", VFM_ACCESS_READ, method_inventory },
  { "io.vfmig.List", VFM_ACCESS_READ, method_list },
  { "io.vfmig.Prepare", VFM_ACCESS_WRITE, method_prepare },
  { "io.vfmig.Profile", VFM_ACCESS_READ, method_profile },
  { "io.vfmig.Release", VFM_ACCESS_WRITE, method_release },
  { "io.vfmig.Renew", VFM_ACCESS_WRITE, method_renew },
  { "io.vfmig.Restore", VFM_ACCESS_WRITE, method_restore },
  { "io.vfmig.Status", VFM_ACCESS_READ, method_status },
  { "io.vfmig.Unbind", VFM_ACCESS_WRITE, method_unbind },
  { "org.varlink.service.GetInfo", VFM_ACCESS_READ, method_get_info },
  { "org.varlink.service.GetInterfaceDescription", VFM_ACCESS_READ, method_get_interface_description },
};

const VfmMethod *
vfm_methods_lookup (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (methods); i++)
    if (strcmp (methods[i].name, name) == 0)
      return &methods[i];
  return NULL;
}

gboolean
vfm_methods_interface_known (const char *interface)
{
  return strcmp (interface, "io.vfmig") == 0 || strcmp (interface, "org.varlink.service") == 0;
}
