/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-qemu-props.h"
#include "vfm-datafile.h"
#include "vfm-error.h"
#include "vfm-strings.h"

void
vfm_qemu_prop_free (VfmQemuProp *p)
{
  if (p == NULL)
    return;
  g_free (p->name);
  g_free (p->type);
  g_free (p->value);
  g_free (p->when);
  g_free (p->source);
  g_free (p);
}


GPtrArray *
vfm_qemu_props_load (GError **error)
{
  g_autofree char *path = NULL;
  g_autoptr (GKeyFile) kf = vfm_datafile_load_keyfile ("qemu", "vfio-migration.conf", &path, error);
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_qemu_prop_free);
  g_auto (GStrv) groups = NULL;

  if (kf == NULL)
    return NULL;
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++) {
    VfmQemuProp *p = g_new0 (VfmQemuProp, 1);
    g_autofree char *since = g_key_file_get_string (kf, groups[i], "SinceQemu", NULL);
    g_ptr_array_add (out, p);
    p->name = g_strdup (groups[i]);
    p->type = g_key_file_get_string (kf, groups[i], "Type", NULL);
    p->value = g_key_file_get_string (kf, groups[i], "Value", NULL);
    p->when = g_key_file_get_string (kf, groups[i], "When", NULL);
    p->source = g_key_file_get_string (kf, groups[i], "Source", NULL);
    if (p->type == NULL || p->value == NULL || !vfm_version_parse (since, &p->since_qemu) ||
        (g_strcmp0 (p->type, "string") != 0 && g_strcmp0 (p->type, "bool") != 0)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: [%s] needs Type (string or bool), Value and SinceQemu X.Y",
                   path, groups[i]);
      return NULL;
    }
  }
  return g_steal_pointer (&out);
}

GPtrArray *
vfm_qemu_props_needed (GPtrArray *props, gboolean dirty_tracking, gulong qemu)
{
  GPtrArray *out = g_ptr_array_new ();
  for (guint i = 0; props != NULL && i < props->len; i++) {
    VfmQemuProp *p = g_ptr_array_index (props, i);
    if (g_strcmp0 (p->when, "device-dirty-tracking-none") == 0 && dirty_tracking)
      continue;
    if (qemu != 0 && qemu < p->since_qemu)
      continue; /* that QEMU has no such property (and needs none) */
    g_ptr_array_add (out, p);
  }
  return out;
}
