/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-policy.h"
#include "vfm-error.h"

#include <string.h>

static void
policy_free (gpointer data)
{
  VfmPolicy *p = data;
  g_free (p->id);
  g_free (p->path);
  vfm_match_free (p->match);
  g_free (p->prefer);
  g_strfreev (p->deny);
  g_free (p);
}

VfmPolicySet *
vfm_policy_set_new (void)
{
  VfmPolicySet *s = g_new0 (VfmPolicySet, 1);
  s->policies = g_ptr_array_new_with_free_func (policy_free);
  s->errors = g_ptr_array_new_with_free_func (g_free);
  return s;
}

void
vfm_policy_set_free (VfmPolicySet *s)
{
  if (s == NULL)
    return;
  g_ptr_array_unref (s->policies);
  g_ptr_array_unref (s->errors);
  g_free (s);
}

/* All or nothing per file: a file that does not parse adds no policy, so a
 * half-read policy never manages devices its author did not mean. */
gboolean
vfm_policy_set_parse (VfmPolicySet *set, const char *path, const char *text, GError **error)
{
  g_autoptr (VfmKeyfile) kf = vfm_keyfile_parse (path, text, error);
  g_autoptr (GPtrArray) parsed = g_ptr_array_new_with_free_func (policy_free);
  g_autofree char *base = g_path_get_basename (path);

  if (kf == NULL)
    return FALSE;
  if (g_str_has_suffix (base, ".conf"))
    base[strlen (base) - 5] = '\0';

  for (guint i = 0; i < kf->groups->len; i++) {
    VfmKeyfileGroup *g = g_ptr_array_index (kf->groups, i);
    VfmPolicy *p;
    const char *v;

    if (!g_str_has_prefix (g->name, "Policy ") || strlen (g->name) <= strlen ("Policy ")) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                   "%s:%u: unknown group [%s] (expected [Policy NAME])", path, g->line, g->name);
      return FALSE;
    }
    p = g_new0 (VfmPolicy, 1);
    g_ptr_array_add (parsed, p);
    p->id = g_strdup_printf ("%s/%s", base, g->name + strlen ("Policy "));
    p->path = g_strdup (path);
    p->line = g->line;
    p->match = vfm_match_from_group (g, path, error);
    if (p->match == NULL)
      return FALSE;
    if (!vfm_keyfile_group_get_fact (g, "Manage", path, &p->manage, error) ||
        !vfm_keyfile_group_get_fact (g, "AutoBind", path, &p->auto_bind, error))
      return FALSE;
    if ((v = vfm_keyfile_group_get (g, "Prefer")) != NULL) {
      if (*v == '\0' || strchr (v, '/') != NULL) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s:%u: Prefer: \"%s\" is not a driver name",
                     path, vfm_keyfile_group_lookup (g, "Prefer")->line, v);
        return FALSE;
      }
      p->prefer = g_strdup (v);
    }
    if ((v = vfm_keyfile_group_get (g, "Deny")) != NULL)
      p->deny = vfm_keyfile_split_list (v);
  }
  if (!vfm_keyfile_check_unused (kf, error))
    return FALSE;
  for (guint i = 0; i < parsed->len; i++)
    g_ptr_array_add (set->policies, g_steal_pointer (&g_ptr_array_index (parsed, i)));
  g_ptr_array_set_free_func (parsed, NULL);
  return TRUE;
}

void
vfm_policy_set_load_dirs (VfmPolicySet *set, const char * const *dirs)
{
  g_autoptr (GPtrArray) files = vfm_conf_dir_list (dirs);
  for (guint i = 0; i < files->len; i++) {
    const char *path = g_ptr_array_index (files, i);
    g_autofree char *text = NULL;
    g_autoptr (GError) error = NULL;
    if (!g_file_get_contents (path, &text, NULL, &error) ||
        !vfm_policy_set_parse (set, path, text, &error))
      g_ptr_array_add (set->errors, g_strdup (error->message));
  }
}

void
vfm_policy_evaluate (VfmPolicySet *set, const VfmDeviceIds *ids, VfmPolicyOutcome *out)
{
  memset (out, 0, sizeof *out);
  out->deny = g_ptr_array_new ();
  out->deny_by = g_ptr_array_new ();
  if (set == NULL)
    return;
  for (guint i = 0; i < set->policies->len; i++) {
    const VfmPolicy *p = g_ptr_array_index (set->policies, i);
    if (!vfm_match_test (p->match, ids))
      continue;
    if (p->manage != VFM_FACT_UNKNOWN) {
      out->manage = p->manage == VFM_FACT_YES;
      out->manage_by = p;
    }
    if (p->auto_bind != VFM_FACT_UNKNOWN)
      out->auto_bind = p->auto_bind == VFM_FACT_YES;
    if (p->prefer != NULL) {
      out->prefer = p->prefer;
      out->prefer_by = p;
    }
    for (guint j = 0; p->deny && p->deny[j]; j++) {
      g_ptr_array_add (out->deny, p->deny[j]);
      g_ptr_array_add (out->deny_by, (gpointer) p);
    }
  }
}

void
vfm_policy_outcome_clear (VfmPolicyOutcome *out)
{
  g_clear_pointer (&out->deny, g_ptr_array_unref);
  g_clear_pointer (&out->deny_by, g_ptr_array_unref);
}
