#!/bin/bash
# run-hotplug.sh — host side of the lab hotplug test (meson test 'lab-hotplug').
# Boots the lab VM and runs hotplug.sh inside it: the host's systemd-udevd and
# vfmigd on the guest's real sysfs, VFs created by plain sriov_numvfs writes,
# vfmigd killed and restarted, the udev rule without the daemon.
# Before the VM boots it builds kill-shim.so (the LD_PRELOAD shim that
# SIGKILLs vfmigd right after a chosen sysfs write); without a compiler
# that test point skips.  Options go to vm-run.sh.
# Exits 77 (skip) when the lab's prerequisites are missing, or the host has no
# /lib/systemd/systemd-udevd (apt-get install udev).
# Environment: CC (default cc), VFMIGCTL, VFMIGD (default build/src/... of this
# tree; they must exist before the VM starts), VFMIG_DATADIR, LAB_STRICT.
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")

# shellcheck source=run-lib.sh
source "$here/run-lib.sh"
lab_vm_check
[[ -x /lib/systemd/systemd-udevd ]] || lab_skip "no /lib/systemd/systemd-udevd (apt-get install udev)"

work=$(mktemp -d "${TMPDIR:-/tmp}/vfmig-lab-hotplug.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# The shim must exist before the VM boots (the guest's root is a cache=loose
# view of the host's).
if ${CC:-cc} -shared -fPIC -O2 -Wall -o "$work/kill-shim.so" "$here/kill-shim.c" -ldl 2>"$work/cc.log"; then
    export LAB_KILL_SHIM=$work/kill-shim.so
else
    printf 'run-hotplug.sh: cannot build kill-shim.so, the shim test point will skip:\n' >&2
    cat -- "$work/cc.log" >&2
fi

rc=0
"$here/vm-run.sh" --timeout 420 "$@" "$here/hotplug.sh" || rc=$?
exit "$rc"
