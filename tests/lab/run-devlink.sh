#!/bin/bash
# run-devlink.sh — host side of the devlink lab test (meson test
# 'lab-devlink'): builds or takes from the cache netdevsim.ko for the lab
# kernel (build-kmod.sh netdevsim; Debian's kernel does not ship it), then
# boots the lab VM once and runs devlink.sh in it.  Exits 77 (skip) when the
# lab's prerequisites are missing or netdevsim cannot be built, and says why.
# Environment: LAB_DEVLINK_READ (the devlink-read test program, set by meson).
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")

# shellcheck source=run-lib.sh
source "$here/run-lib.sh"
lab_vm_check
kver=$LAB_VM_KVER
command -v devlink >/dev/null || lab_skip "no devlink (iproute2) to compare with"
command -v python3 >/dev/null || lab_skip "no python3 to compare JSON with"
[[ -x ${LAB_DEVLINK_READ:-} ]] || { echo "LAB_DEVLINK_READ is not set to devlink-read (run through meson)" >&2; exit 1; }

rc=0
ko=$("$here/build-kmod.sh" netdevsim "$kver") || rc=$?
if ((rc == 77)); then
    lab_skip "no netdevsim.ko for $kver (build-kmod.sh said why above)"
elif ((rc != 0)); then
    echo "build-kmod.sh netdevsim failed ($rc)" >&2
    exit 1
fi
LAB_NETDEVSIM_KO=$ko exec "$here/vm-run.sh" "$@" "$here/devlink.sh"
