/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Host readiness checks (vfmigctl doctor, io.vfmig.Doctor). Each check reads
 * the host through the sysroot and says ok, fail (with a fix) or n/a; the
 * titles and fixes are data/doctor/checks.conf. Nothing here writes. */
#include "vfm-doctor.h"
#include "vfm-datafile.h"
#include "vfm-devlink.h"
#include "vfm-early-image.h"
#include "vfm-early-record.h"
#include "vfm-error.h"
#include "vfm-iommu.h"
#include "vfm-json.h"
#include "vfm-strings.h"
#include "vfm-sysfs.h"
#include "vfm-varlink.h"

#include <stdio.h>
#include <string.h>

#define V(a, b, c) ((a) * 1000000ul + (b) * 1000ul + (c))

typedef struct {
  VfmHost *host;
  VfmSysroot *sr;
  const VfmDoctorOptions *opts;
  GKeyFile *checks;
  VfmDoctorReport *report;
  VfmEarlyBoot *early;         /* NULL: the initramfs step did not run */
  GHashTable *vars;            /* placeholder -> value, for the line being made */
} Ctx;

static void
line_free (VfmDoctorLine *l)
{
  g_free (l->id);
  g_free (l->subject);
  g_free (l->title);
  g_free (l->detail);
  g_free (l->fix);
  g_free (l);
}

void
vfm_doctor_report_free (VfmDoctorReport *r)
{
  if (r == NULL)
    return;
  g_clear_pointer (&r->lines, g_ptr_array_unref); /* NULL when doctor stopped before its first check */
  g_free (r);
}

const char *
vfm_doctor_state_to_string (VfmDoctorState s)
{
  return s == VFM_DOCTOR_OK ? "ok" : s == VFM_DOCTOR_FAIL ? "fail" : "n/a";
}

/* TEMPLATE with each {name} replaced by its value in vars (unknown names
 * stay as they are). */
static char *
fill (const char *tmpl, GHashTable *vars)
{
  GString *s = g_string_new (NULL);
  const char *p = tmpl;

  while (*p) {
    const char *end;
    if (*p == '{' && (end = strchr (p, '}')) != NULL) {
      g_autofree char *name = g_strndup (p + 1, end - p - 1);
      const char *v = g_hash_table_lookup (vars, name);
      if (v != NULL) {
        g_string_append (s, v);
        p = end + 1;
        continue;
      }
    }
    g_string_append_c (s, *p++);
  }
  return g_string_free (s, FALSE);
}

static void
set (Ctx *c, const char *name, const char *value)
{
  g_hash_table_replace (c->vars, g_strdup (name), g_strdup (value ? value : ""));
}

static void
setf (Ctx *c, const char *name, const char *format, ...) G_GNUC_PRINTF (3, 4);
static void
setf (Ctx *c, const char *name, const char *format, ...)
{
  va_list ap;
  va_start (ap, format);
  g_hash_table_replace (c->vars, g_strdup (name), g_strdup_vprintf (format, ap));
  va_end (ap);
}

/* Adds the line for check ID with the placeholders set so far, then forgets
 * them. DETAIL is taken. */
static void
add (Ctx *c, const char *id, const char *subject, VfmDoctorState state, char *detail)
{
  VfmDoctorLine *l = g_new0 (VfmDoctorLine, 1);
  g_autofree char *title = g_key_file_get_string (c->checks, id, "Title", NULL);
  g_autofree char *fix = g_key_file_get_string (c->checks, id, "Fix", NULL);

  set (c, "release", vfm_sysroot_kernel_release (c->sr));
  if (subject != NULL && !g_hash_table_contains (c->vars, "bdf"))
    set (c, "bdf", subject);
  set (c, "detail", detail);
  l->id = g_strdup (id);
  l->subject = g_strdup (subject);
  l->state = state;
  l->title = fill (title ? title : id, c->vars);
  l->detail = detail;
  if (state == VFM_DOCTOR_FAIL)
    l->fix = fill (fix ? fix : "(no fix known)", c->vars);
  g_ptr_array_add (c->report->lines, l);
  if (state == VFM_DOCTOR_OK)
    c->report->ok++;
  else if (state == VFM_DOCTOR_FAIL)
    c->report->failed++;
  else
    c->report->na++;
  g_hash_table_remove_all (c->vars);
}

static char *
read_text (const char *path)
{
  char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  return text;
}

static gboolean
cmdline_has (const char *cmdline, const char *word)
{
  g_auto (GStrv) words = g_strsplit_set (cmdline ? cmdline : "", " \t\n", -1);
  return g_strv_contains ((const char * const *) words, word);
}

/* ---------------------------------------------------------------- IOMMU */

static gboolean
acpi_table (Ctx *c, const char *name)
{
  g_autofree char *path = vfm_sysroot_acpi_table (c->sr, name);
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* The IOMMU units in /sys/class/iommu, sorted; NULL-terminated. */
static GStrv
iommu_units (Ctx *c)
{
  g_autofree char *dir = vfm_sysroot_class_dir (c->sr, "iommu");
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  const char *n;

  while (d != NULL && (n = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (n));
  vfm_strings_sort (names);
  g_ptr_array_add (names, NULL);
  return (GStrv) g_ptr_array_steal (names, NULL);
}

/* The default domain type of the first IOMMU group ("DMA-FQ", "identity"):
 * translated or passthrough for host devices. */
static char *
default_domain_type (Ctx *c)
{
  g_autofree char *dir = vfm_sysroot_iommu_group_dir (c->sr, 0);
  g_autofree char *path = g_build_filename (dir, "type", NULL);
  char buf[64];
  return vfm_sysfs_read (path, buf, sizeof buf) ? g_strdup (buf) : NULL;
}

static gboolean
check_iommu (Ctx *c)
{
  g_autofree char *cmdline_path = vfm_sysroot_proc_file (c->sr, "cmdline");
  g_autofree char *cmdline = read_text (cmdline_path);
  g_auto (GStrv) units = iommu_units (c);
  gboolean dmar = acpi_table (c, "DMAR"), ivrs = acpi_table (c, "IVRS");
  guint n = g_strv_length (units);

  if (cmdline != NULL)
    g_strstrip (cmdline);
  if (!dmar && !ivrs) {
    g_autofree char *t1 = vfm_sysroot_acpi_table (c->sr, "DMAR"), *t2 = vfm_sysroot_acpi_table (c->sr, "IVRS");
    setf (c, "tables", "%s and %s", t1, t2);
    add (c, "iommu-firmware", NULL, VFM_DOCTOR_FAIL, g_strdup ("no DMAR or IVRS ACPI table"));
  } else {
    add (c, "iommu-firmware", NULL, VFM_DOCTOR_OK,
         g_strdup_printf ("%s%s%s", dmar ? "DMAR (Intel VT-d)" : "", dmar && ivrs ? ", " : "",
                          ivrs ? "IVRS (AMD-Vi)" : ""));
  }
  if (n == 0) {
    set (c, "param", ivrs && !dmar ? "amd_iommu=on" : "intel_iommu=on");
    set (c, "cmdline", cmdline ? cmdline : "unreadable");
    add (c, "iommu-enabled", NULL, VFM_DOCTOR_FAIL,
         g_strdup_printf ("no IOMMU unit in /sys/class/iommu%s",
                          cmdline_has (cmdline, "intel_iommu=off") || cmdline_has (cmdline, "amd_iommu=off")
                            ? " (the kernel command line turns it off)" : ""));
    return FALSE;
  }
  {
    g_autofree char *type = default_domain_type (c);
    g_autofree char *list = g_strjoinv (", ", units);
    const char *mode = type == NULL ? "unknown mode"
                       : strcmp (type, "identity") == 0 ? "passthrough for host devices (iommu=pt)"
                       : "translated DMA for host devices";
    add (c, "iommu-enabled", NULL, VFM_DOCTOR_OK,
         g_strdup_printf ("%u unit%s (%s); default domain %s: %s", n, n == 1 ? "" : "s", list,
                          type ? type : "?", mode));
  }
  return TRUE;
}

static void
check_interrupt_remapping (Ctx *c, gboolean iommu_on)
{
  g_autofree char *path = vfm_sysroot_proc_file (c->sr, "interrupts");
  g_autofree char *text = read_text (path);

  if (!iommu_on) {
    add (c, "interrupt-remapping", NULL, VFM_DOCTOR_NA, g_strdup ("needs the IOMMU"));
    return;
  }
  if (text == NULL) {
    add (c, "interrupt-remapping", NULL, VFM_DOCTOR_NA, g_strdup_printf ("%s is not readable", path));
    return;
  }
  if (strstr (text, "IR-") != NULL)
    add (c, "interrupt-remapping", NULL, VFM_DOCTOR_OK,
         g_strdup_printf ("%s lists remapped interrupt chips (IR-…)", path));
  else
    add (c, "interrupt-remapping", NULL, VFM_DOCTOR_FAIL,
         g_strdup_printf ("no remapped interrupt chip (IR-…) in %s", path));
}

/* -------------------------------------------------------------- modules */

/* modules.dep or modules.builtin names MODULE ("…/vfio_iommu_type1.ko",
 * "…/vfio-pci.ko"): the database folds them in only beside modules.alias,
 * and doctor must not call a module missing because the alias file is. */
static gboolean
module_file_lists (Ctx *c, const char *name, const char *module)
{
  g_autofree char *path = vfm_sysroot_modules_file (c->sr, name);
  g_autofree char *text = read_text (path);
  g_autofree char *dashed = g_strdelimit (g_strdup (module), "_", '-');
  g_auto (GStrv) lines = g_strsplit (text ? text : "", "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++) {
    char *colon = strchr (lines[i], ':');
    g_autofree char *file = g_path_get_basename (colon ? (*colon = '\0', lines[i]) : lines[i]);
    char *ext = strstr (file, ".ko");
    if (ext == NULL)
      continue;
    *ext = '\0';
    if (strcmp (file, module) == 0 || strcmp (file, dashed) == 0)
      return TRUE;
  }
  return FALSE;
}

static gboolean
module_exists (Ctx *c, const char *module)
{
  VfmDb *db = vfm_host_db (c->host, NULL);
  g_autofree char *dir = vfm_sysroot_sys_module_dir (c->sr, module);
  return (db != NULL && vfm_db_module_exists (db, module)) || g_file_test (dir, G_FILE_TEST_IS_DIR) ||
         (db != NULL && db->aliases == NULL &&
          (module_file_lists (c, "modules.dep", module) || module_file_lists (c, "modules.builtin", module)));
}

static void
check_modules (Ctx *c)
{
  static const struct { const char *module, *config; } core[] = {
    { "vfio", "CONFIG_VFIO" },
    { "vfio_pci", "CONFIG_VFIO_PCI" },
  };
  g_autofree char *alias = vfm_sysroot_modules_file (c->sr, "modules.alias");
  gboolean type1, iommufd;

  if (g_file_test (alias, G_FILE_TEST_IS_REGULAR)) {
    add (c, "modules-alias", NULL, VFM_DOCTOR_OK, g_strdup (alias));
  } else {
    set (c, "path", alias);
    add (c, "modules-alias", NULL, VFM_DOCTOR_FAIL, g_strdup_printf ("%s does not exist", alias));
  }
  for (gsize i = 0; i < G_N_ELEMENTS (core); i++) {
    gboolean ok = module_exists (c, core[i].module);
    set (c, "module", core[i].module);
    set (c, "config", core[i].config);
    add (c, "module", core[i].module, ok ? VFM_DOCTOR_OK : VFM_DOCTOR_FAIL,
         ok ? g_strdup_printf ("listed for kernel %s", vfm_sysroot_kernel_release (c->sr))
            : g_strdup_printf ("not in modules.alias, modules.dep or modules.builtin of %s, nor loaded",
                               vfm_sysroot_kernel_release (c->sr)));
  }
  type1 = module_exists (c, "vfio_iommu_type1");
  iommufd = module_exists (c, "iommufd");
  add (c, "iommu-backend", NULL, type1 || iommufd ? VFM_DOCTOR_OK : VFM_DOCTOR_FAIL,
       type1 && iommufd ? g_strdup ("vfio_iommu_type1 and iommufd")
       : type1          ? g_strdup ("vfio_iommu_type1")
       : iommufd        ? g_strdup ("iommufd (no vfio_iommu_type1)")
                        : g_strdup ("neither vfio_iommu_type1 nor iommufd"));
}

/* Variant drivers a curated entry chooses for a present device whose module
 * this kernel lacks: one line per module, naming the devices. */
static void
check_variant_modules (Ctx *c, GPtrArray *devices)
{
  g_autoptr (GHashTable) missing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                           (GDestroyNotify) g_ptr_array_unref);
  g_autoptr (GHashTable) entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GList) keys = NULL;

  for (guint i = 0; i < devices->len; i++) {
    VfmPciDevice *dev = g_ptr_array_index (devices, i);
    g_autoptr (VfmSelection) sel = vfm_host_select (c->host, dev, NULL);
    if (sel == NULL)
      continue;
    for (guint k = 0; k < sel->candidates->len; k++) {
      VfmCandidate *cand = g_ptr_array_index (sel->candidates, k);
      GPtrArray *list;
      if (cand->kind != VFM_KIND_VENDOR || cand->score >= 0 || cand->entry == NULL ||
          module_exists (c, cand->module))
        continue;
      if ((list = g_hash_table_lookup (missing, cand->module)) == NULL) {
        list = g_ptr_array_new_with_free_func (g_free);
        g_hash_table_insert (missing, g_strdup (cand->module), list);
        g_hash_table_insert (entries, g_strdup (cand->module), g_strdup (cand->entry->id));
      }
      g_ptr_array_add (list, g_strdup (vfm_pci_device_bdf (dev)));
    }
  }
  if (g_hash_table_size (missing) == 0) {
    set (c, "module", "modules");
    set (c, "devices", "the present devices");
    add (c, "variant-module", NULL, VFM_DOCTOR_OK,
         g_strdup ("every variant driver the database chooses for a present device is installed"));
    return;
  }
  keys = g_list_sort (g_hash_table_get_keys (missing), (GCompareFunc) g_strcmp0);
  for (GList *l = keys; l != NULL; l = l->next) {
    GPtrArray *list = g_hash_table_lookup (missing, l->data);
    g_autoptr (GString) devs = g_string_new (NULL);
    for (guint i = 0; i < list->len && i < 4; i++)
      g_string_append_printf (devs, "%s%s", i ? ", " : "", (char *) g_ptr_array_index (list, i));
    if (list->len > 4)
      g_string_append_printf (devs, " and %u more", list->len - 4);
    set (c, "module", l->data);
    set (c, "devices", devs->str);
    set (c, "entry", g_hash_table_lookup (entries, l->data));
    add (c, "variant-module", l->data, VFM_DOCTOR_FAIL,
         g_strdup_printf ("%s is not installed for kernel %s", (char *) l->data, vfm_sysroot_kernel_release (c->sr)));
  }
}

/* ------------------------------------------------------------- daemon */

static void
check_daemon (Ctx *c)
{
  g_autofree char *run = vfm_sysroot_run_dir (c->sr);
  g_autofree char *path = c->opts->socket_path ? g_strdup (c->opts->socket_path)
                                               : g_build_filename (run, "vfmigd.sock", NULL);
  g_autoptr (VfmVarlinkClient) client = NULL;
  g_autoptr (JsonObject) reply = NULL;
  g_autoptr (GError) error = NULL;

  if (c->opts->in_daemon) {
    add (c, "vfmigd", NULL, VFM_DOCTOR_OK, g_strdup ("this answer comes from vfmigd"));
    return;
  }
  set (c, "socket", path);
  if ((client = vfm_varlink_client_connect (path, &error)) == NULL ||
      (reply = vfm_varlink_client_call (client, "io.vfmig.Hello", NULL, &error)) == NULL) {
    set (c, "error", error->message);
    add (c, "vfmigd", NULL, VFM_DOCTOR_FAIL, g_strdup_printf ("no answer at %s: %s", path, error->message));
    return;
  }
  add (c, "vfmigd", NULL, VFM_DOCTOR_OK,
       g_strdup_printf ("vfmigd %s answers at %s (protocol %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT ")",
                        json_object_get_string_member_with_default (reply, "version", "?"), path,
                        json_object_get_int_member_with_default (reply, "protocol_major", 0),
                        json_object_get_int_member_with_default (reply, "protocol_minor", 0)));
}

/* The last ProtectKernelModules= of vfmigd.service and its drop-ins, in
 * systemd's order: the unit file of the first directory that has one, then
 * the drop-ins of all directories sorted by file name. */
static gint
compare_names (gconstpointer a, gconstpointer b, gpointer data)
{
  return strcmp (a, b);
}

static void
check_unit (Ctx *c)
{
  g_auto (GStrv) dirs = vfm_sysroot_unit_dirs (c->sr);
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GTree) dropins = g_tree_new_full (compare_names, NULL, g_free, g_free);
  g_autofree char *value = NULL, *where = NULL;
  guint where_line = 0;

  for (guint i = 0; dirs[i] != NULL; i++) {
    g_autofree char *unit = g_build_filename (dirs[i], "vfmigd.service", NULL);
    g_autofree char *dropdir = g_build_filename (dirs[i], "vfmigd.service.d", NULL);
    g_autoptr (GDir) d = g_dir_open (dropdir, 0, NULL);
    const char *n;
    if (files->len == 0 && g_file_test (unit, G_FILE_TEST_IS_REGULAR))
      g_ptr_array_add (files, g_steal_pointer (&unit));
    while (d != NULL && (n = g_dir_read_name (d)) != NULL)
      if (g_str_has_suffix (n, ".conf") && g_tree_lookup (dropins, n) == NULL)
        g_tree_insert (dropins, g_strdup (n), g_build_filename (dropdir, n, NULL));
  }
  if (files->len == 0) {
    add (c, "unit-modules", NULL, VFM_DOCTOR_NA, g_strdup ("vfmigd.service is not installed"));
    return;
  }
  {
    GTreeNode *node;
    for (node = g_tree_node_first (dropins); node != NULL; node = g_tree_node_next (node))
      g_ptr_array_add (files, g_strdup (g_tree_node_value (node)));
  }
  for (guint i = 0; i < files->len; i++) {
    const char *file = g_ptr_array_index (files, i);
    g_autofree char *text = read_text (file);
    g_auto (GStrv) lines = g_strsplit (text ? text : "", "\n", -1);
    for (guint k = 0; lines[k] != NULL; k++) {
      char *l = g_strstrip (lines[k]);
      if (g_str_has_prefix (l, "ProtectKernelModules=")) {
        g_free (value);
        g_free (where);
        value = g_strdup (g_strstrip (l + strlen ("ProtectKernelModules=")));
        where = g_strdup (file);
        where_line = k + 1;
      }
    }
  }
  if (value != NULL && (g_ascii_strcasecmp (value, "yes") == 0 || g_ascii_strcasecmp (value, "true") == 0 ||
                        strcmp (value, "1") == 0 || g_ascii_strcasecmp (value, "on") == 0)) {
    set (c, "file", where);
    setf (c, "line", "%u", where_line);
    set (c, "value", value);
    add (c, "unit-modules", NULL, VFM_DOCTOR_FAIL,
         g_strdup_printf ("%s:%u sets ProtectKernelModules=%s", where, where_line, value));
    return;
  }
  add (c, "unit-modules", NULL, VFM_DOCTOR_OK,
       value ? g_strdup_printf ("%s:%u: ProtectKernelModules=%s", where, where_line, value)
             : g_strdup_printf ("%s sets no ProtectKernelModules=", (char *) g_ptr_array_index (files, 0)));
}

/* ------------------------------------------------------------ versions */

static gulong
parse_version (const char *s)
{
  guint a = 0, b = 0, cc = 0;
  if (s == NULL || sscanf (s, "%u.%u.%u", &a, &b, &cc) < 2)
    return 0;
  return V (a, b, cc);
}

static char *
version_string (gulong v)
{
  return g_strdup_printf ("%lu.%lu.%lu", v / 1000000, (v / 1000) % 1000, v % 1000);
}

static void
check_version (Ctx *c, const char *id, const char *what, gulong have)
{
  g_autofree char *min_s = g_key_file_get_string (c->checks, id, "Min", NULL);
  gulong min = parse_version (min_s);
  g_autofree char *have_s = version_string (have);

  set (c, "min", min_s);
  if (!c->opts->versions_asked) {
    add (c, id, NULL, VFM_DOCTOR_NA,
         g_strdup ("vfmigd does not talk to libvirt (DESIGN.md, Decisions 19): vfmigctl doctor asks it"));
    return;
  }
  if (have == 0) {
    g_autofree char *detail = g_strdup_printf ("%s version unknown: %s", what,
                                               c->opts->versions_error ? c->opts->versions_error : "libvirt did not say");
    add (c, id, NULL, VFM_DOCTOR_NA, g_steal_pointer (&detail));
    return;
  }
  if (have < min) {
    g_autofree char *detail = g_strdup_printf ("%s %s is older than %s", what, have_s, min_s);
    add (c, id, NULL, VFM_DOCTOR_FAIL, g_steal_pointer (&detail));
    return;
  }
  add (c, id, NULL, VFM_DOCTOR_OK, g_strdup_printf ("%s %s", what, have_s));
}

/* --------------------------------------------------------- SR-IOV PFs */

/* The PF's firmware as devlink reports it: flashed but not active (a stored
 * version that differs from the running one) fails, because the next reset
 * changes what check compares between hosts. */
static void
check_pf_firmware (Ctx *c, const char *bdf, const VfmDevlinkInfo *info, const GError *why)
{
  g_autofree char *pending = NULL, *fw = NULL;

  if (info == NULL) {
    add (c, "pf-firmware", bdf, VFM_DOCTOR_NA, g_strdup_printf ("devlink: %s", why->message));
    return;
  }
  fw = vfm_devlink_firmware (info);
  if ((pending = vfm_devlink_pending (info)) != NULL) {
    set (c, "pending", pending);
    add (c, "pf-firmware", bdf, VFM_DOCTOR_FAIL,
         g_strdup_printf ("flashed but not running: %s (devlink dev info %s)", pending, info->handle));
    return;
  }
  add (c, "pf-firmware", bdf, fw ? VFM_DOCTOR_OK : VFM_DOCTOR_NA,
       fw ? g_strdup_printf ("%s (%s)", fw, info->driver ? info->driver : "devlink")
          : g_strdup_printf ("%s reports no firmware version", info->driver ? info->driver : info->handle));
}

/* The devlink port function "migratable" capability of the managed VFs
 * whose driver needs it (DevlinkMigratable= in data/drivers: mlx5). */
static void
check_pf_migratable (Ctx *c, VfmPciDevice *pf, const VfmDevlinkInfo *info, const GError *why, GPtrArray *needs)
{
  const char *bdf = vfm_pci_device_bdf (pf);
  g_autoptr (GString) off = g_string_new (NULL), unknown = g_string_new (NULL), noport = g_string_new (NULL);

  if (needs->len == 0) {
    add (c, "pf-devlink", bdf, VFM_DOCTOR_NA,
         g_strdup ("no managed VF's driver needs it (DevlinkMigratable= in data/drivers)"));
    return;
  }
  setf (c, "numvfs", "%d", vfm_pci_device_sriov_numvfs (pf));
  set (c, "switchdev", "");
  if (info == NULL) {
    add (c, "pf-devlink", bdf, VFM_DOCTOR_FAIL, g_strdup_printf ("devlink: %s", why->message));
    return;
  }
  for (guint i = 0; i < needs->len; i++) {
    VfmPciDevice *vf = g_ptr_array_index (needs, i);
    const VfmDevlinkVfPort *port = vfm_devlink_vf_port (info, vfm_pci_device_vf_index (vf));
    GString *to = port == NULL ? noport : port->migratable < 0 ? unknown : port->migratable == 0 ? off : NULL;
    if (to != NULL)
      g_string_append_printf (to, "%s%s", to->len ? ", " : "", vfm_pci_device_bdf (vf));
    if (to == off)
      g_string_append_printf (off, " (port %u)", port->port_index);
  }
  if (noport->len) {
    /* VF representor ports exist only in switchdev mode (mlx5) */
    set (c, "switchdev", g_strcmp0 (info->eswitch, "switchdev") == 0 ? "" : " --switchdev");
    add (c, "pf-devlink", bdf, VFM_DOCTOR_FAIL,
         g_strdup_printf ("no devlink port for %s (eswitch %s: VF ports exist only in switchdev mode)", noport->str,
                          info->eswitch ? info->eswitch : "mode unknown"));
  } else if (unknown->len) {
    add (c, "pf-devlink", bdf, VFM_DOCTOR_FAIL,
         g_strdup_printf ("%s does not report the capability for %s (kernel >= 6.3 and firmware with VF migration "
                          "enabled are needed)", info->driver ? info->driver : info->handle, unknown->str));
  } else if (off->len) {
    add (c, "pf-devlink", bdf, VFM_DOCTOR_FAIL, g_strdup_printf ("not migratable: %s", off->str));
  } else {
    add (c, "pf-devlink", bdf, VFM_DOCTOR_OK,
         g_strdup_printf ("%u VF%s migratable", needs->len, needs->len == 1 ? "" : "s"));
  }
}

static void
check_pf (Ctx *c, VfmPciDevice *pf)
{
  const char *bdf = vfm_pci_device_bdf (pf);
  g_autoptr (GPtrArray) vfs = vfm_pci_device_vfs (pf);
  g_autofree char *ap_path = vfm_sysroot_pci_device_attr (c->sr, bdf, "sriov_drivers_autoprobe");
  g_autoptr (GString) grabbed = g_string_new (NULL);
  g_autoptr (GPtrArray) needs = g_ptr_array_new ();
  g_autoptr (VfmDevlinkInfo) info = NULL;
  g_autoptr (GError) why = NULL;
  const char *grabbed_by = NULL;
  guint managed = 0;
  gint autoprobe = -1;

  vfm_sysfs_read_int (ap_path, &autoprobe);
  for (guint i = 0; vfs != NULL && i < vfs->len; i++) {
    VfmPciDevice *vf = vfm_host_device (c->host, g_ptr_array_index (vfs, i), NULL);
    g_autoptr (VfmSelection) sel = vf ? vfm_host_select (c->host, vf, NULL) : NULL;
    const char *drv;
    if (sel == NULL || !sel->managed)
      continue;
    managed++;
    if (sel->selected != NULL && sel->selected->entry != NULL && sel->selected->entry->devlink_migratable)
      g_ptr_array_add (needs, vf);
    drv = vfm_pci_device_driver (vf);
    if (drv != NULL && !vfm_host_is_vfio_driver (c->host, drv)) {
      g_string_append_printf (grabbed, "%s%s", grabbed->len ? ", " : "", vfm_pci_device_bdf (vf));
      grabbed_by = drv;
    }
  }
  if (managed == 0) {
    add (c, "pf-autoprobe", bdf, VFM_DOCTOR_NA,
         g_strdup_printf ("no policy manages its %d VF%s", vfm_pci_device_sriov_numvfs (pf),
                          vfm_pci_device_sriov_numvfs (pf) == 1 ? "" : "s"));
  } else {
    set (c, "path", ap_path);
    add (c, "pf-autoprobe", bdf, autoprobe == 0 ? VFM_DOCTOR_OK : VFM_DOCTOR_FAIL,
         g_strdup_printf ("sriov_drivers_autoprobe is %d, %u managed VF%s", autoprobe, managed, managed == 1 ? "" : "s"));
    setf (c, "numvfs", "%d", vfm_pci_device_sriov_numvfs (pf));
    set (c, "vfs", grabbed->str);
    set (c, "driver", grabbed_by);
    add (c, "pf-vf-drivers", bdf, grabbed->len ? VFM_DOCTOR_FAIL : VFM_DOCTOR_OK,
         grabbed->len ? g_strdup_printf ("%s on %s, a host driver", grabbed->str, grabbed_by)
                      : g_strdup ("no managed VF is on a host driver"));
  }
  /* devlink is netlink to the running kernel (a synthetic host's answer is
   * its .kmock/devlink file); read once for both lines */
  info = vfm_devlink_read (c->sr, "pci", bdf, &why);
  check_pf_migratable (c, pf, info, why, needs);
  check_pf_firmware (c, bdf, info, why);
}

/* ----------------------------------------------------------- devices */

static void
check_group (Ctx *c, VfmPciDevice *dev)
{
  const char *bdf = vfm_pci_device_bdf (dev);
  g_autoptr (VfmGroupStatus) st = vfm_iommu_group_status (c->host, dev);
  g_autoptr (GString) others = g_string_new (NULL);

  if (st->group < 0) {
    add (c, "group-viable", bdf, VFM_DOCTOR_NA, g_strdup ("no IOMMU group (the IOMMU is off)"));
    return;
  }
  setf (c, "group", "%d", st->group);
  for (guint i = 0; i < st->members->len; i++) {
    VfmGroupMember *m = g_ptr_array_index (st->members, i);
    if (strcmp (m->bdf, bdf) != 0 && !m->is_bridge)
      g_string_append_printf (others, "%s%s (%s)", others->len ? ", " : "", m->bdf, m->driver ? m->driver : "no driver");
  }
  set (c, "others", others->str);
  if (st->viable) {
    add (c, "group-viable", bdf, VFM_DOCTOR_OK,
         others->len ? g_strdup_printf ("with %s", others->str) : g_strdup ("alone in its group"));
    return;
  }
  {
    g_autoptr (GString) why = g_string_new (NULL);
    for (guint i = 0; i < st->blockers->len; i++) {
      const char *b = g_ptr_array_index (st->blockers, i);
      if (!g_str_has_prefix (b, bdf)) /* the device itself: binding it is the point */
        g_string_append_printf (why, "%s%s", why->len ? "; " : "", b);
    }
    /* the device itself on its host driver is what binding changes */
    add (c, "group-viable", bdf, others->len ? VFM_DOCTOR_FAIL : VFM_DOCTOR_OK,
         others->len ? g_string_free (g_steal_pointer (&why), FALSE)
                     : g_strdup ("alone in its group (viable once bound)"));
  }
}

#define PCI_EXT_CAP_ID_ACS 0x000d
#define PCI_ACS_RR 0x0004
#define PCI_ACS_CR 0x0008
#define PCI_ACS_UF 0x0010

/* ACS control of a bridge: the register, -1 when its extended config space
 * is not readable (not root, or no PCIe), -2 when it has no ACS capability. */
static gint
bridge_acs (Ctx *c, const char *bdf)
{
  g_autofree char *path = vfm_sysroot_pci_device_attr (c->sr, bdf, "config");
  g_autofree char *cfg = NULL;
  gsize len = 0;
  guint off = 0x100, hops = 0;

  if (!g_file_get_contents (path, &cfg, &len, NULL) || len < 0x104)
    return -1;
  while (off >= 0x100 && off + 8 <= len && hops++ < 64) {
    guint32 hdr = (guint8) cfg[off] | (guint8) cfg[off + 1] << 8 | (guint8) cfg[off + 2] << 16 |
                  (guint32) (guint8) cfg[off + 3] << 24;
    if (hdr == 0 || hdr == 0xffffffff)
      break;
    if ((hdr & 0xffff) == PCI_EXT_CAP_ID_ACS)
      return (guint8) cfg[off + 6] | (guint8) cfg[off + 7] << 8;
    off = hdr >> 20;
  }
  return -2;
}

static void
check_acs (Ctx *c, VfmPciDevice *dev)
{
  const char *bdf = vfm_pci_device_bdf (dev);
  const char *path = vfm_pci_device_pci_path (dev);
  g_auto (GStrv) parts = g_strsplit (path ? path : "", "/", -1);
  g_autoptr (GString) bad = g_string_new (NULL), good = g_string_new (NULL), unread = g_string_new (NULL);
  guint n = g_strv_length (parts), bridges = 0;

  /* parts: the host bridge "pci0000:00", the bridges, the device itself */
  for (guint i = 1; i + 1 < n; i++) {
    gint acs = bridge_acs (c, parts[i]);
    bridges++;
    if (acs == -1)
      g_string_append_printf (unread, "%s%s", unread->len ? ", " : "", parts[i]);
    else if (acs == -2 || (acs & (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF)) != (PCI_ACS_RR | PCI_ACS_CR | PCI_ACS_UF))
      g_string_append_printf (bad, "%s%s (%s)", bad->len ? ", " : "", parts[i],
                              acs == -2 ? "no ACS capability" : "ACS redirect/forwarding off");
    else
      g_string_append_printf (good, "%s%s", good->len ? ", " : "", parts[i]);
  }
  if (bridges == 0) {
    add (c, "acs", bdf, VFM_DOCTOR_NA, g_strdup ("no bridge above it (on the root bus)"));
  } else if (bad->len) {
    set (c, "ports", bad->str);
    add (c, "acs", bdf, VFM_DOCTOR_FAIL, g_strdup (bad->str));
  } else if (unread->len) {
    add (c, "acs", bdf, VFM_DOCTOR_NA,
         g_strdup_printf ("extended config space of %s not readable (needs root)", unread->str));
  } else {
    add (c, "acs", bdf, VFM_DOCTOR_OK, g_strdup_printf ("enabled on %s", good->str));
  }
}

static const VfmEarlyDevice *
early_find (Ctx *c, VfmPciDevice *dev)
{
  const char *path = vfm_pci_device_pci_path (dev);
  for (guint i = 0; c->early != NULL && i < c->early->devices->len; i++) {
    const VfmEarlyDevice *d = g_ptr_array_index (c->early->devices, i);
    if (g_strcmp0 (d->pci_path, path) == 0)
      return d;
  }
  return NULL;
}

/* A device a policy binds at hotplug that a host driver holds: was the
 * initramfs step there to bind it first? */
static void
check_early_boot (Ctx *c, VfmPciDevice *dev, VfmSelection *sel)
{
  const char *bdf = vfm_pci_device_bdf (dev);
  const char *drv = vfm_pci_device_driver (dev);
  const VfmEarlyDevice *e = early_find (c, dev);

  if (sel == NULL || !sel->managed || !sel->auto_bind) {
    add (c, "early-boot", bdf, VFM_DOCTOR_NA, g_strdup ("no policy binds it at boot (Manage=true, AutoBind=true)"));
    return;
  }
  if (e != NULL && g_strcmp0 (e->result, "bound") == 0) {
    add (c, "early-boot", bdf, VFM_DOCTOR_OK,
         g_strdup_printf ("the initramfs bound it to %s (policy %s)", e->driver, e->policy ? e->policy : "?"));
    return;
  }
  if (drv == NULL || vfm_host_is_vfio_driver (c->host, drv)) {
    add (c, "early-boot", bdf, VFM_DOCTOR_OK,
         g_strdup_printf ("%s; no host driver holds it", drv ? drv : "unbound"));
    return;
  }
  if (c->early == NULL)
    set (c, "why", "the boot's initramfs has no vfmig step (no /run/vfmig/early-boot.json)");
  else if (e == NULL)
    set (c, "why", "the initramfs step ran but its plan does not name it (policies changed since the image was built)");
  else
    setf (c, "why", "the initramfs step found it %s%s%s", e->result, e->held_by ? " by " : "",
          e->held_by ? e->held_by : "");
  add (c, "early-boot", bdf, VFM_DOCTOR_FAIL, g_strdup_printf ("%s holds it", drv));
}

/* The image of the running kernel against the policies' plan now, by what
 * the initramfs hook recorded when it built the image (vfm-early-image.h). */
static void
check_early_boot_image (Ctx *c)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (VfmEarlyImageStatus) st = vfm_early_image_status (c->host, NULL, NULL, &local);
  g_autoptr (GString) diff = g_string_new (NULL);

  if (st == NULL) {
    add (c, "early-boot-image", NULL, VFM_DOCTOR_NA, g_strdup_printf ("cannot tell: %s", local->message));
    return;
  }
  if (st->state == VFM_EARLY_IMAGE_NO_RECORD) {
    add (c, "early-boot-image", NULL, VFM_DOCTOR_NA,
         g_strdup_printf ("no image of %s was built with vfmig's hook on this host (plan %s now, %u device%s)",
                          st->release, st->current_plan, st->added->len, st->added->len == 1 ? "" : "s"));
    return;
  }
  if (st->state == VFM_EARLY_IMAGE_UP_TO_DATE) {
    add (c, "early-boot-image", NULL, VFM_DOCTOR_OK,
         g_strdup_printf ("plan %s, built by %s", st->current_plan, st->recorded_generator));
    return;
  }
  for (guint i = 0; i < st->added->len; i++)
    g_string_append_printf (diff, "%s%s added", diff->len ? ", " : "",
                            ((VfmEarlyPlanEntry *) g_ptr_array_index (st->added, i))->pci_path);
  for (guint i = 0; i < st->removed->len; i++)
    g_string_append_printf (diff, "%s%s removed", diff->len ? ", " : "",
                            ((VfmEarlyPlanEntry *) g_ptr_array_index (st->removed, i))->pci_path);
  add (c, "early-boot-image", NULL, VFM_DOCTOR_FAIL,
       g_strdup_printf ("the image has plan %s, the policies give %s: %s", st->recorded_plan, st->current_plan,
                        diff->str));
}

/* ------------------------------------------------------------- driver */

static GPtrArray *
default_targets (Ctx *c, GPtrArray *devices)
{
  GPtrArray *out = g_ptr_array_new ();
  for (guint i = 0; i < devices->len; i++) {
    VfmPciDevice *dev = g_ptr_array_index (devices, i);
    g_autoptr (VfmSelection) sel = vfm_host_select (c->host, dev, NULL);
    const char *drv = vfm_pci_device_driver (dev);
    if (vfm_pci_device_is_bridge (dev))
      continue;
    if ((sel != NULL && sel->managed) || (drv != NULL && vfm_host_is_vfio_driver (c->host, drv)))
      g_ptr_array_add (out, dev);
  }
  return out;
}

VfmDoctorReport *
vfm_doctor_run (VfmHost *host, const char * const *bdfs, const VfmDoctorOptions *opts, GError **error)
{
  static const VfmDoctorOptions no_opts = { 0 };
  g_autoptr (GKeyFile) checks = vfm_datafile_load_keyfile ("doctor", "checks.conf", NULL, error);
  g_autoptr (GHashTable) vars = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (VfmDoctorReport) report = g_new0 (VfmDoctorReport, 1);
  g_autoptr (VfmEarlyBoot) early = NULL;
  g_autoptr (GPtrArray) targets = NULL;
  g_autoptr (GPtrArray) pfs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) devices = NULL;
  gboolean iommu_on;
  Ctx c = { .host = host, .sr = vfm_host_sysroot (host), .opts = opts ? opts : &no_opts, .checks = checks,
            .vars = vars };

  if (checks == NULL)
    return NULL;
  /* every BDF named must exist before anything is reported */
  targets = g_ptr_array_new ();
  for (guint i = 0; bdfs != NULL && bdfs[i] != NULL; i++) {
    VfmPciDevice *dev = vfm_host_device (host, bdfs[i], error);
    if (dev == NULL)
      return NULL;
    g_ptr_array_add (targets, dev);
  }
  if ((devices = vfm_host_devices (host, NULL, error)) == NULL)
    return NULL;
  report->lines = g_ptr_array_new_with_free_func ((GDestroyNotify) line_free);
  c.report = report;
  early = vfm_early_boot_read (c.sr, NULL);
  c.early = early;

  iommu_on = check_iommu (&c);
  check_interrupt_remapping (&c, iommu_on);
  check_modules (&c);
  check_variant_modules (&c, devices);
  check_daemon (&c);
  check_unit (&c);
  check_version (&c, "libvirt-version", "libvirt", c.opts->libvirt_version);
  check_version (&c, "qemu-version", "QEMU", c.opts->qemu_version);
  check_early_boot_image (&c);

  if (targets->len == 0) {
    g_ptr_array_unref (targets);
    targets = default_targets (&c, devices);
  }
  /* the PFs: those named, and those of the devices looked at */
  for (guint i = 0; i < targets->len; i++) {
    VfmPciDevice *dev = g_ptr_array_index (targets, i);
    const char *pf = vfm_pci_device_physfn (dev);
    const char *bdf = pf ? pf : vfm_pci_device_bdf (dev);
    if ((pf != NULL || vfm_pci_device_sriov_totalvfs (dev) > 0) &&
        !g_ptr_array_find_with_equal_func (pfs, bdf, g_str_equal, NULL))
      g_ptr_array_add (pfs, g_strdup (bdf));
  }
  for (guint i = 0; i < pfs->len; i++) {
    VfmPciDevice *pf = vfm_host_device (host, g_ptr_array_index (pfs, i), NULL);
    if (pf != NULL)
      check_pf (&c, pf);
  }
  for (guint i = 0; i < targets->len; i++) {
    VfmPciDevice *dev = g_ptr_array_index (targets, i);
    g_autoptr (VfmSelection) sel = vfm_host_select (host, dev, NULL);
    if (vfm_pci_device_sriov_numvfs (dev) > 0)
      continue; /* a PF with VFs is never passed through (Decisions 1) */
    check_group (&c, dev);
    check_acs (&c, dev);
    check_early_boot (&c, dev, sel);
  }
  return g_steal_pointer (&report);
}

JsonNode *
vfm_doctor_report_to_json (const VfmDoctorReport *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "checks");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->lines->len; i++) {
    const VfmDoctorLine *l = g_ptr_array_index (r->lines, i);
    json_builder_begin_object (b);
    vfm_json_add_str (b, "id", l->id);
    vfm_json_add_str (b, "subject", l->subject);
    vfm_json_add_str (b, "state", vfm_doctor_state_to_string (l->state));
    vfm_json_add_str (b, "title", l->title);
    vfm_json_add_str (b, "detail", l->detail);
    vfm_json_add_str (b, "fix", l->fix);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  vfm_json_add_int (b, "ok", r->ok);
  vfm_json_add_int (b, "failed", r->failed);
  vfm_json_add_int (b, "not_applicable", r->na);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
