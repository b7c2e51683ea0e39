/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-alias.h"
#include "vfm-error.h"

#include <string.h>

/* The field names of a PCI modalias ("v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X",
 * drivers/pci/pci-sysfs.c), in order. */
static const char *const field_names[VFM_ALIAS_FIELDS] = { "v", "d", "sv", "sd", "bc", "sc", "i" };

void
vfm_alias_fields_clear (char *fields[VFM_ALIAS_FIELDS])
{
  for (guint i = 0; i < VFM_ALIAS_FIELDS; i++)
    g_clear_pointer (&fields[i], g_free);
}

/* Splits "v…d…sv…sd…bc…sc…i…" (a device's modalias after "pci:", or an
 * alias pattern after "vfio_pci:") into its seven values. Each field runs to
 * the first occurrence of the next field's name, the last one to white space
 * or the end: the rule libvirt applies to both strings, unambiguous for what
 * the kernel writes (upper-case hex or '*', lower-case names). FALSE, with
 * nothing allocated, when the text does not have that shape. */
gboolean
vfm_alias_split (const char *text, char *fields[VFM_ALIAS_FIELDS])
{
  const char *p = text;

  for (guint i = 0; i < VFM_ALIAS_FIELDS; i++)
    fields[i] = NULL;
  for (guint i = 0; i < VFM_ALIAS_FIELDS; i++) {
    gsize len = strlen (field_names[i]);
    const char *next;

    if (strncmp (p, field_names[i], len) != 0) {
      vfm_alias_fields_clear (fields);
      return FALSE;
    }
    p += len;
    if (i + 1 < VFM_ALIAS_FIELDS) {
      next = strstr (p, field_names[i + 1]);
      if (next == NULL) {
        vfm_alias_fields_clear (fields);
        return FALSE;
      }
    } else {
      next = p;
      while (*next != '\0' && !g_ascii_isspace (*next))
        next++;
    }
    fields[i] = g_strndup (p, (gsize) (next - p));
    p = next;
  }
  return TRUE;
}

static void
alias_free (gpointer data)
{
  VfmAlias *a = data;
  g_free (a->pattern);
  vfm_alias_fields_clear (a->fields);
  g_free (a->module);
  g_free (a);
}

/* Lint for one vfio_pci pattern: what makes it never match a device although
 * it looks as if it should. Matching stays libvirt's (literal,
 * case-sensitive); these only explain. */
static void
lint_alias (VfmAliasTable *t, const char *path, guint lineno, const VfmAlias *a)
{
  for (guint i = 0; i < VFM_ALIAS_FIELDS; i++) {
    const char *f = a->fields[i];
    if (strcmp (f, "*") == 0)
      continue;
    if (strchr (f, '*') != NULL) {
      g_ptr_array_add (t->warnings,
                       g_strdup_printf ("%s:%u: field %s \"%s\" has a '*' inside a value: only a whole-field '*' "
                                        "is a wildcard (libvirt compares the rest literally), so it never matches",
                                        path, lineno, field_names[i], f));
      return;
    }
    for (const char *c = f; *c; c++)
      if (g_ascii_islower (*c)) {
        g_ptr_array_add (t->warnings,
                         g_strdup_printf ("%s:%u: field %s \"%s\" has lower-case hex: the kernel writes upper "
                                          "case and libvirt compares case-sensitively, so it never matches",
                                          path, lineno, field_names[i], f));
        return;
      }
  }
}

VfmAliasTable *
vfm_alias_table_new (void)
{
  VfmAliasTable *t = g_new0 (VfmAliasTable, 1);
  t->ref = 1;
  t->vfio = g_ptr_array_new_with_free_func (alias_free);
  t->modules = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  t->warnings = g_ptr_array_new_with_free_func (g_free);
  return t;
}

VfmAliasTable *
vfm_alias_table_ref (VfmAliasTable *t)
{
  g_atomic_int_inc (&t->ref);
  return t;
}

void
vfm_alias_table_free (VfmAliasTable *t)
{
  if (t == NULL || !g_atomic_int_dec_and_test (&t->ref))
    return;
  g_free (t->path);
  g_ptr_array_unref (t->vfio);
  g_hash_table_unref (t->modules);
  g_ptr_array_unref (t->warnings);
  g_free (t);
}

/* Module names are the same with '-' and '_' (kmod treats them alike). */
char *
vfm_module_normalize (const char *module)
{
  char *m = g_strdup (module);
  g_strdelimit (m, "-", '_');
  return m;
}

static void
add_module (VfmAliasTable *t, const char *module, gsize len)
{
  char *m = g_strndup (module, len);
  g_strdelimit (m, "-", '_');
  g_hash_table_add (t->modules, m);
}

/* modules.alias: "alias PATTERN MODULE" per line, '#' comments. Lines that do
 * not have that shape are kept as warnings (db lint shows them) and skipped:
 * the file is the kernel's, and one odd line must not hide the others. */
gboolean
vfm_alias_table_parse (VfmAliasTable *t, const char *path, const char *text, GError **error)
{
  const char *p = text;
  guint lineno = 0;

  if (text == NULL) {
    g_set_error (error, VFM_ERROR, VFM_ERROR_PARSE, "%s: no content", path);
    return FALSE;
  }
  g_free (t->path);
  t->path = g_strdup (path);

  while (*p != '\0') {
    const char *eol = strchr (p, '\n');
    gsize len = eol ? (gsize) (eol - p) : strlen (p);
    lineno++;

    if (len > 0 && p[0] != '#') {
      /* most of the file is "alias pci:… MODULE", "alias usb:… MODULE" …:
       * only the module name matters there, found without splitting */
      gboolean vfio = len > strlen ("alias vfio_pci:") && strncmp (p, "alias vfio_pci:", strlen ("alias vfio_pci:")) == 0;
      const char *last = p + len;
      const char *word = last;
      while (word > p && word[-1] != ' ' && word[-1] != '\t')
        word--;
      if (!vfio && len > 6 && strncmp (p, "alias ", 6) == 0 && word > p + 6 && word < last &&
          memchr (p + 6, ' ', (gsize) (word - 1 - (p + 6))) == NULL && memchr (p + 6, '\t', (gsize) (word - 1 - (p + 6))) == NULL) {
        add_module (t, word, (gsize) (last - word));
      } else {
        g_autofree char *line = g_strndup (p, len);
        g_auto (GStrv) f = g_strsplit_set (g_strstrip (line), " \t", -1);
        g_autoptr (GPtrArray) words = g_ptr_array_new ();
        for (guint i = 0; f[i]; i++)
          if (*f[i])
            g_ptr_array_add (words, f[i]);

        if (words->len == 0) {
          /* blank */
        } else if (words->len != 3 || strcmp (g_ptr_array_index (words, 0), "alias") != 0) {
          g_ptr_array_add (t->warnings,
                           g_strdup_printf ("%s:%u: not \"alias PATTERN MODULE\", ignored", path, lineno));
        } else {
          const char *pattern = g_ptr_array_index (words, 1);
          const char *module = g_ptr_array_index (words, 2);
          add_module (t, module, strlen (module));
          if (g_str_has_prefix (pattern, "vfio_pci:")) {
            VfmAlias *a = g_new0 (VfmAlias, 1);
            a->pattern = g_strdup (pattern + strlen ("vfio_pci:"));
            if (!vfm_alias_split (a->pattern, a->fields)) {
              g_ptr_array_add (t->warnings,
                               g_strdup_printf ("%s:%u: \"%s\" is not a modalias pattern "
                                                "(v…d…sv…sd…bc…sc…i…), ignored as libvirt ignores it",
                                                path, lineno, pattern));
              alias_free (a);
            } else {
              a->module = vfm_module_normalize (module);
              a->line = lineno;
              for (guint k = 0; k < VFM_ALIAS_FIELDS; k++)
                a->wildcards += strcmp (a->fields[k], "*") == 0;
              lint_alias (t, path, lineno, a);
              g_ptr_array_add (t->vfio, a);
            }
          }
        }
      }
    }
    if (eol == NULL)
      break;
    p = eol + 1;
  }
  return TRUE;
}

/* modules.dep ("kernel/…/name.ko: deps") and modules.builtin ("kernel/…/name.ko"):
 * each line names one installed module by its path. */
void
vfm_alias_table_add_modules (VfmAliasTable *t, const char *text)
{
  const char *p = text;
  while (p != NULL && *p != '\0') {
    const char *eol = strchr (p, '\n');
    const char *end = eol ? eol : p + strlen (p);
    const char *colon = memchr (p, ':', end - p);
    const char *stop = colon ? colon : end;
    const char *base = stop;
    while (base > p && base[-1] != '/')
      base--;
    /* strip ".ko" and any compression suffix (.ko.xz, .ko.zst, .ko.gz) */
    const char *ko = g_strstr_len (base, stop - base, ".ko");
    if (ko != NULL && ko > base)
      add_module (t, base, ko - base);
    p = eol ? eol + 1 : NULL;
  }
}

gboolean
vfm_alias_table_has_module (VfmAliasTable *t, const char *module)
{
  g_autofree char *m = vfm_module_normalize (module);
  return g_hash_table_contains (t->modules, m);
}

/* libvirt's rule (src/util/virpci.c, virPCIDeviceAliasInfoMatch): field by
 * field, an alias field that is exactly "*" matches anything, any other
 * must equal the device's value byte for byte. Both strings are as the
 * kernel writes them (upper-case hex); nothing is normalised, so a
 * hand-written lower-case line matches neither here nor in libvirt. */
static gboolean
alias_matches (const VfmAlias *a, char *const dev[VFM_ALIAS_FIELDS])
{
  for (guint i = 0; i < VFM_ALIAS_FIELDS; i++)
    if (strcmp (a->fields[i], "*") != 0 && strcmp (a->fields[i], dev[i]) != 0)
      return FALSE;
  return TRUE;
}

/* All vfio_pci aliases matching a device's modalias ("pci:v…"), in file
 * order; empty when the modalias does not parse. */
GPtrArray *
vfm_alias_table_match (VfmAliasTable *t, const char *modalias)
{
  GPtrArray *out = g_ptr_array_new ();
  char *dev[VFM_ALIAS_FIELDS];

  if (g_str_has_prefix (modalias, "pci:"))
    modalias += 4;
  if (!vfm_alias_split (modalias, dev))
    return out;
  for (guint i = 0; i < t->vfio->len; i++) {
    VfmAlias *a = g_ptr_array_index (t->vfio, i);
    if (alias_matches (a, dev))
      g_ptr_array_add (out, a);
  }
  vfm_alias_fields_clear (dev);
  return out;
}

/* The line libvirt (>= 10.0, virPCIDeviceFindBestVFIOVariant) picks: the
 * match with the fewest wildcards, the first in the file among equals.
 * NULL when nothing matches (libvirt then uses plain vfio-pci). */
const VfmAlias *
vfm_alias_table_best (VfmAliasTable *t, const char *modalias)
{
  g_autoptr (GPtrArray) hits = vfm_alias_table_match (t, modalias);
  const VfmAlias *best = NULL;

  for (guint i = 0; i < hits->len; i++) {
    const VfmAlias *a = g_ptr_array_index (hits, i);
    if (best == NULL || a->wildcards < best->wildcards)
      best = a;
  }
  return best;
}
