/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* Crash-safe state under /var/lib/vfmig (DESIGN.md, "Journal"):
 *   owned/BDF.json   a device vfmig bound, and the driver it came from;
 *   intent/BDF.json  an operation under way, written before the first sysfs
 *                    write and removed after the result is verified;
 *   intent/batch-UUID.json  the intents of a bind of several devices, one
 *                    record for the batch, the same members;
 *   sriov/PF.json    a vf create/destroy under way on a PF, likewise;
 *   migrations/UUID.json  a migration under way from this host;
 *   mdev/UUID.json   a mediated device vfmig created (written before the
 *                    kernel's create, removed with the instance), so that
 *                    recovery removes what vfmig created and nothing uses.
 * Every file is written whole (temp file, rename), so a crash leaves the old
 * or the new version, never a torn one, and is fsynced with its directory
 * - except owned records when they are new: what they describe is the
 * kernel's binding, which a power loss resets anyway, while a killed process
 * leaves the page cache (and so every record) whole. With one intent record
 * per request, a batch of binds costs one journal transaction: the record's
 * fsync and its directory's. */

typedef struct {
  char *bdf;
  char *original_driver;    /* NULL: the device was unbound */
  char *original_override;  /* NULL: none */
  char *driver;             /* what vfmig bound it to */
  gint64 bound_at;          /* unix seconds */
  char *origin;             /* NULL: a bind; "early-boot": the initramfs step bound it */
} VfmOwned;

typedef enum { VFM_INTENT_BIND, VFM_INTENT_UNBIND } VfmIntentOp;

typedef struct {
  VfmIntentOp op;
  char *bdf;
  char *target_driver;      /* NULL: leave unbound */
  char *previous_driver;
  char *previous_override;
  char *original_driver;    /* bind: the host driver to remember */
  char *original_override;
  gint64 started_at;
  gint pid;
  char *batch;              /* the batch record it belongs to (its UUID), or NULL */
} VfmIntent;

/* sriov/PF.json: a vf create or destroy under way on a PF (its VFs' binds
 * have their own intents). */
typedef enum { VFM_SRIOV_CREATE, VFM_SRIOV_DESTROY } VfmSriovOp;

typedef struct {
  VfmSriovOp op;
  char *pf;
  gint numvfs;              /* create: the count asked for */
  gint previous_numvfs;
  gint previous_autoprobe;  /* sriov_drivers_autoprobe before, 0 or 1 */
  gint64 started_at;        /* unix seconds */
  gint pid;
} VfmSriovIntent;

/* migrations/UUID.json: a vfmigctl migrate under way on this (the source)
 * host, rewritten before each step, so that a killed migration can be
 * rolled back (the guest is still here) or finished (it runs there). */
typedef struct {
  char *bdf;                /* the source device */
  char *alias;              /* its hostdev alias in the guest */
  char *to;                 /* the claimed destination device, or NULL */
  gboolean detached;        /* a detach was asked on the source */
  char *hostdev;            /* the domain's own <hostdev> element, as it was (NULL: records before 0.2) */
} VfmMigrationDevice;

typedef struct {
  char *domain_uuid;
  char *domain_name;
  char *source_uri;
  char *dest_uri;
  char *peer;               /* vfm-peer spec of the destination */
  char *claim_id;           /* NULL: none (yet) */
  char *phase;              /* "claiming", "claimed", "prepared", "detaching",
                             * "migrating", "attaching", "releasing" */
  gboolean prepared;
  gboolean persistent;      /* attach on the destination with config too */
  GPtrArray *devices;       /* VfmMigrationDevice: the replugged ones */
  gint64 started_at;
  gint pid;
} VfmMigrationRecord;

/* mdev/UUID.json: an instance vfmig created, for as long as it exists.
 * Written before the kernel's create (complete FALSE: an intent, which a
 * crash leaves for recover to undo) and again once the instance is verified
 * (complete TRUE: vfmig's own instance, which nothing removes behind the
 * operator's back). */
typedef struct {
  char *uuid;
  char *parent;             /* the parent's device name ("mtty", a BDF) */
  char *type;               /* the type's directory name ("mtty-1") */
  gint64 created_at;        /* unix seconds */
  gint pid;                 /* the process that created it */
  gboolean complete;        /* the create finished and was verified */
} VfmMdevRecord;

void        vfm_owned_free             (VfmOwned *o);
void        vfm_mdev_record_free       (VfmMdevRecord *r);
VfmMigrationRecord *vfm_migration_record_new  (void);
void        vfm_migration_record_free  (VfmMigrationRecord *m);
void        vfm_sriov_intent_free      (VfmSriovIntent *i);
const char *vfm_sriov_op_to_string     (VfmSriovOp op);
void        vfm_intent_free            (VfmIntent *i);
const char *vfm_intent_op_to_string    (VfmIntentOp op);

/* One shape per record: the journal files hold exactly this JSON, and the
 * API (status, io.vfmig.Status) shows the same objects. _from_json takes a
 * parsed object and the place it came from (for errors): a member of the
 * wrong type makes the record damaged, never "absent". */
JsonNode           *vfm_owned_to_json              (const VfmOwned *o);
VfmOwned           *vfm_owned_from_json            (JsonObject *o, const char *origin, GError **error);
JsonNode           *vfm_intent_to_json             (const VfmIntent *i);
VfmIntent          *vfm_intent_from_json           (JsonObject *o, const char *origin, GError **error);
JsonNode           *vfm_sriov_intent_to_json       (const VfmSriovIntent *i);
VfmSriovIntent     *vfm_sriov_intent_from_json     (JsonObject *o, const char *origin, GError **error);
JsonNode           *vfm_migration_record_to_json   (const VfmMigrationRecord *m);
VfmMigrationRecord *vfm_migration_record_from_json (JsonObject *o, const char *origin, GError **error);
JsonNode           *vfm_mdev_record_to_json        (const VfmMdevRecord *r);
VfmMdevRecord      *vfm_mdev_record_from_json      (JsonObject *o, const char *origin, GError **error);

gboolean    vfm_journal_write_owned    (VfmSysroot *sr, const VfmOwned *o, GError **error);
VfmOwned   *vfm_journal_read_owned     (VfmSysroot *sr, const char *bdf, GError **error);
gboolean    vfm_journal_remove_owned   (VfmSysroot *sr, const char *bdf, GError **error);
GPtrArray  *vfm_journal_list_owned     (VfmSysroot *sr, GPtrArray *warnings);

gboolean    vfm_journal_write_intent   (VfmSysroot *sr, const VfmIntent *i, GError **error);
VfmIntent  *vfm_journal_read_intent    (VfmSysroot *sr, const char *bdf, GError **error);
gboolean    vfm_journal_clear_intent   (VfmSysroot *sr, const char *bdf, GError **error);
/* Each member of every batch record too, with ->batch set. */
GPtrArray  *vfm_journal_list_intents   (VfmSysroot *sr, GPtrArray *warnings);

/* A batch: the intents (VfmIntent) of several devices in one record, named
 * by a UUID. Writing an empty array removes the record. */
gboolean    vfm_journal_write_batch    (VfmSysroot *sr, const char *uuid, GPtrArray *intents, GError **error);
GPtrArray  *vfm_journal_read_batch     (VfmSysroot *sr, const char *uuid, GError **error);

gboolean        vfm_journal_write_sriov  (VfmSysroot *sr, const VfmSriovIntent *i, GError **error);
VfmSriovIntent *vfm_journal_read_sriov   (VfmSysroot *sr, const char *pf, GError **error);
gboolean        vfm_journal_clear_sriov  (VfmSysroot *sr, const char *pf, GError **error);
GPtrArray      *vfm_journal_list_sriov   (VfmSysroot *sr, GPtrArray *warnings);

gboolean            vfm_journal_write_migration  (VfmSysroot *sr, const VfmMigrationRecord *m, GError **error);
VfmMigrationRecord *vfm_journal_read_migration   (VfmSysroot *sr, const char *uuid, GError **error);
gboolean            vfm_journal_remove_migration (VfmSysroot *sr, const char *uuid, GError **error);
GPtrArray          *vfm_journal_list_migrations  (VfmSysroot *sr, GPtrArray *warnings);

gboolean        vfm_journal_write_mdev   (VfmSysroot *sr, const VfmMdevRecord *r, GError **error);
/* NULL with no error when there is no record (vfm-mdev-ops asks often). */
VfmMdevRecord  *vfm_journal_read_mdev    (VfmSysroot *sr, const char *uuid, GError **error);
gboolean        vfm_journal_remove_mdev  (VfmSysroot *sr, const char *uuid, GError **error);
GPtrArray      *vfm_journal_list_mdevs   (VfmSysroot *sr, GPtrArray *warnings);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmOwned, vfm_owned_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmMigrationRecord, vfm_migration_record_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmSriovIntent, vfm_sriov_intent_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmIntent, vfm_intent_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmMdevRecord, vfm_mdev_record_free)

G_END_DECLS
