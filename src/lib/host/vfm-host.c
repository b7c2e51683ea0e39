/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-host.h"
#include "vfm-json.h"
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
  GHashTable *module_drivers; /* module -> the PCI driver it registered (found ones only) */
  GError *db_error;           /* set when no database was found */
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
  host->module_drivers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return host;
}

void
vfm_host_free (VfmHost *host)
{
  if (host == NULL)
    return;
  g_hash_table_unref (host->devices);
  g_clear_pointer (&host->loaded_modules, g_hash_table_unref);
  g_hash_table_unref (host->module_drivers);
  g_clear_pointer (&host->db, vfm_db_free);
  g_clear_error (&host->db_error);
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

void
vfm_host_forget_modules (VfmHost *host)
{
  g_clear_pointer (&host->loaded_modules, g_hash_table_unref);
  g_hash_table_remove_all (host->module_drivers);
}

/* The PCI driver a module registers, as sysfs shows it: the module's
 * drivers/pci:NAME link when it is loaded (the module xe_vfio_pci registers
 * xe-vfio-pci), else a registered driver under the module's name with '_',
 * then with '-' (what libvirt and go-nvlib try). NULL when neither.
 * Remembered once found (each selection asks, for each candidate). */
static char *
find_module_driver (VfmHost *host, const char *norm)
{
  g_autofree char *dash = g_strdup (norm);
  g_autofree char *mdir = vfm_sysroot_sys_module_dir (host->sr, norm);
  g_autofree char *drivers = g_build_filename (mdir, "drivers", NULL);
  g_autoptr (GDir) dir = g_dir_open (drivers, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_prefix (name, "pci:") && name[4] != '\0')
      return g_strdup (name + 4);
  g_strdelimit (dash, "_", '-');
  for (guint i = 0; i < 2; i++) {
    const char *try = i == 0 ? norm : dash;
    g_autofree char *ddir = vfm_sysroot_pci_driver_dir (host->sr, try);
    if (g_file_test (ddir, G_FILE_TEST_IS_DIR))
      return g_strdup (try);
  }
  return NULL;
}

char *
vfm_host_module_driver (VfmHost *host, const char *module)
{
  g_autofree char *norm = vfm_module_normalize (module);
  const char *known;
  char *found;

  if (*norm == '\0' || strchr (norm, '/') != NULL || strcmp (norm, "..") == 0 || strcmp (norm, ".") == 0)
    return NULL;
  if ((known = g_hash_table_lookup (host->module_drivers, norm)) != NULL)
    return g_strdup (known);
  if ((found = find_module_driver (host, norm)) != NULL)
    g_hash_table_insert (host->module_drivers, g_steal_pointer (&norm), g_strdup (found));
  return found;
}

static char *
driver_name_cb (const char *module, gpointer user_data)
{
  return vfm_host_module_driver (user_data, module);
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

/* Where the database comes from, for db list: "N curated entries from DIR
 * (HOW)[, M from ETC]". */
char *
vfm_host_db_origin (VfmHost *host)
{
  const char *how = NULL;
  const char *root = vfm_sysroot_data_root (&how);
  g_autofree char *data_drivers = g_build_filename (root, "drivers", NULL);
  g_autofree char *etc_drivers = vfm_sysroot_config_dir (host->sr, "drivers.d");
  guint from_data = 0, from_etc = 0;

  if (host->db == NULL)
    return NULL;
  for (guint i = 0; i < host->db->curated->entries->len; i++) {
    const VfmDriverEntry *e = g_ptr_array_index (host->db->curated->entries, i);
    if (g_str_has_prefix (e->path, etc_drivers))
      from_etc++;
    else
      from_data++;
  }
  if (from_etc == 0)
    return g_strdup_printf ("%u curated entr%s from %s (%s)", from_data, from_data == 1 ? "y" : "ies",
                            data_drivers, how);
  return g_strdup_printf ("%u curated entr%s from %s (%s), %u from %s", from_data, from_data == 1 ? "y" : "ies",
                          data_drivers, how, from_etc, etc_drivers);
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
  db->driver_name = driver_name_cb;
  db->driver_name_data = host;
  /* Never a silent empty database: without curated entries an IGD would be
   * labelled a vendor driver and names would not resolve. */
  if (db->curated->entries->len == 0) {
    const char *how = NULL;
    (void) vfm_sysroot_data_root (&how);
    g_set_error (&host->db_error, VFM_ERROR, VFM_ERROR_NOT_FOUND,
                 "no driver database: no curated entry in %s (%s) nor in %s%s%s; set VFMIG_DATADIR to "
                 "vfmig's data directory or reinstall vfmig",
                 data_drivers, how, etc_drivers,
                 db->curated->errors->len ? "; " : "",
                 db->curated->errors->len ? (const char *) g_ptr_array_index (db->curated->errors, 0) : "");
    vfm_db_free (db);
    return;
  }
  host->db = db;
}

VfmDb *
vfm_host_steal_db (VfmHost *host)
{
  VfmDb *db = g_steal_pointer (&host->db);
  if (db != NULL)
    db->module_probe_data = db->driver_name_data = NULL;
  return db;
}

void
vfm_host_adopt_db (VfmHost *host, VfmDb *db)
{
  g_clear_pointer (&host->db, vfm_db_free);
  g_clear_error (&host->db_error);
  host->db = db;
  /* what the database asks of the host (registered drivers) is this one's */
  db->module_probe_data = db->driver_name_data = host;
}

VfmDb *
vfm_host_db (VfmHost *host, GError **error)
{
  if (host->db == NULL && host->db_error == NULL)
    load_db (host);
  if (host->db == NULL)
    g_propagate_error (error, g_error_copy (host->db_error));
  return host->db;
}

GPtrArray *
vfm_host_db_warnings (VfmHost *host)
{
  if (host->db == NULL && host->db_error == NULL)
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

/* ---- JSON shapes of a device, its selection and a driver entry ---- */

static void
add_fact (JsonBuilder *b, const char *key, VfmFact f)
{
  json_builder_set_member_name (b, key);
  if (f == VFM_FACT_UNKNOWN)
    json_builder_add_null_value (b);
  else
    json_builder_add_boolean_value (b, f == VFM_FACT_YES);
}

/* The list shape reads about five attributes per device, so that a host
 * with thousands of VFs lists fast; `full` adds what explain and status show
 * (revision, NUMA node, override, VF index, netdevs and block devices). */
JsonNode *
vfm_device_to_json (VfmHost *host, VfmPciDevice *dev, VfmSelection *sel, gboolean full)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  gint total = vfm_pci_device_sriov_totalvfs (dev);

  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", vfm_pci_device_bdf (dev));
  vfm_json_add_hex (b, "vendor", vfm_pci_device_vendor (dev), 4);
  vfm_json_add_hex (b, "device", vfm_pci_device_device (dev), 4);
  vfm_json_add_hex (b, "subsystem_vendor", vfm_pci_device_subsystem_vendor (dev), 4);
  vfm_json_add_hex (b, "subsystem_device", vfm_pci_device_subsystem_device (dev), 4);
  vfm_json_add_hex (b, "class", vfm_pci_device_class (dev), 6);
  vfm_json_add_str (b, "driver", vfm_pci_device_driver (dev));
  vfm_json_add_int_or_null (b, "iommu_group", vfm_pci_device_iommu_group (dev));
  vfm_json_add_str (b, "physfn", vfm_pci_device_physfn (dev));
  vfm_json_add_int (b, "sriov_totalvfs", total);
  vfm_json_add_int (b, "sriov_numvfs", vfm_pci_device_sriov_numvfs (dev));
  vfm_json_add_str (b, "pci_path", vfm_pci_device_pci_path (dev));
  if (full) {
    g_autoptr (GPtrArray) net = vfm_pci_device_net (dev);
    g_autoptr (GPtrArray) block = vfm_pci_device_block (dev);
    g_autoptr (GPtrArray) members = vfm_pci_device_group_members (dev);
    json_builder_set_member_name (b, "revision");
    if (vfm_pci_device_revision (dev) >= 0) {
      char rev[4];
      g_snprintf (rev, sizeof rev, "%02x", vfm_pci_device_revision (dev));
      json_builder_add_string_value (b, rev);
    } else {
      json_builder_add_null_value (b);
    }
    vfm_json_add_str (b, "module", vfm_pci_device_module (dev));
    vfm_json_add_str (b, "driver_override", vfm_pci_device_driver_override (dev));
    vfm_json_add_int (b, "numa_node", vfm_pci_device_numa_node (dev));
    vfm_json_add_int_or_null (b, "vf_index", vfm_pci_device_physfn (dev) ? vfm_pci_device_vf_index (dev) : -1);
    vfm_json_add_strv (b, "iommu_group_members", members);
    vfm_json_add_strv (b, "net", net);
    vfm_json_add_strv (b, "block", block);
  }
  vfm_json_add_str (b, "selected_driver", sel && sel->selected ? sel->selected->driver : NULL);
  vfm_json_add_str (b, "selected_module", sel && sel->selected ? sel->selected->module : NULL);
  vfm_json_add_str (b, "selection_kind", sel && sel->selected ? vfm_driver_kind_to_string (sel->selected->kind) : NULL);
  vfm_json_add_str (b, "selection_source", sel && sel->selected ? sel->selected->source : NULL);
  vfm_json_add_str (b, "selection_reason", sel ? sel->reason : NULL);
  vfm_json_add_bool (b, "managed", sel ? sel->managed : FALSE);
  vfm_json_add_bool (b, "auto_bind", sel ? sel->auto_bind : FALSE);
  vfm_json_add_str (b, "managed_reason", sel ? sel->managed_reason : NULL);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static void
add_candidate_object (JsonBuilder *b, const VfmCandidate *c, gboolean full)
{
  json_builder_begin_object (b);
  vfm_json_add_str (b, "driver", c->driver);
  vfm_json_add_str (b, "module", c->module);
  vfm_json_add_str (b, "kind", vfm_driver_kind_to_string (c->kind));
  vfm_json_add_str (b, "source", c->source);
  if (full) {
    vfm_json_add_int (b, "score", c->score);
    vfm_json_add_str (b, "reason", c->reason);
    vfm_json_add_bool (b, "chosen", c->chosen);
    vfm_json_add_str (b, "entry", c->entry ? c->entry->id : NULL);
  }
  json_builder_end_object (b);
}

JsonNode *
vfm_selection_to_json (VfmPciDevice *dev, VfmSelection *sel)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  vfm_json_add_str (b, "bdf", vfm_pci_device_bdf (dev));
  json_builder_set_member_name (b, "selected");
  if (sel->selected != NULL)
    add_candidate_object (b, sel->selected, FALSE);
  else
    json_builder_add_null_value (b);
  vfm_json_add_str (b, "reason", sel->reason);
  json_builder_set_member_name (b, "candidates");
  json_builder_begin_array (b);
  for (guint i = 0; i < sel->candidates->len; i++)
    add_candidate_object (b, g_ptr_array_index (sel->candidates, i), TRUE);
  json_builder_end_array (b);
  vfm_json_add_bool (b, "managed", sel->managed);
  vfm_json_add_bool (b, "auto_bind", sel->auto_bind);
  vfm_json_add_str (b, "managed_reason", sel->managed_reason);
  json_builder_set_member_name (b, "libvirt");
  json_builder_begin_object (b);
  vfm_json_add_bool (b, "decided", sel->libvirt.decided);
  vfm_json_add_str (b, "driver", sel->libvirt.driver);
  vfm_json_add_str (b, "module", sel->libvirt.module);
  vfm_json_add_str (b, "source", sel->libvirt.source);
  vfm_json_add_str (b, "reason", sel->libvirt.reason);
  vfm_json_add_bool (b, "agrees", sel->libvirt.agrees);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
vfm_driver_entry_to_json (const VfmDriverEntry *e)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  vfm_json_add_str (b, "id", e->id);
  vfm_json_add_str (b, "driver", e->driver);
  vfm_json_add_str (b, "module", e->module);
  vfm_json_add_str (b, "kind", vfm_driver_kind_to_string (e->kind));
  vfm_json_add_str (b, "summary", e->summary);
  vfm_json_add_str (b, "source", e->path);
  json_builder_set_member_name (b, "matches");
  json_builder_begin_array (b);
  for (guint i = 0; i < e->matches->len; i++) {
    g_autofree char *d = vfm_match_describe (g_ptr_array_index (e->matches, i));
    json_builder_add_string_value (b, d);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "migration");
  json_builder_begin_object (b);
  add_fact (b, "supported", e->migratable);
  add_fact (b, "stop_copy", e->stop_copy);
  add_fact (b, "pre_copy", e->pre_copy);
  add_fact (b, "p2p", e->p2p);
  vfm_json_add_str (b, "dirty_tracking", e->dirty_tracking);
  vfm_json_add_str (b, "since_kernel", e->migration_since);
  vfm_json_add_str (b, "notes", e->migration_notes);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "prerequisites");
  json_builder_begin_object (b);
  vfm_json_add_cstrv (b, "pf_drivers", e->pf_drivers);
  vfm_json_add_bool (b, "devlink_migratable", e->devlink_migratable);
  vfm_json_add_str (b, "min_kernel", e->min_kernel);
  vfm_json_add_str (b, "min_qemu", e->min_qemu);
  vfm_json_add_str (b, "min_libvirt", e->min_libvirt);
  vfm_json_add_str (b, "firmware", e->firmware);
  vfm_json_add_str (b, "notes", e->prereq_notes);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "qemu");
  json_builder_begin_object (b);
  vfm_json_add_cstrv (b, "device_properties", e->qemu_properties);
  vfm_json_add_str (b, "machine", e->qemu_machine);
  vfm_json_add_str (b, "guest_address", e->qemu_guest_address);
  vfm_json_add_bool (b, "rom_required", e->qemu_rom_required);
  vfm_json_add_str (b, "notes", e->qemu_notes);
  json_builder_end_object (b);
  vfm_json_add_str (b, "notes", e->notes);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
