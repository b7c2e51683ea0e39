/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-host.h"

G_BEGIN_DECLS

/* vfmigctl doctor and io.vfmig.Doctor: is this host ready for passthrough
 * and VFIO migration? Every check only reads. Which checks exist, their
 * words and fixes are data (data/doctor/checks.conf); this file decides the
 * outcome of each and fills in the placeholders. */

typedef enum {
  VFM_DOCTOR_OK,
  VFM_DOCTOR_FAIL,
  VFM_DOCTOR_NA,         /* does not apply, or cannot be known here */
} VfmDoctorState;

typedef struct {
  char *id;              /* the check's group in checks.conf */
  char *subject;         /* the device (BDF) or module it is about, or NULL */
  VfmDoctorState state;
  char *title;
  char *detail;          /* what was found */
  char *fix;             /* state FAIL only */
} VfmDoctorLine;

typedef struct {
  /* libvirt and QEMU versions (libvirt's encoding, 0 unknown), asked by the
   * caller: the library never connects to libvirt for doctor; vfmigd does
   * not talk to libvirt at all (DESIGN.md, Decisions 19). */
  gboolean versions_asked;
  gulong libvirt_version;
  gulong qemu_version;
  const char *versions_error;   /* why they are unknown */
  gboolean in_daemon;           /* vfmigd answers: it is running */
  const char *socket_path;      /* NULL: /run/vfmig/vfmigd.sock under the sysroot */
} VfmDoctorOptions;

typedef struct {
  GPtrArray *lines;      /* VfmDoctorLine, in check order */
  guint ok, failed, na;
} VfmDoctorReport;

/* bdfs: the devices to look at (NULL or empty: every device a policy
 * manages or a VFIO driver holds, and the PFs of managed VFs). An unknown
 * BDF is an error naming it; nothing else is. */
VfmDoctorReport *vfm_doctor_run         (VfmHost                *host,
                                         const char * const     *bdfs,
                                         const VfmDoctorOptions *opts,
                                         GError                **error);
void             vfm_doctor_report_free (VfmDoctorReport *r);
/* {"checks": [{"id", "subject", "state": "ok"|"fail"|"n/a", "title",
 *   "detail", "fix"}], "ok", "failed", "not_applicable"} */
JsonNode        *vfm_doctor_report_to_json (const VfmDoctorReport *r);
const char      *vfm_doctor_state_to_string (VfmDoctorState s);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmDoctorReport, vfm_doctor_report_free)

G_END_DECLS
