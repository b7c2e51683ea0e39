#!/bin/bash
# run-devlink.sh — host side of the devlink lab test (meson test
# 'lab-devlink'): builds or takes from the cache netdevsim.ko for the lab
# kernel (build-kmod.sh netdevsim; Debian's kernel does not ship it), then
# boots the lab VM once and runs devlink.sh in it.  Exits 77 (skip) when the
# lab's prerequisites are missing or netdevsim cannot be built, and says why.
# Environment: LAB_DEVLINK_READ (the devlink-read test program, set by meson).
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")

skip() {
    printf '%s\n' "$1" >&2
    printf '1..0 # SKIP %s\n' "${1//$'\n'/; }"
    exit 77
}

rc=0
why=$("$here/vm-run.sh" --check 2>&1) || rc=$?
if ((rc == 77)); then
    skip "${why#*SKIP: }"
elif ((rc != 0)); then
    printf '%s\n' "$why" >&2
    exit "$rc"
fi
kernel=${why#*, } kernel=${kernel%%, busybox*}
kver=${kernel##*/vmlinuz-}
command -v devlink >/dev/null || skip "no devlink (iproute2) to compare with"
command -v python3 >/dev/null || skip "no python3 to compare JSON with"
[[ -x ${LAB_DEVLINK_READ:-} ]] || { echo "LAB_DEVLINK_READ is not set to devlink-read (run through meson)" >&2; exit 1; }

rc=0
ko=$("$here/build-kmod.sh" netdevsim "$kver") || rc=$?
if ((rc == 77)); then
    skip "no netdevsim.ko for $kver (build-kmod.sh said why above)"
elif ((rc != 0)); then
    echo "build-kmod.sh netdevsim failed ($rc)" >&2
    exit 1
fi
LAB_NETDEVSIM_KO=$ko exec "$here/vm-run.sh" "$@" "$here/devlink.sh"
