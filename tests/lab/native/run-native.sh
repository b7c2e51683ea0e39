#!/bin/bash
# run-native.sh — host side of the native migration lab test (meson test
# 'lab-native'): a guest holding an mtty mediated device migrated with bare
# virsh between the two libvirtd hosts inside the lab VM, its UART state read
# back on the destination (native.sh; LAB-NOTES "Native migration lab").
#
# Needs the current stack (scripts/deps.sh --with-lab --current-stack): the
# lab kernel >= 6.12 (mtty migrates since 6.7; Debian's 6.12 is the one
# tested) with its headers, QEMU >= 10, libvirt >= 11.  Otherwise it exits 77
# (skip) and says why.  Before the VM boots (its root is this machine's,
# mounted cache=loose: inputs must exist first) it
#  - builds or takes from the cache mtty.ko (build-kmod.sh mtty; the first run
#    downloads trixie's linux-source-6.12 with a private apt configuration),
#  - assembles the guest ROM (mtty-guest.S, GNU as) into a work directory,
#  - seeds libvirt's QEMU capabilities kept from the last run in
#    ${VFMIG_LAB_CACHE:-/var/tmp/vfmig-lab-UID}/native-caps.
# Options go to vm-run.sh (--results DIR also keeps native-logs.tar.gz).
# Environment: LAB_NATIVE_TIMEOUT (seconds for the VM, default 800).
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
lab=$(realpath -- "$here/..")

# ver_ge VERSION MIN: VERSION >= MIN (dotted numbers)
ver_ge() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1) == "$2" ]]; }

# shellcheck source=../run-lib.sh
source "$lab/run-lib.sh"
lab_vm_check
# the kernel vm-run.sh boots ("prerequisites present: QEMU, KERNEL, busybox")
kver=$LAB_VM_KVER
ver_ge "${kver%%[-+]*}" 6.12 ||
    lab_skip "the lab kernel is $kver; native migration of mtty needs the current stack's 6.12 (scripts/deps.sh --with-lab --current-stack)"
qemu_v=$(qemu-system-x86_64 --version | sed -n '1s/^QEMU emulator version \([0-9.]*\).*/\1/p')
ver_ge "${qemu_v:-0}" 10.0 ||
    lab_skip "QEMU is ${qemu_v:-unknown}; the native lab needs QEMU >= 10 (scripts/deps.sh --with-lab --current-stack)"
# shellcheck source=../twohost/twohost-lib.sh
source "$lab/twohost/twohost-lib.sh"
why=$(th_install 2>&1) || lab_skip "twohost: $why"
libvirt_v=$(/usr/sbin/libvirtd --version | sed -n 's/^.*(libvirt) \([0-9.]*\).*/\1/p')
ver_ge "${libvirt_v:-0}" 11.0 ||
    lab_skip "libvirt is ${libvirt_v:-unknown}; the native lab needs libvirt >= 11 (scripts/deps.sh --with-lab --current-stack)"
for t in as objcopy; do
    command -v "$t" >/dev/null || lab_skip "no $t to assemble the guest ROM (apt-get install binutils)"
done

rc=0
ko=$("$here/../build-kmod.sh" mtty "$kver") || rc=$?
if ((rc == 77)); then
    lab_skip "no mtty.ko for $kver (build-kmod.sh said why above)"
elif ((rc != 0)); then
    echo "build-kmod.sh mtty failed ($rc)" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vfmig-lab-native.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
as --32 -o "$work/rom.o" "$here/mtty-guest.S"
objcopy -O binary -j .text "$work/rom.o" "$work/mtty-guest.rom"
[[ $(stat -c %s -- "$work/mtty-guest.rom") == 65536 ]] || { echo "the guest ROM is not 64 KiB" >&2; exit 1; }

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
caps=${VFMIG_LAB_CACHE:-/var/tmp/vfmig-lab-$(id -u)}/native-caps
mkdir -p -- "$caps" "$results/th-caps"
cp -p -- "$caps"/*.xml "$results/th-caps/" 2>/dev/null || true

rc=0
LAB_MTTY_KO=$ko LAB_NATIVE_ROM=$work/mtty-guest.rom \
    "$lab/vm-run.sh" --mem 2048 --timeout "${LAB_NATIVE_TIMEOUT:-800}" "${vm_args[@]}" "$@" \
    "$here/native.sh" || rc=$?

# keep what the VM's libvirtd probed (whole files only: a temporary name, then mv)
for f in "$results"/th-caps/*.xml; do
    [[ -s $f ]] || continue
    cmp -s -- "$f" "$caps/${f##*/}" && continue
    cp -p -- "$f" "$caps/.${f##*/}.$$" && mv -f -- "$caps/.${f##*/}.$$" "$caps/${f##*/}"
done
exit "$rc"
