/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-glib/json-glib.h>

#include "vfm-authz.h"
#include "vfm-daemon.h"
#include "vfm-sysroot.h"

G_BEGIN_DECLS

#define VFM_PROTOCOL_MAJOR 1
#define VFM_PROTOCOL_MINOR 0

/* The methods vfmigd serves, io.vfmig and org.varlink.service. A method
 * reads its parameters, opens a fresh VfmHost (devices change under a
 * long-running daemon) and returns the reply's parameters; on failure it
 * sets error and may set *error_parameters (an object added to the error
 * reply, e.g. the per-device results of a bind that partly failed). Methods
 * run in worker threads: they share nothing but the read-only config. */
typedef struct {
  const VfmDaemonConfig *config;
  const VfmPeer *peer;
  JsonObject *parameters;
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
