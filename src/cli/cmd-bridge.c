/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bridge: the io.vfmig methods on stdin/stdout, for a migration's source
 * that reaches this host as `ssh HOST vfmigctl bridge`. */
#include "vfm-cli.h"
#include "vfm-bridge.h"
#include "vfm-error.h"
#include "vfm-host-uuid.h"

#include <unistd.h>

gboolean
vfm_cmd_bridge (VfmCli *cli, int argc, char **argv, GError **error)
{
  VfmMethodCall tmpl = { .sysroot = cli->sysroot, .product = "vfmigctl bridge" };
  g_autoptr (VfmSysroot) sr = NULL;
  g_autofree char *uuid = NULL;

  if (!vfm_cli_parse_options (cli, "bridge", "", NULL, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "bridge: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((sr = vfm_sysroot_new (cli->sysroot, error)) == NULL || (uuid = vfm_host_uuid (sr, error)) == NULL)
    return FALSE;
  tmpl.host_uuid = uuid;
  return vfm_bridge_serve (STDIN_FILENO, STDOUT_FILENO, &tmpl, error);
}
