#!/bin/bash
# The main job on the built-in simulated two-host setup: bind -> check ->
# migrate. Two synthetic hosts (sysroots whose sysfs reacts like the kernel,
# tests/mock) give each side its devices; two real libvirtd run in their own
# namespaces on this machine with a tiny TCG guest (tests/lab/twohost).
# This machine's own devices are never touched.
#
# --native: a device migrated with its own state instead. The kernel's mtty
# sample (a mediated serial card with VFIO migration) in the lab VM on the
# current stack (kernel 6.12, QEMU 10, libvirt 11.3, installed explicitly by
# scripts/deps.sh --with-lab --current-stack): a guest writes its UART's
# registers and FIFO on host a, vfmigctl migrate moves it to b, the guest
# reads them back there; then the same through bare virsh and vfmig's hook.
# Its output is the lab's own record (tests/lab/native, meson lab-native).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

if [[ ${1:-} == --native ]]; then
    bash scripts/deps.sh --with-lab --current-stack
    [ -d build ] || meson setup build >/dev/null
    ninja -C build >/dev/null
    exec env VFMIGCTL="$top/build/src/cli/vfmigctl" VFMIG_DATADIR="$top/data" tests/lab/native/run-native.sh
fi

bash scripts/deps.sh
bash scripts/configure.sh build
ninja -C build >/dev/null
source tests/lab/lab-lib.sh
source tests/lab/twohost/twohost-lib.sh
th_install >/dev/null

work=$(mktemp -d /tmp/vfmig-demo.XXXXXX)
# Stop both hosts (and with them the guest) by PID, then make sure nothing of
# theirs is left: every process still in their pid namespaces is named (and
# the demo fails) rather than left running.
cleanup() {
  local rc=$? left
  th_down "$work/lab" >/dev/null 2>&1 || true
  if ! left=$(th_leftovers "$work/lab"); then
    printf 'demo: processes of the demo still running after its hosts stopped:\n%s\n' "$left" >&2
    rc=1
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
export VFMIG_DATADIR=$top/data
ctl=$top/build/src/cli/vfmigctl
mock=$top/build/tests/mock/libvfmig-kmock.so
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

python3 tests/hosts/gen-host.py --profile server --pfs 2 --vfs-per-pf 0 --hostname hosta "$work/a"
python3 tests/hosts/gen-host.py --profile server --pfs 2 --vfs-per-pf 0 --hostname hostb "$work/b"
a() { LD_PRELOAD=$mock "$ctl" --sysroot "$work/a" "$@"; }
b() { LD_PRELOAD=$mock "$ctl" --sysroot "$work/b" "$@"; }
pf=$("$ctl" --sysroot "$work/a" list --json | python3 -c 'import json,sys; print(next(d["bdf"] for d in json.load(sys.stdin) if d["device"]=="101d"))')

echo "== bind: create VFs on a ConnectX PF of each host and bind them to the variant driver"
step a vf create "$pf" 2
step b vf create "$pf" 2
vf=$("$ctl" --sysroot "$work/a" list --json | python3 -c 'import json,sys; print(next(d["bdf"] for d in json.load(sys.stdin) if d["device"]=="101e"))')
step a explain "$vf"
step a status
step a xml "$vf" --libvirt-version 10.0.0

echo
echo "== check: ask each kernel, capture both hosts, compare"
step a probe $("$ctl" --sysroot "$work/a" list --json | python3 -c 'import json,sys; print(" ".join(d["bdf"] for d in json.load(sys.stdin) if d["device"]=="101e"))')
b probe $("$ctl" --sysroot "$work/b" list --json | python3 -c 'import json,sys; print(" ".join(d["bdf"] for d in json.load(sys.stdin) if d["device"]=="101e"))') >/dev/null
for h in a b; do
    "$ctl" --sysroot "$work/$h" profile --json 2>/dev/null |
        python3 -c 'import json,sys; p=json.load(sys.stdin); p["qemu_version"]="9.2.0"; p["libvirt_version"]="10.10.0"; json.dump(p, sys.stdout)' >"$work/$h.json"
done
cat >"$work/web01.xml" <<XML
<domain type='kvm'><name>web01</name><features><acpi/></features><devices>
<hostdev mode='subsystem' type='pci' managed='no'><source>
<address domain='0x${vf:0:4}' bus='0x${vf:5:2}' slot='0x${vf:8:2}' function='0x${vf:11:1}'/></source></hostdev>
</devices></domain>
XML
qemu_v=$(qemu-system-x86_64 --version | sed -n '1s/^QEMU emulator version \([0-9][0-9.]*\).*/\1/p')
libvirt_v=$(/usr/sbin/libvirtd --version | sed -n 's/^.*(libvirt) \([0-9][0-9.]*\).*/\1/p')
echo "(profiles as QEMU 9.2 / libvirt 10.10 hosts would report them; this machine has QEMU ${qemu_v:-?} / libvirt ${libvirt_v:-?})"
step "$ctl" check --from "$work/a.json" --to "$work/b.json" --domain-xml "$work/web01.xml"

echo
echo "== migrate: two libvirtd hosts on this machine, a tiny guest, vfmigctl migrate"
th_up "$work/lab" >/dev/null
th_define_guest a demo >/dev/null && th_start_guest a demo >/dev/null
before=$(th_counter a demo)
step "$ctl" -c "$TH_A_URI" --sysroot "$work/a" migrate demo "$TH_B_URI" --peer "sysroot:$work/b"
th_wait_counter_above b demo "$before" 10 >/dev/null && echo "the guest kept counting on b: it was not restarted"
step "$ctl" -c "$TH_B_URI" --sysroot "$work/b" migrate demo "$TH_A_URI" --peer "sysroot:$work/a"
echo
echo "done: bound, checked, migrated and back."
