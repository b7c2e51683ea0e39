/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* import-driverctl: turn driverctl's persistent overrides into a vfmig
 * policy, so that a host switching tools keeps its bindings. */
#include "vfm-binder.h"
#include "vfm-cli.h"
#include "vfm-strings.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-ids.h"

#include <stdio.h>
#include <string.h>

gboolean
vfm_cmd_import_driverctl (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean dry = FALSE;
  GOptionEntry entries[] = {
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the policy, write nothing", NULL },
    { NULL }
  };
  g_autoptr (GString) policy = g_string_new ("# Imported from driverctl's /etc/driverctl.d by vfmigctl import-driverctl.\n"
                                            "# Each device keeps the driver driverctl gave it; vfmig binds it at hotplug.\n");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *dir = NULL, *etc = NULL, *path = NULL;
  g_autoptr (GDir) d = NULL;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  guint imported = 0;
  const char *name;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "import-driverctl", "", entries, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "import-driverctl: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  dir = vfm_sysroot_driverctl_dir (vfm_host_sysroot (host));
  etc = vfm_sysroot_config_dir (vfm_host_sysroot (host), "policies.d");
  path = g_build_filename (etc, "90-driverctl.conf", NULL);
  d = g_dir_open (dir, 0, NULL);
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  vfm_strings_sort (names);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  for (guint i = 0; i < names->len; i++) {
    const char *file = g_ptr_array_index (names, i);
    g_autofree char *full = g_build_filename (dir, file, NULL);
    g_autofree char *text = NULL, *drv = NULL, *module = NULL;
    const char *bdf = g_str_has_prefix (file, "pci-") ? file + 4 : NULL;
    g_autoptr (GError) local = NULL;
    const char *why = NULL;

    if (bdf == NULL || !vfm_bdf_is_valid (bdf))
      why = "not a PCI override file";
    else if (!g_file_get_contents (full, &text, NULL, NULL) || *g_strstrip (text) == '\0')
      why = "empty or unreadable";
    else if (!vfm_binder_resolve_driver (host, text, &drv, &module, &local))
      why = "not a VFIO driver vfmig knows (it binds only VFIO drivers)";
    json_builder_begin_object (b);
    vfm_json_add_str (b, "file", full);
    vfm_json_add_str (b, "driver", text ? text : "");
    vfm_json_add_bool (b, "imported", why == NULL);
    vfm_json_add_str (b, "reason", why ? why : "imported");
    json_builder_end_object (b);
    if (why != NULL) {
      if (!cli->json)
        fprintf (stderr, "skipped %s (%s): %s\n", file, text ? text : "", why);
      continue;
    }
    imported++;
    g_string_append_printf (policy, "\n[Policy driverctl-%s]\nBdf=%s\nManage=true\nAutoBind=true\nPrefer=%s\n", bdf, bdf, drv);
  }
  json_builder_end_array (b);
  vfm_json_add_str (b, "policy_file", path);
  vfm_json_add_bool (b, "written", !dry && imported > 0);
  json_builder_end_object (b);

  if (imported > 0 && !dry) {
    g_autoptr (GError) local = NULL;
    if (g_mkdir_with_parents (etc, 0755) < 0 ||
        !g_file_set_contents_full (path, policy->str, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot write %s: %s", path, local ? local->message : "mkdir failed");
      return FALSE;
    }
  }
  if (cli->json) {
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  } else if (dry) {
    fputs (policy->str, stdout);
  } else {
    printf ("%u override%s imported into %s%s\n", imported, imported == 1 ? "" : "s", path,
            imported ? " (vfmigctl bind --all applies them now; driverctl's files are left as they are)" : "");
  }
  return TRUE;
}
