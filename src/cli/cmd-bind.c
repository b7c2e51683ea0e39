/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bind, unbind, restore: change drivers through the binder, and report each
 * device's result (steps with --dry-run or -v). */
#include "vfm-cli.h"
#include "vfm-batch.h"
#include "vfm-binder.h"
#include "vfm-varlink.h"
#include "vfm-error.h"
#include "vfm-journal.h"
#include "vfm-json.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One device's result, from its JSON form (the same whether the daemon or
 * this process did the work). */
static void
print_result (VfmCli *cli, const JsonObject *r, gboolean show_steps)
{
  JsonObject *o = (JsonObject *) r;
  JsonNode *err = json_object_get_member (o, "error");
  JsonNode *group = json_object_get_member (o, "iommu_group");
  const char *bdf = vfm_json_get_str_or (o, "bdf", "");
  const char *op = vfm_json_get_str_or (o, "op", "");
  JsonArray *steps = json_object_has_member (o, "steps") ? json_object_get_array_member (o, "steps") : NULL;
  JsonArray *warnings = json_object_has_member (o, "warnings") ? json_object_get_array_member (o, "warnings") : NULL;

  if (err != NULL && JSON_NODE_HOLDS_OBJECT (err)) {
    JsonObject *e = json_node_get_object (err);
    vfm_cli_error (cli, vfm_json_get_str_or (e, "name", NULL),
                   vfm_json_get_str_or (e, "message", "failed"));
  } else if (vfm_json_get_str_or (o, "message", NULL) != NULL) {
    VfmStyle style = vfm_json_get_bool_or (o, "changed", FALSE) ? VFM_STYLE_GOOD : VFM_STYLE_PLAIN;
    printf ("%s%s%s%s (%.3f s)\n", g_strcmp0 (op, "recover") == 0 ? "recovered: " : "", vfm_term_on (&cli->out, style),
            json_object_get_string_member (o, "message"), vfm_term_off (&cli->out, style),
            vfm_json_get_double_or (o, "seconds", 0));
  }
  if (show_steps && steps != NULL)
    for (guint i = 0; i < json_array_get_length (steps); i++) {
      g_autofree char *n = g_strdup_printf ("%u.", i + 1);
      vfm_term_print_item (&cli->out, stdout, 2, n, VFM_STYLE_PLAIN, json_array_get_string_element (steps, i));
    }
  for (guint i = 0; warnings != NULL && i < json_array_get_length (warnings); i++) {
    g_autofree char *w = g_strdup_printf ("%s%s%s", bdf, *bdf ? ": " : "", json_array_get_string_element (warnings, i));
    vfm_cli_warn (cli, w);
  }
  if (group != NULL && JSON_NODE_HOLDS_OBJECT (group) && g_strcmp0 (op, "bind") == 0 &&
      !vfm_json_get_bool_or (json_node_get_object (group), "viable", TRUE)) {
    JsonObject *g = json_node_get_object (group);
    JsonArray *blockers = json_object_get_array_member (g, "blockers");
    g_autoptr (GString) why = g_string_new (NULL);
    for (guint i = 0; blockers != NULL && i < json_array_get_length (blockers); i++)
      g_string_append_printf (why, "%s%s", i ? "; " : "", json_array_get_string_element (blockers, i));
    g_autofree char *w = g_strdup_printf ("IOMMU group %" G_GINT64_FORMAT " of %s is not viable: %s "
                                          "(bind the whole group with --group)",
                                          vfm_json_get_int_or (g, "group", -1), bdf, why->str);
    vfm_cli_warn (cli, w);
  }
}

/* One report for the whole command, from {"results": […]} (and the first
 * failure's error): the JSON as is, or a line per device; exit 1 on any
 * failure. */
static gboolean
report (VfmCli *cli, JsonObject *reply, const char *error_name, const char *error_message, gboolean show_steps)
{
  JsonArray *results = json_object_get_array_member (reply, "results");
  for (guint i = 0; !cli->json && results != NULL && i < json_array_get_length (results); i++)
    print_result (cli, json_array_get_object_element (results, i), show_steps);
  if (cli->json) {
    g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
    if (error_name != NULL) {
      JsonObject *outer = json_object_new ();
      JsonObject *err = json_object_new ();
      json_object_set_string_member (err, "name", error_name);
      json_object_set_string_member (err, "message", error_message);
      json_object_set_array_member (err, "results", json_array_ref (results));
      json_object_set_object_member (outer, "error", err);
      json_node_take_object (root, outer);
    } else {
      json_node_set_object (root, reply);
    }
    vfm_cli_print_json (cli, root);
  }
  if (error_name != NULL)
    cli->exit_code = 1;
  return TRUE;
}

/* Results of this process's own work, in the daemon's reply shape. */
static gboolean
report_local (VfmCli *cli, GPtrArray *results, gboolean show_steps)
{
  g_autoptr (JsonObject) reply = json_object_new ();
  JsonArray *list = json_array_new ();
  const VfmBindResult *first = NULL;
  for (guint i = 0; i < results->len; i++) {
    const VfmBindResult *r = g_ptr_array_index (results, i);
    if (r->error != NULL && first == NULL)
      first = r;
    json_array_add_element (list, vfm_bind_result_to_json (r));
  }
  json_object_set_array_member (reply, "results", list);
  return report (cli, reply, first ? vfm_error_name (first->error) : NULL, first ? first->error->message : NULL,
                 show_steps);
}

/* Through vfmigd when it answers (its authorization lets members of group
 * vfmig bind without root); FALSE when it does not run. */
static gboolean
via_daemon (VfmCli *cli, const char *method, JsonObject *params, gboolean show_steps, gboolean *handled, GError **error)
{
  g_autoptr (VfmVarlinkClient) client = vfm_cli_daemon (cli);
  g_autoptr (JsonObject) reply = NULL;
  g_autoptr (GError) local = NULL;

  *handled = FALSE;
  if (client == NULL)
    return TRUE;
  *handled = TRUE;
  reply = vfm_varlink_client_call (client, method, params, &local);
  if (reply != NULL)
    return report (cli, reply, NULL, NULL, show_steps);
  {
    JsonObject *ep = vfm_varlink_client_last_error_parameters (client);
    if (ep != NULL && json_object_has_member (ep, "results"))
      return report (cli, ep, vfm_error_name (local), local->message, show_steps);
  }
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

static JsonArray *
strv_to_array (int argc, char **argv)
{
  JsonArray *a = json_array_new ();
  for (int i = 0; i < argc; i++)
    json_array_add_string_element (a, argv[i]);
  return a;
}

/* "binding 12/256: 0000:10:00.2" on a terminal's stderr, redrawn in place,
 * for binds of more than a few devices (each can take a second on real
 * hardware); erased before the results. */
static void
bind_progress (guint done, guint total, const char *bdf, gpointer data)
{
  if (total < 4)
    return;
  fprintf (stderr, "\r\033[Kbinding %u/%u: %s", done + 1, total, bdf);
  fflush (stderr);
}

gboolean
vfm_cmd_bind (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean all = FALSE, group = FALSE, dry = FALSE, force = FALSE, handled;
  g_autofree char *driver = NULL;
  GOptionEntry entries[] = {
    { "all", 'a', 0, G_OPTION_ARG_NONE, &all, "Every device a policy manages", NULL },
    { "driver", 'd', 0, G_OPTION_ARG_STRING, &driver, "Bind to this driver instead of the selected one", "NAME" },
    { "group", 'g', 0, G_OPTION_ARG_NONE, &group, "Bind every endpoint of the devices' IOMMU groups", NULL },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the exact steps, change nothing", NULL },
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, "Bind even a device the host uses", NULL },
    { NULL }
  };
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (GPtrArray) bdfs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) results = NULL;
  VfmBatchOptions o = { 0 };
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "bind", "BDF…|--all", entries, &argc, &argv, error))
    return FALSE;
  if ((argc < 2) == !all) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "bind: give BDFs or --all (not both)");
    return FALSE;
  }
  if (argc > 1)
    json_object_set_array_member (params, "bdfs", strv_to_array (argc - 1, argv + 1));
  if (all)
    json_object_set_boolean_member (params, "all", TRUE);
  if (driver)
    json_object_set_string_member (params, "driver", driver);
  if (group)
    json_object_set_boolean_member (params, "group", TRUE);
  if (dry)
    json_object_set_boolean_member (params, "dry_run", TRUE);
  if (force)
    json_object_set_boolean_member (params, "force", TRUE);
  if (!via_daemon (cli, "io.vfmig.Bind", params, dry || cli->verbose, &handled, error))
    return FALSE;
  if (handled)
    return TRUE;

  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  for (int i = 1; i < argc; i++)
    g_ptr_array_add (bdfs, g_strdup (argv[i]));
  o.all = all;
  o.group = group;
  o.driver = driver;
  o.flags = (dry ? VFM_BIND_DRY_RUN : 0) | (force ? VFM_BIND_FORCE : 0);
  if (!dry && !cli->json && isatty (STDERR_FILENO))
    o.progress = bind_progress;
  results = vfm_batch_bind (host, bdfs, &o, error);
  if (o.progress != NULL) {
    fprintf (stderr, "\r\033[K");
    fflush (stderr);
  }
  if (results == NULL)
    return FALSE;
  return report_local (cli, results, dry || cli->verbose);
}

gboolean
vfm_cmd_unbind (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean dry = FALSE, handled;
  GOptionEntry entries[] = {
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the exact steps, change nothing", NULL },
    { NULL }
  };
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (GPtrArray) bdfs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) results = NULL;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "unbind", "BDF…", entries, &argc, &argv, error))
    return FALSE;
  if (argc < 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "unbind: expected one or more BDFs");
    return FALSE;
  }
  json_object_set_array_member (params, "bdfs", strv_to_array (argc - 1, argv + 1));
  if (dry)
    json_object_set_boolean_member (params, "dry_run", TRUE);
  if (!via_daemon (cli, "io.vfmig.Unbind", params, dry || cli->verbose, &handled, error))
    return FALSE;
  if (handled)
    return TRUE;
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  for (int i = 1; i < argc; i++)
    g_ptr_array_add (bdfs, g_strdup (argv[i]));
  results = vfm_batch_unbind (host, bdfs, dry ? VFM_BIND_DRY_RUN : 0);
  return report_local (cli, results, dry || cli->verbose);
}

gboolean
vfm_cmd_restore (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean dry = FALSE, handled;
  GOptionEntry entries[] = {
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the exact steps, change nothing", NULL },
    { NULL }
  };
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) results = NULL;
  VfmHost *host;

  if (!vfm_cli_parse_options (cli, "restore", "", entries, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "restore: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if (dry)
    json_object_set_boolean_member (params, "dry_run", TRUE);
  if (!via_daemon (cli, "io.vfmig.Restore", params, dry || cli->verbose, &handled, error))
    return FALSE;
  if (handled)
    return TRUE;
  if ((host = vfm_cli_host (cli, error)) == NULL || vfm_host_db (host, error) == NULL)
    return FALSE;
  results = vfm_batch_restore (host, dry ? VFM_BIND_DRY_RUN : 0, warnings);
  for (guint i = 0; i < warnings->len; i++)
    vfm_cli_warn (cli, g_ptr_array_index (warnings, i));
  if (results->len == 0 && !cli->json)
    printf ("nothing to restore: vfmig owns no device\n");
  return report_local (cli, results, dry || cli->verbose);
}
