/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The version gates of VFIO migration in QEMU and libvirt that check applies
 * (data/qemu/vfio-gates.conf, DATADIR/qemu): the first release of each
 * behaviour, or a value, with its source beside it (DESIGN.md, Decisions 29).
 * Facts in a file, not in C (STYLE.md). */
typedef struct {
  char *name;        /* "multiple-devices-p2p" */
  char *component;   /* "qemu" or "libvirt" */
  gulong since;      /* encoded like libvirt's versions; 0: a Value gate */
  guint64 value;     /* Value=, for gates that are a number */
  char *source;
} VfmQemuGate;

typedef struct {
  GPtrArray *gates;  /* VfmQemuGate */
} VfmQemuGates;

void                vfm_qemu_gates_free (VfmQemuGates *g);
/* The gates of the data file; NULL with error naming file and problem when it
 * cannot be read or lacks a gate check needs. */
VfmQemuGates       *vfm_qemu_gates_load (GError **error);
const VfmQemuGate  *vfm_qemu_gate       (const VfmQemuGates *g,
                                         const char         *name);
/* The gate's first version as "X.Y.Z" (newly allocated). */
char               *vfm_qemu_gate_since (const VfmQemuGate *gate);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmQemuGates, vfm_qemu_gates_free)

G_END_DECLS
