/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-ids.h"

#include <stdio.h>
#include <string.h>

/* The kernel's modalias format (drivers/pci/pci-sysfs.c, modalias_show). */
char *
vfm_ids_modalias (const VfmDeviceIds *ids)
{
  return g_strdup_printf ("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X",
                          ids->vendor, ids->device,
                          ids->subsystem_vendor, ids->subsystem_device,
                          (ids->class_code >> 16) & 0xff,
                          (ids->class_code >> 8) & 0xff,
                          ids->class_code & 0xff);
}

static gboolean
is_hex_run (const char *s, gsize n)
{
  for (gsize i = 0; i < n; i++)
    if (!g_ascii_isxdigit (s[i]))
      return FALSE;
  return TRUE;
}

/* A canonical BDF as sysfs names devices: "dddd:bb:ss.f", lowercase hex,
 * slot 00-1f, function 0-7. Anything else (a path, "..", spaces) is invalid;
 * this is what keeps user input out of path building. */
gboolean
vfm_bdf_is_valid (const char *bdf)
{
  if (bdf == NULL || strlen (bdf) != 12)
    return FALSE;
  if (!is_hex_run (bdf, 4) || bdf[4] != ':' || !is_hex_run (bdf + 5, 2) ||
      bdf[7] != ':' || !is_hex_run (bdf + 8, 2) || bdf[10] != '.' ||
      bdf[11] < '0' || bdf[11] > '7')
    return FALSE;
  for (const char *p = bdf; *p; p++)
    if (g_ascii_isupper (*p))
      return FALSE;
  return g_ascii_xdigit_value (bdf[8]) * 16 + g_ascii_xdigit_value (bdf[9]) < 0x20;
}

/* Accept what people type: "3b:00.2" (domain 0000) and upper-case hex. */
gboolean
vfm_bdf_normalize (const char *input, char *out, gsize out_len)
{
  char buf[16];
  gsize len;

  if (input == NULL || out_len < 13)
    return FALSE;
  len = strlen (input);
  if (len == 7)
    g_snprintf (buf, sizeof buf, "0000:%s", input);
  else if (len == 12)
    g_strlcpy (buf, input, sizeof buf);
  else
    return FALSE;
  for (char *p = buf; *p; p++)
    *p = g_ascii_tolower (*p);
  if (!vfm_bdf_is_valid (buf))
    return FALSE;
  g_strlcpy (out, buf, out_len);
  return TRUE;
}
