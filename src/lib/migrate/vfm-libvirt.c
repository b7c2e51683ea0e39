/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-libvirt.h"
#include "vfm-error.h"
#include "vfm-domain-xml.h"

#include <dlfcn.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* libvirt is loaded with dlopen on first use: linking it makes every
 * vfmigctl start about 20 ms slower (its constructors and ~40 libraries),
 * and most commands - list, bind, the udev helper - never talk to libvirt. */
#define VFM_LIBVIRT_SYMBOLS(X)           \
  X (virConnectOpenReadOnly)             \
  X (virConnectClose)                    \
  X (virConnectGetLibVersion)            \
  X (virConnectGetVersion)               \
  X (virGetLastError)                    \
  X (virSetErrorFunc)                    \
  X (virConnectOpen)                     \
  X (virDomainLookupByName)              \
  X (virDomainGetXMLDesc)                \
  X (virDomainFree)                      \
  X (virDomainGetUUIDString)             \
  X (virDomainIsPersistent)              \
  X (virDomainIsActive)                  \
  X (virDomainMigrateToURI3)             \
  X (virDomainGetJobStats)               \
  X (virDomainAbortJob)                  \
  X (virDomainAttachDeviceFlags)         \
  X (virDomainDetachDeviceFlags)         \
  X (virDomainDefineXML)                 \
  X (virDomainMigrateSetMaxDowntime)     \
  X (virTypedParamsAddString)            \
  X (virTypedParamsAddULLong)            \
  X (virTypedParamsGetULLong)            \
  X (virTypedParamsFree)                 \
  X (virConnectListAllDomains)           \
  X (virDomainGetName)                   \
  X (virDomainShutdown)                  \
  X (virDomainCreate)                    \
  X (virDomainCreateXML)                 \
  X (virDomainUndefine)

#define DECLARE(name) static __typeof__ (name) *p_##name;
VFM_LIBVIRT_SYMBOLS (DECLARE)
#undef DECLARE

static gboolean
load_libvirt (GError **error)
{
  static void *handle;
  static char *failure;

  if (handle != NULL)
    return TRUE;
  if (failure == NULL) {
    void *h = dlopen ("libvirt.so.0", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
      failure = g_strdup_printf ("cannot load libvirt (libvirt.so.0): %s", dlerror ());
    } else {
#define RESOLVE(name)                                                             \
      if (failure == NULL && (p_##name = (__typeof__ (name) *) dlsym (h, #name)) == NULL) \
        failure = g_strdup_printf ("libvirt.so.0 lacks %s", #name);
      VFM_LIBVIRT_SYMBOLS (RESOLVE)
#undef RESOLVE
      if (failure == NULL)
        handle = h;
      else
        dlclose (h);
    }
  }
  if (handle == NULL) {
    g_set_error_literal (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED, failure);
    return FALSE;
  }
  return TRUE;
}

static void
quiet (void *data, virErrorPtr err)
{
  /* libvirt prints every error to stderr by default; vfmig reports its own */
}

static void
close_conn (virConnectPtr c)
{
  if (c != NULL)
    p_virConnectClose (c);
}

typedef virConnect VfmVirConnect;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmVirConnect, close_conn)

gboolean
vfm_libvirt_versions (const char *uri, gulong *libvirt_version, gulong *qemu_version, GError **error)
{
  g_autoptr (VfmVirConnect) conn = NULL;
  const char *u = uri ? uri : g_getenv ("LIBVIRT_DEFAULT_URI");
  unsigned long lib = 0, hv = 0;

  if (!load_libvirt (error))
    return FALSE;
  p_virSetErrorFunc (NULL, quiet);
  conn = p_virConnectOpenReadOnly (u ? u : "qemu:///system");
  if (conn == NULL) {
    virErrorPtr e = p_virGetLastError ();
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot connect to libvirt at %s: %s",
                 u ? u : "qemu:///system", e && e->message ? e->message : "unknown error");
    return FALSE;
  }
  if (p_virConnectGetLibVersion (conn, &lib) < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "libvirt did not report its version");
    return FALSE;
  }
  if (p_virConnectGetVersion (conn, &hv) < 0)
    hv = 0;
  if (libvirt_version)
    *libvirt_version = lib;
  if (qemu_version)
    *qemu_version = hv;
  return TRUE;
}

char *
vfm_libvirt_version_string (gulong v)
{
  return g_strdup_printf ("%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
}

static const char *
default_uri (const char *uri)
{
  const char *u = uri ? uri : g_getenv ("LIBVIRT_DEFAULT_URI");
  return u ? u : "qemu:///system";
}

static virConnectPtr
open_conn (const char *uri, gboolean read_only, GError **error)
{
  virConnectPtr conn;
  if (!load_libvirt (error))
    return NULL;
  p_virSetErrorFunc (NULL, quiet);
  conn = read_only ? p_virConnectOpenReadOnly (default_uri (uri)) : p_virConnectOpen (default_uri (uri));
  if (conn == NULL) {
    virErrorPtr e = p_virGetLastError ();
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot connect to libvirt at %s: %s", default_uri (uri),
                 e && e->message ? e->message : "unknown error");
  }
  return conn;
}

char *
vfm_libvirt_domain_xml (const char *uri, const char *name, GError **error)
{
  g_autoptr (VfmVirConnect) conn = open_conn (uri, TRUE, error);
  virDomainPtr dom;
  char *xml;

  if (conn == NULL)
    return NULL;
  dom = p_virDomainLookupByName (conn, name);
  if (dom == NULL) {
    virErrorPtr e = p_virGetLastError ();
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no domain \"%s\" at %s: %s", name, default_uri (uri),
                 e && e->message ? e->message : "not found");
    return NULL;
  }
  xml = p_virDomainGetXMLDesc (dom, 0);
  p_virDomainFree (dom);
  if (xml == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "libvirt gave no XML for domain %s", name);
    return NULL;
  }
  {
    char *out = g_strdup (xml);
    free (xml);
    return out;
  }
}

/* The monitor command of libvirt-qemu (loaded on first use: only check
 * --ask-qemu needs it). It marks the domain tainted in libvirt
 * ("custom-monitor"): only on request. */
typedef int (*MonitorFunc) (virDomainPtr, const char *, char **, unsigned int);

static MonitorFunc
monitor_func (GError **error)
{
  static void *qemu_handle;
  MonitorFunc monitor;
  if (qemu_handle == NULL)
    qemu_handle = dlopen ("libvirt-qemu.so.0", RTLD_NOW | RTLD_LOCAL);
  monitor = qemu_handle ? (MonitorFunc) dlsym (qemu_handle, "virDomainQemuMonitorCommand") : NULL;
  if (monitor == NULL)
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED, "cannot load libvirt-qemu.so.0 to ask QEMU");
  return monitor;
}

/* QEMU's reply to each QMP command of cmds (the parsed "return" member;
 * NULL where QEMU answered an error), or NULL with error when the domain or
 * its monitor cannot be reached. */
static GPtrArray *
qmp_commands (const char *uri, const char *name, const char * const *cmds, GError **error)
{
  g_autoptr (VfmVirConnect) conn = NULL;
  MonitorFunc monitor;
  virDomainPtr dom;
  GPtrArray *out;

  if ((conn = open_conn (uri, FALSE, error)) == NULL || (monitor = monitor_func (error)) == NULL)
    return NULL;
  if ((dom = p_virDomainLookupByName (conn, name)) == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no domain \"%s\" at %s", name, default_uri (uri));
    return NULL;
  }
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) json_node_unref);
  for (guint i = 0; cmds[i] != NULL; i++) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    char *reply = NULL;
    JsonNode *root;
    JsonObject *o;
    if (monitor (dom, cmds[i], &reply, 0) < 0 || reply == NULL) {
      virErrorPtr e = p_virGetLastError ();
      g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "QEMU did not answer %s: %s", cmds[i],
                   e && e->message ? e->message : "unknown error");
      g_clear_pointer (&out, g_ptr_array_unref);
      break;
    }
    if (json_parser_load_from_data (parser, reply, -1, NULL) && (root = json_parser_get_root (parser)) != NULL &&
        JSON_NODE_HOLDS_OBJECT (root) && json_object_has_member (o = json_node_get_object (root), "return"))
      g_ptr_array_add (out, json_node_copy (json_object_get_member (o, "return")));
    else
      g_ptr_array_add (out, NULL);
    free (reply);
  }
  p_virDomainFree (dom);
  return out;
}

/* QEMU's own answer (MIGRATION-FACTS §1, "Reading blockers"): query-migrate
 * returns blocked-reasons even when no migration runs (QEMU >= 6.0). */
GPtrArray *
vfm_libvirt_qemu_blockers (const char *uri, const char *name, GError **error)
{
  static const char *const cmds[] = { "{\"execute\":\"query-migrate\"}", NULL };
  g_autoptr (GPtrArray) replies = qmp_commands (uri, name, cmds, error);
  JsonNode *ret = replies ? g_ptr_array_index (replies, 0) : NULL;
  JsonObject *o = ret && JSON_NODE_HOLDS_OBJECT (ret) ? json_node_get_object (ret) : NULL;
  JsonArray *reasons = o && json_object_has_member (o, "blocked-reasons")
                         ? json_object_get_array_member (o, "blocked-reasons") : NULL;
  GPtrArray *out;

  if (replies == NULL)
    return NULL;
  out = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; reasons && i < json_array_get_length (reasons); i++)
    g_ptr_array_add (out, g_strdup (json_array_get_string_element (reasons, i)));
  return out;
}

GPtrArray *
vfm_libvirt_qom_get (const char *uri, const char *name, const char *alias, const char * const *props,
                     GError **error)
{
  g_autoptr (GPtrArray) cmds = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) replies = NULL;
  GPtrArray *out;

  for (guint i = 0; props[i] != NULL; i++) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;
    g_autofree char *path = g_strdup_printf ("/machine/peripheral/%s", alias);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "execute");
    json_builder_add_string_value (b, "qom-get");
    json_builder_set_member_name (b, "arguments");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "path");
    json_builder_add_string_value (b, path);
    json_builder_set_member_name (b, "property");
    json_builder_add_string_value (b, props[i]);
    json_builder_end_object (b);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    g_ptr_array_add (cmds, json_to_string (root, FALSE));
  }
  g_ptr_array_add (cmds, NULL);
  if ((replies = qmp_commands (uri, name, (const char * const *) cmds->pdata, error)) == NULL)
    return NULL;
  out = g_ptr_array_new_with_free_func (vfm_qemu_override_free);
  for (guint i = 0; i < replies->len; i++) {
    JsonNode *v = g_ptr_array_index (replies, i);
    GType t = v && JSON_NODE_HOLDS_VALUE (v) ? json_node_get_value_type (v) : G_TYPE_INVALID;
    g_autofree char *num = t == G_TYPE_INT64 ? g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (v)) : NULL;
    if (t == G_TYPE_STRING)
      g_ptr_array_add (out, vfm_qemu_override_new (props[i], "string", json_node_get_string (v)));
    else if (t == G_TYPE_BOOLEAN)
      g_ptr_array_add (out, vfm_qemu_override_new (props[i], "bool", json_node_get_boolean (v) ? "true" : "false"));
    else if (t == G_TYPE_INT64)
      g_ptr_array_add (out, vfm_qemu_override_new (props[i], "number", num));
    /* an error (no such device or property in this QEMU): not set */
  }
  return out;
}

/* ---- a connection for the migration sequence ---- */

struct _VfmVirt {
  virConnectPtr conn;
  char *uri;
};

VfmVirt *
vfm_virt_open (const char *uri, gboolean read_only, GError **error)
{
  virConnectPtr c = open_conn (uri, read_only, error);
  VfmVirt *v;
  if (c == NULL)
    return NULL;
  v = g_new0 (VfmVirt, 1);
  v->conn = c;
  v->uri = g_strdup (default_uri (uri));
  return v;
}

void
vfm_virt_close (VfmVirt *v)
{
  if (v == NULL)
    return;
  p_virConnectClose (v->conn);
  g_free (v->uri);
  g_free (v);
}

static void
set_virt_error (GError **error, const char *what)
{
  virErrorPtr e = p_virGetLastError ();
  g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "%s: %s", what, e && e->message ? e->message : "failed");
}

static virDomainPtr
lookup (VfmVirt *v, const char *name, GError **error)
{
  virDomainPtr d = p_virDomainLookupByName (v->conn, name);
  if (d == NULL)
    g_set_error (error, VFM_ERROR, VFM_ERROR_NOT_FOUND, "no domain \"%s\" at %s", name, v->uri);
  return d;
}

static char *
domain_xml_flags (VfmVirt *v, const char *name, unsigned int flags, GError **error)
{
  virDomainPtr d = lookup (v, name, error);
  char *xml, *out;
  if (d == NULL)
    return NULL;
  xml = p_virDomainGetXMLDesc (d, flags);
  p_virDomainFree (d);
  if (xml == NULL) {
    set_virt_error (error, "cannot read the domain XML");
    return NULL;
  }
  out = g_strdup (xml);
  free (xml);
  return out;
}

char *
vfm_virt_domain_xml (VfmVirt *v, const char *name, gboolean inactive, GError **error)
{
  return domain_xml_flags (v, name, VIR_DOMAIN_XML_MIGRATABLE | (inactive ? VIR_DOMAIN_XML_INACTIVE : 0), error);
}

/* The live XML as libvirt shows it (flags 0): an interface on a network shows
 * the device the network gave it (a hostdev network's VF with its address). */
char *
vfm_virt_domain_live_xml (VfmVirt *v, const char *name, GError **error)
{
  return domain_xml_flags (v, name, 0, error);
}

gboolean
vfm_virt_domain_facts (VfmVirt *v, const char *name, char **uuid, gboolean *persistent, gboolean *active,
                       GError **error)
{
  virDomainPtr d = lookup (v, name, error);
  char buf[VIR_UUID_STRING_BUFLEN];
  if (d == NULL)
    return FALSE;
  if (uuid != NULL)
    *uuid = p_virDomainGetUUIDString (d, buf) == 0 ? g_strdup (buf) : NULL;
  if (persistent != NULL)
    *persistent = p_virDomainIsPersistent (d) == 1;
  if (active != NULL)
    *active = p_virDomainIsActive (d) == 1;
  p_virDomainFree (d);
  return TRUE;
}

gboolean
vfm_virt_migrate (VfmVirt *v, const char *name, const char *dest_uri, const char *dest_xml, const char *persist_xml,
                  guint flags, guint64 bandwidth_mib, GError **error)
{
  virDomainPtr d = lookup (v, name, error);
  virTypedParameterPtr params = NULL;
  int n = 0, max = 0, r;
  if (d == NULL)
    return FALSE;
  if (dest_xml)
    p_virTypedParamsAddString (&params, &n, &max, VIR_MIGRATE_PARAM_DEST_XML, dest_xml);
  if (persist_xml)
    p_virTypedParamsAddString (&params, &n, &max, VIR_MIGRATE_PARAM_PERSIST_XML, persist_xml);
  if (bandwidth_mib)
    p_virTypedParamsAddULLong (&params, &n, &max, VIR_MIGRATE_PARAM_BANDWIDTH, bandwidth_mib);
  r = p_virDomainMigrateToURI3 (d, dest_uri, params, n, flags);
  if (r < 0)
    set_virt_error (error, "libvirt migration failed");
  p_virTypedParamsFree (params, n);
  p_virDomainFree (d);
  return r == 0;
}

gboolean
vfm_virt_job_stats (VfmVirt *v, const char *name, VfmJobStats *out)
{
  virDomainPtr d = p_virDomainLookupByName (v->conn, name);
  virTypedParameterPtr params = NULL;
  int n = 0, type = 0;
  gboolean ok;
  memset (out, 0, sizeof *out);
  if (d == NULL)
    return FALSE;
  ok = p_virDomainGetJobStats (d, &type, &params, &n, 0) == 0 && type != VIR_DOMAIN_JOB_NONE;
  if (ok) {
    unsigned long long val;
    if (p_virTypedParamsGetULLong (params, n, VIR_DOMAIN_JOB_DATA_PROCESSED, &val) == 1)
      out->processed = val;
    if (p_virTypedParamsGetULLong (params, n, VIR_DOMAIN_JOB_DATA_REMAINING, &val) == 1)
      out->remaining = val;
    if (p_virTypedParamsGetULLong (params, n, VIR_DOMAIN_JOB_DATA_TOTAL, &val) == 1)
      out->total = val;
    if (p_virTypedParamsGetULLong (params, n, VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE, &val) == 1)
      out->dirty_rate_pages = val;
    if (p_virTypedParamsGetULLong (params, n, VIR_DOMAIN_JOB_DOWNTIME, &val) == 1)
      out->expected_downtime_ms = val;
    if (p_virTypedParamsGetULLong (params, n, VIR_DOMAIN_JOB_MEMORY_BPS, &val) == 1)
      out->memory_bps = val;
    if (p_virTypedParamsGetULLong (params, n, VIR_DOMAIN_JOB_MEMORY_ITERATION, &val) == 1)
      out->memory_iteration = val;
  }
  p_virTypedParamsFree (params, n);
  p_virDomainFree (d);
  return ok;
}

gboolean
vfm_virt_abort (VfmVirt *v, const char *name)
{
  virDomainPtr d = p_virDomainLookupByName (v->conn, name);
  int r;
  if (d == NULL)
    return FALSE;
  r = p_virDomainAbortJob (d);
  p_virDomainFree (d);
  return r == 0;
}

gboolean
vfm_virt_set_max_downtime (VfmVirt *v, const char *name, guint64 ms)
{
  virDomainPtr d = p_virDomainLookupByName (v->conn, name);
  int r;
  if (d == NULL)
    return FALSE;
  r = p_virDomainMigrateSetMaxDowntime (d, ms, 0);
  p_virDomainFree (d);
  return r == 0;
}

gboolean
vfm_virt_device (VfmVirt *v, const char *name, const char *xml, gboolean attach, gboolean config, GError **error)
{
  virDomainPtr d = lookup (v, name, error);
  unsigned int flags = VIR_DOMAIN_AFFECT_LIVE | (config ? VIR_DOMAIN_AFFECT_CONFIG : 0);
  int r;
  if (d == NULL)
    return FALSE;
  r = attach ? p_virDomainAttachDeviceFlags (d, xml, flags) : p_virDomainDetachDeviceFlags (d, xml, flags);
  if (r < 0)
    set_virt_error (error, attach ? "attaching the device failed" : "detaching the device failed");
  p_virDomainFree (d);
  return r == 0;
}

/* Replaces the persistent definition (the domain's next start uses it). */
gboolean
vfm_virt_define (VfmVirt *v, const char *xml, GError **error)
{
  virDomainPtr d = p_virDomainDefineXML (v->conn, xml);
  if (d == NULL) {
    set_virt_error (error, "defining the domain failed");
    return FALSE;
  }
  p_virDomainFree (d);
  return TRUE;
}

/* ---- domain life cycle, for a cold move (evacuate --allow-stop) ---- */

/* The names of the running domains, sorted. */
GPtrArray *
vfm_virt_list_running (VfmVirt *v, GError **error)
{
  virDomainPtr *doms = NULL;
  int n = p_virConnectListAllDomains (v->conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  GPtrArray *out;
  if (n < 0) {
    set_virt_error (error, "cannot list the running domains");
    return NULL;
  }
  out = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < n; i++) {
    const char *name = p_virDomainGetName (doms[i]);
    if (name != NULL)
      g_ptr_array_add (out, g_strdup (name));
    p_virDomainFree (doms[i]);
  }
  free (doms);
  g_ptr_array_sort (out, vfm_virt_compare_names);
  return out;
}

int
vfm_virt_compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char **) a, *(const char **) b);
}

/* Asks the guest to shut down (ACPI power button or agent, libvirt's
 * choice); returns at once: the caller waits for the state. */
gboolean
vfm_virt_shutdown (VfmVirt *v, const char *name, GError **error)
{
  virDomainPtr d = lookup (v, name, error);
  int r;
  if (d == NULL)
    return FALSE;
  r = p_virDomainShutdown (d);
  if (r < 0)
    set_virt_error (error, "asking the guest to shut down failed");
  p_virDomainFree (d);
  return r == 0;
}

/* Starts a defined domain. */
gboolean
vfm_virt_start (VfmVirt *v, const char *name, GError **error)
{
  virDomainPtr d = lookup (v, name, error);
  int r;
  if (d == NULL)
    return FALSE;
  r = p_virDomainCreate (d);
  if (r < 0)
    set_virt_error (error, "starting the domain failed");
  p_virDomainFree (d);
  return r == 0;
}

/* Starts a transient domain from its XML. */
gboolean
vfm_virt_create_transient (VfmVirt *v, const char *xml, GError **error)
{
  virDomainPtr d = p_virDomainCreateXML (v->conn, xml, 0);
  if (d == NULL) {
    set_virt_error (error, "starting the domain from its XML failed");
    return FALSE;
  }
  p_virDomainFree (d);
  return TRUE;
}

gboolean
vfm_virt_undefine (VfmVirt *v, const char *name, GError **error)
{
  virDomainPtr d = lookup (v, name, error);
  int r;
  if (d == NULL)
    return FALSE;
  r = p_virDomainUndefine (d);
  if (r < 0)
    set_virt_error (error, "undefining the domain failed");
  p_virDomainFree (d);
  return r == 0;
}
