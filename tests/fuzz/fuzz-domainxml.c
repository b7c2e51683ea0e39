/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Domain XML, as the libvirt hook gets it on stdin and as migrate reads it
 * from the source: parsed for its PCI hostdevs, then rewritten for the
 * destination (each hostdev moved to another address, the first one dropped
 * for replug, a claim id in the metadata). Whatever parses must rewrite to
 * XML that parses again, with the moved addresses, without the dropped
 * device, and with the claim id readable back. */
#include "fuzz-common.h"
#include "vfm-domain-xml.h"

#define CLAIM "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  vfm_fuzz_init_logging ();
  return 0;
}

/* a destination address for source i: distinct, valid, never a source */
static char *
destination (guint i)
{
  return g_strdup_printf ("0000:f%x:%02x.%u", (i >> 8) & 0xf, (i >> 3) & 0x1f, i & 7);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (VfmDomainInfo) info = vfm_domain_parse ((const char *) data, size, &error);
  g_autoptr (GHashTable) moves = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GHashTable) drop = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (VfmDomainInfo) back = NULL;
  g_autofree char *out = NULL, *claim = NULL;
  guint kept = 0;

  VFM_FUZZ_CHECK ((info == NULL) == (error != NULL), "info %p, error %p", (void *) info, (void *) error);
  if (info == NULL)
    return 0;
  for (guint i = 0; i < info->hostdevs->len; i++) {
    const VfmHostdev *h = g_ptr_array_index (info->hostdevs, i);
    VFM_FUZZ_CHECK (h->bdf != NULL && strlen (h->bdf) == 12 && strchr (h->bdf, '/') == NULL,
                    "a hostdev with address \"%s\"", h->bdf ? h->bdf : "(null)");
    if (i == 0)
      g_hash_table_insert (drop, g_strdup (h->bdf), g_strdup (h->alias ? h->alias : "hostdev0"));
    else if (!g_hash_table_contains (moves, h->bdf))
      g_hash_table_insert (moves, g_strdup (h->bdf), destination (i));
  }
  out = vfm_domain_rewrite ((const char *) data, size, moves, drop, CLAIM, &error);
  VFM_FUZZ_CHECK (out != NULL, "parsed but did not rewrite: %s", error ? error->message : "?");
  back = vfm_domain_parse (out, strlen (out), &error);
  VFM_FUZZ_CHECK (back != NULL, "the rewritten XML does not parse: %s", error ? error->message : "?");
  for (guint i = 0; i < info->hostdevs->len; i++)
    kept += !g_hash_table_contains (drop, ((VfmHostdev *) g_ptr_array_index (info->hostdevs, i))->bdf);
  VFM_FUZZ_CHECK (back->hostdevs->len == kept, "%u hostdevs after the rewrite, %u expected", back->hostdevs->len,
                  kept);
  for (guint i = 0; i < back->hostdevs->len; i++) {
    const VfmHostdev *h = g_ptr_array_index (back->hostdevs, i);
    VFM_FUZZ_CHECK (!g_hash_table_contains (moves, h->bdf) && !g_hash_table_contains (drop, h->bdf),
                    "source address %s is still in the destination XML", h->bdf);
  }
  claim = vfm_domain_claim_id (out, strlen (out));
  VFM_FUZZ_CHECK (g_strcmp0 (claim, CLAIM) == 0, "claim id \"%s\" read back", claim ? claim : "(null)");
  return 0;
}
