/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bind, unbind, restore: io.vfmig.Bind, Unbind and Restore through the
 * command's backend (vfmigd or in-process), and each device's result
 * (steps with --dry-run or -v). */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <stdio.h>

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

/* The call through the command's backend (vfmigd or in-process: the same
 * reply either way), reported. */
static gboolean
call (VfmCli *cli, const char *method, JsonObject *params, gboolean show_steps, GError **error)
{
  g_autoptr (JsonObject) reply = NULL, error_parameters = NULL;
  g_autoptr (GError) local = NULL;

  reply = vfm_backend_call (vfm_cli_backend (cli), method, params, &error_parameters, &local);
  vfm_cli_progress_end (cli);
  if (reply == NULL && error_parameters != NULL && json_object_has_member (error_parameters, "results")) {
    reply = g_steal_pointer (&error_parameters);
  } else if (reply == NULL) {
    g_propagate_error (error, g_steal_pointer (&local));
    return FALSE;
  }
  /* journal records restore could not act on */
  if (!cli->json && json_object_has_member (reply, "warnings")) {
    JsonArray *w = json_object_get_array_member (reply, "warnings");
    for (guint i = 0; w != NULL && i < json_array_get_length (w); i++)
      vfm_cli_warn (cli, json_array_get_string_element (w, i));
  }
  if (g_str_equal (method, "io.vfmig.Restore") && !cli->json && local == NULL &&
      json_array_get_length (json_object_get_array_member (reply, "results")) == 0)
    printf ("nothing to restore: vfmig owns no device\n");
  return report (cli, reply, local ? vfm_error_name (local) : NULL, local ? local->message : NULL, show_steps);
}

static JsonArray *
strv_to_array (int argc, char **argv)
{
  JsonArray *a = json_array_new ();
  for (int i = 0; i < argc; i++)
    json_array_add_string_element (a, argv[i]);
  return a;
}

gboolean
vfm_cmd_bind (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean all = FALSE, group = FALSE, dry = FALSE, force = FALSE;
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
  return call (cli, "io.vfmig.Bind", params, dry || cli->verbose, error);
}

gboolean
vfm_cmd_unbind (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean dry = FALSE;
  GOptionEntry entries[] = {
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the exact steps, change nothing", NULL },
    { NULL }
  };
  g_autoptr (JsonObject) params = json_object_new ();

  if (!vfm_cli_parse_options (cli, "unbind", "BDF…", entries, &argc, &argv, error))
    return FALSE;
  if (argc < 2) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "unbind: expected one or more BDFs");
    return FALSE;
  }
  json_object_set_array_member (params, "bdfs", strv_to_array (argc - 1, argv + 1));
  if (dry)
    json_object_set_boolean_member (params, "dry_run", TRUE);
  return call (cli, "io.vfmig.Unbind", params, dry || cli->verbose, error);
}

gboolean
vfm_cmd_restore (VfmCli *cli, int argc, char **argv, GError **error)
{
  gboolean dry = FALSE;
  GOptionEntry entries[] = {
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry, "Print the exact steps, change nothing", NULL },
    { NULL }
  };
  g_autoptr (JsonObject) params = json_object_new ();

  if (!vfm_cli_parse_options (cli, "restore", "", entries, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "restore: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if (dry)
    json_object_set_boolean_member (params, "dry_run", TRUE);
  return call (cli, "io.vfmig.Restore", params, dry || cli->verbose, error);
}
