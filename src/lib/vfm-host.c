/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-host.h"
#include "vfm-error.h"
#include "vfm-sysfs.h"

#include <string.h>
#include <sys/stat.h>

struct _VfmHost {
  VfmSysroot *sr;
  VfmDb *db;
  GPtrArray *db_warnings;     /* char *: files or lines that did not load */
  GHashTable *devices;        /* bdf -> VfmPciDevice */
  GHashTable *loaded_modules; /* module -> NULL: modules behind registered drivers */
};

VfmHost *
vfm_host_new (const char *sysroot, GError **error)
{
  VfmSysroot *sr = vfm_sysroot_new (sysroot, error);
  VfmHost *host;

  if (sr == NULL)
    return NULL;
  host = g_new0 (VfmHost, 1);
  host->sr = sr;
  host->db_warnings = g_ptr_array_new_with_free_func (g_free);
  host->devices = g_hash_table_new_full (g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify) vfm_pci_device_free);
  return host;
}

void
vfm_host_free (VfmHost *host)
{
  if (host == NULL)
    return;
  g_hash_table_unref (host->devices);
  g_clear_pointer (&host->loaded_modules, g_hash_table_unref);
  g_clear_pointer (&host->db, vfm_db_free);
  g_ptr_array_unref (host->db_warnings);
  vfm_sysroot_free (host->sr);
  g_free (host);
}

VfmSysroot *
vfm_host_sysroot (VfmHost *host)
{
  return host->sr;
}

/* Modules whose driver is registered (drivers/NAME/module), and drivers
 * without a module link by their own name: both count as installed
 * (DESIGN.md, Decisions 21). Read once per host. */
static gboolean
module_registered (const char *module, gpointer user_data)
{
  VfmHost *host = user_data;
  g_autofree char *norm = vfm_module_normalize (module);

  if (host->loaded_modules == NULL) {
    g_autofree char *path = vfm_sysroot_pci_drivers_dir (host->sr);
    g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
    const char *name;
    host->loaded_modules = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
    while (dir != NULL && (name = g_dir_read_name (dir)) != NULL) {
      g_autofree char *link = vfm_sysroot_pci_driver_attr (host->sr, name, "module");
      g_autofree char *mod = vfm_sysfs_link_name (link);
      g_hash_table_add (host->loaded_modules, vfm_module_normalize (mod ? mod : name));
    }
  }
  return g_hash_table_contains (host->loaded_modules, norm);
}

static void
load_modules_file (VfmHost *host, VfmAliasTable *table, const char *name)
{
  g_autofree char *path = vfm_sysroot_modules_file (host->sr, name);
  g_autofree char *text = NULL;
  if (g_file_get_contents (path, &text, NULL, NULL))
    vfm_alias_table_add_modules (table, text);
}

/* The kernel's module tables, parsed once per process while the files stay
 * the same (vfmigd opens a host for each udev event; modules.alias has some
 * 26 000 lines). Keyed by the three files' identity and mtime. */
static GMutex alias_cache_lock;
static char *alias_cache_key;
static VfmAliasTable *alias_cache;

static char *
modules_files_key (VfmHost *host)
{
  const char *names[] = { "modules.alias", "modules.dep", "modules.builtin" };
  GString *key = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autofree char *path = vfm_sysroot_modules_file (host->sr, names[i]);
    struct stat st;
    if (stat (path, &st) == 0)
      g_string_append_printf (key, "%s:%lu:%lu:%lld:%ld.%09ld;", path, (unsigned long) st.st_dev,
                              (unsigned long) st.st_ino, (long long) st.st_size, (long) st.st_mtim.tv_sec,
                              (long) st.st_mtim.tv_nsec);
    else
      g_string_append_printf (key, "%s:-;", path);
  }
  return g_string_free (key, FALSE);
}

static VfmAliasTable *
cached_aliases (const char *key)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&alias_cache_lock);
  return alias_cache != NULL && g_strcmp0 (alias_cache_key, key) == 0 ? vfm_alias_table_ref (alias_cache) : NULL;
}

static void
cache_aliases (const char *key, VfmAliasTable *table)
{
  g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&alias_cache_lock);
  g_clear_pointer (&alias_cache, vfm_alias_table_free);
  g_free (alias_cache_key);
  alias_cache_key = g_strdup (key);
  alias_cache = vfm_alias_table_ref (table);
}

static void
load_db (VfmHost *host)
{
  g_autofree char *alias_path = vfm_sysroot_modules_file (host->sr, "modules.alias");
  g_autofree char *alias_text = NULL;
  g_autofree char *key = modules_files_key (host);
  g_autofree char *data_drivers = vfm_sysroot_data_dir ("drivers");
  g_autofree char *etc_drivers = vfm_sysroot_config_dir (host->sr, "drivers.d");
  g_autofree char *data_policies = vfm_sysroot_data_dir ("policies");
  g_autofree char *etc_policies = vfm_sysroot_config_dir (host->sr, "policies.d");
  const char *driver_dirs[] = { data_drivers, etc_drivers, NULL };
  const char *policy_dirs[] = { data_policies, etc_policies, NULL };
  g_autoptr (GError) error = NULL;
  VfmDb *db = vfm_db_new ();

  if ((db->aliases = cached_aliases (key)) != NULL) {
    for (guint i = 0; i < db->aliases->warnings->len; i++)
      g_ptr_array_add (host->db_warnings, g_strdup (g_ptr_array_index (db->aliases->warnings, i)));
  } else if (g_file_get_contents (alias_path, &alias_text, NULL, &error)) {
    db->aliases = vfm_alias_table_new ();
    vfm_alias_table_parse (db->aliases, alias_path, alias_text, NULL);
    load_modules_file (host, db->aliases, "modules.dep");
    load_modules_file (host, db->aliases, "modules.builtin");
    cache_aliases (key, db->aliases);
    for (guint i = 0; i < db->aliases->warnings->len; i++)
      g_ptr_array_add (host->db_warnings, g_strdup (g_ptr_array_index (db->aliases->warnings, i)));
  } else {
    g_ptr_array_add (host->db_warnings,
                     g_strdup_printf ("%s (using the curated database alone)", error->message));
  }
  db->curated = vfm_driver_db_new ();
  vfm_driver_db_load_dirs (db->curated, driver_dirs);
  db->policies = vfm_policy_set_new ();
  vfm_policy_set_load_dirs (db->policies, policy_dirs);
  for (guint i = 0; i < db->curated->errors->len; i++)
    g_ptr_array_add (host->db_warnings, g_strdup (g_ptr_array_index (db->curated->errors, i)));
  for (guint i = 0; i < db->policies->errors->len; i++)
    g_ptr_array_add (host->db_warnings, g_strdup (g_ptr_array_index (db->policies->errors, i)));
  db->module_probe = module_registered;
  db->module_probe_data = host;
  host->db = db;
}

VfmDb *
vfm_host_db (VfmHost *host, GError **error)
{
  if (host->db == NULL)
    load_db (host);
  return host->db;
}

GPtrArray *
vfm_host_db_warnings (VfmHost *host)
{
  if (host->db == NULL)
    load_db (host);
  return host->db_warnings;
}

gboolean
vfm_host_parse_bdf (const char *input, char out[13], GError **error)
{
  if (!vfm_bdf_normalize (input, out, 13)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "\"%s\" is not a PCI address (expected dddd:bb:ss.f, e.g. 0000:3b:00.2)", input);
    return FALSE;
  }
  return TRUE;
}

VfmPciDevice *
vfm_host_device (VfmHost *host, const char *bdf_input, GError **error)
{
  char bdf[13];
  VfmPciDevice *dev;

  if (!vfm_host_parse_bdf (bdf_input, bdf, error))
    return NULL;
  dev = g_hash_table_lookup (host->devices, bdf);
  if (dev == NULL) {
    dev = vfm_pci_device_open (host->sr, bdf, error);
    if (dev == NULL)
      return NULL;
    g_hash_table_insert (host->devices, (gpointer) vfm_pci_device_bdf (dev), dev);
  }
  return dev;
}

/* Every PCI device, sorted by BDF. A device whose identity cannot be read
 * (a broken tree) is skipped with a warning instead of failing the list. */
GPtrArray *
vfm_host_devices (VfmHost *host, GPtrArray *warnings, GError **error)
{
  g_autoptr (GPtrArray) bdfs = vfm_pci_list_bdfs (host->sr, error);
  GPtrArray *out;

  if (bdfs == NULL)
    return NULL;
  out = g_ptr_array_new ();
  for (guint i = 0; i < bdfs->len; i++) {
    g_autoptr (GError) local = NULL;
    VfmPciDevice *dev = vfm_host_device (host, g_ptr_array_index (bdfs, i), &local);
    if (dev == NULL) {
      if (warnings != NULL)
        g_ptr_array_add (warnings, g_strdup (local->message));
      continue;
    }
    g_ptr_array_add (out, dev);
  }
  return out;
}

VfmSelection *
vfm_host_select (VfmHost *host, VfmPciDevice *dev, GError **error)
{
  VfmDb *db = vfm_host_db (host, error);
  const char *pf = vfm_pci_device_physfn (dev);
  const char *pf_driver = NULL;
  VfmDeviceIds ids;

  if (db == NULL)
    return NULL;
  if (pf != NULL) {
    VfmPciDevice *pfdev = vfm_host_device (host, pf, NULL);
    if (pfdev != NULL)
      pf_driver = vfm_pci_device_driver (pfdev);
  }
  vfm_pci_device_ids (dev, pf_driver, vfm_db_uses_revision (db), &ids);
  return vfm_select (db, &ids);
}
