/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What the database matches against: a device's identity as plain values.
 * The library fills it from sysfs; the database never reads sysfs itself. */
typedef struct {
  const char *bdf;              /* "dddd:bb:ss.f" */
  guint16 vendor;
  guint16 device;
  guint16 subsystem_vendor;
  guint16 subsystem_device;
  guint32 class_code;           /* 24 bits: base, sub, prog-if */
  gint revision;                /* -1 when unknown */
  gboolean is_vf;
  gboolean has_vfs;             /* a PF that currently controls VFs */
  const char *pf_driver;        /* driver of the PF (VFs only), or NULL */
  const char *pci_path;         /* "pci0000:00/0000:00:01.0/0000:3b:00.2" */
} VfmDeviceIds;

char     *vfm_ids_modalias       (const VfmDeviceIds *ids);
gboolean  vfm_bdf_is_valid       (const char *bdf);
gboolean  vfm_bdf_normalize      (const char *input,
                                  char       *out,
                                  gsize       out_len);

G_END_DECLS
