#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# dracut module "vfmig": vfmig's early-boot step as a pre-udev hook, with
# the plan of the devices the policies bind before any host driver and
# their VFIO modules. Not in an image unless asked for (dracut --add vfmig,
# or add_dracutmodules+=" vfmig " in /etc/dracut.conf.d/). The plan is made
# when the image is built and recorded on this host for kernel $kernel
# (/var/lib/vfmig/early-boot/$kernel.plan): `vfmigctl early-boot refresh`
# (run by vfmig-early-boot.path when a policy changes) rebuilds the image
# with dracut -f --add vfmig --kver $kernel when the policies' plan differs.

# vfmig_plan [--record]: the plan on stdout (--record: also recorded, once
# per image, by install())
vfmig_plan() {
    if [[ -n ${VFMIG_EARLY_PLAN:-} ]]; then
        cat -- "$VFMIG_EARLY_PLAN"
    elif [[ ${1:-} == --record ]]; then
        "${VFMIGCTL:-@SBINDIR@/vfmigctl}" --no-daemon early-boot plan --record "${kernel:?}" --generator dracut
    else
        "${VFMIGCTL:-@SBINDIR@/vfmigctl}" --no-daemon early-boot plan 2>/dev/null
    fi
}

check() {
    return 255
}

depends() {
    return 0
}

installkernel() {
    local mods
    mods=$(vfmig_plan | awk '$1 == "device" { print $8 }' | sort -u)
    # shellcheck disable=SC2086 # one module name per word
    hostonly='' instmods vfio vfio_pci vfio_iommu_type1 $mods
}

install() {
    mkdir -p "${initdir}/etc/vfmig"
    if ! vfmig_plan --record >"${initdir}/etc/vfmig/early-boot.plan"; then
        dwarn "vfmig: no early-boot plan; nothing is bound early"
        rm -f "${initdir}/etc/vfmig/early-boot.plan"
        return 0
    fi
    inst_simple "${VFMIG_EARLY_STEP:-@EARLY_STEP@}" /usr/lib/vfmig/vfmig-early
    inst_multiple readlink modprobe
    inst_hook pre-udev 00 "$moddir/vfmig-pre-udev.sh"
}
