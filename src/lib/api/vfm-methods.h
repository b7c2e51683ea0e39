/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-sysroot.h"

G_BEGIN_DECLS

/* The io.vfmig and org.varlink.service methods: one table that vfmigd serves
 * on its socket, `vfmigctl bridge` on stdin/stdout (a peer over ssh), and
 * vfmigctl calls in-process when no daemon runs (vfm-local). A method reads
 * its parameters, opens a fresh VfmHost (devices change under a long-running
 * daemon) and returns the reply's parameters; on failure it sets error and
 * may set *error_parameters (an object added to the error reply, e.g. the
 * per-device results of a bind that partly failed). Methods may run in
 * worker threads: they share nothing but the read-only call. Who may call
 * which is the server's business (access, below). */

typedef enum {
  VFM_ACCESS_READ,   /* any local user */
  VFM_ACCESS_WRITE,  /* uid 0, or a member of the daemon's group */
} VfmAccess;

typedef struct {
  const char *sysroot;     /* NULL: the real host */
  const char *host_uuid;   /* this host's identity (Hello) */
  const char *product;     /* "vfmigd", "vfmigctl bridge" (GetInfo) */
  JsonObject *parameters;
  /* what a method did, for the server's log (NULL: not logged) */
  void (*log) (GLogLevelFlags level, const char *op, const char *device, const char *message);
  /* before each device of a long bind (NULL: none; never on a dry run) */
  void (*progress) (guint done, guint total, const char *bdf, gpointer data);
  gpointer progress_data;
} VfmMethodCall;

typedef JsonNode *(*VfmMethodFunc) (VfmMethodCall *call,
                                    JsonNode     **error_parameters,
                                    GError       **error);

typedef struct {
  const char *name;      /* "io.vfmig.List" */
  VfmAccess access;
  VfmMethodFunc func;
} VfmMethod;

const VfmMethod *vfm_methods_lookup            (const char *name);
gboolean         vfm_methods_interface_known   (const char *interface);

G_END_DECLS
