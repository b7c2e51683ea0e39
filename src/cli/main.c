/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vfmigctl: a thin main over libvfmig. Commands are rows of one table. */
#include "vfm-config.h"
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const VfmCliCommand commands[] = {
  { "bind", "BDF…|--all [--driver NAME] [--group] [--dry-run] [--force]", "Bind devices to their selected VFIO driver, verified", vfm_cmd_bind },
  { "bridge", "", "Serve the io.vfmig methods on stdin/stdout (a migration's peer: ssh HOST vfmigctl bridge)", vfm_cmd_bridge },
  { "check", "DOMAIN --to URI… | --from FILE --to FILE… [--strategy S]", "Can a domain migrate there, how, and if not why", vfm_cmd_check },
  { "claim", "--domain-uuid U --domain-name N [--ttl S] < WANTS.json", "Destination: claim free devices for a migration", vfm_cmd_claim },
  { "claims", "", "Destination: the claims held now", vfm_cmd_claims },
  { "db lint", "[FILE…]", "Check driver and policy files; report FILE:LINE for each problem", vfm_cmd_db_lint },
  { "db list", "", "List the driver database: curated entries and kernel aliases", vfm_cmd_db_list },
  { "db show", "ID|DRIVER", "Show everything the database knows about one driver", vfm_cmd_db_show },
  { "doctor", "[BDF…]", "Is this host ready for passthrough and migration: one line per check, a fix for each failure", vfm_cmd_doctor },
  { "early-boot plan", "[--record RELEASE --generator NAME]", "The devices the initramfs binds before any host driver (what the initramfs hooks write)", vfm_cmd_early_boot_plan },
  { "early-boot refresh", "[-k RELEASE|--all] [--dry-run]", "Rebuild a kernel's initramfs when its early-boot plan is stale", vfm_cmd_early_boot_refresh },
  { "early-boot status", "[-k RELEASE]", "Does a kernel's initramfs carry the plan the policies give now", vfm_cmd_early_boot_status },
  { "evacuate", "--to URI… [--dry-run] [--allow-stop] [--parallel N]", "Move every running domain off this host: the plan first, then each one (live, or stopped with --allow-stop)", vfm_cmd_evacuate },
  { "explain", "BDF", "Explain which driver a device would take and why", vfm_cmd_explain },
  { "hook", "qemu DOMAIN OPERATION SUB-OPERATION EXTRA", "The libvirt qemu hook (domain XML on stdin)", vfm_cmd_hook },
  { "import-driverctl", "[--dry-run]", "Turn driverctl's overrides into a vfmig policy", vfm_cmd_import_driverctl },
  { "inventory", "", "What a scheduler places on: each device's identity, state and migration traits", vfm_cmd_inventory },
  { "list", "[--all]", "List passthrough-relevant PCI devices and their selected driver", vfm_cmd_list },
  { "mdev create", "PARENT TYPE [--uuid U]", "Create a mediated device (journaled: recover removes it when unused)", vfm_cmd_mdev_create },
  { "mdev list", "", "List mediated devices: type, parent, group, who made them", vfm_cmd_mdev_list },
  { "mdev remove", "UUID [--force]", "Remove a mediated device nothing uses (mdevctl's only with --force)", vfm_cmd_mdev_remove },
  { "mdev types", "[PARENT]", "List mediated device types and how many more each parent can create", vfm_cmd_mdev_types },
  { "migrate", "DOMAIN DEST_URI [--strategy S] [--dry-run] [--persistent]", "Migrate a domain with its passthrough devices", vfm_cmd_migrate },
  { "prepare", "CLAIM", "Destination: bind a claim's devices", vfm_cmd_prepare },
  { "probe", "BDF|UUID…", "Ask the kernel about a VFIO device's (or mediated device's) migration support", vfm_cmd_probe },
  { "profile", "", "This host as check sees it (--json for check --from/--to)", vfm_cmd_profile },
  { "recover", "", "Finish or roll back work a crash interrupted: binds, vf create/destroy, migrations", vfm_cmd_recover },
  { "release", "CLAIM [--restore]", "Destination: end a claim", vfm_cmd_release },
  { "restore", "[--dry-run]", "Return every device vfmig bound to its original driver", vfm_cmd_restore },
  { "status", "", "What vfmig owns, and interrupted operations", vfm_cmd_status },
  { "udev-query", "KERNEL_NAME", "The udev rule's helper: the driver to set at hotplug", vfm_cmd_udev_query },
  { "unbind", "BDF… [--dry-run]", "Return devices vfmig bound to their original driver", vfm_cmd_unbind },
  { "vf create", "PF N [--migratable] [--mac MAC|auto] [--vlan ID]", "Create N VFs for vfmig and bind them", vfm_cmd_vf_create },
  { "vf destroy", "PF", "Return the PF's VFs and remove them", vfm_cmd_vf_destroy },
  { "xml", "BDF [--libvirt-version X.Y.Z] | --migratable DOMAIN [--dry-run]", "Print the <hostdev> element for a domain; or write the QEMU properties VFIO migration needs into a domain's definition", vfm_cmd_xml },
};

static void
print_usage (FILE *out)
{
  const VfmTerm term = { .color = FALSE, .width = 80 };

  fprintf (out, "Usage: vfmigctl [--sysroot DIR] [-c URI] [--json] [-v] COMMAND [ARGS…]\n\n"
                "Commands:\n");
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++) {
    /* the description at column 31, on the next line after a long usage */
    g_autofree char *left = g_strstrip (g_strdup_printf ("%s %s", commands[i].name, commands[i].args));
    glong w = vfm_term_text_width (left);
    g_autofree char *mark = g_strdup_printf ("%s%*s", left, (int) MAX (28 - w, 0), "");
    if (w > 28)
      fprintf (out, "  %s\n", left);
    vfm_term_print_item (&term, out, w > 28 ? 31 : 2, w > 28 ? NULL : mark, VFM_STYLE_PLAIN,
                         commands[i].description);
  }
  fprintf (out, "\nGlobal options (before or after the command):\n"
                "  --sysroot DIR   operate on a synthetic host rooted at DIR (also VFMIG_SYSROOT)\n"
                "  -c, --connect URI  local libvirt URI, as in virsh\n"
                "  --json          machine-readable output (see vfmigctl(8), JSON OUTPUT)\n"
                "  --color=WHEN    auto (a terminal, unless NO_COLOR is set), always or never\n"
                "  --no-daemon     do the work in this process even when vfmigd runs\n"
                "  -v, --verbose   more detail\n"
                "  --version       print the version\n"
                "  -h, --help      this help; COMMAND --help for a command's options\n");
}

/* Takes the global options out of argv wherever they stand, so that
 * "vfmigctl list --json" and "vfmigctl --json list" are the same. */
static gboolean
extract_globals (VfmCli *cli, int *argc, char **argv, gboolean *version, gboolean *help, GError **error)
{
  int out = 1;
  gboolean after_dashdash = FALSE;

  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
    const char **value_target = NULL;
    const char *value = NULL;

    if (after_dashdash) {
      argv[out++] = argv[i];
      continue;
    }
    if (strcmp (a, "--") == 0) {
      after_dashdash = TRUE;
      argv[out++] = argv[i];
      continue;
    }
    if (strcmp (a, "--json") == 0) {
      cli->json = TRUE;
    } else if (strcmp (a, "--no-daemon") == 0) {
      cli->no_daemon = TRUE;
    } else if (strcmp (a, "--color") == 0 || g_str_has_prefix (a, "--color=")) {
      const char *when = a[strlen ("--color")] == '=' ? a + strlen ("--color=") : i + 1 < *argc ? argv[++i] : NULL;
      if (!vfm_color_mode_from_string (when, &cli->color)) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "--color takes auto, always or never%s%s%s",
                     when ? ", not \"" : "", when ? when : "", when ? "\"" : "");
        return FALSE;
      }
    } else if (strcmp (a, "-v") == 0 || strcmp (a, "--verbose") == 0) {
      cli->verbose = TRUE;
    } else if (strcmp (a, "--version") == 0) {
      *version = TRUE;
    } else if (strcmp (a, "-h") == 0 || strcmp (a, "--help") == 0) {
      *help = TRUE;
      argv[out++] = argv[i]; /* a command may want it for its own help */
    } else if (strcmp (a, "--sysroot") == 0 || strcmp (a, "-c") == 0 || strcmp (a, "--connect") == 0) {
      value_target = (const char **) (strcmp (a, "--sysroot") == 0 ? &cli->sysroot : &cli->connect);
      if (i + 1 >= *argc) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "option %s needs an argument", a);
        return FALSE;
      }
      value = argv[++i];
    } else if (g_str_has_prefix (a, "--sysroot=")) {
      value_target = (const char **) &cli->sysroot;
      value = a + strlen ("--sysroot=");
    } else if (g_str_has_prefix (a, "--connect=")) {
      value_target = (const char **) &cli->connect;
      value = a + strlen ("--connect=");
    } else {
      argv[out++] = argv[i];
    }
    if (value_target != NULL) {
      g_free ((char *) *value_target);
      *value_target = g_strdup (value);
    }
  }
  *argc = out;
  argv[out] = NULL;
  return TRUE;
}

static const VfmCliCommand *
find_command (int argc, char **argv, int *consumed)
{
  const VfmCliCommand *best = NULL;
  int best_words = 0;

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++) {
    g_auto (GStrv) words = g_strsplit (commands[i].name, " ", -1);
    int n = (int) g_strv_length (words);
    gboolean hit = n < argc;
    for (int w = 0; hit && w < n; w++)
      hit = strcmp (words[w], argv[1 + w]) == 0;
    if (hit && n > best_words) {
      best = &commands[i];
      best_words = n;
    }
  }
  *consumed = best_words;
  return best;
}

static int
report (VfmCli *cli, const GError *error)
{
  int code = vfm_error_exit_code (error);
  if (cli->json) {
    g_autoptr (JsonNode) node = vfm_error_to_json (error);
    g_autofree char *s = vfm_json_to_string (node, FALSE);
    printf ("%s\n", s);
  } else {
    vfm_cli_error (cli, vfm_error_name (error), error->message);
    if (code == 2)
      fprintf (stderr, "Use vfmigctl --help for help\n");
  }
  return code;
}

static int run (VfmCli *cli, int argc, char **argv);

int
main (int argc, char **argv)
{
  VfmCli cli = { 0 };
  int rc;

  setlocale (LC_ALL, "");
  g_set_prgname ("vfmigctl"); /* "Usage: vfmigctl [OPTION…] vf create PF N" */
  cli.tty = isatty (STDOUT_FILENO);
  rc = run (&cli, argc, argv);
  g_clear_pointer (&cli.backend, vfm_backend_free);
  g_clear_pointer (&cli.host, vfm_host_free);
  g_free (cli.sysroot);
  g_free (cli.connect);
  return rc;
}

static int
run (VfmCli *cli, int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  gboolean version = FALSE, help = FALSE;
  const VfmCliCommand *cmd;
  int consumed = 0, rc = 0;
  gboolean globals_ok = extract_globals (cli, &argc, argv, &version, &help, &error);

  /* decided once, for the whole run; JSON is never coloured */
  vfm_term_init (&cli->out, STDOUT_FILENO, cli->json ? VFM_COLOR_NEVER : cli->color);
  vfm_term_init (&cli->err, STDERR_FILENO, cli->color);
  if (!globals_ok)
    return report (cli, error);
  if (version) {
    printf ("vfmigctl %s\n", VFM_VERSION);
    return 0;
  }
  if (argc >= 2 && strcmp (argv[1], "list-commands") == 0) {
    /* hidden: lets tests check man page and completion against the table */
    for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
      printf ("%s\n", commands[i].name);
    return 0;
  }
  if (argc < 2 || (help && argv[1][0] == '-')) {
    print_usage (help ? stdout : stderr);
    return help ? 0 : 2;
  }

  cmd = find_command (argc, argv, &consumed);
  if (cmd == NULL) {
    /* the first word of a two-word command ("vf", "db") names its group */
    g_autoptr (GString) sub = g_string_new (NULL);
    g_autofree char *prefix = g_strconcat (argv[1], " ", NULL);
    for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
      if (g_str_has_prefix (commands[i].name, prefix))
        g_string_append_printf (sub, "%s%s", sub->len ? ", " : "", commands[i].name);
    if (sub->len > 0)
      g_set_error (&error, VFM_ERROR, VFM_ERROR_USAGE, "\"%s\" needs a subcommand: %s", argv[1], sub->str);
    else
      g_set_error (&error, VFM_ERROR, VFM_ERROR_USAGE, "unknown command \"%s\"", argv[1]);
    return report (cli, error);
  }
  /* the command sees argv[0] = its name, then its own arguments */
  if (!cmd->func (cli, argc - consumed, argv + consumed, &error))
    rc = report (cli, error);
  else
    rc = cli->exit_code;
  return rc;
}
