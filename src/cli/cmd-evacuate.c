/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* evacuate: every running domain of this host to the destinations given -
 * the plan first (where each goes, how, what it costs, which will stop and
 * why), then the moves, then what happened to each. */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-evacuate.h"
#include "vfm-json.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile gint cancel_requested;

static void
on_signal (int sig)
{
  g_atomic_int_set (&cancel_requested, 1);
}

static void
print_event (VfmCli *cli, const char *event, JsonNode *body)
{
  g_autofree char *text = NULL;
  json_object_set_string_member (json_node_get_object (body), "event", event);
  text = vfm_json_to_string (body, FALSE);
  printf ("%s\n", text);
  fflush (stdout);
}

static JsonNode *
plan_to_json (const char *source, GPtrArray *dests, GPtrArray *warnings, const VfmEvacuation *plan)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "source", source);
  vfm_json_add_strv (b, "destinations", dests);
  vfm_json_add_strv (b, "warnings", warnings);
  json_builder_set_member_name (b, "plan");
  json_builder_begin_array (b);
  for (guint i = 0; i < plan->entries->len; i++)
    json_builder_add_value (b, vfm_evac_entry_to_json (g_ptr_array_index (plan->entries, i)));
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* One line per domain, before anything happens. */
static void
print_plan (VfmCli *cli, const VfmEvacuation *plan, GPtrArray *warnings, gboolean allow_stop)
{
  g_autoptr (VfmTable) t = vfm_table_new (5, "DOMAIN|DESTINATION|STRATEGY|DOWNTIME (est.)|DEVICES / WHY");
  for (guint i = 0; i < warnings->len; i++)
    vfm_cli_warn (cli, g_ptr_array_index (warnings, i));
  vfm_table_set_wrap (t, TRUE);
  for (guint i = 0; i < plan->entries->len; i++) {
    const VfmEvacEntry *e = g_ptr_array_index (plan->entries, i);
    char **cells = g_new0 (char *, 6);
    cells[0] = g_strdup (e->domain);
    cells[1] = g_strdup (e->hostname ? e->hostname : "—");
    if (e->action == VFM_EVAC_LIVE) {
      g_ptr_array_add (e->devices, NULL);
      cells[2] = g_strdup (vfm_strategy_to_string (e->strategy));
      cells[3] = g_strdup_printf ("~%" G_GINT64_FORMAT " ms%s", e->downtime_ms, e->device_gap ? " (+device out)" : "");
      cells[4] = e->devices->len > 1 ? g_strjoinv (", ", (char **) e->devices->pdata) : g_strdup ("-");
      g_ptr_array_remove_index (e->devices, e->devices->len - 1);
    } else if (e->action == VFM_EVAC_COLD) {
      cells[2] = g_strdup ("cold");
      cells[3] = g_strdup ("stop");
      cells[4] = g_strdup_printf ("will stop: %s", e->reason);
    } else {
      cells[2] = g_strdup ("-");
      cells[3] = g_strdup ("-");
      cells[4] = g_strdup_printf ("%s%s", e->will_stop ? "will stop: " : "", e->reason);
    }
    vfm_table_take_row (t, cells);
    if (e->action != VFM_EVAC_LIVE)
      vfm_table_style (t, 4, VFM_STYLE_WARN);
  }
  printf ("plan: %u live, %u cold (stopped), %u left where they are%s\n", plan->n_live, plan->n_cold, plan->n_leave,
          !allow_stop && plan->n_leave > 0 ? " (--allow-stop moves the ones that must stop, stopped)" : "");
  if (plan->entries->len == 0)
    printf ("  no running domains\n");
  else
    vfm_table_print (t, &cli->out);
  fflush (stdout);
}

static void
progress (const char *domain, const char *event, const char *message, gpointer data)
{
  vfm_cli_print_progress (data, domain, event, NULL, message);
}

static void
print_summary (VfmCli *cli, VfmEvacuate *ev, gboolean dry_run)
{
  guint n[5] = { 0 };
  for (guint i = 0; i < ev->results->len; i++)
    n[((VfmEvacResult *) g_ptr_array_index (ev->results, i))->outcome]++;
  if (cli->json) {
    g_autoptr (JsonBuilder) b = json_builder_new ();
    g_autoptr (JsonNode) root = NULL;
    json_builder_begin_object (b);
    vfm_json_add_bool (b, "dry_run", dry_run);
    json_builder_set_member_name (b, "results");
    json_builder_begin_array (b);
    for (guint i = 0; i < ev->results->len; i++)
      json_builder_add_value (b, vfm_evac_result_to_json (g_ptr_array_index (ev->results, i)));
    json_builder_end_array (b);
    for (VfmEvacOutcome o = VFM_EVAC_PLANNED; o <= VFM_EVAC_FAILED; o++) {
      g_autofree char *key = g_strdelimit (g_strdup (vfm_evac_outcome_to_string (o)), "-", '_');
      vfm_json_add_int (b, key, n[o]);
    }
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    print_event (cli, "summary", root);
    return;
  }
  if (!dry_run) {
    g_autoptr (VfmTable) t = vfm_table_new (4, "DOMAIN|OUTCOME|DESTINATION|DETAIL");
    vfm_table_set_wrap (t, TRUE);
    for (guint i = 0; i < ev->results->len; i++) {
      const VfmEvacResult *r = g_ptr_array_index (ev->results, i);
      const VfmEvacEntry *e = g_ptr_array_index (ev->plan->entries, i);
      vfm_table_add_row (t, r->domain, vfm_evac_outcome_to_string (r->outcome), e->hostname ? e->hostname : "—",
                         r->message ? r->message : "", NULL);
      vfm_table_style (t, 1, r->outcome == VFM_EVAC_MOVED || r->outcome == VFM_EVAC_STOPPED_AND_MOVED ? VFM_STYLE_GOOD
                                                                                                    : VFM_STYLE_WARN);
    }
    printf ("\nsummary: %u moved, %u stopped and moved, %u left, %u failed\n", n[VFM_EVAC_MOVED],
            n[VFM_EVAC_STOPPED_AND_MOVED], n[VFM_EVAC_LEFT], n[VFM_EVAC_FAILED]);
    if (ev->results->len > 0)
      vfm_table_print (t, &cli->out);
  } else {
    printf ("dry run: nothing changed\n");
  }
}

/* The plan from files: this host's profile, the domains' XML, the
 * destinations' profiles (what planning needs, without libvirt). */
static VfmEvacuate *
plan_offline (const char *from, char **xmls, char **profiles, const VfmEvacuateOptions *o, GError **error)
{
  g_autoptr (VfmHostProfile) src = vfm_host_profile_load (from, error);
  g_autoptr (GPtrArray) domains = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_domain_info_free);
  g_autoptr (VfmPlacement) placement = vfm_placement_new ();
  g_autoptr (VfmEvacuate) ev = g_new0 (VfmEvacuate, 1);

  if (src == NULL)
    return NULL;
  ev->source_uri = g_strdup (from);
  ev->dest_uris = g_ptr_array_new_with_free_func (g_free);
  ev->warnings = g_ptr_array_new_with_free_func (g_free);
  ev->peers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; xmls != NULL && xmls[i] != NULL; i++) {
    g_autofree char *xml = NULL;
    gsize len;
    VfmDomainInfo *d;
    if (!g_file_get_contents (xmls[i], &xml, &len, error) || (d = vfm_domain_parse (xml, len, error)) == NULL) {
      g_prefix_error (error, "%s: ", xmls[i]);
      return NULL;
    }
    g_ptr_array_add (domains, d);
  }
  for (guint i = 0; profiles[i] != NULL; i++) {
    g_autoptr (GError) local = NULL;
    VfmHostProfile *p = vfm_host_profile_load (profiles[i], &local);
    if (p == NULL) {
      g_ptr_array_add (ev->warnings, g_strdup_printf ("%s: not used: %s", profiles[i], local->message));
      continue;
    }
    vfm_placement_add_host (placement, profiles[i], p);
    g_ptr_array_add (ev->dest_uris, g_strdup (profiles[i]));
  }
  if (ev->dest_uris->len == 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "no destination profile could be read%s%s",
                 ev->warnings->len ? ": " : "", ev->warnings->len ? (const char *) g_ptr_array_index (ev->warnings, 0) : "");
    return NULL;
  }
  ev->plan = vfm_evacuation_plan (placement, src, domains, o->strategy, o->allow_stop, o->cold);
  return g_steal_pointer (&ev);
}

gboolean
vfm_cmd_evacuate (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_auto (GStrv) to = NULL, peers = NULL, to_profile = NULL, domain_xml = NULL, cold = NULL;
  g_autofree char *from = NULL, *strategy_arg = NULL;
  gboolean dry = FALSE, allow_stop = FALSE, persistent = FALSE;
  gint parallel = 1, shutdown_timeout = 120, timeout = 0, bandwidth = 0;
  GOptionEntry entries[] = {
    { "to", 't', 0, G_OPTION_ARG_STRING_ARRAY, &to, "A destination libvirt URI (repeat: the placement chooses)", "URI" },
    { "peer", 0, 0, G_OPTION_ARG_STRING_ARRAY, &peers, "Where each destination's vfmig facts come from: ssh://HOST, sysroot:DIR, local (one per --to)", "SPEC" },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the plan, change nothing", NULL },
    { "allow-stop", 0, 0, G_OPTION_ARG_NONE, &allow_stop, "Shut down, move and start the domains that cannot move live", NULL },
    { "cold", 0, 0, G_OPTION_ARG_STRING_ARRAY, &cold, "DOMAIN moves only stopped, as if it could not move live (repeat)", "DOMAIN" },
    { "parallel", 'j', 0, G_OPTION_ARG_INT, &parallel, "Domains moved at a time (1)", "N" },
    { "strategy", 's', 0, G_OPTION_ARG_STRING, &strategy_arg, "auto (default), native, failover or replug", "S" },
    { "shutdown-timeout", 0, 0, G_OPTION_ARG_INT, &shutdown_timeout, "Seconds a guest has to shut down for a cold move (120)", "S" },
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "Abort a migration after this many seconds", "S" },
    { "bandwidth", 0, 0, G_OPTION_ARG_INT, &bandwidth, "Limit each migration to MiB/s", "MIB" },
    { "persistent", 0, 0, G_OPTION_ARG_NONE, &persistent, "Define live-moved domains on the destination", NULL },
    { "from", 0, 0, G_OPTION_ARG_FILENAME, &from, "Offline plan: this host's profile FILE", "FILE" },
    { "domain-xml", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &domain_xml, "Offline plan: a running domain's XML (repeat)", "FILE" },
    { "to-profile", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &to_profile, "Offline plan: a destination's profile FILE (repeat)", "FILE" },
    { NULL }
  };
  VfmEvacuateOptions o = { .strategy = VFM_STRATEGY_AUTO };
  g_autoptr (VfmEvacuate) ev = NULL;
  struct sigaction sa = { 0 }, old_int, old_term;
  VfmHost *host = NULL;
  guint bad, n_to;

  if (!vfm_cli_parse_options (cli, "evacuate", "--to URI [--to URI…] [--dry-run] [--allow-stop] [--parallel N]",
                              entries, &argc, &argv, error))
    return FALSE;
  n_to = to ? g_strv_length (to) : 0;
  if (argc != 1 || (from == NULL && (n_to == 0 || to_profile != NULL || domain_xml != NULL)) ||
      (from != NULL && (to_profile == NULL || to != NULL))) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE,
                 "evacuate: give --to URI (repeatable), or offline --from FILE --domain-xml FILE… --to-profile FILE… --dry-run");
    return FALSE;
  }
  if (peers != NULL && g_strv_length (peers) != n_to) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "evacuate: give one --peer per --to");
    return FALSE;
  }
  if (strategy_arg != NULL && !vfm_strategy_from_string (strategy_arg, &o.strategy)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a strategy (auto, native, failover, replug)",
                 strategy_arg);
    return FALSE;
  }
  if (parallel < 1 || parallel > 64 || shutdown_timeout < 1 || timeout < 0 || bandwidth < 0) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "evacuate: --parallel must be 1-64, --shutdown-timeout at least 1, times and rates not negative");
    return FALSE;
  }
  if (from != NULL && !dry) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "evacuate --from plans from files only: add --dry-run");
    return FALSE;
  }
  o.allow_stop = allow_stop;
  o.cold = (const char * const *) cold;
  o.persistent = persistent;
  o.parallel = (guint) parallel;
  o.shutdown_timeout_s = (guint) shutdown_timeout;
  o.timeout_s = (guint) timeout;
  o.bandwidth_mib = (guint64) bandwidth;
  o.sysroot = cli->sysroot;
  o.progress = progress;
  o.progress_data = cli;
  o.cancel = &cancel_requested;

  if (from != NULL) {
    ev = plan_offline (from, domain_xml, to_profile, &o, error);
  } else {
    if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
      return FALSE;
    ev = vfm_evacuate_plan (host, cli->connect, to, peers, &o, error);
  }
  if (ev == NULL)
    return FALSE;

  /* the plan, before anything happens */
  if (cli->json) {
    g_autoptr (JsonNode) n = plan_to_json (ev->source_uri, ev->dest_uris, ev->warnings, ev->plan);
    print_event (cli, "plan", n);
  } else {
    print_plan (cli, ev->plan, ev->warnings, allow_stop);
  }

  sa.sa_handler = on_signal;
  sigaction (SIGINT, &sa, &old_int);
  sigaction (SIGTERM, &sa, &old_term);
  bad = vfm_evacuate_run (host, ev, dry, &o);
  sigaction (SIGINT, &old_int, NULL);
  sigaction (SIGTERM, &old_term, NULL);
  print_summary (cli, ev, dry);

  /* 1: a domain failed; 3: some stay (they would stop); 0: all moved */
  if (bad > 0) {
    gboolean failed = FALSE;
    for (guint i = 0; i < ev->results->len; i++)
      failed |= ((VfmEvacResult *) g_ptr_array_index (ev->results, i))->outcome == VFM_EVAC_FAILED;
    cli->exit_code = failed ? 1 : 3;
  }
  return TRUE;
}
