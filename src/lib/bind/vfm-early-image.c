/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-early-image.h"
#include "vfm-datafile.h"
#include "vfm-error.h"
#include "vfm-json.h"
#include "vfm-strings.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void
generator_free (VfmInitramfsGenerator *g)
{
  if (g == NULL)
    return;
  g_free (g->name);
  g_free (g->program);
  g_free (g->command);
  g_strfreev (g->images);
  g_free (g->no_hook);
  g_free (g);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmInitramfsGenerator, generator_free)

GPtrArray *
vfm_initramfs_generators_load (const char *path, GError **error)
{
  g_autofree char *shipped = NULL;
  g_autoptr (GKeyFile) kf = NULL;
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func ((GDestroyNotify) generator_free);
  g_autoptr (GError) local = NULL;
  g_auto (GStrv) groups = NULL;

  if (path == NULL) {
    if ((kf = vfm_datafile_load_keyfile ("initramfs", "generators.conf", &shipped, error)) == NULL)
      return NULL;
    path = shipped;
  } else {
    kf = g_key_file_new ();
    if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, &local)) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: %s", path, local->message);
      return NULL;
    }
  }
  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++) {
    g_autoptr (VfmInitramfsGenerator) g = NULL;
    g = g_new0 (VfmInitramfsGenerator, 1);
    g->name = g_strdup (groups[i]);
    g->program = g_key_file_get_string (kf, groups[i], "Program", NULL);
    g->command = g_key_file_get_string (kf, groups[i], "Command", NULL);
    g->images = g_key_file_get_string_list (kf, groups[i], "Image", NULL, NULL);
    g->no_hook = g_key_file_get_string (kf, groups[i], "NoHook", NULL);
    if (g->program == NULL || !g_path_is_absolute (g->program) || g->command == NULL ||
        !g_shell_parse_argv (g->command, NULL, NULL, NULL) || strstr (g->command, "{release}") == NULL) {
      g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                   "%s: [%s] needs Program= (an absolute path) and Command= (shell words naming {release})", path,
                   groups[i]);
      return NULL;
    }
    if (g->images == NULL)
      g->images = g_new0 (char *, 1);
    g_ptr_array_add (out, g_steal_pointer (&g));
  }
  return g_steal_pointer (&out);
}

static VfmInitramfsGenerator *
generator_copy (const VfmInitramfsGenerator *g)
{
  VfmInitramfsGenerator *c;
  if (g == NULL)
    return NULL;
  c = g_new0 (VfmInitramfsGenerator, 1);
  c->name = g_strdup (g->name);
  c->program = g_strdup (g->program);
  c->command = g_strdup (g->command);
  c->images = g_strdupv (g->images);
  c->no_hook = g_strdup (g->no_hook);
  return c;
}

gboolean
vfm_early_image_release_valid (const char *release, GError **error)
{
  gboolean ok = release != NULL && *release != '\0' && *release != '.' && strlen (release) < 200;
  for (const char *p = release; ok && *p; p++)
    ok = g_ascii_isalnum (*p) || strchr ("._-+~", *p) != NULL;
  if (!ok)
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT,
                 "\"%s\" is not a kernel release (like 6.12.0-1-amd64: letters, digits, . _ - + ~)",
                 release ? release : "");
  return ok;
}

static char *
fill_release (const char *tmpl, const char *release)
{
  g_auto (GStrv) parts = g_strsplit (tmpl, "{release}", -1);
  return g_strjoinv (release, parts);
}

/* ------------------------------------------------------------ record */

gboolean
vfm_early_image_record (VfmSysroot *sr, const char *release, const char *generator, const char *plan_text,
                        GError **error)
{
  g_autofree char *path = NULL, *dir = NULL, *body = NULL;

  if (!vfm_early_image_release_valid (release, error))
    return FALSE;
  if (generator == NULL || *generator == '\0' || strpbrk (generator, " \t\n/") != NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_INVALID_ARGUMENT, "\"%s\" is not a generator name",
                 generator ? generator : "");
    return FALSE;
  }
  path = vfm_sysroot_early_plan_record (sr, release);
  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    int e = errno;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot create %s: %s", dir, g_strerror (e));
    return FALSE;
  }
  body = g_strdup_printf ("generator %s\n%s", generator, plan_text);
  return g_file_set_contents_full (path, body, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, error);
}

/* The record of RELEASE: TRUE with *generator NULL when there is none. */
static gboolean
record_read (VfmSysroot *sr, const char *release, char **generator, char **plan_text, GError **error)
{
  g_autofree char *path = vfm_sysroot_early_plan_record (sr, release);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;
  const char *nl;

  *generator = *plan_text = NULL;
  if (!g_file_get_contents (path, &text, NULL, &local)) {
    if (g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return TRUE;
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "cannot read %s: %s", path, local->message);
    return FALSE;
  }
  if (!g_str_has_prefix (text, "generator ") || (nl = strchr (text, '\n')) == NULL || nl == text + 10) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE,
                 "%s:1: not an early-boot record (it starts with \"generator NAME\", written by the initramfs hook)",
                 path);
    return FALSE;
  }
  *generator = g_strndup (text + 10, nl - text - 10);
  *plan_text = g_strdup (nl + 1);
  return TRUE;
}

GPtrArray *
vfm_early_image_releases (VfmSysroot *sr)
{
  const char *running = vfm_sysroot_kernel_release (sr);
  g_autofree char *any = vfm_sysroot_early_plan_record (sr, "x");
  g_autofree char *dir = g_path_get_dirname (any);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_ptr_array_add (out, g_strdup (running));
  while (d != NULL && (name = g_dir_read_name (d)) != NULL) {
    g_autofree char *release = NULL, *mdir = NULL;
    if (!g_str_has_suffix (name, ".plan"))
      continue;
    release = g_strndup (name, strlen (name) - 5);
    if (!vfm_early_image_release_valid (release, NULL) || strcmp (release, running) == 0)
      continue;
    mdir = vfm_sysroot_release_modules_dir (sr, release);
    if (g_file_test (mdir, G_FILE_TEST_IS_DIR))
      g_ptr_array_add (found, g_steal_pointer (&release));
  }
  vfm_strings_sort (found);
  for (guint i = 0; i < found->len; i++)
    g_ptr_array_add (out, g_strdup (g_ptr_array_index (found, i)));
  return out;
}

/* ------------------------------------------------------------ plans */

typedef struct {
  char *id;
  GPtrArray *lines;    /* char *: the "device …" lines */
  GHashTable *modules; /* module name -> itself */
} Plan;

static void
plan_clear (Plan *p)
{
  g_free (p->id);
  g_clear_pointer (&p->lines, g_ptr_array_unref);
  g_clear_pointer (&p->modules, g_hash_table_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Plan, plan_clear)

/* device PCI_PATH VENDOR DEVICE SUBVENDOR SUBDEVICE DRIVER MODULE HOST_DRIVER POLICY */
static void
plan_parse (const char *text, Plan *p)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  p->lines = g_ptr_array_new_with_free_func (g_free);
  p->modules = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; lines[i] != NULL; i++) {
    g_auto (GStrv) f = NULL;
    if (g_str_has_prefix (lines[i], "plan ") && p->id == NULL)
      p->id = g_strstrip (g_strdup (lines[i] + 5));
    if (!g_str_has_prefix (lines[i], "device "))
      continue;
    g_ptr_array_add (p->lines, g_strdup (lines[i]));
    f = g_strsplit_set (lines[i], " \t", -1);
    if (g_strv_length (f) >= 10 && !g_hash_table_contains (p->modules, f[7]))
      g_hash_table_add (p->modules, g_strdup (f[7]));
  }
  if (p->id == NULL)
    p->id = g_strdup ("?");
}

static VfmEarlyPlanEntry *
entry_from_line (const char *line)
{
  g_auto (GStrv) f = g_strsplit_set (line, " \t", -1);
  VfmEarlyPlanEntry *e = g_new0 (VfmEarlyPlanEntry, 1);
  guint n = g_strv_length (f);

  e->pci_path = g_strdup (n > 1 ? f[1] : "?");
  e->vendor = n > 2 ? g_ascii_strtoull (f[2], NULL, 16) : 0;
  e->device = n > 3 ? g_ascii_strtoull (f[3], NULL, 16) : 0;
  e->subsystem_vendor = n > 4 ? g_ascii_strtoull (f[4], NULL, 16) : 0;
  e->subsystem_device = n > 5 ? g_ascii_strtoull (f[5], NULL, 16) : 0;
  e->driver = g_strdup (n > 6 ? f[6] : "?");
  e->module = g_strdup (n > 7 ? f[7] : "?");
  e->host_driver = n > 8 && strcmp (f[8], "-") != 0 ? g_strdup (f[8]) : NULL;
  e->policy = g_strdup (n > 9 ? f[9] : "?");
  return e;
}

static gboolean
has_line (GPtrArray *lines, const char *line)
{
  return g_ptr_array_find_with_equal_func (lines, line, g_str_equal, NULL);
}

/* The modules of A that B lacks, leaving out those every image with the
 * hook has whatever the plan (the hooks add them: vfio, vfio_pci,
 * vfio_iommu_type1). */
static GPtrArray *
modules_minus (GHashTable *a, GHashTable *b)
{
  static const char * const always[] = { "vfio", "vfio_pci", "vfio_iommu_type1", NULL };
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GList) keys = g_list_sort (g_hash_table_get_keys (a), (GCompareFunc) strcmp);
  for (GList *k = keys; k != NULL; k = k->next)
    if (!g_hash_table_contains (b, k->data) && !g_strv_contains (always, k->data))
      g_ptr_array_add (out, g_strdup (k->data));
  return out;
}

/* ------------------------------------------------------------ status */

void
vfm_early_image_status_free (VfmEarlyImageStatus *st)
{
  if (st == NULL)
    return;
  g_free (st->release);
  g_free (st->current_plan);
  g_free (st->current_text);
  g_free (st->recorded_plan);
  g_free (st->recorded_generator);
  g_clear_pointer (&st->added, g_ptr_array_unref);
  g_clear_pointer (&st->removed, g_ptr_array_unref);
  g_clear_pointer (&st->modules_added, g_ptr_array_unref);
  g_clear_pointer (&st->modules_removed, g_ptr_array_unref);
  g_clear_pointer (&st->warnings, g_ptr_array_unref);
  generator_free (st->generator);
  g_free (st->image);
  g_free (st);
}

const char *
vfm_early_image_state_to_string (VfmEarlyImageState s)
{
  switch (s) {
  case VFM_EARLY_IMAGE_UP_TO_DATE: return "up-to-date";
  case VFM_EARLY_IMAGE_STALE: return "stale";
  case VFM_EARLY_IMAGE_NO_RECORD: return "no-record";
  }
  return "?";
}

static gboolean
host_has (VfmSysroot *sr, const char *abs_path)
{
  g_autofree char *p = vfm_sysroot_host_path (sr, abs_path);
  return g_file_test (p, G_FILE_TEST_EXISTS);
}

/* The generator that made the image (its record says), if the host still
 * has it; else the first one the host has. */
static VfmInitramfsGenerator *
find_generator (VfmSysroot *sr, GPtrArray *generators, const char *recorded)
{
  for (guint i = 0; generators != NULL && recorded != NULL && i < generators->len; i++) {
    VfmInitramfsGenerator *g = g_ptr_array_index (generators, i);
    if (strcmp (g->name, recorded) == 0 && host_has (sr, g->program))
      return g;
  }
  for (guint i = 0; generators != NULL && i < generators->len; i++) {
    VfmInitramfsGenerator *g = g_ptr_array_index (generators, i);
    if (host_has (sr, g->program))
      return g;
  }
  return NULL;
}

VfmEarlyImageStatus *
vfm_early_image_status (VfmHost *host, const char *release, GPtrArray *generators, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autoptr (VfmEarlyImageStatus) st = g_new0 (VfmEarlyImageStatus, 1);
  g_autoptr (GPtrArray) plan = NULL;
  g_autofree char *rec_text = NULL;
  g_auto (Plan) now = { 0 };
  g_auto (Plan) then = { 0 };

  st->release = g_strdup (release ? release : vfm_sysroot_kernel_release (sr));
  if (!vfm_early_image_release_valid (st->release, error))
    return NULL;
  st->warnings = g_ptr_array_new_with_free_func (g_free);
  if ((plan = vfm_early_boot_plan (host, st->warnings, error)) == NULL)
    return NULL;
  st->current_text = vfm_early_boot_plan_text (plan);
  plan_parse (st->current_text, &now);
  st->current_plan = g_strdup (now.id);
  if (!record_read (sr, st->release, &st->recorded_generator, &rec_text, error))
    return NULL;

  /* no record: as if the image had an empty plan (it has no vfmig step) */
  plan_parse (rec_text ? rec_text : "", &then);
  st->recorded_plan = rec_text ? g_strdup (then.id) : NULL;
  st->added = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_early_plan_entry_free);
  st->removed = g_ptr_array_new_with_free_func ((GDestroyNotify) vfm_early_plan_entry_free);
  for (guint i = 0; i < now.lines->len; i++)
    if (!has_line (then.lines, g_ptr_array_index (now.lines, i)))
      g_ptr_array_add (st->added, entry_from_line (g_ptr_array_index (now.lines, i)));
  for (guint i = 0; i < then.lines->len; i++)
    if (!has_line (now.lines, g_ptr_array_index (then.lines, i)))
      g_ptr_array_add (st->removed, entry_from_line (g_ptr_array_index (then.lines, i)));
  st->modules_added = modules_minus (now.modules, then.modules);
  st->modules_removed = modules_minus (then.modules, now.modules);
  if (rec_text == NULL) {
    st->state = VFM_EARLY_IMAGE_NO_RECORD;
    /* an image without the step binds nothing early: right for an empty plan */
    st->refresh_needed = st->added->len > 0;
  } else {
    /* the id hashes the device lines: the same id, the same plan */
    st->state = strcmp (now.id, then.id) == 0 && st->added->len == 0 && st->removed->len == 0
                    ? VFM_EARLY_IMAGE_UP_TO_DATE : VFM_EARLY_IMAGE_STALE;
    st->refresh_needed = st->state == VFM_EARLY_IMAGE_STALE;
  }

  st->generator = generator_copy (find_generator (sr, generators, st->recorded_generator));
  for (guint i = 0; st->generator != NULL && st->generator->images[i] != NULL && st->image == NULL; i++) {
    g_autofree char *img = fill_release (st->generator->images[i], st->release);
    if (host_has (sr, img))
      st->image = g_steal_pointer (&img);
  }
  return g_steal_pointer (&st);
}

char **
vfm_early_image_command (const VfmEarlyImageStatus *st, GError **error)
{
  g_auto (GStrv) argv = NULL;

  if (st->generator == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_UNSUPPORTED,
                 "no initramfs generator on this host (looked for the programs in %s/initramfs/generators.conf)",
                 vfm_sysroot_data_root (NULL));
    return NULL;
  }
  if (!g_shell_parse_argv (st->generator->command, NULL, &argv, error))
    return NULL;
  for (guint i = 0; argv[i] != NULL; i++) {
    char *filled = fill_release (argv[i], st->release);
    g_free (argv[i]);
    argv[i] = filled;
  }
  return g_steal_pointer (&argv);
}

static void
add_entries (JsonBuilder *b, const char *key, GPtrArray *entries)
{
  g_autoptr (JsonNode) node = vfm_early_boot_plan_to_json (entries);
  json_builder_set_member_name (b, key);
  json_builder_add_value (b, g_steal_pointer (&node));
}

JsonNode *
vfm_early_image_status_to_json (const VfmEarlyImageStatus *st)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_auto (GStrv) argv = NULL;

  json_builder_begin_object (b);
  vfm_json_add_str (b, "release", st->release);
  vfm_json_add_str (b, "state", vfm_early_image_state_to_string (st->state));
  vfm_json_add_bool (b, "refresh_needed", st->refresh_needed);
  vfm_json_add_str (b, "current_plan", st->current_plan);
  vfm_json_add_str (b, "recorded_plan", st->recorded_plan);
  vfm_json_add_str (b, "recorded_generator", st->recorded_generator);
  add_entries (b, "added", st->added);
  add_entries (b, "removed", st->removed);
  vfm_json_add_strv (b, "modules_added", st->modules_added);
  vfm_json_add_strv (b, "modules_removed", st->modules_removed);
  json_builder_set_member_name (b, "generator");
  if (st->generator == NULL) {
    json_builder_add_null_value (b);
  } else {
    argv = vfm_early_image_command (st, NULL);
    json_builder_begin_object (b);
    vfm_json_add_str (b, "name", st->generator->name);
    vfm_json_add_cstrv (b, "command", argv);
    vfm_json_add_str (b, "image", st->image);
    json_builder_end_object (b);
  }
  vfm_json_add_strv (b, "warnings", st->warnings);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ------------------------------------------------------------ refresh */

/* In the child: the generator's own output goes to stderr, as stdout is
 * vfmigctl's (--json). (Not through g_spawn_async_with_fds: given fd 2 as
 * the source of both, GLib 2.74 marks fd 2 close-on-exec and the child has
 * no stderr.) */
static void
stdout_to_stderr (gpointer unused)
{
  (void) unused;
  dup2 (STDERR_FILENO, STDOUT_FILENO);
}

static gboolean
run_command (char **argv, GError **error)
{
  g_autofree char *shown = g_strjoinv (" ", argv);
  g_autoptr (GError) local = NULL;
  GPid pid;
  int status;

  if (!g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, stdout_to_stderr, NULL, &pid, &local)) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "initramfs generator `%s` could not be run: %s", shown,
                 local->message);
    return FALSE;
  }
  while (waitpid (pid, &status, 0) < 0) {
    if (errno != EINTR) {
      int e = errno;
      g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "initramfs generator `%s`: waitpid: %s", shown,
                   g_strerror (e));
      return FALSE;
    }
  }
  g_spawn_close_pid (pid);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return TRUE;
  if (WIFEXITED (status))
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "initramfs generator `%s` failed with exit status %d", shown,
                 WEXITSTATUS (status));
  else
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED, "initramfs generator `%s` was killed by signal %d", shown,
                 WTERMSIG (status));
  return FALSE;
}

gboolean
vfm_early_image_refresh (VfmHost *host, const VfmEarlyImageStatus *st, GError **error)
{
  VfmSysroot *sr = vfm_host_sysroot (host);
  g_autofree char *path = vfm_sysroot_early_plan_record (sr, st->release);
  g_autofree char *before = NULL, *gen = NULL, *text = NULL;
  g_auto (GStrv) argv = NULL;
  g_auto (Plan) after = { 0 };
  gboolean had = g_file_get_contents (path, &before, NULL, NULL);

  if ((argv = vfm_early_image_command (st, error)) == NULL)
    return FALSE;
  if (!run_command (argv, error)) {
    /* the hook may have recorded a plan before the generator failed: the
     * image was not replaced, so neither is the record */
    g_autoptr (GError) local = NULL;
    if (had ? !g_file_set_contents_full (path, before, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &local)
            : (g_unlink (path) != 0 && errno != ENOENT))
      g_prefix_error (error, "(and the record %s could not be put back: %s) ", path,
                      local ? local->message : g_strerror (errno));
    else
      g_prefix_error (error, "%s: ", st->release);
    return FALSE;
  }
  if (!record_read (sr, st->release, &gen, &text, error))
    return FALSE;
  if (text != NULL)
    plan_parse (text, &after);
  if (text == NULL || g_strcmp0 (after.id, st->current_plan) != 0) {
    g_autofree char *shown = g_strjoinv (" ", argv);
    g_set_error (error, VFM_ERROR, VFM_ERROR_FAILED,
                 "%s: `%s` succeeded but vfmig's hook recorded %s%s (plan %s now): the image has no vfmig hook: %s",
                 st->release, shown, text ? "plan " : "no plan", text ? after.id : "", st->current_plan,
                 st->generator->no_hook ? st->generator->no_hook : "install it");
    return FALSE;
  }
  return TRUE;
}
