/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Facts from the libvirt on a connection (DESIGN.md, Decisions 23: libvirt
 * gives its own and QEMU's versions; host facts come from vfmig). The URI
 * defaults as in virsh: LIBVIRT_DEFAULT_URI, then qemu:///system. */
gboolean vfm_libvirt_versions (const char  *uri,
                               gulong      *libvirt_version,
                               gulong      *qemu_version,
                               GError     **error);
char    *vfm_libvirt_version_string (gulong version);
char    *vfm_libvirt_domain_xml  (const char  *uri,
                                  const char  *name,
                                  GError     **error);
GPtrArray *vfm_libvirt_qemu_blockers (const char  *uri,
                                      const char  *name,
                                      GError     **error);

G_END_DECLS
