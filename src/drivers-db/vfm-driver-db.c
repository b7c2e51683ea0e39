/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-driver-db.h"
#include "vfm-alias.h"
#include "vfm-error.h"

#include <string.h>

const char *
vfm_driver_kind_to_string (VfmDriverKind kind)
{
  switch (kind) {
  case VFM_KIND_GENERIC: return "generic";
  case VFM_KIND_IGD: return "igd";
  case VFM_KIND_VENDOR: return "vendor";
  }
  return "generic";
}

void
vfm_driver_entry_free (VfmDriverEntry *e)
{
  if (e == NULL)
    return;
  g_free (e->id);
  g_free (e->path);
  g_free (e->driver);
  g_free (e->module);
  g_free (e->summary);
  g_free (e->notes);
  g_ptr_array_unref (e->matches);
  g_free (e->dirty_tracking);
  g_free (e->migration_since);
  g_free (e->migration_notes);
  g_strfreev (e->pf_drivers);
  g_free (e->min_kernel);
  g_free (e->min_qemu);
  g_free (e->min_libvirt);
  g_free (e->firmware);
  g_free (e->prereq_notes);
  g_strfreev (e->qemu_properties);
  g_free (e->qemu_machine);
  g_free (e->qemu_guest_address);
  g_free (e->qemu_notes);
  g_free (e);
}

/* A true/false key that may be absent (unknown). */
gboolean
vfm_keyfile_group_get_fact (VfmKeyfileGroup *g, const char *key, const char *path, VfmFact *out, GError **error)
{
  gboolean v;
  if (vfm_keyfile_group_lookup (g, key) == NULL) {
    *out = VFM_FACT_UNKNOWN;
    return TRUE;
  }
  if (!vfm_keyfile_group_get_bool (g, key, FALSE, path, &v, error))
    return FALSE;
  *out = v ? VFM_FACT_YES : VFM_FACT_NO;
  return TRUE;
}

static char *
dup_value (VfmKeyfileGroup *g, const char *key)
{
  return g_strdup (vfm_keyfile_group_get (g, key));
}

static gboolean
parse_driver_group (VfmDriverEntry *e, VfmKeyfileGroup *g, GError **error)
{
  const char *kind;

  e->driver = dup_value (g, "Name");
  if (vfm_keyfile_group_lookup (g, "Module") != NULL)
    e->module = vfm_module_normalize (vfm_keyfile_group_get (g, "Module"));
  e->summary = dup_value (g, "Summary");
  e->notes = dup_value (g, "Notes");
  kind = vfm_keyfile_group_get (g, "Kind");

  if (e->driver == NULL || *e->driver == '\0' || strchr (e->driver, '/') != NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                 "%s:%u: [Driver] needs Name= (the driver's name in sysfs, no '/')", e->path, g->line);
    return FALSE;
  }
  if (e->module == NULL || *e->module == '\0') {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                 "%s:%u: [Driver] needs Module= (the kernel module that registers %s)",
                 e->path, g->line, e->driver);
    return FALSE;
  }
  if (g_strcmp0 (kind, "generic") == 0)
    e->kind = VFM_KIND_GENERIC;
  else if (g_strcmp0 (kind, "igd") == 0)
    e->kind = VFM_KIND_IGD;
  else if (g_strcmp0 (kind, "vendor") == 0)
    e->kind = VFM_KIND_VENDOR;
  else {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                 "%s:%u: Kind must be generic, igd or vendor, not \"%s\"",
                 e->path, kind ? vfm_keyfile_group_lookup (g, "Kind")->line : g->line,
                 kind ? kind : "(missing)");
    return FALSE;
  }
  return TRUE;
}

static gboolean
parse_migration_group (VfmDriverEntry *e, VfmKeyfileGroup *g, GError **error)
{
  const char *dt;
  if (!vfm_keyfile_group_get_fact (g, "Supported", e->path, &e->migratable, error) ||
      !vfm_keyfile_group_get_fact (g, "StopCopy", e->path, &e->stop_copy, error) ||
      !vfm_keyfile_group_get_fact (g, "PreCopy", e->path, &e->pre_copy, error) ||
      !vfm_keyfile_group_get_fact (g, "P2P", e->path, &e->p2p, error) ||
      !vfm_keyfile_group_get_fact (g, "SameFirmware", e->path, &e->same_firmware, error))
    return FALSE;
  dt = vfm_keyfile_group_get (g, "DirtyTracking");
  if (dt != NULL && !g_strv_contains ((const char *[]){ "device", "iommu", "none", NULL }, dt)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                 "%s:%u: DirtyTracking must be device, iommu or none, not \"%s\"",
                 e->path, vfm_keyfile_group_lookup (g, "DirtyTracking")->line, dt);
    return FALSE;
  }
  e->dirty_tracking = g_strdup (dt);
  e->migration_since = dup_value (g, "SinceKernel");
  e->migration_notes = dup_value (g, "Notes");
  return TRUE;
}

static gboolean
parse_prereq_group (VfmDriverEntry *e, VfmKeyfileGroup *g, GError **error)
{
  const char *v = vfm_keyfile_group_get (g, "PfDriver");
  if (v != NULL)
    e->pf_drivers = vfm_keyfile_split_list (v);
  if (!vfm_keyfile_group_get_bool (g, "DevlinkMigratable", FALSE, e->path,
                                   &e->devlink_migratable, error))
    return FALSE;
  e->min_kernel = dup_value (g, "MinKernel");
  e->min_qemu = dup_value (g, "MinQemu");
  e->min_libvirt = dup_value (g, "MinLibvirt");
  e->firmware = dup_value (g, "Firmware");
  e->prereq_notes = dup_value (g, "Notes");
  return TRUE;
}

static gboolean
parse_qemu_group (VfmDriverEntry *e, VfmKeyfileGroup *g, GError **error)
{
  const char *v = vfm_keyfile_group_get (g, "DeviceProperties");
  if (v != NULL) {
    e->qemu_properties = vfm_keyfile_split_list (v);
    for (guint i = 0; e->qemu_properties[i]; i++)
      if (strchr (e->qemu_properties[i], '=') == NULL) {
        g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                     "%s:%u: DeviceProperties: \"%s\" is not name=value",
                     e->path, vfm_keyfile_group_lookup (g, "DeviceProperties")->line,
                     e->qemu_properties[i]);
        return FALSE;
      }
  }
  e->qemu_machine = dup_value (g, "Machine");
  e->qemu_guest_address = dup_value (g, "GuestAddress");
  e->qemu_notes = dup_value (g, "Notes");
  return vfm_keyfile_group_get_bool (g, "RomRequired", FALSE, e->path, &e->qemu_rom_required, error);
}

VfmDriverEntry *
vfm_driver_entry_parse (const char *path, const char *text, GError **error)
{
  g_autoptr (VfmKeyfile) kf = vfm_keyfile_parse (path, text, error);
  g_autoptr (VfmDriverEntry) e = NULL;
  g_autofree char *base = NULL;
  gboolean have_driver = FALSE;
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  if (kf == NULL)
    return NULL;

  e = g_new0 (VfmDriverEntry, 1);
  base = g_path_get_basename (path);
  e->id = g_str_has_suffix (base, ".conf") ? g_strndup (base, strlen (base) - 5) : g_strdup (base);
  e->path = g_strdup (path);
  e->matches = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_match_free);
  e->migratable = e->stop_copy = e->pre_copy = e->p2p = e->same_firmware = VFM_FACT_UNKNOWN;

  for (guint i = 0; i < kf->groups->len; i++) {
    VfmKeyfileGroup *g = g_ptr_array_index (kf->groups, i);
    gboolean ok;

    /* every group but [Match] once: a second one would silently win */
    if (g_strcmp0 (g->name, "Match") != 0 && !g_hash_table_add (seen, g->name)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s:%u: a second [%s] group (one per entry)", path, g->line,
                   g->name);
      return NULL;
    }
    if (g_strcmp0 (g->name, "Driver") == 0) {
      have_driver = TRUE;
      ok = parse_driver_group (e, g, error);
    } else if (g_strcmp0 (g->name, "Match") == 0) {
      VfmMatch *m = vfm_match_from_group (g, path, error);
      ok = m != NULL;
      if (ok)
        g_ptr_array_add (e->matches, m);
    } else if (g_strcmp0 (g->name, "Migration") == 0) {
      ok = parse_migration_group (e, g, error);
    } else if (g_strcmp0 (g->name, "Prerequisites") == 0) {
      ok = parse_prereq_group (e, g, error);
    } else if (g_strcmp0 (g->name, "Qemu") == 0) {
      ok = parse_qemu_group (e, g, error);
    } else {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                   "%s:%u: unknown group [%s] (known: Driver, Match, Migration, Prerequisites, Qemu)",
                   path, g->line, g->name);
      return NULL;
    }
    if (!ok)
      return NULL;
  }
  if (!have_driver) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s:1: no [Driver] group", path);
    return NULL;
  }
  if (e->matches->len == 0 && e->kind != VFM_KIND_GENERIC) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                 "%s:1: a %s entry needs at least one [Match] group",
                 path, vfm_driver_kind_to_string (e->kind));
    return NULL;
  }
  if (!vfm_keyfile_check_unused (kf, error))
    return NULL;
  return g_steal_pointer (&e);
}

VfmDriverDb *
vfm_driver_db_new (void)
{
  VfmDriverDb *db = g_new0 (VfmDriverDb, 1);
  db->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_driver_entry_free);
  db->errors = g_ptr_array_new_with_free_func (g_free);
  return db;
}

void
vfm_driver_db_free (VfmDriverDb *db)
{
  if (db == NULL)
    return;
  g_ptr_array_unref (db->entries);
  g_ptr_array_unref (db->errors);
  g_free (db);
}

static gint
compare_basename (gconstpointer a, gconstpointer b)
{
  g_autofree char *ba = g_path_get_basename (*(const char **) a);
  g_autofree char *bb = g_path_get_basename (*(const char **) b);
  return strcmp (ba, bb);
}

GPtrArray *
vfm_conf_dir_list (const char * const *dirs)
{
  g_autoptr (GHashTable) by_name = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter it;
  gpointer value;

  for (guint i = 0; dirs != NULL && dirs[i] != NULL; i++) {
    g_autoptr (GDir) dir = g_dir_open (dirs[i], 0, NULL);
    const char *name;
    if (dir == NULL)
      continue;
    while ((name = g_dir_read_name (dir)) != NULL) {
      if (!g_str_has_suffix (name, ".conf") || name[0] == '.')
        continue;
      g_hash_table_replace (by_name, g_strdup (name), g_build_filename (dirs[i], name, NULL));
    }
  }
  g_hash_table_iter_init (&it, by_name);
  while (g_hash_table_iter_next (&it, NULL, &value))
    g_ptr_array_add (out, g_strdup (value));
  g_ptr_array_sort (out, compare_basename);
  return out;
}

void
vfm_driver_db_load_dirs (VfmDriverDb *db, const char * const *dirs)
{
  g_autoptr (GPtrArray) files = vfm_conf_dir_list (dirs);

  for (guint i = 0; i < files->len; i++) {
    const char *path = g_ptr_array_index (files, i);
    g_autofree char *text = NULL;
    g_autoptr (GError) error = NULL;
    VfmDriverEntry *e;

    if (!g_file_get_contents (path, &text, NULL, &error)) {
      g_ptr_array_add (db->errors, g_strdup_printf ("%s: %s", path, error->message));
      continue;
    }
    e = vfm_driver_entry_parse (path, text, &error);
    if (e == NULL) {
      g_ptr_array_add (db->errors, g_strdup (error->message));
      continue;
    }
    g_ptr_array_add (db->entries, e);
  }
}

VfmDriverEntry *
vfm_driver_db_lookup (VfmDriverDb *db, const char *name)
{
  for (guint i = 0; i < db->entries->len; i++) {
    VfmDriverEntry *e = g_ptr_array_index (db->entries, i);
    if (g_strcmp0 (e->id, name) == 0)
      return e;
  }
  /* then by driver name, preferring the non-profile entry (vfio-pci over its IGD profile) */
  for (guint i = 0; i < db->entries->len; i++) {
    VfmDriverEntry *e = g_ptr_array_index (db->entries, i);
    if (g_strcmp0 (e->driver, name) == 0 && e->kind != VFM_KIND_IGD)
      return e;
  }
  /* then as a module name, or with '-' and '_' alike ("vfio_pci" for the
   * entry named vfio-pci) */
  {
    g_autofree char *norm = vfm_module_normalize (name);
    for (guint i = 0; i < db->entries->len; i++) {
      VfmDriverEntry *e = g_ptr_array_index (db->entries, i);
      g_autofree char *drv = vfm_module_normalize (e->driver);
      if (e->kind != VFM_KIND_IGD && (g_strcmp0 (e->module, norm) == 0 || g_strcmp0 (drv, norm) == 0))
        return e;
    }
  }
  return NULL;
}

VfmDriverEntry *
vfm_driver_db_by_module (VfmDriverDb *db, const char *module, VfmDriverKind kind)
{
  for (guint i = 0; i < db->entries->len; i++) {
    VfmDriverEntry *e = g_ptr_array_index (db->entries, i);
    if (g_strcmp0 (e->module, module) == 0 && e->kind == kind)
      return e;
  }
  return NULL;
}

gboolean
vfm_driver_entry_matches (const VfmDriverEntry *e, const VfmDeviceIds *ids, guint *specificity)
{
  gboolean hit = FALSE;
  guint best = 0;

  if (e->matches->len == 0) {
    if (specificity)
      *specificity = 0;
    return TRUE;
  }
  for (guint i = 0; i < e->matches->len; i++) {
    const VfmMatch *m = g_ptr_array_index (e->matches, i);
    if (vfm_match_test (m, ids)) {
      hit = TRUE;
      best = MAX (best, vfm_match_specificity (m));
    }
  }
  if (specificity)
    *specificity = best;
  return hit;
}
