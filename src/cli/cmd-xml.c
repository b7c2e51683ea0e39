/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* xml BDF: the <hostdev> element to paste into a domain. */
#include "vfm-cli.h"
#include "vfm-domain-xml.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-journal.h"
#include "vfm-libvirt.h"

#include <stdio.h>

static gboolean
parse_version (const char *s, gulong *out)
{
  guint a = 0, b = 0, c = 0;
  int n = sscanf (s, "%u.%u.%u", &a, &b, &c);
  if (n < 2 || a > 999 || b > 999 || c > 999)
    return FALSE;
  *out = VFM_LIBVIRT_VERSION (a, b, c);
  return TRUE;
}

gboolean
vfm_cmd_xml (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autofree char *version_arg = NULL;
  GOptionEntry entries[] = {
    { "libvirt-version", 0, 0, G_OPTION_ARG_STRING, &version_arg,
      "Write for this libvirt version instead of asking the one on the connection", "X.Y.Z" },
    { NULL }
  };
  g_autoptr (VfmSelection) sel = NULL;
  g_autoptr (VfmOwned) owned = NULL;
  g_autofree char *xml = NULL;
  gulong version = 0;
  VfmPciDevice *dev;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "xml", "BDF", entries, &argc, &argv, error))
    return FALSE;
  if (argc != 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "xml: expected one BDF");
    return FALSE;
  }
  if (version_arg != NULL && !parse_version (version_arg, &version)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a libvirt version like 10.0.0",
                 version_arg);
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || (dev = vfm_host_device (host, argv[1], error)) == NULL ||
      (sel = vfm_host_select (host, dev, error)) == NULL)
    return FALSE;
  if (version_arg == NULL) {
    g_autoptr (GError) local = NULL;
    if (!vfm_libvirt_versions (cli->connect, &version, NULL, &local))
      fprintf (stderr, "note: %s; <driver model> left out (give --libvirt-version to choose)\n", local->message);
  }
  owned = vfm_journal_read_owned (vfm_host_sysroot (host), vfm_pci_device_bdf (dev), NULL);
  if (owned == NULL && sel->selected != NULL && sel->selected->kind == VFM_KIND_VENDOR && version > 0 &&
      version < VFM_LIBVIRT_VERSION (10, 0, 0))
    fprintf (stderr, "note: libvirt before 10.0 binds plain vfio-pci for managed='yes' and loses %s's "
                     "migration support: run 'vfmigctl bind %s' first, then this prints managed='no'\n",
             sel->selected->driver, vfm_pci_device_bdf (dev));
  if ((xml = vfm_hostdev_xml (host, dev, sel, owned != NULL, version, error)) == NULL)
    return FALSE;
  if (cli->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;
    json_builder_begin_object (b);
    vfm_json_add_str (b, "bdf", vfm_pci_device_bdf (dev));
    vfm_json_add_bool (b, "managed", owned == NULL);
    vfm_json_add_str (b, "xml", xml);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  } else {
    fputs (xml, stdout);
  }
  return TRUE;
}
