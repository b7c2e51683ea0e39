#!/bin/bash
# run-fullstack.sh — host side of the full-stack lab test (meson test
# 'lab-fullstack'): boots the lab VM with room for two libvirtd hosts and a
# nested QEMU (--mem 3072; the NVMe offers 4 VFs) and runs fullstack.sh in it.
# The VM's root is this machine's root: the twohost packages must be
# installed here first (th_install does it, as lab-twohost does).
# libvirt's QEMU capabilities probed inside the VM are kept between runs in
# ${VFMIG_LAB_CACHE:-/var/tmp/vfmig-lab-UID}/fullstack-caps (a fresh probe
# under nested TCG costs over a minute); they reach the VM through the
# results share.
# Exits 77 (skip) when the lab's or the twohost's prerequisites are missing.
# Options go to vm-run.sh (--results DIR also keeps fullstack-logs.tar.gz:
# libvirt's and QEMU's logs from inside the VM).
# Environment: VFMIGCTL (default build/src/cli/vfmigctl of this tree; it must
# exist before the VM starts), VFMIG_DATADIR, LAB_STRICT,
# LAB_FULLSTACK_TIMEOUT (seconds for the VM, default 840).
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")

# shellcheck source=run-lib.sh
source "$here/run-lib.sh"
lab_vm_check
# shellcheck source=twohost/twohost-lib.sh
source "$here/twohost/twohost-lib.sh"
why=$(th_install 2>&1) || lab_skip "twohost: $why"
[[ -x /usr/bin/python3 ]] || lab_skip "no /usr/bin/python3 (the test parses JSON and XML with it)"

work=$(mktemp -d "${TMPDIR:-/tmp}/vfmig-lab-fullstack.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
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

caps=${VFMIG_LAB_CACHE:-/var/tmp/vfmig-lab-$(id -u)}/fullstack-caps
mkdir -p -- "$caps" "$results/th-caps"
cp -p -- "$caps"/*.xml "$results/th-caps/" 2>/dev/null || true

rc=0
"$here/vm-run.sh" --mem 3072 --nvme-vfs 4 --timeout "${LAB_FULLSTACK_TIMEOUT:-840}" \
    "${vm_args[@]}" "$@" "$here/fullstack.sh" || rc=$?

# keep what the VM's libvirtd probed (only whole files: cp to a temporary name, mv)
for f in "$results"/th-caps/*.xml; do
    [[ -s $f ]] || continue
    cmp -s -- "$f" "$caps/${f##*/}" && continue
    cp -p -- "$f" "$caps/.${f##*/}.$$" && mv -f -- "$caps/.${f##*/}.$$" "$caps/${f##*/}"
done
exit "$rc"
