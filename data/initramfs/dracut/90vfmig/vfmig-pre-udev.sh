#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# dracut pre-udev hook: vfmig's early-boot step, before udev loads drivers.
[ -x /usr/lib/vfmig/vfmig-early ] && /usr/lib/vfmig/vfmig-early
