#!/bin/bash
# run-bind.sh — host side of the lab bind test (meson test 'lab-bind').
# Boots the lab VM and runs bind.sh inside it; options go to vm-run.sh.
# Before the VM boots it builds kill-shim.so (the LD_PRELOAD shim that
# SIGKILLs vfmigctl between two sysfs writes), and it starts link-control.py,
# which keeps the e1000e's link down through QEMU's monitor until bind.sh asks
# for it (by creating link-on in the results share).  Without a compiler or
# /usr/bin/python3 the test points that need them skip.
# Exits 77 (skip) when the lab's prerequisites are missing.
# Environment: CC (default cc), VFMIGCTL (the vfmigctl to test, default
# build/src/cli/vfmigctl of this tree; it must exist before the VM starts).
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")

# shellcheck source=run-lib.sh
source "$here/run-lib.sh"
lab_vm_check

work=$(mktemp -d "${TMPDIR:-/tmp}/vfmig-lab-bind.XXXXXX")
helper=''
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    if [[ -n $helper ]]; then
        kill "$helper" 2>/dev/null || true
        wait "$helper" 2>/dev/null || true
    fi
    rm -rf -- "$work"
}
trap cleanup EXIT

# The shim must exist before the VM boots (the guest's root is a cache=loose
# view of the host's).
if ${CC:-cc} -shared -fPIC -O2 -Wall -o "$work/kill-shim.so" "$here/kill-shim.c" -ldl 2>"$work/cc.log"; then
    export LAB_KILL_SHIM=$work/kill-shim.so
else
    printf 'run-bind.sh: cannot build kill-shim.so, the SIGKILL test points will skip:\n' >&2
    cat -- "$work/cc.log" >&2
fi

# The results share is where the guest's request appears: ours unless the
# caller chose one.
results='' prev=''
for a in "$@"; do
    [[ $prev == --results ]] && results=$a
    prev=$a
done
vm_args=()
if [[ -z $results ]]; then
    results=$work/results
    vm_args+=(--results "$results")
fi
mkdir -p -- "$results"
results=$(realpath -- "$results")
rm -f -- "$results/link-on"

if [[ -x /usr/bin/python3 ]]; then
    mon=$work/monitor.sock
    vm_args+=(--qemu-arg -monitor --qemu-arg "unix:$mon,server=on,wait=off")
    /usr/bin/python3 "$here/link-control.py" "$mon" "$results/link-on" nic0 &
    helper=$!
    export LAB_LINK_CONTROL=1
else
    printf 'run-bind.sh: no /usr/bin/python3: the e1000e link stays up, the no-carrier point may skip\n' >&2
fi

rc=0
"$here/vm-run.sh" "${vm_args[@]}" "$@" "$here/bind.sh" || rc=$?
exit "$rc"
