/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-alias.h"
#include "vfm-error.h"

#include <fnmatch.h>
#include <string.h>

static void
alias_free (gpointer data)
{
  VfmAlias *a = data;
  g_free (a->pattern);
  g_free (a->module);
  g_free (a);
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
            a->pattern = g_ascii_strup (pattern + strlen ("vfio_pci:"), -1);
            a->module = vfm_module_normalize (module);
            a->line = lineno;
            for (const char *c = a->pattern; *c; c++)
              a->wildcards += (*c == '*');
            g_ptr_array_add (t->vfio, a);
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

/* All vfio_pci aliases matching a device's modalias ("pci:v…"), in file
 * order. Both sides are upper-cased: the kernel writes hex in upper case, but
 * a hand-written alias file may not. */
GPtrArray *
vfm_alias_table_match (VfmAliasTable *t, const char *modalias)
{
  GPtrArray *out = g_ptr_array_new ();
  g_autofree char *subject = NULL;

  if (g_str_has_prefix (modalias, "pci:"))
    modalias += 4;
  subject = g_ascii_strup (modalias, -1);
  for (guint i = 0; i < t->vfio->len; i++) {
    VfmAlias *a = g_ptr_array_index (t->vfio, i);
    if (fnmatch (a->pattern, subject, 0) == 0)
      g_ptr_array_add (out, a);
  }
  return out;
}
