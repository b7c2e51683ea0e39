/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-local.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

VfmHost *
vfm_cli_host (VfmCli *cli, GError **error)
{
  if (cli->host == NULL)
    cli->host = vfm_host_new (cli->sysroot, error);
  return cli->host;
}

/* "binding 12/256: 0000:10:00.2" on a terminal's stderr, redrawn in place,
 * for binds of more than a few devices (each can take a second on real
 * hardware); erased before the results (vfm_cli_progress_end). */
static void
bind_progress (guint done, guint total, const char *bdf, gpointer data)
{
  VfmCli *cli = data;
  if (total < 4)
    return;
  fprintf (stderr, "\r\033[Kbinding %u/%u: %s", done + 1, total, bdf);
  fflush (stderr);
  cli->progress_shown = TRUE;
}

void
vfm_cli_progress_end (VfmCli *cli)
{
  if (!cli->progress_shown)
    return;
  fprintf (stderr, "\r\033[K");
  fflush (stderr);
  cli->progress_shown = FALSE;
}

/* vfmigd's socket (VFMIG_SOCKET, else /run/vfmig/vfmigd.sock under the
 * sysroot), or NULL when nothing answers there. */
static VfmVarlinkClient *
daemon_client (VfmCli *cli)
{
  g_autoptr (VfmSysroot) sr = NULL;
  g_autofree char *path = NULL;
  g_autoptr (GError) error = NULL;
  VfmVarlinkClient *client;
  const char *env = g_getenv ("VFMIG_SOCKET");

  if (env != NULL && *env != '\0') {
    path = g_strdup (env);
  } else {
    g_autofree char *run = NULL;
    if ((sr = vfm_sysroot_new (cli->sysroot, NULL)) == NULL)
      return NULL;
    run = vfm_sysroot_run_dir (sr);
    path = g_build_filename (run, "vfmigd.sock", NULL);
  }
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return NULL;
  client = vfm_varlink_client_connect (path, &error);
  if (client == NULL && cli->verbose)
    fprintf (stderr, "note: vfmigd does not answer at %s (%s); working directly\n", path, error->message);
  return client;
}

/* Where io.vfmig calls go, chosen once per command: vfmigd when its socket
 * answers (its authorization lets members of group vfmig change drivers
 * without root), else the same method table in this process, with the same
 * results (--no-daemon forces that). */
VfmBackend *
vfm_cli_backend (VfmCli *cli)
{
  VfmVarlinkClient *client;
  VfmMethodCall tmpl = { .sysroot = cli->sysroot, .product = "vfmigctl" };

  if (cli->backend != NULL)
    return cli->backend;
  if (!cli->no_daemon && (client = daemon_client (cli)) != NULL) {
    cli->backend = vfm_backend_new_varlink ("vfmigd", client);
    return cli->backend;
  }
  if (!cli->json && isatty (STDERR_FILENO)) {
    tmpl.progress = bind_progress;
    tmpl.progress_data = cli;
  }
  cli->backend = vfm_local_backend_new (&tmpl);
  return cli->backend;
}

/* Parses a command's own options; unknown options and missing values are
 * command-line syntax errors (exit 2). */
gboolean
vfm_cli_parse_options (VfmCli *cli, const char *command, const char *args, GOptionEntry *entries,
                       int *argc, char ***argv, GError **error)
{
  g_autofree char *param = g_strdup_printf ("%s %s", command, args ? args : "");
  g_autoptr (GOptionContext) ctx = g_option_context_new (param);
  g_autoptr (GError) local = NULL;

  g_option_context_set_help_enabled (ctx, TRUE);
  g_option_context_set_summary (ctx, "Global options: --sysroot DIR, -c URI, --json, --color=WHEN, -v (see vfmigctl --help)");
  if (entries != NULL)
    g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "%s: %s", command, local->message);
    return FALSE;
  }
  /* an option-looking word that GOption left (after "--" it is an argument) */
  return TRUE;
}

void
vfm_cli_print_json (VfmCli *cli, JsonNode *node)
{
  g_autofree char *s = vfm_json_to_string (node, cli->tty);
  printf ("%s\n", s);
}

/* A live migration's counters, redrawn in place on a terminal. */
static void
print_progress_bar (VfmCli *cli, const VfmJobStats *s)
{
  guint pct = s->total ? (guint) (100 * (s->total - MIN (s->remaining, s->total)) / s->total) : 0;
  g_autofree char *line = NULL, *fit = NULL;
  char bar[21];

  for (guint i = 0; i < 20; i++)
    bar[i] = i < pct / 5 ? '#' : '.';
  bar[20] = '\0';
  line = g_strdup_printf ("migrating [%s] %3u%%  %.1f/%.1f MiB  dirty %" G_GUINT64_FORMAT
                          " pages/s  downtime %" G_GUINT64_FORMAT " ms",
                          bar, pct, s->processed / 1048576.0, s->total / 1048576.0, s->dirty_rate_pages,
                          s->expected_downtime_ms);
  /* never as wide as the terminal: a wrapped line defeats the \r */
  fit = vfm_term_truncate (line, (glong) cli->out.width - 1);
  printf ("\r%s\033[K", fit);
}

/* --json: one object a line, flushed at once (a caller reads them as they
 * come): the message, the domain (evacuate), a live migration's counters
 * (migrate's "progress" events), and the event - first in migrate's lines,
 * last in evacuate's, as in each command's other lines (migrate's result
 * leads with it, evacuate's plan and summary end with it). Text: migrate
 * prints its steps, "note: " before other events, and on a terminal the
 * counters as a bar that the next line erases; evacuate prints a domain's
 * start and result, its other events, and its steps only with -v. */
void
vfm_cli_print_progress (VfmCli *cli, const char *domain, const char *event, const VfmJobStats *s, const char *message)
{
  gboolean step = g_strcmp0 (event, "step") == 0;

  if (cli->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) n = NULL;
    g_autofree char *text = NULL;
    json_builder_begin_object (b);
    if (domain != NULL)
      vfm_json_add_str (b, "domain", domain);
    else
      vfm_json_add_str (b, "event", event);
    vfm_json_add_str (b, "message", message);
    if (s != NULL) {
      vfm_json_add_int (b, "processed_bytes", (gint64) s->processed);
      vfm_json_add_int (b, "remaining_bytes", (gint64) s->remaining);
      vfm_json_add_int (b, "total_bytes", (gint64) s->total);
      vfm_json_add_int (b, "dirty_rate_pages", (gint64) s->dirty_rate_pages);
      vfm_json_add_int (b, "expected_downtime_ms", (gint64) s->expected_downtime_ms);
    }
    if (domain != NULL)
      vfm_json_add_str (b, "event", event);
    json_builder_end_object (b);
    n = json_builder_get_root (b);
    text = vfm_json_to_string (n, FALSE);
    printf ("%s\n", text);
  } else if (domain != NULL) {
    if (g_strcmp0 (event, "start") == 0)
      printf ("moving  %s\n", message);
    else if (g_strcmp0 (event, "result") == 0)
      printf ("done:   %s\n", message);
    else if (cli->verbose || !step)
      printf ("  %s: %s\n", domain, message);
  } else if (g_strcmp0 (event, "progress") == 0 && s != NULL) {
    if (cli->tty)
      print_progress_bar (cli, s);
  } else {
    if (cli->tty)
      printf ("\r\033[K");
    printf ("%s%s\n", step ? "" : "note: ", message);
  }
  fflush (stdout);
}

void
vfm_cli_warn (VfmCli *cli, const char *message)
{
  fprintf (stderr, "%swarning:%s %s\n", vfm_term_on (&cli->err, VFM_STYLE_WARN),
           vfm_term_off (&cli->err, VFM_STYLE_WARN), message);
}

/* "error: MESSAGE" on stderr; name, the error's varlink name when known,
 * tells a host-safety refusal (yellow) from a failure (red). */
void
vfm_cli_error (VfmCli *cli, const char *name, const char *message)
{
  VfmStyle style = g_strcmp0 (name, "io.vfmig.Refused") == 0 ? VFM_STYLE_WARN : VFM_STYLE_BAD;
  fprintf (stderr, "%serror:%s %s\n", vfm_term_on (&cli->err, style), vfm_term_off (&cli->err, style), message);
}

/* "  LABEL text" on stdout, the text wrapped under itself to the width. */
void
vfm_cli_item (VfmCli *cli, guint indent, const char *label, const char *format, ...)
{
  g_autofree char *text = NULL;
  va_list ap;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  vfm_term_print_item (&cli->out, stdout, indent, label, VFM_STYLE_PLAIN, text);
}

/* Names for the classes passthrough cares about (PCI Code and ID Assignment
 * Specification), and at most 6 characters of it for tables; others print
 * as their hex code. */
static const struct {
  guint32 prefix;
  guint shift;
  const char *name;
  const char *short_name;
} class_names[] = {
  { 0x010802, 0, "NVMe", "NVMe" },
  { 0x0106, 8, "SATA", "SATA" },
  { 0x0104, 8, "RAID", "RAID" },
  { 0x0200, 8, "Ethernet", "Eth" },
  { 0x0207, 8, "InfiniBand", "IB" },
  { 0x0280, 8, "Network", "Net" },
  { 0x0300, 8, "VGA", "VGA" },
  { 0x0302, 8, "3D", "3D" },
  { 0x0380, 8, "Display", "Disp" },
  { 0x0403, 8, "Audio", "Audio" },
  { 0x0600, 8, "Host bridge", "Bridge" },
  { 0x0601, 8, "ISA bridge", "Bridge" },
  { 0x0604, 8, "PCI bridge", "Bridge" },
  { 0x0c03, 8, "USB", "USB" },
  { 0x0b40, 8, "Co-processor", "Coproc" },
  { 0x10, 16, "Crypto", "Crypto" },
  { 0x12, 16, "Accelerator", "Accel" },
};

const char *
vfm_cli_class_name (guint32 class_code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (class_names); i++)
    if ((class_code >> class_names[i].shift) == class_names[i].prefix)
      return class_names[i].name;
  return NULL;
}

const char *
vfm_cli_class_short_name (guint32 class_code)
{
  for (gsize i = 0; i < G_N_ELEMENTS (class_names); i++)
    if ((class_code >> class_names[i].shift) == class_names[i].prefix)
      return class_names[i].short_name;
  return NULL;
}

