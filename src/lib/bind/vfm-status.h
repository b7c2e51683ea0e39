/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>
#include "vfm-host.h"
#include "vfm-journal.h"
#include "vfm-early-record.h"

G_BEGIN_DECLS

/* What vfmig holds on this host, read from the journal (read-only): the
 * devices it owns, operations a crash interrupted, migrations this host is
 * driving, the mediated devices it created, and the state files that could
 * not be read. vfmigctl status and
 * vfmigd's io.vfmig.Status both answer with vfm_status_to_json. */
typedef struct {
  GPtrArray *owned;       /* VfmOwned */
  GPtrArray *intents;     /* VfmIntent */
  GPtrArray *sriov;       /* VfmSriovIntent */
  GPtrArray *migrations;  /* VfmMigrationRecord */
  GPtrArray *mdevs;       /* VfmMdevRecord: mediated devices vfmig created */
  GPtrArray *problems;    /* char *: damaged journal records, claims file */
  VfmEarlyBoot *early;    /* what the initramfs step did this boot, or NULL */
} VfmStatus;

VfmStatus *vfm_status_read    (VfmHost *host);
void       vfm_status_free    (VfmStatus *st);
/* {"owned", "pending", "migrations", "journal_problems", "mdevs",
 *  "early_boot": null | {"plan", "devices": [...]}} */
JsonNode  *vfm_status_to_json (const VfmStatus *st, VfmHost *host);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmStatus, vfm_status_free)

G_END_DECLS
