/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The destination's side of a migration someone else started (virsh, Nova,
 * Proxmox), as libvirt's qemu hook calls it (DESIGN.md, "Migration
 * sequence"; Decisions 12, 13). It never calls back into libvirt, and a
 * domain without PCI passthrough costs no more than parsing its XML: the
 * host is opened only when there is work. */

/* migrate begin: a filter. Claims a free local device for each hostdev,
 * unless vfmigctl migrate already did (its claim id is in the XML), and
 * returns the XML that replaces the incoming one. */
char     *vfm_migrate_incoming       (const char *sysroot,
                                      const char *xml,
                                      gsize       len,
                                      GError    **error);
/* prepare begin (bind the claim's devices unless prepared already), started
 * (the domain adopts its claim: no expiry) and release end (the claim ends;
 * if the domain never started here, what it bound or created goes back),
 * each for the claim named in the domain XML; other events are no-ops. */
gboolean  vfm_migrate_incoming_event (const char *sysroot,
                                      const char *operation,
                                      const char *sub_operation,
                                      const char *xml,
                                      gsize       len,
                                      GError    **error);

G_END_DECLS
