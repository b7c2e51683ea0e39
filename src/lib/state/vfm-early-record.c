/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-early-record.h"
#include "vfm-error.h"
#include "vfm-json.h"

#include <string.h>

void
vfm_early_device_free (VfmEarlyDevice *d)
{
  if (d == NULL)
    return;
  g_free (d->bdf);
  g_free (d->pci_path);
  g_free (d->vendor);
  g_free (d->device);
  g_free (d->driver);
  g_free (d->module);
  g_free (d->host_driver);
  g_free (d->policy);
  g_free (d->result);
  g_free (d->held_by);
  g_free (d);
}

void
vfm_early_boot_free (VfmEarlyBoot *eb)
{
  if (eb == NULL)
    return;
  g_free (eb->plan);
  g_ptr_array_unref (eb->devices);
  g_ptr_array_unref (eb->problems);
  g_free (eb);
}

/* A string member, or NULL when absent, null or empty (the shell step
 * writes "" for what it does not know). */
static char *
member (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);
  const char *s;
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  s = json_node_get_string (n);
  return s != NULL && *s != '\0' ? g_strdup (s) : NULL;
}

VfmEarlyBoot *
vfm_early_boot_read (VfmSysroot *sr, GError **error)
{
  g_autofree char *path = vfm_sysroot_early_boot_file (sr);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (VfmEarlyBoot) eb = NULL;

  if (!g_file_get_contents (path, &text, NULL, &local)) {
    if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return NULL;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "%s: %s", path, local->message);
    return NULL;
  }
  eb = g_new0 (VfmEarlyBoot, 1);
  eb->devices = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_early_device_free);
  eb->problems = g_ptr_array_new_with_free_func (g_free);
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonNode *root;
    JsonObject *o;
    VfmEarlyDevice *d;
    char *step;

    if (*g_strstrip (lines[i]) == '\0')
      continue;
    if (!json_parser_load_from_data (parser, lines[i], -1, NULL) || (root = json_parser_get_root (parser)) == NULL ||
        !JSON_NODE_HOLDS_OBJECT (root)) {
      g_ptr_array_add (eb->problems, g_strdup_printf ("%s:%u: not a JSON object", path, i + 1));
      continue;
    }
    o = json_node_get_object (root);
    if ((step = member (o, "step")) != NULL) {
      g_free (step);
      g_free (eb->plan);
      eb->plan = member (o, "plan");
      continue;
    }
    d = g_new0 (VfmEarlyDevice, 1);
    d->bdf = member (o, "bdf");
    d->pci_path = member (o, "pci_path");
    d->vendor = member (o, "vendor");
    d->device = member (o, "device");
    d->driver = member (o, "driver");
    d->module = member (o, "module");
    d->host_driver = member (o, "host_driver");
    d->policy = member (o, "policy");
    d->result = member (o, "result");
    d->held_by = member (o, "held_by");
    if (d->pci_path == NULL || d->driver == NULL || d->result == NULL) {
      g_ptr_array_add (eb->problems, g_strdup_printf ("%s:%u: pci_path, driver or result missing", path, i + 1));
      vfm_early_device_free (d);
      continue;
    }
    g_ptr_array_add (eb->devices, d);
  }
  return g_steal_pointer (&eb);
}

JsonNode *
vfm_early_device_to_json (const VfmEarlyDevice *d)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", d->bdf);
  vfm_json_add_str (b, "pci_path", d->pci_path);
  vfm_json_add_str (b, "vendor", d->vendor);
  vfm_json_add_str (b, "device", d->device);
  vfm_json_add_str (b, "driver", d->driver);
  vfm_json_add_str (b, "module", d->module);
  vfm_json_add_str (b, "host_driver", d->host_driver);
  vfm_json_add_str (b, "policy", d->policy);
  vfm_json_add_str (b, "result", d->result);
  vfm_json_add_str (b, "held_by", d->held_by);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
