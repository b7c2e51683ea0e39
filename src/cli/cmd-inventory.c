/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* inventory: what a scheduler places on - each device's identity, state and
 * migration traits (io.vfmig.Inventory: vfmigd when it runs, else in
 * process; the same reply either way). */
#include "vfm-cli.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <stdio.h>

/* The best strategy the device allows on its own (they come best first);
 * the whole list is in --json. */
static const char *
best_strategy (JsonObject *d, const char *none)
{
  JsonObject *m = json_object_get_object_member (d, "migration");
  JsonArray *a = m && json_object_has_member (m, "strategies") ? json_object_get_array_member (m, "strategies") : NULL;
  return a != NULL && json_array_get_length (a) > 0 ? json_array_get_string_element (a, 0) : none;
}

/* "3b:00.0 #2": the PF and the VF's index, or "-" */
static char *
role (JsonObject *d)
{
  const char *pf = vfm_json_get_str_or (d, "physfn", NULL);
  if (pf == NULL)
    return g_strdup ("-");
  /* the PCI domain is nearly always 0000: left out to fit 80 columns */
  return g_strdup_printf ("%s #%" G_GINT64_FORMAT, g_str_has_prefix (pf, "0000:") ? pf + 5 : pf,
                          vfm_json_get_int_or (d, "vf_index", -1));
}

gboolean
vfm_cmd_inventory (VfmCli *cli, int argc, char **argv, GError **error)
{
  g_autoptr (JsonObject) params = json_object_new ();
  g_autoptr (JsonObject) reply = NULL;
  g_autoptr (VfmTable) t = vfm_table_new (6, "DEVICE|IDS|VF OF|DRIVER|STATE|MIGRATION");
  JsonArray *devices, *mdevs;

  if (!vfm_cli_parse_options (cli, "inventory", "", NULL, &argc, &argv, error))
    return FALSE;
  if (argc > 1) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_USAGE, "inventory: unexpected argument \"%s\"", argv[1]);
    return FALSE;
  }
  if ((reply = vfm_backend_call (vfm_cli_backend (cli), "io.vfmig.Inventory", params, NULL, error)) == NULL)
    return FALSE;
  if (cli->json) {
    g_autoptr (JsonNode) root = json_node_init_object (json_node_alloc (), reply);
    vfm_cli_print_json (cli, root);
    return TRUE;
  }
  devices = json_object_get_array_member (reply, "devices");
  mdevs = json_object_get_array_member (reply, "mdevs");
  vfm_table_set_wrap (t, TRUE);
  for (guint i = 0; i < json_array_get_length (devices); i++) {
    JsonObject *d = json_array_get_object_element (devices, i);
    g_autofree char *ids = g_strdup_printf ("%s:%s", vfm_json_get_str_or (d, "vendor", "?"),
                                            vfm_json_get_str_or (d, "device", "?"));
    g_autofree char *pf = role (d);
    const char *state = vfm_json_get_str_or (d, "state", "?");
    vfm_table_add_row (t, vfm_json_get_str_or (d, "bdf", "?"), ids, pf, vfm_json_get_str_or (d, "driver", "-"), state,
                       best_strategy (d, "cold only"), NULL);
    vfm_table_style (t, 4, g_strcmp0 (state, "free") == 0 ? VFM_STYLE_GOOD : VFM_STYLE_PLAIN);
  }
  for (guint i = 0; i < json_array_get_length (mdevs); i++) {
    JsonObject *d = json_array_get_object_element (mdevs, i);
    g_autofree char *on = g_strdup_printf ("on %s", vfm_json_get_str_or (d, "parent", "?"));
    const char *state = vfm_json_get_str_or (d, "state", "?");
    vfm_table_add_row (t, vfm_json_get_str_or (d, "uuid", "?"), vfm_json_get_str_or (d, "type", "?"), on, "mdev", state,
                       best_strategy (d, "none"), NULL);
    vfm_table_style (t, 4, g_strcmp0 (state, "free") == 0 ? VFM_STYLE_GOOD : VFM_STYLE_PLAIN);
  }
  if (vfm_table_rows (t) == 0)
    printf ("no passthrough devices\n");
  else
    vfm_table_print (t, &cli->out);
  if (vfm_table_rows (t) > 0)
    printf ("(MIGRATION: the best strategy the device allows on its own; every strategy, the traits and resource\n"
            " classes for a scheduler: --json)\n");
  return TRUE;
}
