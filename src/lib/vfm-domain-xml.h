/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-host.h"

G_BEGIN_DECLS

/* Domain XML for passthrough devices (libxml2, never hand-built strings). */

/* libvirt versions as virConnectGetLibVersion encodes them. */
#define VFM_LIBVIRT_VERSION(major, minor, micro) ((major) * 1000000ul + (minor) * 1000ul + (micro))

/* The <hostdev> element a user pastes into a domain for dev, plus, where a
 * profile needs QEMU options libvirt has no element for (IGD), the
 * <qemu:override> that sets them. managed='no' when vfmig owns the binding,
 * so that libvirt does not rebind plain vfio-pci over a variant driver;
 * <driver model='…'/> only for libvirt >= 10.0 (libvirt_version 0: unknown). */
char *vfm_hostdev_xml (VfmHost       *host,
                       VfmPciDevice  *dev,
                       VfmSelection  *sel,
                       gboolean       owned,
                       gulong         libvirt_version,
                       GError       **error);

G_END_DECLS
