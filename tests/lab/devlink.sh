#!/bin/bash
# devlink.sh — vfmig's devlink code on the real kernel, run INSIDE the lab VM
# by run-devlink.sh (meson: lab-devlink).
#
# netdevsim (the kernel's devlink test driver, LAB_NETDEVSIM_KO) gives a
# devlink instance with firmware versions (running and stored "fw.mgmt"), an
# eswitch with legacy and switchdev modes, and VF ports in switchdev mode. What
# vfmig reads of it (devlink-read, LAB_DEVLINK_READ: src/lib/host/vfm-devlink's
# vfm_devlink_read) is held against iproute2's `devlink -j`, the reference.
# netdevsim's VF ports have no "migratable" operation, so setting it is
# refused by the kernel: vfmig must pass the kernel's own words on and leave
# the eswitch as it found it.  Prints TAP.
set -euo pipefail

here=${LAB_DIR:-$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")}
# shellcheck source=lab-lib.sh source-path=SCRIPTDIR
source "$here/lab-lib.sh"
lab_require_vm

readonly ID=10 SYS=/sys/bus/netdevsim
readonly H=netdevsim/netdevsim$ID
T=$(mktemp -d)

cleanup() {
    [[ -e $SYS/devices/netdevsim$ID ]] && echo "$ID" >"$SYS/del_device" 2>/dev/null || true
    rmmod netdevsim 2>/dev/null || true
    rm -rf -- "$T"
}
tap_init cleanup

[[ -r ${LAB_NETDEVSIM_KO:-} ]] || tap_bail "no netdevsim.ko (LAB_NETDEVSIM_KO=${LAB_NETDEVSIM_KO:-}): run-devlink.sh builds it"
[[ -x ${LAB_DEVLINK_READ:-} ]] || tap_bail "no devlink-read (LAB_DEVLINK_READ=${LAB_DEVLINK_READ:-})"
dr=$LAB_DEVLINK_READ

# py EXPR FILE...: a Python expression over the JSON files a, b, ...
py() {
    local expr=$1
    shift
    python3 - "$expr" "$@" <<'PY'
import json, sys
expr, files = sys.argv[1], sys.argv[2:]
env = {name: json.load(open(f)) for name, f in zip("abcd", files)}
print(eval(expr, {}, env))
PY
}

# --- netdevsim ----------------------------------------------------------------
modprobe psample 2>"$T/err" || tap_diag "modprobe psample: $(<"$T/err")"
tap_check "insmod netdevsim.ko (built for $(uname -r))" insmod "$LAB_NETDEVSIM_KO"
tap_check "new netdevsim device $ID with one port" lab_sysfs_write "$SYS/new_device" "$ID 1"
if wait_for "devlink dev show $H >/dev/null 2>&1" 20; then
    tap_ok "devlink instance $H registered"
else
    tap_bail "devlink instance $H did not appear"
fi

# --- dev info: driver and versions, as iproute2 reads them ----------------------
"$dr" "$H" >"$T/ours.json" 2>"$T/err" || tap_fail "devlink-read $H" "$(<"$T/err")"
devlink -j dev info "$H" >"$T/theirs.json"
tap_diag "vfmig: $(tr -d '\n ' <"$T/ours.json")"
tap_diag "iproute2: $(<"$T/theirs.json")"
assert_eq "driver name as devlink dev info says" \
    "$(py "b['info']['$H']['driver']" "$T/ours.json" "$T/theirs.json")" \
    "$(py "a['driver']" "$T/ours.json" "$T/theirs.json")"
for kind in running stored fixed; do
    assert_eq "$kind versions as devlink dev info says" True \
        "$(py "a['versions']['$kind'] == b['info']['$H'].get('versions', {}).get('$kind', {})" "$T/ours.json" "$T/theirs.json")"
done
assert_eq "netdevsim's running fw.mgmt is read (the driver's 10.20.30)" 10.20.30 \
    "$(py "a['versions']['running'].get('fw.mgmt')" "$T/ours.json")"

# --- eswitch and ports in legacy mode ---------------------------------------------
devlink -j dev eswitch show "$H" >"$T/esw.json"
assert_eq "eswitch mode as devlink dev eswitch show says (legacy)" \
    "$(py "a['dev']['$H']['mode']" "$T/esw.json")" "$(py "a['eswitch']" "$T/ours.json")"
assert_eq "the instance has ports, none of them a VF's" "True []" \
    "$(py "str(a['any_port']) + ' ' + str(a['vf_ports'])" "$T/ours.json")"

# --- VFs: no VF port in legacy mode; switchdev tried, refused, undone -----------
tap_check "2 VFs on netdevsim$ID" lab_sysfs_write "$SYS/devices/netdevsim$ID/sriov_numvfs" 2
rc=0
"$dr" --set-migratable "$H" 0 >"$T/out" 2>"$T/err" || rc=$?
assert_eq "migratable without --switchdev is refused (exit 1)" 1 "$rc"
if grep -q 'no devlink port for VF 0 (VF ports exist only in switchdev mode' "$T/err"; then
    tap_ok "... saying VF ports exist only in switchdev mode"
else
    tap_fail "... saying VF ports exist only in switchdev mode" "$(<"$T/err")"
fi
rc=0
"$dr" --set-migratable "$H" 1 --switchdev >"$T/out" 2>"$T/err" || rc=$?
tap_diag "$(cat "$T/out" "$T/err")"
assert_eq "migratable with --switchdev: the kernel refuses it (exit 1)" 1 "$rc"
if grep -q "Port doesn't support migratable function attribute" "$T/err"; then
    tap_ok "... and vfmig passes on the kernel's own words (extended ack)"
else
    tap_fail "... and vfmig passes on the kernel's own words (extended ack)" "$(<"$T/err")"
fi
if grep -q "step: devlink dev eswitch set $H mode switchdev" "$T/out" &&
    grep -q "step: devlink dev eswitch set $H mode legacy (undone)" "$T/out"; then
    tap_ok "... after switching the eswitch to switchdev and back"
else
    tap_fail "... after switching the eswitch to switchdev and back" "$(<"$T/out")"
fi
assert_eq "the eswitch is legacy again (devlink dev eswitch show)" legacy \
    "$(devlink -j dev eswitch show "$H" | python3 -c "import json,sys; print(json.load(sys.stdin)['dev']['$H']['mode'])")"

# --- VF ports in switchdev mode, as devlink port show lists them ------------------
tap_check "devlink dev eswitch set $H mode switchdev (iproute2)" devlink dev eswitch set "$H" mode switchdev
"$dr" "$H" >"$T/ours.json" 2>"$T/err" || tap_fail "devlink-read $H in switchdev mode" "$(<"$T/err")"
devlink -j port show >"$T/ports.json"
assert_eq "eswitch switchdev read" switchdev "$(py "a['eswitch']" "$T/ours.json")"
assert_eq "a VF port for each of the 2 VFs" "[0, 1]" "$(py "[p['vf'] for p in a['vf_ports']]" "$T/ours.json")"
assert_eq "VF ports (VF number, port index) as devlink port show lists them" \
    "$(py "sorted((p['vfnum'], int(k.rsplit('/', 1)[1])) for k, p in a['port'].items() if k.startswith('$H/') and p.get('flavour') == 'pcivf')" "$T/ports.json")" \
    "$(py "sorted((p['vf'], p['port']) for p in a['vf_ports'])" "$T/ours.json")"
assert_eq "no VF port reports the migratable capability (netdevsim has no such operation)" \
    "[None, None]" "$(py "[p['migratable'] for p in a['vf_ports']]" "$T/ours.json")"
assert_eq "... as devlink port show (no caps in the function)" "[]" \
    "$(py "[k for k, p in a['port'].items() if k.startswith('$H/') and 'caps' in p.get('function', {})]" "$T/ports.json")"
tap_check "back to legacy (iproute2)" devlink dev eswitch set "$H" mode legacy

# --- a device without devlink, and one that does not exist ------------------------
if pf=$(lab_nvme_pf); then
    rc=0
    "$dr" "pci/$pf" >/dev/null 2>"$T/err" || rc=$?
    assert_eq "the NVMe controller $pf (nvme registers no devlink): refused" 1 "$rc"
    if grep -q "pci/$pf has no devlink instance (its driver registers none)" "$T/err"; then
        tap_ok "... saying it has no devlink instance"
    else
        tap_fail "... saying it has no devlink instance" "$(<"$T/err")"
    fi
fi
rc=0
"$dr" pci/0000:7f:1f.7 >/dev/null 2>"$T/err" || rc=$?
assert_eq "an absent device: refused" 1 "$rc"
if grep -q "has no devlink instance" "$T/err"; then
    tap_ok "... saying it has no devlink instance"
else
    tap_fail "... saying it has no devlink instance" "$(<"$T/err")"
fi

tap_check "netdevsim device $ID removed" lab_sysfs_write "$SYS/del_device" "$ID"
tap_done
