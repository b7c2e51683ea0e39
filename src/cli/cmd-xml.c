/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* xml BDF: the <hostdev> element to paste into a domain.
 * xml --migratable DOMAIN: the QEMU properties its mediated devices need for
 * VFIO migration, written into its persistent definition. */
#include "vfm-cli.h"
#include "vfm-domain-xml.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-journal.h"
#include "vfm-libvirt.h"
#include "vfm-profile.h"
#include "vfm-qemu-props.h"

#include <string.h>

#include <stdio.h>
#include <unistd.h>

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

/* The changes as `diff -u` shows them (diffutils is on every Debian). */
static void
print_diff (const char *before, const char *after)
{
  g_autofree char *a = NULL, *b = NULL;
  int fa = g_file_open_tmp ("vfmig-before-XXXXXX.xml", &a, NULL);
  int fb = g_file_open_tmp ("vfmig-after-XXXXXX.xml", &b, NULL);
  if (fa >= 0 && fb >= 0 && g_file_set_contents (a, before, -1, NULL) && g_file_set_contents (b, after, -1, NULL)) {
    const char *argv[] = { "diff", "-u", "--label", "definition", "--label", "with vfmig's properties", a, b, NULL };
    g_autofree char *out = NULL;
    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, NULL, NULL, NULL);
    fputs (out ? out : "", stdout);
  }
  if (fa >= 0)
    close (fa);
  if (fb >= 0)
    close (fb);
  if (a != NULL)
    unlink (a);
  if (b != NULL)
    unlink (b);
}

/* For each mediated hostdev: the properties the curated data requires,
 * given the kernel's answer about its dirty tracking (none known: needed),
 * set on its alias. */
static gboolean
migratable (VfmCli *cli, const char *name, gboolean dry_run, GError **error)
{
  g_autoptr (VfmVirt) v = NULL;
  g_autofree char *xml = NULL, *uuid = NULL;
  g_autoptr (VfmDomainInfo) info = NULL;
  g_autoptr (GPtrArray) props = NULL;
  g_autoptr (VfmHostProfile) here = NULL;
  gboolean persistent = FALSE, active = FALSE;
  gulong qemu = 0;
  guint changed = 0;
  VfmHost *host;

  if ((v = vfm_virt_open (cli->connect, FALSE, error)) == NULL ||
      !vfm_virt_domain_facts (v, name, &uuid, &persistent, &active, error))
    return FALSE;
  if (!persistent) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "%s has no persistent definition: vfmig changes only a definition it can show you", name);
    return FALSE;
  }
  if ((xml = vfm_virt_domain_xml (v, name, TRUE, error)) == NULL ||
      (info = vfm_domain_parse (xml, strlen (xml), error)) == NULL || (props = vfm_qemu_props_load (error)) == NULL ||
      (host = vfm_cli_host (cli, error)) == NULL || (here = vfm_host_profile_build (host, error)) == NULL)
    return FALSE;
  vfm_libvirt_versions (cli->connect, NULL, &qemu, NULL);
  for (guint i = 0; i < info->mdevs->len; i++) {
    const VfmMdevHostdev *m = g_ptr_array_index (info->mdevs, i);
    const VfmMdevProfile *mp = vfm_host_profile_mdev (here, m->uuid);
    g_autoptr (GPtrArray) needed = vfm_qemu_props_needed (props, mp != NULL && mp->probed && mp->dirty_tracking == VFM_DIRTY_DEVICE, qemu);
    g_autoptr (GPtrArray) names = g_ptr_array_new (), types = g_ptr_array_new (), values = g_ptr_array_new ();
    g_autofree char *next = NULL;
    for (guint j = 0; j < needed->len; j++) {
      const VfmQemuProp *p = g_ptr_array_index (needed, j);
      const VfmQemuOverride *o = vfm_mdev_hostdev_override (m, p->name);
      if (o != NULL && g_strcmp0 (o->value, p->value) == 0 && g_strcmp0 (o->type, p->type) == 0)
        continue;
      g_ptr_array_add (names, p->name);
      g_ptr_array_add (types, p->type);
      g_ptr_array_add (values, p->value);
    }
    if (names->len == 0)
      continue;
    g_ptr_array_add (names, NULL);
    g_ptr_array_add (types, NULL);
    g_ptr_array_add (values, NULL);
    if ((next = vfm_domain_set_qemu_properties (xml, strlen (xml), m->alias, (const char * const *) names->pdata,
                                                (const char * const *) types->pdata,
                                                (const char * const *) values->pdata, error)) == NULL)
      return FALSE;
    g_free (xml);
    xml = g_steal_pointer (&next);
    changed++;
  }
  if (changed == 0) {
    printf ("%s: nothing to change (its mediated devices have the properties they need)\n", name);
    return TRUE;
  }
  if (dry_run) {
    /* the definition through the same serializer, so that the diff shows
     * only what changes, not libxml2's quoting against libvirt's */
    g_autofree char *raw = vfm_virt_domain_xml (v, name, TRUE, error);
    g_autofree char *before = raw ? vfm_domain_rewrite (raw, strlen (raw), NULL, NULL, NULL, error) : NULL;
    if (before == NULL)
      return FALSE;
    print_diff (before, xml);
    return TRUE;
  }
  if (!vfm_virt_define (v, xml, error)) {
    g_prefix_error (error, "cannot write %s's definition: ", name);
    return FALSE;
  }
  printf ("%s: set the QEMU properties VFIO migration needs on %u mediated device%s%s\n", name, changed,
          changed == 1 ? "" : "s", active ? "; they take effect when the guest is restarted" : "");
  return TRUE;
}

gboolean
vfm_cmd_xml (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autofree char *version_arg = NULL;
  gboolean mig = FALSE, dry = FALSE;
  GOptionEntry entries[] = {
    { "libvirt-version", 0, 0, G_OPTION_ARG_STRING, &version_arg,
      "Write for this libvirt version instead of asking the one on the connection", "X.Y.Z" },
    { "migratable", 0, 0, G_OPTION_ARG_NONE, &mig,
      "Write the QEMU properties VFIO migration needs into DOMAIN's definition", NULL },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "With --migratable: show the change as a diff, change nothing", NULL },
    { NULL }
  };
  g_autoptr (VfmSelection) sel = NULL;
  g_autoptr (VfmOwned) owned = NULL;
  g_autofree char *xml = NULL;
  gulong version = 0;
  VfmPciDevice *dev;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "xml", "BDF | --migratable DOMAIN", entries, &argc, &argv, error))
    return FALSE;
  if (argc != 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "xml: expected one BDF, or --migratable DOMAIN");
    return FALSE;
  }
  if (mig)
    return migratable (cli, argv[1], dry, error);
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
