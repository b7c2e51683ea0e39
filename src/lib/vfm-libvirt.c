/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-libvirt.h"
#include "vfm-error.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

typedef virConnect VfmVirConnect;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmVirConnect, virConnectClose)

static void
quiet (void *data, virErrorPtr err)
{
  /* libvirt prints every error to stderr by default; vfmig reports its own */
}

gboolean
vfm_libvirt_versions (const char *uri, gulong *libvirt_version, gulong *qemu_version, GError **error)
{
  g_autoptr (VfmVirConnect) conn = NULL;
  const char *u = uri ? uri : g_getenv ("LIBVIRT_DEFAULT_URI");
  unsigned long lib = 0, hv = 0;

  virSetErrorFunc (NULL, quiet);
  conn = virConnectOpenReadOnly (u ? u : "qemu:///system");
  if (conn == NULL) {
    virErrorPtr e = virGetLastError ();
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot connect to libvirt at %s: %s",
                 u ? u : "qemu:///system", e && e->message ? e->message : "unknown error");
    return FALSE;
  }
  if (virConnectGetLibVersion (conn, &lib) < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "libvirt did not report its version");
    return FALSE;
  }
  if (virConnectGetVersion (conn, &hv) < 0)
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
