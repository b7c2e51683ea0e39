/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-ids.h"
#include "vfm-keyfile.h"

G_BEGIN_DECLS

/* A device pattern, as written in a [Match] group of a driver entry or a
 * policy. Every key present must match; a key absent matches anything. */
typedef struct {
  gint vendor, device, subsystem_vendor, subsystem_device; /* -1 = any */
} VfmIdPattern;

typedef enum { VFM_TRI_ANY, VFM_TRI_YES, VFM_TRI_NO } VfmTristate;

typedef struct {
  GArray *ids;          /* VfmIdPattern; empty = any */
  char **classes;       /* hex prefixes of 2, 4 or 6 digits; NULL = any */
  gint revision;        /* -1 = any */
  char *function;       /* "bb:ss.f" in the domain-less form, or NULL */
  VfmTristate vf;       /* VirtualFunction= */
  VfmTristate has_vfs;  /* HasVFs= (PFs currently controlling VFs) */
  char **pf_drivers;    /* the PF's driver, VFs only */
  char **bdfs;          /* glob patterns on the BDF */
  char **pci_paths;     /* glob patterns on the stable PCI path */
  guint line;           /* of the [Match] group, for messages */
} VfmMatch;

VfmMatch *vfm_match_from_group (VfmKeyfileGroup *group,
                                const char      *path,
                                GError         **error);
void      vfm_match_free       (VfmMatch *match);
gboolean  vfm_match_test       (const VfmMatch     *match,
                                const VfmDeviceIds *ids);
guint     vfm_match_specificity (const VfmMatch *match);
char     *vfm_match_describe   (const VfmMatch *match);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmMatch, vfm_match_free)

G_END_DECLS
