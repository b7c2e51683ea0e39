/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* migrate, and the destination-side verbs a migration drives over ssh:
 * claim, prepare, release, claims. */
#include "vfm-cli.h"
#include "vfm-claims.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-migrate.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile gint cancel_requested;

static void
on_sigint (int sig)
{
  g_atomic_int_set (&cancel_requested, 1);
}

static void
progress (const char *event, const VfmJobStats *s, const char *message, gpointer data)
{
  vfm_cli_print_progress (data, NULL, event, s, message);
}

JsonNode *
vfm_cli_migrate_result_to_json (const VfmMigrateResult *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "event", "result");
  vfm_json_add_str (b, "domain", r->domain);
  vfm_json_add_str (b, "strategy", vfm_strategy_to_string (r->strategy));
  vfm_json_add_bool (b, "migrated", r->migrated);
  vfm_json_add_bool (b, "rolled_back", r->rolled_back);
  json_builder_set_member_name (b, "claim_id");
  if (r->claim_id)
    json_builder_add_string_value (b, r->claim_id);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "steps");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->steps->len; i++)
    json_builder_add_string_value (b, g_ptr_array_index (r->steps, i));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "seconds");
  json_builder_add_double_value (b, r->seconds);
  if (r->check != NULL) {
    json_builder_set_member_name (b, "check");
    json_builder_add_value (b, vfm_check_result_to_json (r->check));
  }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gboolean
vfm_cmd_migrate (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autofree char *strategy_arg = NULL, *peer = NULL;
  gboolean dry = FALSE, persistent = FALSE, undefine = FALSE, live = TRUE, keep_source = FALSE, postcopy = FALSE;
  gint timeout = 0, bandwidth = 0, downtime = 0, ttl = 0, detach_timeout = 0;
  GOptionEntry entries[] = {
    { "strategy", 's', 0, G_OPTION_ARG_STRING, &strategy_arg, "auto (default), native, failover or replug", "S" },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the plan, change nothing", NULL },
    { "live", 0, 0, G_OPTION_ARG_NONE, &live, "Live migration (the default and only mode)", NULL },
    { "persistent", 0, 0, G_OPTION_ARG_NONE, &persistent, "Define the domain on the destination", NULL },
    { "undefine-source", 0, 0, G_OPTION_ARG_NONE, &undefine, "Undefine the domain on the source", NULL },
    { "keep-source", 0, 0, G_OPTION_ARG_NONE, &keep_source, "Keep the source's mediated devices vfmig created", NULL },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "Abort the job after this many seconds", "S" },
    { "bandwidth", 0, 0, G_OPTION_ARG_INT, &bandwidth, "Limit the migration to MiB/s", "MIB" },
    { "max-downtime", 0, 0, G_OPTION_ARG_INT, &downtime, "Maximum downtime in ms (default: QEMU's plus what moves while the guest is stopped)", "MS" },
    { "postcopy", 0, 0, G_OPTION_ARG_NONE, &postcopy, "Refused with the reason: VFIO devices cannot be postcopied", NULL },
    { "claim-ttl", 0, 0, G_OPTION_ARG_INT, &ttl, "Lease of the destination claim in seconds (300)", "S" },
    { "detach-timeout", 0, 0, G_OPTION_ARG_INT, &detach_timeout, "How long the guest has to release a replugged device (30)", "S" },
    { "peer", 0, 0, G_OPTION_ARG_STRING, &peer, "The destination's vfmig: ssh://HOST, sysroot:DIR or local", "SPEC" },
    { NULL }
  };
  g_autoptr (VfmMigrateResult) r = NULL;
  VfmMigrateOptions o = { 0 };
  struct sigaction sa = { 0 }, old_int, old_term;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "migrate", "DOMAIN DEST_URI", entries, &argc, &argv, error))
    return FALSE;
  if (argc != 3) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "migrate: expected DOMAIN and DEST_URI");
    return FALSE;
  }
  o.strategy = VFM_STRATEGY_AUTO;
  if (strategy_arg != NULL && !vfm_strategy_from_string (strategy_arg, &o.strategy)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a strategy (auto, native, failover, replug)",
                 strategy_arg);
    return FALSE;
  }
  if (timeout < 0 || bandwidth < 0 || downtime < 0 || ttl < 0 || detach_timeout < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "migrate: times and rates must not be negative");
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  o.dry_run = dry;
  o.persistent = persistent;
  o.undefine_source = undefine;
  o.keep_source = keep_source;
  o.timeout_s = (guint) timeout;
  o.bandwidth_mib = (guint64) bandwidth;
  o.max_downtime_ms = (guint64) downtime;
  o.postcopy = postcopy;
  o.claim_ttl_s = (guint) ttl;
  o.detach_timeout_s = (guint) detach_timeout;
  o.peer = peer;
  o.progress = progress;
  o.progress_data = cli;
  o.cancel = &cancel_requested;
  if (peer == NULL && cli->sysroot != NULL)
    o.peer = peer = vfm_migrate_default_peer (argv[2], cli->sysroot);

  sa.sa_handler = on_sigint;
  sigaction (SIGINT, &sa, &old_int);
  sigaction (SIGTERM, &sa, &old_term);
  r = vfm_migrate (host, cli->connect, argv[1], argv[2], &o);
  sigaction (SIGINT, &old_int, NULL);
  sigaction (SIGTERM, &old_term, NULL);

  if (cli->json) {
    g_autoptr (JsonNode) n = vfm_cli_migrate_result_to_json (r);
    if (r->error != NULL) {
      g_autoptr (JsonNode) e = vfm_error_to_json (r->error);
      json_object_set_member (json_object_get_object_member (json_node_get_object (e), "error"), "result",
                              g_steal_pointer (&n));
      vfm_cli_print_json (cli, e);
      cli->exit_code = vfm_error_exit_code (r->error);
      return TRUE;
    }
    vfm_cli_print_json (cli, n);
    return TRUE;
  }
  if (dry) {
    printf ("plan for %s → %s: %s\n", argv[1], argv[2], vfm_strategy_to_string (r->strategy));
    for (guint i = 0; i < r->steps->len; i++)
      printf ("  %s\n", (const char *) g_ptr_array_index (r->steps, i));
  }
  if (r->error != NULL) {
    g_propagate_error (error, g_steal_pointer (&r->error));
    return FALSE;
  }
  if (!dry)
    printf ("%sdone%s in %.1f s; %s runs on %s (%s)\n", vfm_term_on (&cli->out, VFM_STYLE_GOOD),
            vfm_term_off (&cli->out, VFM_STYLE_GOOD), r->seconds, argv[1], argv[2], vfm_strategy_to_string (r->strategy));
  return TRUE;
}

/* ---- destination verbs ---- */

static gboolean
print_claim (VfmCli *cli, const VfmClaim *c)
{
  g_autoptr (JsonNode) n = vfm_claim_to_json (c);
  if (cli->json) {
    vfm_cli_print_json (cli, n);
  } else {
    g_autoptr (GDateTime) t = c->expires_at ? g_date_time_new_from_unix_local (c->expires_at) : NULL;
    g_autofree char *expiry = t ? g_date_time_format (t, "expires %F %R") : g_strdup ("no expiry");
    g_autofree char *what = g_strdup_printf ("%s (%s, %s)", c->id, c->state, expiry);
    g_autoptr (VfmTable) table = vfm_table_new (4, "DEVICE|SOURCE|DRIVER|BOUND");
    vfm_term_print_item (&cli->out, stdout, 0, "claim", VFM_STYLE_BOLD, what);
    g_autofree char *owner = g_strdup_printf ("%s%s%s%s%s%s", c->domain_name ? c->domain_name : "?",
                                              c->domain_uuid ? " (" : "", c->domain_uuid ? c->domain_uuid : "",
                                              c->domain_uuid ? ")" : "", c->held_by ? ", held by " : "",
                                              c->held_by ? c->held_by : "");
    vfm_term_print_item (&cli->out, stdout, 2, "domain", VFM_STYLE_PLAIN, owner);
    vfm_table_set_indent (table, 2);
    for (guint i = 0; i < c->devices->len; i++) {
      const VfmClaimDevice *d = g_ptr_array_index (c->devices, i);
      vfm_table_add_row (table, d->bdf, d->source_bdf ? d->source_bdf : "?", d->driver ? d->driver : "?",
                         d->bound ? "yes" : "no", NULL);
    }
    if (c->devices->len > 0)
      vfm_table_print (table, &cli->out);
  }
  return TRUE;
}

/* claim: the devices wanted come as JSON on stdin (what migrate sends). */
gboolean
vfm_cmd_claim (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autofree char *uuid = NULL, *name = NULL;
  gint ttl = 300;
  GOptionEntry entries[] = {
    { "domain-uuid", 0, 0, G_OPTION_ARG_STRING, &uuid, "The domain's UUID", "UUID" },
    { "domain-name", 0, 0, G_OPTION_ARG_STRING, &name, "The domain's name", "NAME" },
    { "ttl", 0, 0, G_OPTION_ARG_INT, &ttl, "Lease in seconds (300)", "S" },
    { NULL }
  };
  g_autoptr (GString) input = g_string_new (NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GPtrArray) wants = NULL;
  g_autoptr (VfmClaim) c = NULL;
  char buf[4096];
  size_t n;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "claim", "< WANTS.json", entries, &argc, &argv, error))
    return FALSE;
  if (argc != 1 || ttl <= 0 || ttl > 86400) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "claim: no arguments; the devices wanted come on stdin; --ttl 1-86400");
    return FALSE;
  }
  while ((n = fread (buf, 1, sizeof buf, stdin)) > 0 && input->len < 1048576)
    g_string_append_len (input, buf, (gssize) n);
  if (!vfm_json_load_data (parser, input->str, input->len, NULL) ||
      (wants = vfm_claim_wants_from_json (json_parser_get_root (parser), error)) == NULL) {
    if (error != NULL && *error == NULL)
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "claim: stdin is not a JSON array of wanted devices");
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL ||
      (c = vfm_claims_claim (host, uuid, name, wants, (guint) ttl, error)) == NULL)
    return FALSE;
  return print_claim (cli, c);
}

gboolean
vfm_cmd_prepare (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) results = NULL;
  VfmHost *host;
  if (!vfm_cli_parse_options (cli, "prepare", "CLAIM", NULL, &argc, &argv, error))
    return FALSE;
  if (argc != 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "prepare: expected a claim id");
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL ||
      (results = vfm_claims_prepare (host, argv[1], error)) == NULL)
    return FALSE;
  if (cli->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;
    json_builder_begin_object (b);
    vfm_json_add_bind_results (b, results);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  } else {
    for (guint i = 0; i < results->len; i++)
      printf ("%s\n", ((VfmBindResult *) g_ptr_array_index (results, i))->message);
  }
  return TRUE;
}

gboolean
vfm_cmd_release (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean restore = FALSE;
  GOptionEntry entries[] = {
    { "restore", 0, 0, G_OPTION_ARG_NONE, &restore, "Return the claimed devices vfmig bound to their original drivers", NULL },
    { NULL }
  };
  VfmHost *host;
  if (!vfm_cli_parse_options (cli, "release", "CLAIM", entries, &argc, &argv, error))
    return FALSE;
  if (argc != 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "release: expected a claim id");
    return FALSE;
  }
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL ||
      !vfm_claims_release (host, argv[1], restore, NULL, error))
    return FALSE;
  if (cli->json)
    printf ("{\"released\":\"%s\"}\n", argv[1]);
  else
    printf ("released claim %s\n", argv[1]);
  return TRUE;
}

gboolean
vfm_cmd_claims (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) claims = NULL;
  VfmHost *host;
  if (!vfm_cli_parse_options (cli, "claims", "", NULL, &argc, &argv, error))
    return FALSE;
  if ((host = vfm_cli_host (cli, error)) == NULL || (claims = vfm_claims_list (host, error)) == NULL)
    return FALSE;
  if (cli->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;
    json_builder_begin_array (b);
    for (guint i = 0; i < claims->len; i++)
      json_builder_add_value (b, vfm_claim_to_json (g_ptr_array_index (claims, i)));
    json_builder_end_array (b);
    root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
    return TRUE;
  }
  if (claims->len == 0)
    printf ("no claims\n");
  for (guint i = 0; i < claims->len; i++)
    print_claim (cli, g_ptr_array_index (claims, i));
  return TRUE;
}
