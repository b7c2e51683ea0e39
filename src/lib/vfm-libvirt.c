/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-libvirt.h"
#include "vfm-error.h"

#include <dlfcn.h>
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
  X (virSetErrorFunc)

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
