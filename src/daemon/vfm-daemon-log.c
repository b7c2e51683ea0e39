/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "vfm-daemon.h"

#include <stdarg.h>

void
vfm_daemon_log (GLogLevelFlags level, const char *op, const char *device, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;
  GLogField fields[4] = {
    { "GLIB_DOMAIN", G_LOG_DOMAIN, -1 },
    { "MESSAGE", NULL, -1 },
  };
  gsize n = 2;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  fields[1].value = message;
  if (op != NULL)
    fields[n++] = (GLogField) { "VFMIG_OP", op, -1 };
  if (device != NULL)
    fields[n++] = (GLogField) { "VFMIG_DEVICE", device, -1 };
  g_log_structured_array (level, fields, n);
}
