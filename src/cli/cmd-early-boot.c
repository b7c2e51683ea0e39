/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* early-boot plan|status|refresh: what the initramfs step binds before any
 * host driver (the initramfs hooks write it into the image; see
 * vfm-early-boot.h), whether a kernel's image carries the plan the policies
 * give now, and rebuilding it when not (vfm-early-image.h). */
#include "vfm-cli.h"
#include "vfm-early-boot.h"
#include "vfm-early-image.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-lock.h"

#include <stdio.h>

/* the generator may take minutes: a second refresh waits for the first */
#define REFRESH_LOCK_MS (30 * 60 * 1000)

static gboolean
no_arguments (const char *command, int argc, char **argv, GError **error)
{
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "%s: unexpected argument \"%s\"", command, argv[1]);
    return FALSE;
  }
  return TRUE;
}

gboolean
vfm_cmd_early_boot_plan (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) plan = NULL;
  g_autofree char *record = NULL, *generator = NULL, *text = NULL;
  GOptionEntry entries[] = {
    { "record", 0, 0, G_OPTION_ARG_STRING, &record,
      "Also record on this host that the image of kernel RELEASE carries this plan (the initramfs hooks)", "RELEASE" },
    { "generator", 0, 0, G_OPTION_ARG_STRING, &generator,
      "With --record: the generator building the image (a group of generators.conf)", "NAME" },
    { NULL }
  };
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "early-boot plan", "", entries, &argc, &argv, error) ||
      !no_arguments ("early-boot plan", argc, argv, error))
    return FALSE;
  if ((record == NULL) != (generator == NULL)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "early-boot plan: --record and --generator go together");
    return FALSE;
  }
  if (record != NULL && !vfm_early_image_release_valid (record, error))
    return FALSE;
  if ((host = vfm_cli_host (cli, error)) == NULL || (plan = vfm_early_boot_plan (host, warnings, error)) == NULL)
    return FALSE;
  text = vfm_early_boot_plan_text (plan);
  /* a record that cannot be written does not cost the image its plan (the
   * hook embeds it all the same): early-boot status then says no record or
   * stale, and refresh that the hook did not record */
  if (record != NULL) {
    g_autoptr (GError) local = NULL;
    if (!vfm_early_image_record (vfm_host_sysroot (host), record, generator, text, &local)) {
      g_autofree char *msg = g_strdup_printf ("the plan of kernel %s is not recorded: %s", record, local->message);
      vfm_cli_warn (cli, msg);
    }
  }
  /* stderr: the initramfs hook shows it to whoever runs update-initramfs */
  for (guint i = 0; i < warnings->len; i++)
    vfm_cli_warn (cli, g_ptr_array_index (warnings, i));
  if (cli->json) {
    g_autoptr (JsonNode) node = vfm_early_boot_plan_to_json (plan);
    vfm_cli_print_json (cli, node);
  } else {
    fputs (text, stdout);
  }
  return TRUE;
}

static void
print_entries (VfmCli *cli, const char *label, GPtrArray *entries)
{
  for (guint i = 0; i < entries->len; i++) {
    const VfmEarlyPlanEntry *e = g_ptr_array_index (entries, i);
    vfm_cli_item (cli, 2, label, "%s [%04x:%04x] to %s (%s), policy %s", e->pci_path, e->vendor, e->device,
                  e->driver, e->module, e->policy);
  }
}

static void
print_status (VfmCli *cli, const VfmEarlyImageStatus *st)
{
  g_auto (GStrv) argv = vfm_early_image_command (st, NULL);
  g_autofree char *cmd = argv ? g_strjoinv (" ", argv) : NULL;

  switch (st->state) {
  case VFM_EARLY_IMAGE_UP_TO_DATE:
    printf ("early-boot image of %s: up to date (plan %s, built by %s)\n", st->release, st->current_plan,
            st->recorded_generator);
    break;
  case VFM_EARLY_IMAGE_STALE:
    printf ("early-boot image of %s: stale: it carries plan %s, the policies give plan %s now\n", st->release,
            st->recorded_plan, st->current_plan);
    break;
  case VFM_EARLY_IMAGE_NO_RECORD:
    printf ("early-boot image of %s: no record: no image of it was built with vfmig's hook on this host; "
            "the policies give plan %s (%u device%s)\n", st->release, st->current_plan, st->added->len,
            st->added->len == 1 ? "" : "s");
    break;
  }
  print_entries (cli, "added:", st->added);
  print_entries (cli, "removed:", st->removed);
  for (guint i = 0; i < st->modules_added->len; i++)
    vfm_cli_item (cli, 2, "module added:", "%s", (char *) g_ptr_array_index (st->modules_added, i));
  for (guint i = 0; i < st->modules_removed->len; i++)
    vfm_cli_item (cli, 2, "module removed:", "%s", (char *) g_ptr_array_index (st->modules_removed, i));
  if (st->generator != NULL)
    vfm_cli_item (cli, 2, "generator:", "%s: %s (image %s)", st->generator->name, cmd ? cmd : "?",
                  st->image ? st->image : "not found");
  else
    vfm_cli_item (cli, 2, "generator:", "none found on this host");
  if (st->refresh_needed)
    vfm_cli_item (cli, 2, "fix:", "vfmigctl early-boot refresh -k %s", st->release);
}

static VfmEarlyImageStatus *
status_of (VfmCli *cli, const char *release, const char *generators_file, GError **error)
{
  g_autoptr (GPtrArray) generators = NULL;
  VfmHost *host;

  if ((host = vfm_cli_host (cli, error)) == NULL ||
      (generators = vfm_initramfs_generators_load (generators_file, error)) == NULL)
    return NULL;
  return vfm_early_image_status (host, release, generators, error);
}

gboolean
vfm_cmd_early_boot_status (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autofree char *release = NULL, *generators = NULL;
  g_autoptr (VfmEarlyImageStatus) st = NULL;
  GOptionEntry entries[] = {
    { "kernel", 'k', 0, G_OPTION_ARG_STRING, &release, "The image of kernel RELEASE (default: the running one)",
      "RELEASE" },
    { "generators", 0, 0, G_OPTION_ARG_FILENAME, &generators,
      "The generators file (default: DATADIR/initramfs/generators.conf)", "FILE" },
    { NULL }
  };

  if (!vfm_cli_parse_options (cli, "early-boot status", "", entries, &argc, &argv, error) ||
      !no_arguments ("early-boot status", argc, argv, error) ||
      (st = status_of (cli, release, generators, error)) == NULL)
    return FALSE;
  for (guint i = 0; !cli->json && i < st->warnings->len; i++)
    vfm_cli_warn (cli, g_ptr_array_index (st->warnings, i));
  if (cli->json) {
    g_autoptr (JsonNode) node = vfm_early_image_status_to_json (st);
    vfm_cli_print_json (cli, node);
  } else {
    print_status (cli, st);
  }
  return TRUE;
}

/* One kernel's image: refreshed when needed (or said what would run);
 * its JSON object added to B when B is not NULL. */
static gboolean
refresh_one (VfmCli *cli, VfmHost *host, GPtrArray *generators, const char *release, gboolean dry, JsonBuilder *b,
             GError **error)
{
  g_autoptr (VfmEarlyImageStatus) st = NULL;
  g_auto (GStrv) command = NULL;
  g_autofree char *shown = NULL;
  gboolean ran = FALSE;

  if ((st = vfm_early_image_status (host, release, generators, error)) == NULL)
    return FALSE;
  if (st->refresh_needed) {
    if ((command = vfm_early_image_command (st, error)) == NULL)
      return FALSE;
    shown = g_strjoinv (" ", command);
    if (!cli->json)
      printf ("early-boot image of %s: %s; %s: %s\n", st->release,
              st->state == VFM_EARLY_IMAGE_STALE ? "stale" : "no vfmig hook recorded",
              dry ? "would run" : "running", shown);
    fflush (stdout);
    if (!dry) {
      if (!vfm_early_image_refresh (host, st, error))
        return FALSE;
      ran = TRUE;
    }
  }
  if (b != NULL) {
    json_builder_begin_object (b);
    vfm_json_add_str (b, "release", st->release);
    vfm_json_add_str (b, "state_before", vfm_early_image_state_to_string (st->state));
    if (command != NULL) {
      vfm_json_add_cstrv (b, "command", command);
    } else {
      json_builder_set_member_name (b, "command");
      json_builder_add_null_value (b);
    }
    vfm_json_add_bool (b, "dry_run", dry);
    vfm_json_add_bool (b, "ran", ran);
    vfm_json_add_str (b, "plan", st->current_plan);
    json_builder_end_object (b);
  } else if (ran) {
    printf ("early-boot image of %s: rebuilt, it carries plan %s\n", st->release, st->current_plan);
  } else if (!st->refresh_needed) {
    printf ("early-boot image of %s: %s (plan %s): nothing to do\n", st->release,
            st->state == VFM_EARLY_IMAGE_UP_TO_DATE ? "up to date" : "no record, and the plan binds nothing",
            st->current_plan);
  }
  return TRUE;
}

gboolean
vfm_cmd_early_boot_refresh (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autofree char *release = NULL, *generators_file = NULL;
  g_autoptr (GPtrArray) generators = NULL, releases = NULL;
  g_autoptr (GPtrArray) failures = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (VfmLock) lock = NULL;
  gboolean dry = FALSE, all = FALSE;
  GOptionEntry entries[] = {
    { "kernel", 'k', 0, G_OPTION_ARG_STRING, &release, "The image of kernel RELEASE (default: the running one)",
      "RELEASE" },
    { "all", 0, 0, G_OPTION_ARG_NONE, &all,
      "The running kernel's image and every other one with a record whose kernel is installed", NULL },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Say what would run, run nothing", NULL },
    { "generators", 0, 0, G_OPTION_ARG_FILENAME, &generators_file,
      "The generators file (default: DATADIR/initramfs/generators.conf)", "FILE" },
    { NULL }
  };
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "early-boot refresh", "", entries, &argc, &argv, error) ||
      !no_arguments ("early-boot refresh", argc, argv, error))
    return FALSE;
  if (all && release != NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "early-boot refresh: -k and --all exclude each other");
    return FALSE;
  }
  if ((release != NULL && !vfm_early_image_release_valid (release, error)) ||
      (host = vfm_cli_host (cli, error)) == NULL ||
      (generators = vfm_initramfs_generators_load (generators_file, error)) == NULL)
    return FALSE;
  /* one refresh at a time; the second sees what the first made */
  if (!dry && (lock = vfm_lock_named (vfm_host_sysroot (host), "early-boot-refresh", REFRESH_LOCK_MS, error)) == NULL)
    return FALSE;
  if (all) {
    releases = vfm_early_image_releases (vfm_host_sysroot (host));
  } else {
    releases = g_ptr_array_new_with_free_func (g_free);
    g_ptr_array_add (releases, g_strdup (release ? release : vfm_sysroot_kernel_release (vfm_host_sysroot (host))));
  }
  if (cli->json) {
    b = json_builder_new ();
    if (all)
      json_builder_begin_array (b);
  }
  /* with --all, a kernel whose generator fails does not stop the others */
  for (guint i = 0; i < releases->len; i++) {
    g_autoptr (GError) local = NULL;
    if (!refresh_one (cli, host, generators, g_ptr_array_index (releases, i), dry, b, &local)) {
      if (!all) {
        g_propagate_error (error, g_steal_pointer (&local));
        return FALSE;
      }
      vfm_cli_error (cli, NULL, local->message);
      g_ptr_array_add (failures, g_strdup (g_ptr_array_index (releases, i)));
    }
  }
  if (b != NULL) {
    g_autoptr (JsonNode) node = NULL;
    if (all)
      json_builder_end_array (b);
    node = json_builder_get_root (b);
    vfm_cli_print_json (cli, node);
  }
  if (failures->len > 0) {
    g_autofree char *list = NULL;
    g_ptr_array_add (failures, NULL);
    list = g_strjoinv (", ", (char **) failures->pdata);
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "early-boot refresh: the image of %s was not rebuilt (above)",
                 list);
    return FALSE;
  }
  return TRUE;
}
