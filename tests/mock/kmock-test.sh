#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The kernel mock driven the way people drive sysfs: shell redirections.
# usage: kmock-test.sh GEN_HOST LIBKMOCK SHELL
#
# SHELL (bash, dash) runs each write with the mock preloaded; bash's
# builtins write through stdio, dash's through write(2), coreutils through
# stdio and fclose(): all three paths must give the kernel's results.

set -u
GEN_HOST=$1
KMOCK=$2
SH=$3

# Under the ASan setup its runtime is preloaded already and must stay first.
KPRE=${VFMIG_ASAN_RUNTIME:+$VFMIG_ASAN_RUNTIME:}${LD_PRELOAD:+$LD_PRELOAD:}$KMOCK

fail=0
T=$(mktemp -d "${TMPDIR:-/tmp}/kmock-test.XXXXXX") || exit 99
[ -n "${VFMIG_TEST_KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
H=$T/host
S=$H/sys/bus/pci

# k CMD: run CMD in the shell under test with the mock; stderr kept in $T/err.
k() { LD_PRELOAD=$KPRE "$SH" -c "$1" 2>"$T/err"; }

ok() { echo "ok - $1"; }
bad() { echo "not ok - $1"; [ -s "$T/err" ] && sed 's/^/#   /' "$T/err"; fail=1; }
check() { # check DESCRIPTION COMMAND...
	d=$1; shift
	if "$@"; then ok "$d"; else bad "$d"; fi
}
driver_of() { [ -L "$S/devices/$1/driver" ] && basename "$(readlink "$S/devices/$1/driver")"; }
is_bound_to() { [ "$(driver_of "$1")" = "$2" ]; }
is_unbound() { [ ! -e "$S/devices/$1/driver" ] && [ ! -L "$S/devices/$1/driver" ]; }
logged() { grep -qxF "$1" "$H/.kmock/log"; }
group_of() { basename "$(readlink "$S/devices/$1/iommu_group")"; }

env -u LD_PRELOAD "$GEN_HOST" --profile server --pfs 2 --vfs-per-pf 4 "$H" || exit 99

PF=0000:10:00.0 # mlx5_core, VFs at 10:00.2-10:00.5, autoprobe off
VF=0000:10:00.2
VF2=0000:10:00.3

# --- driver_override + drivers_probe on an unbound VF --------------------
check "VF starts unbound" is_unbound $VF
check "override write" k "echo vfio-pci > $S/devices/$VF/driver_override"
check "override reads back" [ "$(cat "$S/devices/$VF/driver_override")" = vfio-pci ]
check "drivers_probe write" k "echo $VF > $S/drivers_probe"
check "VF bound to vfio-pci" is_bound_to $VF vfio-pci
check "driver dir links back" [ -L "$S/drivers/vfio-pci/$VF" ]
G=$(group_of $VF)
check "/dev/vfio/$G appears" [ -e "$H/dev/vfio/$G" ]
check "log order" sh -c "grep -n '' '$H/.kmock/log' | grep -q '^1:override $VF vfio-pci' && grep -n '' '$H/.kmock/log' | grep -q '^2:probe $VF -> vfio-pci'"

# --- unbind through the device's driver link ------------------------------
check "unbind via driver/unbind" k "echo $VF > $S/devices/$VF/driver/unbind"
check "VF unbound" is_unbound $VF
check "/dev/vfio/$G gone" [ ! -e "$H/dev/vfio/$G" ]
check "unbind logged" logged "unbind vfio-pci $VF"
check "unbind of an unbound device fails (ENODEV)" sh -c "! LD_PRELOAD=$KPRE $SH -c 'echo $VF > $S/drivers/vfio-pci/unbind' 2>/dev/null"

# --- clearing the override -------------------------------------------------
check "override cleared by a newline" k "echo > $S/devices/$VF/driver_override"
check "override reads (null)" [ "$(cat "$S/devices/$VF/driver_override")" = "(null)" ]

# --- autoprobe off: no override, no probe (pci_device_can_probe) ---------
check "drivers_probe without override succeeds" k "echo $VF > $S/drivers_probe"
check "...but leaves the VF unbound" is_unbound $VF
check "probe logged as none" logged "probe $VF -> none"

# --- bind file semantics ----------------------------------------------------
check "bind without override to a non-matching driver fails" sh -c "! LD_PRELOAD=$KPRE $SH -c 'echo $VF > $S/drivers/vfio-pci/bind' 2>/dev/null"
k "echo vfio-pci > $S/devices/$VF/driver_override"
check "bind with override" k "echo $VF > $S/drivers/vfio-pci/bind"
check "bound by bind" is_bound_to $VF vfio-pci
check "second bind fails (EBUSY)" sh -c "! LD_PRELOAD=$KPRE $SH -c 'echo $VF > $S/drivers/vfio-pci/bind' 2>/dev/null"
k "echo $VF > $S/drivers/vfio-pci/unbind"

# --- fault injection: probe failure ---------------------------------------
: >"$H/.kmock/fail/probe/vfio-pci"
k "echo vfio-pci > $S/devices/$VF2/driver_override"
check "drivers_probe succeeds although the probe fails" k "echo $VF2 > $S/drivers_probe"
check "device left unbound" is_unbound $VF2
check "failed probe logged as none" logged "probe $VF2 -> none"
rm "$H/.kmock/fail/probe/vfio-pci"

# --- fault injection: override and unbind --------------------------------
: >"$H/.kmock/fail/override/$VF2"
check "injected override failure" sh -c "! LD_PRELOAD=$KPRE $SH -c 'echo ice > $S/devices/$VF2/driver_override' 2>/dev/null"
check "override unchanged after failure" [ "$(cat "$S/devices/$VF2/driver_override")" = vfio-pci ]
rm "$H/.kmock/fail/override/$VF2"

# --- rebinding a bound PF ----------------------------------------------------
k "echo vfio-pci > $S/devices/$PF/driver_override"
: >"$H/.kmock/fail/unbind/mlx5_core"
check "injected unbind failure" sh -c "! LD_PRELOAD=$KPRE $SH -c 'echo $PF > $S/devices/$PF/driver/unbind' 2>/dev/null"
check "PF still on mlx5_core" is_bound_to $PF mlx5_core
rm "$H/.kmock/fail/unbind/mlx5_core"

# --- SR-IOV ---------------------------------------------------------------------
check "numvfs 3 while 4 fails (EBUSY)" sh -c "! LD_PRELOAD=$KPRE $SH -c 'echo 3 > $S/devices/$PF/sriov_numvfs' 2>/dev/null"
check "EBUSY reported by the shell" sh -c "LD_PRELOAD=$KPRE $SH -c 'echo 3 > $S/devices/$PF/sriov_numvfs' 2>&1 | grep -qi 'busy\|I/O error'"
check "numvfs above totalvfs fails (ERANGE)" sh -c "! LD_PRELOAD=$KPRE $SH -c 'echo 100000 > $S/devices/$PF/sriov_numvfs' 2>/dev/null"
check "numvfs garbage fails (EINVAL)" sh -c "! LD_PRELOAD=$KPRE $SH -c 'echo x > $S/devices/$PF/sriov_numvfs' 2>/dev/null"
check "numvfs 0" k "echo 0 > $S/devices/$PF/sriov_numvfs"
check "VFs gone" [ ! -e "$S/devices/$VF" ]
check "virtfn links gone" [ ! -e "$S/devices/$PF/virtfn0" ]
check "numvfs reads 0" [ "$(cat "$S/devices/$PF/sriov_numvfs")" = 0 ]
check "numvfs 3 (coreutils echo)" k "/bin/echo 3 > $S/devices/$PF/sriov_numvfs"
check "3 VFs" [ -d "$S/devices/0000:10:00.4" ] && [ ! -e "$S/devices/0000:10:00.5" ]
check "physfn link" [ "$(readlink "$S/devices/$VF/physfn")" = "../$PF" ]
check "virtfn2 link" [ "$(readlink "$S/devices/$PF/virtfn2")" = "../0000:10:00.4" ]
check "VF has its own group" sh -c "ls '$H/sys/kernel/iommu_groups/$(group_of $VF)/devices' | grep -qx '$VF'"
check "VF vendor/device from the PF" [ "$(cat "$S/devices/$VF/vendor") $(cat "$S/devices/$VF/device")" = "0x15b3 0x101e" ]
check "autoprobe off: VFs unbound" is_unbound $VF
check "numvfs logged" logged "numvfs $PF 3"
k "echo 0 > $S/devices/$PF/sriov_numvfs"
check "autoprobe on" k "echo 1 > $S/devices/$PF/sriov_drivers_autoprobe"
k "echo 2 > $S/devices/$PF/sriov_numvfs"
check "autoprobe on: VFs probed to their default driver" is_bound_to $VF mlx5_core
check "...each of them" is_bound_to $VF2 mlx5_core
k "echo 0 > $S/devices/$PF/sriov_numvfs"
check "PF without a driver cannot change numvfs (ENOENT)" sh -c "LD_PRELOAD=$KPRE $SH -c 'echo $PF > $S/drivers/mlx5_core/unbind; echo 1 > $S/devices/$PF/sriov_numvfs' 2>/dev/null; [ ! -e $S/devices/$VF ]"

# --- remove / rescan -----------------------------------------------------------
NIC=0000:05:00.0
check "remove" k "echo 1 > $S/devices/$NIC/remove"
check "device gone" [ ! -e "$S/devices/$NIC" ]
check "rescan" k "echo 1 > $S/rescan"
check "device back and probed" is_bound_to $NIC ice

# --- mediated devices (mdev_sysfs.c create_store/remove_store) --------------------
M=$T/mdev
env -u LD_PRELOAD "$GEN_HOST" --profile laptop --mdev-parent mtty:mtty-1=2,mtty-2=1 "$M" || exit 99
TY=$M/sys/class/mdev_bus/mtty/mdev_supported_types
MB=$M/sys/bus/mdev/devices
U1=0b1f7c4e-1a2b-4c3d-8e9f-a0b1c2d3e4f5
U2=6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d
avail() { cat "$TY/$1/available_instances"; }
mgroup() { basename "$(readlink "$MB/$1/iommu_group")"; }
fails() { ! LD_PRELOAD=$KPRE "$SH" -c "$1" 2>"$T/err"; }
check "mdev create" k "echo $U1 > $TY/mtty-1/create"
check "instance under the parent, linked from the bus" [ "$(readlink "$MB/$U1")" = "../../../devices/virtual/mtty/mtty/$U1" ]
check "mdev_type links to the type" [ "$(readlink "$MB/$U1/mdev_type")" = ../mdev_supported_types/mtty-1 ]
check "the type lists it" [ -L "$TY/mtty-1/devices/$U1" ]
check "bound to the parent's mdev driver" [ "$(basename "$(readlink "$MB/$U1/driver")")" = mtty ]
check "an IOMMU group of its own" [ -L "$M/sys/kernel/iommu_groups/$(mgroup $U1)/devices/$U1" ]
check "/dev/vfio/GROUP" [ -e "$M/dev/vfio/$(mgroup $U1)" ]
check "remove attribute" [ -f "$MB/$U1/remove" ]
check "available_instances 2 -> 1" [ "$(avail mtty-1)" = 1 ]
check "create logged" grep -qxF "mdev create mtty mtty-1 $U1" "$M/.kmock/log"
check "the same UUID again fails (EEXIST)" fails "echo $U1 > $TY/mtty-2/create"
check "...with the kernel's message" grep -qi 'File exists\|I/O error' "$T/err"
check "...and changes nothing" [ "$(avail mtty-2)" = 1 ]
check "a malformed UUID fails (EINVAL)" fails "echo 0b1f7c4e-1a2b-4c3d-8e9f > $TY/mtty-2/create"
check "a UUID with a stray byte fails" fails "echo 0b1f7c4e-1a2b-4c3d-8e9f-a0b1c2d3e4fz > $TY/mtty-2/create"
check "upper case is named in lower case" k "echo 6A7B8C9D-0E1F-4A2B-9C3D-4E5F6A7B8C9D > $TY/mtty-2/create"
check "...as %pUl prints it" [ -L "$MB/$U2" ]
check "no capacity left fails (ENOSPC)" fails "echo 1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f > $TY/mtty-2/create"
check "...with the kernel's message" grep -qi 'No space left\|I/O error' "$T/err"
mkdir -p "$M/.kmock/fail/mdev-create" && echo 5 >"$M/.kmock/fail/mdev-create/mtty"
check "injected create failure" fails "echo 2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a > $TY/mtty-1/create"
check "...nothing created" [ ! -e "$MB/2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a" ] && [ "$(avail mtty-1)" = 1 ]
rm -r "$M/.kmock/fail/mdev-create"
check "remove 0 does nothing" k "echo 0 > $MB/$U1/remove"
check "remove garbage fails (EINVAL)" fails "echo x > $MB/$U1/remove"
check "...and the instance stays" [ -d "$MB/$U1" ]
G1=$(mgroup $U1)
check "mdev remove" k "echo 1 > $MB/$U1/remove"
check "instance gone" [ ! -e "$MB/$U1" ] && [ ! -e "$M/sys/devices/virtual/mtty/mtty/$U1" ]
check "its links gone" [ ! -e "$TY/mtty-1/devices/$U1" ] && [ ! -e "$M/sys/bus/mdev/drivers/mtty/$U1" ]
check "its group gone" [ ! -e "$M/sys/kernel/iommu_groups/$G1" ] && [ ! -e "$M/dev/vfio/$G1" ]
check "available_instances back to 2" [ "$(avail mtty-1)" = 2 ]
check "remove logged" grep -qxF "mdev remove $U1" "$M/.kmock/log"
echo 1 >"$M/.kmock/kill_before"
LD_PRELOAD=$KPRE "$SH" -c "echo $U1 > $TY/mtty-1/create" 2>/dev/null
check "kill_before: the writer dies" [ $? -ne 0 ]
check "...before the create was applied" [ ! -e "$MB/$U1" ] && [ "$(avail mtty-1)" = 2 ]
check "...and the countdown is spent" [ ! -e "$M/.kmock/kill_before" ]

# --- writes outside a synthetic host pass through ------------------------------
mkdir -p "$T/plain/sys/bus/pci"
check "plain file write" k "echo hello > $T/plain/sys/bus/pci/drivers_probe"
check "plain file content" [ "$(cat "$T/plain/sys/bus/pci/drivers_probe")" = hello ]

# --- module loading ---------------------------------------------------------------
# (ctypes cannot load an ASan-built mock: skip there.)
# Under the ASan setup python3 loads the ASan-built mock with the runtime
# preloaded; the interpreter's own allocations at exit are not ours to check.
py() { if [ -n "${VFMIG_ASAN_RUNTIME:-}" ]; then
	LD_PRELOAD=$VFMIG_ASAN_RUNTIME ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0 python3 "$@"
	else python3 "$@"; fi; }
if command -v python3 >/dev/null && [ -z "${LD_PRELOAD:-}" ]; then
	L=$T/laptop
	env -u LD_PRELOAD "$GEN_HOST" --profile laptop "$L"
	XHCI=0000:00:14.0
	LD_PRELOAD=$KPRE "$SH" -c "echo vfio-pci > $L/sys/bus/pci/devices/$XHCI/driver_override; echo $XHCI > $L/sys/bus/pci/devices/$XHCI/driver/unbind; echo $XHCI > $L/sys/bus/pci/drivers_probe"
	check "no vfio-pci yet: stays unbound" [ ! -e "$L/sys/bus/pci/devices/$XHCI/driver" ]
	rc=$(py -c "import ctypes,sys; print(ctypes.CDLL(sys.argv[1]).vfm_mock_load_module(sys.argv[2].encode(), b'vfio-pci'))" "$KMOCK" "$L")
	check "vfm_mock_load_module returns 0" [ "$rc" = 0 ]
	check "driver registered" [ -d "$L/sys/bus/pci/drivers/vfio-pci" ]
	check "module link" [ "$(readlink "$L/sys/bus/pci/drivers/vfio-pci/module")" = ../../../../module/vfio_pci ]
	check "dependencies loaded" [ -d "$L/sys/module/vfio_pci_core" ]
	check "pending override bound at registration" [ "$(basename "$(readlink "$L/sys/bus/pci/devices/$XHCI/driver")")" = vfio-pci ]
	rc=$(py -c "import ctypes,sys; print(ctypes.CDLL(sys.argv[1]).vfm_mock_load_module(sys.argv[2].encode(), b'no_such_module'))" "$KMOCK" "$L")
	check "unknown module: -ENOENT" [ "$rc" = -2 ]
fi

exit $fail
