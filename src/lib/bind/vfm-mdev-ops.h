/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-host.h"
#include "vfm-mdev.h"

G_BEGIN_DECLS

/* Creating and removing mediated devices for vfmig (DESIGN.md, Decisions
 * 31): host/vfm-mdev does the kernel's writes; here they are checked first
 * (parent, type, UUID and capacity, each refusal naming its cause and
 * changing nothing), journaled, done under the instance's lock
 * (/run/vfmig/lock/mdev-UUID), and never done to an instance a process holds
 * (Decisions 14) or, unless forced, to one mdevctl defines. */

/* A mediated device vfmig creates is journaled (state: mdev/UUID.json, written before the kernel write) so that recover removes what vfmig created and nothing uses. */
VfmMdev   *vfm_mdev_ops_create   (VfmHost *host, const char *parent, const char *type, const char *uuid /* NULL: random */, GError **error);
/* Removes an instance: refused (VFM_ERROR_BUSY naming the holder "PID (COMM)") when a process holds it, refused (VFM_ERROR_REFUSED) when mdevctl defines it persistently (/etc/mdevctl.d/PARENT/UUID, through a new vfm-sysroot helper) unless force; its journal record goes. */
gboolean   vfm_mdev_ops_remove   (VfmHost *host, const char *uuid, gboolean force, GError **error);
gboolean   vfm_mdev_ops_created_by_vfmig (VfmHost *host, const char *uuid);
/* After a crash: a record whose instance exists and nothing holds → removed; held → kept (reported); gone → record dropped. Each as a VfmBindResult with op "recover" naming the UUID.
 * A record whose creating process still runs (vfmigd, a migration, a
 * bridge), or whose instance's lock is held, is left alone; a live claim on
 * the UUID holds the instance like a process does. */
GPtrArray *vfm_mdev_ops_recover  (VfmHost *host);

/* mdevctl's definition of UUID (/etc/mdevctl.d/PARENT/UUID, any parent), or
 * NULL when it has none. */
char      *vfm_mdev_ops_mdevctl_definition (VfmHost *host, const char *uuid);
/* An instance as `vfmigctl mdev list` and io.vfmig.List show it:
 * vfm_mdev_to_json plus "created_by_vfmig" and "mdevctl_defined". */
JsonNode  *vfm_mdev_ops_to_json  (VfmHost *host, const VfmMdev *m);

G_END_DECLS
