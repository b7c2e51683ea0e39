/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-qemu-gates.h"
#include "vfm-datafile.h"
#include "vfm-error.h"
#include "vfm-strings.h"


/* The gates the rules read: a file without one of them is refused whole,
 * rather than a rule silently passing. */
static const char *const required[] = {
  "qemu-vfio-migration", "libvirt-asks-qemu", "multiple-devices-p2p", "viommu-without-device-dirty-tracking",
  "postcopy-refused", "downtime-limit-default", NULL,
};

static void
gate_free (gpointer data)
{
  VfmQemuGate *g = data;
  g_free (g->name);
  g_free (g->component);
  g_free (g->source);
  g_free (g);
}

void
vfm_qemu_gates_free (VfmQemuGates *g)
{
  if (g == NULL)
    return;
  g_ptr_array_unref (g->gates);
  g_free (g);
}

VfmQemuGates *
vfm_qemu_gates_load (GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr (GKeyFile) kf = vfm_datafile_load_keyfile ("qemu", "vfio-gates.conf", &path, error);
  g_auto (GStrv) groups = NULL;
  g_autoptr (VfmQemuGates) out = NULL;

  if (kf == NULL)
    return NULL;
  out = g_new0 (VfmQemuGates, 1);
  out->gates = g_ptr_array_new_with_free_func (gate_free);
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++) {
    VfmQemuGate *g = g_new0 (VfmQemuGate, 1);
    g_autofree char *since = g_key_file_get_string (kf, groups[i], "Since", NULL);
    g_autofree char *value = g_key_file_get_string (kf, groups[i], "Value", NULL);
    char *end = NULL;
    g_ptr_array_add (out->gates, g);
    g->name = g_strdup (groups[i]);
    g->component = g_key_file_get_string (kf, groups[i], "Component", NULL);
    g->source = g_key_file_get_string (kf, groups[i], "Source", NULL);
    if (value != NULL)
      g->value = g_ascii_strtoull (value, &end, 10);
    if ((g_strcmp0 (g->component, "qemu") != 0 && g_strcmp0 (g->component, "libvirt") != 0) || g->source == NULL ||
        (since == NULL) == (value == NULL) || (since != NULL && !vfm_version_parse (since, &g->since)) ||
        (value != NULL && (end == value || *end != '\0'))) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                   "%s: [%s] needs Component (qemu or libvirt), Source, and either Since X.Y[.Z] or a numeric Value",
                   path, groups[i]);
      return NULL;
    }
  }
  for (guint i = 0; required[i] != NULL; i++)
    if (vfm_qemu_gate (out, required[i]) == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: no [%s] (check needs it)", path, required[i]);
      return NULL;
    }
  return g_steal_pointer (&out);
}

const VfmQemuGate *
vfm_qemu_gate (const VfmQemuGates *g, const char *name)
{
  for (guint i = 0; g != NULL && i < g->gates->len; i++) {
    const VfmQemuGate *gate = g_ptr_array_index (g->gates, i);
    if (g_strcmp0 (gate->name, name) == 0)
      return gate;
  }
  return NULL;
}

char *
vfm_qemu_gate_since (const VfmQemuGate *gate)
{
  return g_strdup_printf ("%lu.%lu.%lu", gate->since / 1000000, (gate->since / 1000) % 1000, gate->since % 1000);
}
