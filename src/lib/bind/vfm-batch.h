/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-binder.h"

G_BEGIN_DECLS

/* What a bind, unbind or restore request means for many devices, shared by
 * vfmigctl and vfmigd so their results cannot drift apart: interrupted work
 * recovered first, --all and --group expanded, a group bound whole or not at
 * all. Each returns the VfmBindResult of every device (recoveries first). */

/* Called before each device of a bind: DONE of TOTAL finished so far. */
typedef VfmBindProgress VfmBatchProgress;

typedef struct {
  gboolean all;          /* every device a policy manages */
  gboolean group;        /* every endpoint of each device's IOMMU group */
  const char *driver;    /* NULL: the selected one */
  VfmBindFlags flags;
  VfmBatchProgress progress;  /* NULL: none */
  gpointer progress_data;
} VfmBatchOptions;

gboolean   vfm_device_is_relevant (VfmPciDevice *dev,
                                   VfmSelection *sel);
GPtrArray *vfm_batch_recover      (VfmHost      *host);
GPtrArray *vfm_batch_bind         (VfmHost               *host,
                                   GPtrArray             *bdfs,
                                   const VfmBatchOptions *opts,
                                   GError               **error);
GPtrArray *vfm_batch_unbind       (VfmHost      *host,
                                   GPtrArray    *bdfs,
                                   VfmBindFlags  flags);
GPtrArray *vfm_batch_restore      (VfmHost      *host,
                                   VfmBindFlags  flags,
                                   GPtrArray    *warnings);

G_END_DECLS
