/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* check: can a domain move to another host, how, and if not, why. */
#include "vfm-cli.h"
#include "vfm-compat.h"
#include "vfm-domain-xml.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-libvirt.h"
#include "vfm-migrate.h"
#include "vfm-peer.h"
#include "vfm-placement.h"
#include "vfm-preflight.h"
#include "vfm-profile.h"

#include <stdio.h>
#include <string.h>

/* Without a domain, every VFIO-bound device of the source stands in for one
 * domain holding them all (a host-level question: "could these go there?"). */
static VfmDomainInfo *
domain_from_profile (const VfmHostProfile *src)
{
  VfmDomainInfo *d = vfm_domain_info_new ("(every VFIO device of the source)");
  d->acpi = TRUE;
  for (guint i = 0; i < src->devices->len; i++) {
    const VfmDeviceProfile *p = g_ptr_array_index (src->devices, i);
    if (p->vfio_bound)
      vfm_domain_add_hostdev (d, p->bdf);
  }
  return d;
}

/* A destination's facts: a profile FILE, or its own vfmig as a migration
 * reaches it (ssh://HOST, sysroot:DIR, local: see vfm-peer). */
static const char *
mark (VfmOutcome o, VfmStyle *style)
{
  switch (o) {
  case VFM_OUTCOME_PASS: *style = VFM_STYLE_GOOD; return "✓";
  case VFM_OUTCOME_WARN: *style = VFM_STYLE_WARN; return "!";
  case VFM_OUTCOME_FAIL: *style = VFM_STYLE_WARN; return "✗";
  case VFM_OUTCOME_SKIP: *style = VFM_STYLE_PLAIN; return "-";
  }
  *style = VFM_STYLE_PLAIN;
  return "?";
}

/* Each rule's reason in full (it says what to do), wrapped to the width. */
static void
print_rules (VfmCli *cli, GPtrArray *rules, guint indent)
{
  for (guint i = 0; i < rules->len; i++) {
    const VfmRuleResult *r = g_ptr_array_index (rules, i);
    g_autofree char *text = NULL;
    VfmStyle style;
    const char *m = mark (r->outcome, &style);
    if (r->outcome == VFM_OUTCOME_SKIP && !cli->verbose)
      continue;
    text = g_strdup_printf ("%s  [%s]", r->reason, r->rule);
    vfm_term_print_item (&cli->out, stdout, indent, m, style, text);
  }
}

static void
print_result (VfmCli *cli, const VfmCheckResult *r, GPtrArray *blockers)
{
  VfmStyle verdict = r->ok ? VFM_STYLE_GOOD : VFM_STYLE_WARN;
  g_autofree char *head = g_strdup_printf ("%s → %s:", r->domain ? r->domain : "?",
                                           r->dest_host ? r->dest_host : "destination");
  g_autofree char *how = NULL;

  if (r->ok)
    how = g_strdup_printf ("(%s%s)", vfm_strategy_to_string (r->strategy),
                           r->requested == VFM_STRATEGY_AUTO ? ", chosen automatically" : "");
  else if (r->requested != VFM_STRATEGY_AUTO)
    how = g_strdup_printf ("with --strategy %s", vfm_strategy_to_string (r->requested));
  {
    /* the verdict on the next line when the names make the line too long */
    const char *word = r->ok ? "MIGRATABLE" : "NOT MIGRATABLE";
    g_autofree char *plain = g_strdup_printf ("%s %s%s%s", head, word, how ? " " : "", how ? how : "");
    gboolean fits = vfm_term_text_width (plain) <= (glong) cli->out.width;
    printf ("%s%s%s%s%s%s%s\n", head, fits ? " " : "\n  ", vfm_term_on (&cli->out, verdict), word,
            vfm_term_off (&cli->out, verdict), how ? " " : "", how ? how : "");
  }
  if (r->hostdevs->len == 0 && r->mdevs->len == 0)
    vfm_term_print_item (&cli->out, stdout, 2, NULL, VFM_STYLE_PLAIN, r->summary);
  print_rules (cli, r->domain_rules, 2);
  for (guint i = 0; i < r->hostdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (r->hostdevs, i);
    g_autofree char *text = g_strdup_printf ("%s %s → %s %s: %s", v->bdf, v->driver ? v->driver : "",
                                             r->dest_host ? r->dest_host : "", v->dest_bdf ? v->dest_bdf : "(none)",
                                             vfm_strategy_to_string (v->best));
    vfm_term_print_item (&cli->out, stdout, 2, "hostdev", VFM_STYLE_BOLD, text);
    print_rules (cli, v->rules, 4);
  }
  for (guint i = 0; i < r->mdevs->len; i++) {
    const VfmHostdevVerdict *v = g_ptr_array_index (r->mdevs, i);
    g_autofree char *to = v->dest_mdev_uuid ? g_strdup (v->dest_mdev_uuid)
                                            : g_strdup_printf ("a new instance on %s", v->dest_mdev_parent ? v->dest_mdev_parent : "?");
    g_autofree char *text = g_strdup_printf ("%s %s → %s %s: %s", v->mdev_uuid, v->mdev_type ? v->mdev_type : "",
                                             r->dest_host ? r->dest_host : "", v->dest_mdev_parent || v->dest_mdev_uuid ? to : "(none)",
                                             vfm_strategy_to_string (v->best));
    vfm_term_print_item (&cli->out, stdout, 2, "mdev", VFM_STYLE_BOLD, text);
    print_rules (cli, v->rules, 4);
  }
  if (blockers != NULL) {
    vfm_term_print_item (&cli->out, stdout, 2, NULL, VFM_STYLE_PLAIN,
                         "QEMU's own answer (query-migrate blocked-reasons, asked with --ask-qemu):");
    if (blockers->len == 0)
      vfm_term_print_item (&cli->out, stdout, 4, "✓", VFM_STYLE_GOOD, "no blockers");
    for (guint i = 0; i < blockers->len; i++)
      vfm_term_print_item (&cli->out, stdout, 4, "✗", VFM_STYLE_WARN, g_ptr_array_index (blockers, i));
  }
  if (r->ok && cli->verbose)
    for (guint i = 0; i < r->plan->len; i++) {
      g_autofree char *n = g_strdup_printf ("plan %u.", i + 1);
      vfm_term_print_item (&cli->out, stdout, 2, n, VFM_STYLE_PLAIN, g_ptr_array_index (r->plan, i));
    }
}

/* One table, best first: host, verdict, strategy, free matching devices,
 * estimated downtime, the blocking rules (their reasons are in the reports
 * above and in --json). */
static void
print_ranking (VfmCli *cli, GPtrArray *ranking)
{
  g_autoptr (VfmTable) t = vfm_table_new (7, "#|HOST|VERDICT|STRATEGY|FREE|DOWNTIME (est.)|BLOCKERS");
  vfm_table_set_wrap (t, TRUE);
  for (guint i = 0; i < ranking->len; i++) {
    const VfmPlacementCandidate *c = g_ptr_array_index (ranking, i);
    char **cells = g_new0 (char *, 8);
    cells[0] = g_strdup_printf ("%u", i + 1);
    cells[1] = g_strdup (c->host);
    cells[2] = g_strdup (c->check->ok ? "MIGRATABLE" : c->kind == VFM_MOVE_COLD ? "COLD ONLY" : "NOT MIGRATABLE");
    cells[3] = g_strdup (c->kind == VFM_MOVE_COLD ? "cold" : vfm_strategy_to_string (c->check->strategy));
    cells[4] = g_strdup_printf ("%u", c->free_matching);
    cells[5] = vfm_placement_candidate_downtime_text (c);
    if (c->blocker_rules->len == 0) {
      cells[6] = g_strdup ("-");
    } else {
      g_ptr_array_add (c->blocker_rules, NULL);
      cells[6] = g_strjoinv (", ", (char **) c->blocker_rules->pdata);
      g_ptr_array_remove_index (c->blocker_rules, c->blocker_rules->len - 1);
    }
    vfm_table_take_row (t, cells);
  }
  printf ("\nranked, best first:\n");
  vfm_table_print (t, &cli->out);
}

gboolean
vfm_cmd_check (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autofree char *from = NULL, *domain_xml = NULL, *strategy_arg = NULL;
  g_auto (GStrv) to = NULL, peers = NULL, to_profile = NULL;
  gboolean ask_qemu = FALSE;
  GOptionEntry entries[] = {
    { "to", 't', 0, G_OPTION_ARG_STRING_ARRAY, &to, "Destination libvirt URI, or a profile FILE with --from (repeat to rank)", "URI|FILE" },
    { "to-profile", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &to_profile, "A destination's profile FILE (offline; repeat to rank)", "FILE" },
    { "from", 0, 0, G_OPTION_ARG_FILENAME, &from, "Source profile FILE (offline check)", "FILE" },
    { "domain-xml", 0, 0, G_OPTION_ARG_FILENAME, &domain_xml, "The domain's XML (offline check)", "FILE" },
    { "peer", 0, 0, G_OPTION_ARG_STRING_ARRAY, &peers, "Where each destination's vfmig facts come from: FILE, sysroot:DIR or ssh://HOST", "SPEC" },
    { "strategy", 's', 0, G_OPTION_ARG_STRING, &strategy_arg, "auto (default), native, failover or replug", "S" },
    { "ask-qemu", 0, 0, G_OPTION_ARG_NONE, &ask_qemu, "Also ask QEMU for its blockers (libvirt marks the domain tainted)", NULL },
    { NULL }
  };
  g_autoptr (VfmHostProfile) src = NULL;
  g_autoptr (VfmDomainInfo) domain = NULL;
  g_autoptr (GPtrArray) blockers = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  VfmStrategy strategy = VFM_STRATEGY_AUTO;
  guint ok = 0, n_to, n_files;
  g_autoptr (VfmPlacement) placement = vfm_placement_new ();

  if (!vfm_cli_parse_options (cli, "check", "DOMAIN --to URI | --from FILE --to FILE", entries, &argc, &argv, error))
    return FALSE;
  n_to = to ? g_strv_length (to) : 0;
  n_files = to_profile ? g_strv_length (to_profile) : 0;
  if (n_to + n_files == 0 || (from == NULL && argc != 2) || (from != NULL && argc != 1)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "check: give DOMAIN --to URI|--to-profile FILE, or --from FILE --to FILE");
    return FALSE;
  }
  if (peers != NULL && g_strv_length (peers) != n_to) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "check: give one --peer per --to");
    return FALSE;
  }
  if (strategy_arg != NULL && !vfm_strategy_from_string (strategy_arg, &strategy)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a strategy (auto, native, failover, replug)",
                 strategy_arg);
    return FALSE;
  }

  /* the source and the domain */
  if (from != NULL) {
    if ((src = vfm_host_profile_load (from, error)) == NULL)
      return FALSE;
    if (domain_xml != NULL) {
      g_autofree char *xml = NULL;
      gsize len;
      if (!g_file_get_contents (domain_xml, &xml, &len, error) || (domain = vfm_domain_parse (xml, len, error)) == NULL) {
        g_prefix_error (error, "%s: ", domain_xml);
        return FALSE;
      }
    } else {
      domain = domain_from_profile (src);
    }
  } else {
    g_autofree char *xml = vfm_libvirt_domain_xml (cli->connect, argv[1], error);
    VfmHost *host;
    if (xml == NULL || (domain = vfm_domain_parse (xml, strlen (xml), error)) == NULL ||
        (host = vfm_cli_host (cli, error)) == NULL || (src = vfm_preflight_source (host, cli->connect, error)) == NULL)
      return FALSE;
    if (ask_qemu) {
      g_autoptr (GError) local = NULL, props_error = NULL;
      blockers = vfm_libvirt_qemu_blockers (cli->connect, argv[1], &local);
      if (blockers == NULL && !cli->json)
        fprintf (stderr, "note: %s\n", local->message);
      if (blockers != NULL && !vfm_preflight_running_properties (cli->connect, domain, &props_error) && !cli->json)
        fprintf (stderr, "note: the device properties QEMU runs with are unknown (the <qemu:override> is judged): %s\n",
                 props_error->message);
    }
  }

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "destinations");
  json_builder_begin_array (b);
  for (guint i = 0; i < n_to + n_files; i++) {
    g_autoptr (VfmHostProfile) dst = NULL;
    g_autoptr (VfmCheckResult) r = NULL;
    g_autoptr (GError) local = NULL;
    const char *label = i < n_to ? to[i] : to_profile[i - n_to];
    if (i >= n_to) {
      dst = vfm_host_profile_load (label, &local);
    } else if (from != NULL && peers == NULL) {
      dst = vfm_host_profile_load (to[i], &local);
    } else {
      /* a live destination, also beside an offline source (--from F --to URI --peer SPEC) */
      g_autofree char *peer = peers ? g_strdup (peers[i]) : vfm_migrate_default_peer (to[i], cli->sysroot);
      dst = vfm_preflight_destination (peer, to[i], &local);
    }
    if (dst == NULL) {
      if (n_to + n_files == 1) {
        g_propagate_error (error, g_steal_pointer (&local));
        return FALSE;
      }
      if (!cli->json) {
        g_autofree char *msg = g_strdup_printf ("%s: %s", label, local->message);
        vfm_cli_error (cli, vfm_error_name (local), msg);
      }
      continue;
    }
    if (dst->hostname == NULL)
      dst->hostname = g_strdup (label);
    r = vfm_check (src, dst, domain, strategy);
    ok += r->ok;
    vfm_placement_add_host (placement, label, g_steal_pointer (&dst));
    if (cli->json) {
      JsonNode *node = vfm_check_result_to_json (r);
      JsonObject *o = json_node_get_object (node);
      json_object_set_string_member (o, "to", label);
      if (blockers != NULL) {
        JsonArray *a = json_array_new ();
        for (guint k = 0; k < blockers->len; k++)
          json_array_add_string_element (a, g_ptr_array_index (blockers, k));
        json_object_set_array_member (o, "qemu_blocked_reasons", a);
      }
      json_builder_add_value (b, node);
    } else {
      print_result (cli, r, blockers);
    }
  }
  json_builder_end_array (b);
  vfm_json_add_bool (b, "migratable", ok > 0);
  {
    /* every destination ranked, best first (vfm-placement) */
    g_autoptr (GPtrArray) ranking = vfm_placement_rank (placement, src, domain, strategy);
    json_builder_set_member_name (b, "ranking");
    json_builder_begin_array (b);
    for (guint i = 0; i < ranking->len; i++)
      json_builder_add_value (b, vfm_placement_candidate_to_json (g_ptr_array_index (ranking, i), i + 1));
    json_builder_end_array (b);
    if (!cli->json && n_to + n_files > 1)
      print_ranking (cli, ranking);
  }
  json_builder_end_object (b);
  if (cli->json) {
    g_autoptr (JsonNode) root = json_builder_get_root (b);
    vfm_cli_print_json (cli, root);
  }
  /* Decisions 6: 0 when a strategy works (for at least one destination), 3 when none */
  if (ok == 0)
    cli->exit_code = 3;
  return TRUE;
}
