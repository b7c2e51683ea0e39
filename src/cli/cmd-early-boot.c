/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* early-boot plan: what the initramfs step binds before any host driver
 * (the initramfs hooks write it into the image; see vfm-early-boot.h). */
#include "vfm-cli.h"
#include "vfm-early-boot.h"
#include "vfm-error.h"

#include <stdio.h>

gboolean
vfm_cmd_early_boot_plan (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) plan = NULL;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "early-boot plan", "", NULL, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "early-boot plan: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || (plan = vfm_early_boot_plan (host, warnings, error)) == NULL)
    return FALSE;
  /* stderr: the initramfs hook shows it to whoever runs update-initramfs */
  for (guint i = 0; i < warnings->len; i++)
    vfm_cli_warn (cli, g_ptr_array_index (warnings, i));
  if (cli->json) {
    g_autoptr (JsonNode) node = vfm_early_boot_plan_to_json (plan);
    vfm_cli_print_json (cli, node);
  } else {
    g_autofree char *text = vfm_early_boot_plan_text (plan);
    fputs (text, stdout);
  }
  return TRUE;
}
