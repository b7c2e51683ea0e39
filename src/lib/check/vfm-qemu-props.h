/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* QEMU device properties VFIO migration needs, from the curated data
 * (data/qemu/vfio-migration.conf, DATADIR/qemu): their names, <qemu:property>
 * types and values, the first QEMU with each, and when check requires them.
 * Facts in a file, not in C (STYLE.md): their source is recorded beside
 * them. */
typedef struct {
  char *name;          /* "enable-migration" */
  char *type;          /* "string" */
  char *value;         /* "on" */
  gulong since_qemu;   /* encoded like libvirt's versions */
  char *when;          /* "device-dirty-tracking-none" */
  char *source;
} VfmQemuProp;

void       vfm_qemu_prop_free   (VfmQemuProp *p);
/* Every property of the data file, in file order; NULL with error naming
 * file and problem when it cannot be read. */
GPtrArray *vfm_qemu_props_load  (GError **error);
/* The properties check requires for a device without usable dirty tracking
 * on a QEMU of version qemu (0: unknown, then all of them). */
GPtrArray *vfm_qemu_props_needed (GPtrArray *props, gboolean dirty_tracking, gulong qemu);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmQemuProp, vfm_qemu_prop_free)

G_END_DECLS
