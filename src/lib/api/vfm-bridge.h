/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-methods.h"

G_BEGIN_DECLS

/* `vfmigctl bridge`: the io.vfmig method table served on a byte stream -
 * varlink messages in on in_fd, replies out on out_fd - until the input
 * ends. This is how a migration's source reaches the destination's vfmig
 * (`ssh HOST vfmigctl bridge`) with the caller's own ssh credentials
 * (DESIGN.md, Decisions 19): the same methods vfmigd serves, nothing else.
 * A malformed message ends the bridge with an error. */
gboolean vfm_bridge_serve (int                  in_fd,
                           int                  out_fd,
                           const VfmMethodCall *tmpl,
                           GError             **error);

G_END_DECLS
