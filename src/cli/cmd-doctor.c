/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* doctor: is this host ready for passthrough and VFIO migration? One line
 * per check, with the fix for each failure. Reads only. Runs in this
 * process even when vfmigd runs (a check of the daemon must not depend on
 * the daemon); io.vfmig.Doctor answers the same from vfmigd. */
#include "vfm-cli.h"
#include "vfm-doctor.h"
#include "vfm-error.h"
#include "vfm-libvirt.h"

#include <stdio.h>

static const char *
mark (VfmDoctorState s)
{
  return s == VFM_DOCTOR_OK ? "✓" : s == VFM_DOCTOR_FAIL ? "✗" : "–";
}

gboolean
vfm_cmd_doctor (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (VfmDoctorReport) report = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *socket = NULL;
  VfmDoctorOptions opts = { .versions_asked = TRUE };
  const char *env = g_getenv ("VFMIG_SOCKET");
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "doctor", "[BDF…]", NULL, &argc, &argv, error))
    return FALSE;
  if ((host = vfm_cli_host (cli, error)) == NULL)
    return FALSE;
  if (!vfm_libvirt_versions (cli->connect, &opts.libvirt_version, &opts.qemu_version, &local))
    opts.versions_error = local->message;
  if (env != NULL && *env != '\0')
    opts.socket_path = socket = g_strdup (env);
  if ((report = vfm_doctor_run (host, (const char * const *) argv + 1, &opts, error)) == NULL)
    return FALSE;
  cli->exit_code = report->failed ? 1 : 0;
  if (cli->json) {
    g_autoptr (JsonNode) node = vfm_doctor_report_to_json (report);
    vfm_cli_print_json (cli, node);
    return TRUE;
  }
  for (guint i = 0; i < report->lines->len; i++) {
    const VfmDoctorLine *l = g_ptr_array_index (report->lines, i);
    VfmStyle style = l->state == VFM_DOCTOR_OK ? VFM_STYLE_GOOD : l->state == VFM_DOCTOR_FAIL ? VFM_STYLE_BAD
                                                                                              : VFM_STYLE_PLAIN;
    printf ("%s%s%s %s: %s\n", vfm_term_on (&cli->out, style), mark (l->state), vfm_term_off (&cli->out, style),
            l->title, l->detail ? l->detail : "");
    if (l->fix != NULL)
      printf ("    fix: %s\n", l->fix);
  }
  printf ("%u ok, %u failed, %u not applicable\n", report->ok, report->failed, report->na);
  return TRUE;
}
