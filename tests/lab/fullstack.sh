#!/bin/bash
# fullstack.sh — the main job on the real kernel, run INSIDE the lab VM:
#   tests/lab/run-fullstack.sh                 (meson test 'lab-fullstack')
#   tests/lab/vm-run.sh --mem 3072 --timeout 840 tests/lab/fullstack.sh
#
# Both libvirtd hosts of twohost-lib.sh run inside the real-kernel VM (they
# share its /sys, /dev and /var/lib/vfmig), the tiny ROM guest gets a real
# NVMe VF on the real vfio-pci (nested QEMU opens /dev/vfio/N through the
# emulated VT-d), and vfmigctl moves it with the replug strategy:
#   A  vf create PF 2: both VFs on vfio-pci
#   B  hosts a and b up; guest g1 (i440fx "pc", <acpi/>, a ROM that
#      acknowledges PCI hot-unplug) started on a with VF1 (vfmigctl xml)
#   C  probe: the free VF2 says ENOTTY (plain vfio-pci cannot migrate),
#      VF1 is busy (the VM holds it); check g1 --to b says replug, exit 0
#   D  migrate a -> b --strategy replug --peer local: g1 runs on b with VF2,
#      its hostdev keeps guest slot 0x07, <rom bar='off'/> and alias ua-vf1,
#      VF1 is free again, the counter went on, the claim is g1's (adopted)
#   E  migrate b -> a: a free VF (VF1) again, slot, ROM and alias kept; the
#      claim on VF2 ended with b's QEMU, g1 owns the one on VF1
#   F  a guest that ignores the unplug (g2): migrate --detach-timeout 5 fails
#      and rolls back: g2 runs on a with VF1, nothing on b, no claim (g1's
#      ended with g1, although g2's QEMU holds VF1 now)
#   G  migrate g3 killed (SIGKILL) after the detach: vfmigctl recover puts
#      VF1 back into g3 on a with its slot, ROM and alias (or finishes on b),
#      a clean journal
# Every step is timed (TAP diagnostics, summary at the end).  Known vfmig
# bugs are "not ok ... # TODO" points; LAB_STRICT=1 makes them fail.
#
# Environment: VFMIGCTL (default build/src/cli/vfmigctl of this tree),
# VFMIG_DATADIR (default data/ of this tree), LAB_STRICT.
# shellcheck disable=SC2016,SC2034 # conditions given to eval are single-quoted on purpose (and use variables)
set -uo pipefail # no -e: a failed test point must not end the run

here=${LAB_DIR:-$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")}
# shellcheck source=lab-lib.sh source-path=SCRIPTDIR
source "$here/lab-lib.sh"
lab_require_vm
# shellcheck source=twohost/twohost-lib.sh
source "$here/twohost/twohost-lib.sh"

readonly PCI=/sys/bus/pci STATE=/var/lib/vfmig PY=/usr/bin/python3
srcroot=$(realpath -- "$here/../..")
V=${VFMIGCTL:-$srcroot/build/src/cli/vfmigctl}
export VFMIG_DATADIR=${VFMIG_DATADIR:-$srcroot/data}
t_start=${EPOCHREALTIME/./}
pf='' vf1='' vf2='' wd='' T=''
timings=()

now_ms() { printf '%s' "$((${EPOCHREALTIME/./} / 1000))"; }
# timed NAME MS: remember one duration for the summary, and show it now.
timed() { timings+=("$(printf '%-44s %7d ms' "$1" "$2")"); tap_diag "time: $1: $2 ms"; }

# Known bug: a TODO test point (TAP: does not count as a failure).
tap_todo() {
    local desc=$1 why=$2
    shift 2
    if [[ -n ${LAB_STRICT:-} ]]; then tap_fail "$desc (known: $why)" "$@"; return; fi
    _tap_n=$((_tap_n + 1))
    printf 'not ok %d - %s # TODO %s\n' "$_tap_n" "$desc" "$why"
    local d
    for d in "$@"; do tap_diag "$d"; done
}
# check DESC [--todo REASON] CMD [ARGS...]: ok if CMD (run in this shell) succeeds.
check() {
    local desc=$1 todo=''
    shift
    if [[ $1 == --todo ]]; then todo=$2; shift 2; fi
    if "$@"; then
        tap_ok "$desc${todo:+ # TODO $todo (passes now: fixed?)}"
        return 0
    fi
    if [[ -n $todo ]]; then tap_todo "$desc" "$todo"; else tap_fail "$desc"; fi
    return 1
}
has() { [[ $1 == *"$2"* ]]; }
is() { [[ $1 == "$2" ]]; }

# vfm ARGS...: run vfmigctl; $out = stdout, $err = stderr, $rc = status,
# $vfm_ms = wall time.  (Files and read, not $(...): forks are slow here.)
out='' err='' rc=0 vfm_ms=0
vfm() {
    local t0=${EPOCHREALTIME/./}
    rc=0
    "$V" "$@" >"$T/out" 2>"$T/err" || rc=$?
    vfm_ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
    out='' err=''
    IFS= read -r -d '' out <"$T/out" || true
    IFS= read -r -d '' err <"$T/err" || true
    out=${out%$'\n'} err=${err%$'\n'}
}
show() { tap_diag "vfmigctl $* -> exit $rc" "stdout: ${out:-(empty)}" "stderr: ${err:-(empty)}"; }

# jq-like: json_get PATH <<<JSON (dotted path, numbers index arrays; the
# last JSON line of the input if it has several); prints "" when absent.
json_get() {
    "$PY" -c 'import json, sys
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
try:
    v = json.loads(lines[-1])
    for k in sys.argv[1].split("."):
        v = v[int(k)] if k.isdigit() else v[k]
except Exception:
    v = ""
print(json.dumps(v) if isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool) else v)' "$1"
}
# migrate_report FILE: the step/rollback/abort events of a migrate --json
# run, one line each (diagnostics), from its stdout.
migrate_report() {
    "$PY" -c 'import json, sys
for l in open(sys.argv[1]):
    try:
        e = json.loads(l)
    except ValueError:
        print("(not JSON) " + l.rstrip()); continue
    if "event" in e and e["event"] != "progress" and e["event"] != "result":
        print("%s: %s" % (e["event"], e["message"]))
    r = e.get("error", {}).get("result") if "error" in e else e if e.get("event") == "result" else None
    if "error" in e:
        print("error: %s: %s" % (e["error"].get("name"), e["error"].get("message")))
    if r:
        print("result: migrated=%s rolled_back=%s strategy=%s seconds=%.2f" % (r["migrated"], r["rolled_back"], r["strategy"], r["seconds"]))
        for s in r["steps"]:
            print("  step: " + s)' "$1"
}
# hostdevs HOST NAME: the PCI source addresses of NAME's live hostdevs as
# BDFs, space-separated ("" if none; "absent" if HOST has no such domain).
hostdevs() {
    local xml
    xml=$(th_virsh "$1" dumpxml "$2" 2>/dev/null) || { printf 'absent'; return 0; }
    "$PY" -c 'import sys, xml.etree.ElementTree as ET
d = ET.fromstring(sys.stdin.read())
out = []
for h in d.findall("./devices/hostdev[@type=\"pci\"]"):
    a = h.find("./source/address")
    out.append("%04x:%02x:%02x.%x" % tuple(int(a.get(k), 16) for k in ("domain", "bus", "slot", "function")))
print(" ".join(out), end="")' <<<"$xml"
}
# vfio_busy GROUP: true when /dev/vfio/GROUP cannot be opened because
# someone (a QEMU) holds it: EBUSY, the kernel's "in use".
vfio_busy() {
    local e
    e=$( { exec 3<>"/dev/vfio/$1"; } 2>&1) && return 1
    [[ $e == *"Device or resource busy"* ]]
}
vfio_free() { [[ -c /dev/vfio/$1 ]] && ! vfio_busy "$1"; }
claims_empty() { vfm --json claims && [[ $out == '[]' || $out == '[ ]' ]]; }
# claims_are "DOMAIN STATE BDF"...: exactly these claims (issue 16, 6: a claim
# is the domain's until it stops or leaves)
claims_are() {
    vfm --json claims || return 1
    "$PY" -c 'import json, sys
got = sorted("%s %s %s" % (c["domain_name"], c["state"], " ".join(d["bdf"] for d in c["devices"]))
             for c in json.loads(sys.argv[1]))
sys.exit(0 if got == sorted(sys.argv[2:]) else 1)' "$out" "$@"
}
# hostdev_keeps HOST DOM: the guest's hostdev kept what the user gave it -
# guest slot 0x07, <rom bar='off'/>, alias ua-vf1 (issue 16, 2 and 8)
hostdev_keeps() {
    local xml
    xml=$(th_virsh "$1" dumpxml "$2" 2>/dev/null) || return 1
    "$PY" -c 'import sys, xml.etree.ElementTree as ET
h = ET.fromstring(sys.stdin.read()).find("./devices/hostdev[@type=\"pci\"]")
ok = (h is not None and h.find("./address").get("slot") == "0x07" and h.find("./rom").get("bar") == "off"
      and h.find("./alias").get("name") == "ua-vf1")
sys.exit(0 if ok else 1)' <<<"$xml"
}
ctr() { th_counter "$@" 2>/dev/null || printf '0'; }

cleanup() {
    local d drv
    [[ -n $wd ]] && { th_down "$wd" || echo "th_down failed"; }
    for d in "$vf1" "$vf2"; do
        [[ -n $d && -e $PCI/devices/$d ]] || continue
        drv=$(lab_driver "$d")
        [[ -n $drv ]] && { lab_sysfs_write "$PCI/devices/$d/driver/unbind" "$d" || true; }
        lab_sysfs_write "$PCI/devices/$d/driver_override" '' || true
    done
    if [[ -n $pf && $(_lab_read "$PCI/devices/$pf/sriov_numvfs") != 0 ]]; then
        lab_sysfs_write "$PCI/devices/$pf/sriov_numvfs" 0 || true
    fi
    [[ -n $pf ]] && { lab_sysfs_write "$PCI/devices/$pf/sriov_drivers_autoprobe" 1 || true; }
    rm -rf -- "$STATE"
    if [[ -n ${LAB_RESULTS:-} && -d ${LAB_RESULTS:-} && -n $wd ]]; then
        # libvirt's and QEMU's logs, for a failed run (the VM is thrown away)
        tar -C "$wd" -czf "$LAB_RESULTS/fullstack-logs.tar.gz" \
            --exclude='*.sock' --exclude='*-sock' --exclude='*.bin' a/var/log b/var/log a/daemon.log b/daemon.log \
            2>/dev/null || true
    fi
    echo "VM time in script $(((${EPOCHREALTIME/./} - t_start) / 1000)) ms"
}
tap_init cleanup

# ----------------------------------------------------------------- set-up
[[ -x $V ]] || tap_bail "no vfmigctl at $V (ninja -C build first)"
[[ -x $PY ]] || tap_bail "no $PY"
why=$(th_missing 2>&1) || tap_bail "twohost packages missing in the VM's root: ${why//$'\n'/, }"
pf=$(lab_nvme_pf) || tap_bail "no SR-IOV NVMe PF"
(($(_lab_read "$PCI/devices/$pf/sriov_totalvfs") >= 2)) || tap_bail "the PF offers fewer than 2 VFs (--nvme-vfs)"
# LAB-NOTES: p2p migration needs lo ("Network is unreachable"); bash process
# substitution needs /dev/fd.  vm-run's PID 1 does both; make sure.
ip link set lo up
[[ -e /dev/fd ]] || ln -s /proc/self/fd /dev/fd
for i in 0:stdin 1:stdout 2:stderr; do
    [[ -e /dev/${i#*:} ]] || ln -s "/proc/self/fd/${i%%:*}" "/dev/${i#*:}"
done
wd=$(mktemp -d /run/vfmig-fs.XXXXXX) T=$wd/t
# run-fullstack.sh keeps libvirt's QEMU capabilities of this VM between runs
# (probing them under nested TCG takes over a minute per host start)
if [[ -d ${LAB_RESULTS:-/nonexistent}/th-caps ]]; then
    export TH_CAPS_CACHE=$LAB_RESULTS/th-caps
else
    export TH_CAPS_CACHE=''
fi
mkdir -p "$T"
rm -rf -- "$STATE"
tap_diag "vfmigctl $V, PF $pf, workdir $wd, kernel $(uname -r), $(nproc) CPUs, $(($(sed -n 's/MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024)) MiB"

# ================================================================ A  VFs
vfm --json vf create "$pf" 2
check "vf create $pf 2: exit 0" is "$rc" 0 || show --json vf create "$pf" 2
timed "A vf create PF 2" "$vfm_ms"
mapfile -t vfs < <(lab_vfs "$pf")
((${#vfs[@]} == 2)) || tap_bail "the PF has ${#vfs[@]} VFs, not 2"
vf1=${vfs[0]} vf2=${vfs[1]}
g1=$(lab_iommu_group "$vf1") g2=$(lab_iommu_group "$vf2")
for vf in "$vf1" "$vf2"; do
    g=$(lab_iommu_group "$vf")
    check "$vf on vfio-pci, /dev/vfio/$g free" eval '[[ $(lab_driver $vf) == vfio-pci ]] && vfio_free $g'
done
tap_diag "VF1 $vf1 (group $g1), VF2 $vf2 (group $g2)"

# ================================================================ B  hosts, guest
t0=$(now_ms)
check "hosts a and b up inside the VM" th_up "$wd" || tap_bail "the two hosts did not start"
timed "B both libvirtd hosts up" "$(($(now_ms) - t0))"
A=$TH_A_URI B=$TH_B_URI

vfm -c "$A" --json xml "$vf1"
hd_xml=$(json_get xml <<<"$out")
check "vfmigctl xml $vf1: managed=no (vfmig owns the binding)" \
    eval '[[ $hd_xml =~ managed=.no. ]]' || show -c A --json xml "$vf1"
tap_diag "hostdev: ${hd_xml//$'\n'/ }"
# what a user adds to it: a guest slot, no ROM BAR, an alias of their own
user_add="<rom bar='off'/><alias name='ua-vf1'/><address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>"
user_xml=${hd_xml/<\/hostdev>/$user_add</hostdev>}

t0=$(now_ms)
TH_GUEST_ACK_UNPLUG=1 TH_GUEST_DEVICES=$user_xml th_define_guest a g1 >"$T/def" 2>&1
check "define g1 on a (pc, <acpi/>, unplug-acknowledging ROM, $vf1)" is "$?" 0 || tap_diag "$(<"$T/def")"
th_start_guest a g1 >"$T/start" 2>&1
check "start g1 on a with $vf1 (nested QEMU opens /dev/vfio/$g1)" is "$?" 0 || tap_diag "$(<"$T/start")"
check "g1 counts on a" th_wait_counter_above a g1 0 30
timed "B start g1 with VF1 (until it counts)" "$(($(now_ms) - t0))"
assert_eq "live XML on a: g1 has $vf1" "$vf1" "$(hostdevs a g1)"
check "g1's hostdev on a: slot 0x07, <rom bar='off'/>, alias ua-vf1" hostdev_keeps a g1
check "/dev/vfio/$g1 is busy (QEMU holds $vf1)" vfio_busy "$g1"
[[ $(th_state a g1) == running ]] || tap_bail "g1 does not run on a: $(tail -n 5 "$wd/a/var/log/libvirt/qemu/g1.log" 2>&1)"

# ================================================================ C  probe, check
vfm --json probe "$vf2"
timed "C probe VF2" "$vfm_ms"
check "probe $vf2 (free): exit 0, no migration support" \
    eval '((rc == 0)) && [[ $(json_get results.0.migration <<<"$out") == false ]]' || show --json probe "$vf2"
check "probe $vf2: the kernel said ENOTTY to VFIO_DEVICE_FEATURE MIGRATION" has "$(json_get results.0.detail <<<"$out")" ENOTTY
tap_diag "probe $vf2: $(json_get results.0.detail <<<"$out") (source $(json_get results.0.source <<<"$out"))"
check "$vf2 still free after the probe" vfio_free "$g2"

vfm --json probe "$vf1"
check "probe $vf1 (in use): exit 1, io.vfmig.Busy" \
    eval '((rc == 1)) && [[ $(json_get results.0.error.name <<<"$out") == io.vfmig.Busy ]]' || show --json probe "$vf1"
check "probe $vf1: the error says busy" has "$(json_get results.0.error.message <<<"$out")" "busy"
tap_diag "probe $vf1: $(json_get results.0.error.message <<<"$out")"
check "g1 still runs with $vf1 (the probe did not touch it)" eval '[[ $(hostdevs a g1) == "$vf1" ]] && vfio_busy $g1'

# migrate takes --peer local (this machine); check should too
vfm -c "$A" check g1 --to "$B" --peer local
check "check g1 --to b --peer local: exit 0, says replug" \
    eval '((rc == 0)) && has "$out" replug'
((rc == 0)) || tap_diag "vfmigctl check g1 --to B --peer local -> exit $rc: ${err:-$out}"
# the default peer of a local URI is this machine (sysroot:/)
vfm -c "$A" check g1 --to "$B"
timed "C check g1 --to b" "$vfm_ms"
check "check g1 --to b (peer: this machine): exit 0" is "$rc" 0
check "check: says replug" has "$out" replug
tap_diag "$out"
[[ -n $err ]] && tap_diag "stderr: $err"
vfm -c "$A" --json check g1 --to "$B"
assert_eq "check --json: strategy replug" replug "$(json_get destinations.0.strategy <<<"$out")"
assert_eq "check --json: migratable" true "$(json_get migratable <<<"$out")"
check "check --json: $vf1 cannot go native (plain vfio-pci)" eval '! has "$(json_get destinations.0.hostdevs.0.supports <<<"$out")" native'
tap_diag "supports: $(json_get destinations.0.hostdevs.0.supports <<<"$out"), destination $(json_get destinations.0.hostdevs.0.destination_bdf <<<"$out")"

# ================================================================ D  a -> b
c0=$(ctr a g1)
t0=$(now_ms)
vfm -c "$A" --json migrate g1 "$B" --strategy replug --peer local
timed "D vfmigctl migrate a -> b (replug)" "$vfm_ms"
cp "$T/out" "$T/m1.json"
tap_diag "$(migrate_report "$T/m1.json")"
check "migrate g1 a -> b --strategy replug: exit 0" is "$rc" 0 || show migrate g1 b
assert_eq "migrate: result says migrated" true "$(json_get migrated <<<"$out")"
assert_eq "migrate: strategy replug" replug "$(json_get strategy <<<"$out")"
assert_eq "g1 runs on b" running "$(th_state b g1)"
assert_eq "live XML on b: g1 has $vf2 (the free VF, attached)" "$vf2" "$(hostdevs b g1)"
check "replug kept g1's hostdev on b: slot 0x07, <rom bar='off'/>, alias ua-vf1" hostdev_keeps b g1
check "/dev/vfio/$g2 is busy (b's QEMU holds $vf2)" vfio_busy "$g2"
assert_eq "a keeps g1's definition, shut off" "shut off" "$(th_state a g1)"
check "$vf1 released on a: /dev/vfio/$g1 can be opened" wait_for "vfio_free $g1" 10
c1=$(ctr b g1)
check "g1 not rebooted: counter on b ($c1) > before the migration ($c0)" eval '((c1 > c0))'
check "counter advances on b" th_wait_counter_above b g1 "$c1" 10
check "the claim on $vf2 is g1's (adopted: running, no lease)" claims_are "g1 running $vf2" || show --json claims
check "$vf1 and $vf2 still on vfio-pci" eval '[[ $(lab_driver $vf1) == vfio-pci && $(lab_driver $vf2) == vfio-pci ]]'

# ================================================================ E  b -> a
c0=$(ctr b g1)
vfm -c "$B" --json migrate g1 "$A" --strategy replug --peer local
timed "E vfmigctl migrate b -> a (replug)" "$vfm_ms"
cp "$T/out" "$T/m2.json"
tap_diag "$(migrate_report "$T/m2.json")"
check "migrate g1 b -> a --strategy replug: exit 0" is "$rc" 0 || show migrate g1 a
assert_eq "g1 runs on a again" running "$(th_state a g1)"
assert_eq "gone from b (transient there)" absent "$(th_state b g1)"
assert_eq "live XML on a: g1 has $vf1 (the free VF again)" "$vf1" "$(hostdevs a g1)"
check "replug kept g1's hostdev on a: slot 0x07, <rom bar='off'/>, alias ua-vf1" hostdev_keeps a g1
check "$vf2 released on b: /dev/vfio/$g2 can be opened" wait_for "vfio_free $g2" 10
c1=$(ctr a g1)
check "g1 not rebooted: counter on a ($c1) > before ($c0)" eval '((c1 > c0))'
check "the claim on $vf2 ended with b's QEMU; g1 owns the one on $vf1" \
    wait_for "claims_are 'g1 running $vf1'" 10 || show --json claims

# ================================================================ F  an ignoring guest
t0=$(now_ms)
th_virsh a destroy g1 >/dev/null 2>&1
check "g1 destroyed, $vf1 free" wait_for "vfio_free $g1" 10
timed "F destroy g1 until VF1 is free" "$(($(now_ms) - t0))"
t0=$(now_ms)
srv=0
TH_GUEST_ACK_UNPLUG=0 TH_GUEST_DEVICES=$hd_xml th_define_guest a g2 >"$T/def" 2>&1 && th_start_guest a g2 >>"$T/def" 2>&1 || srv=$?
check "g2 (ROM ignores unplug) runs on a with $vf1" eval '((srv == 0)) && th_wait_counter_above a g2 0 30' || tap_diag "$(<"$T/def")"
timed "F start g2 with VF1" "$(($(now_ms) - t0))"
c0=$(ctr a g2)
vfm -c "$A" --json migrate g2 "$B" --strategy replug --peer local --detach-timeout 5
timed "F vfmigctl migrate, guest ignores unplug" "$vfm_ms"
cp "$T/out" "$T/m3.json"
m3=$out
tap_diag "$(migrate_report "$T/m3.json")"
check "migrate g2 --detach-timeout 5: fails (exit 1)" is "$rc" 1 || show migrate g2 b --detach-timeout 5
check "the error says the guest did not release $vf1" has "$(json_get error.message <<<"$out")" "did not release $vf1"
assert_eq "result: rolled back" true "$(json_get error.result.rolled_back <<<"$out")"
assert_eq "result: not migrated" false "$(json_get error.result.migrated <<<"$out")"
assert_eq "g2 keeps running on a" running "$(th_state a g2)"
assert_eq "nothing on b" absent "$(th_state b g2)"
assert_eq "live XML on a: g2 still has $vf1" "$vf1" "$(hostdevs a g2)"
check "/dev/vfio/$g1 still busy (a's QEMU holds $vf1)" vfio_busy "$g1"
c1=$(ctr a g2)
check "g2 not stopped: counter on a went on ($c1 > $c0)" eval '((c1 > c0))'
check "no claim left" claims_empty || show --json claims
steps=$(json_get error.result.steps <<<"$m3")
check "roll-back: no failed step (the device never left g2: nothing to re-attach)" \
    eval '[[ -n $steps ]] && ! has "$steps" "re-attaching on the source failed"'
check "$vf2 (claimed and prepared for b, then released) still on vfio-pci" \
    eval '[[ $(lab_driver $vf2) == vfio-pci ]]'
tap_diag "$vf2 now: driver '$(lab_driver "$vf2")', override '$(_lab_read "$PCI/devices/$vf2/driver_override")'"

# ================================================================ G  vfmigctl killed
# A replug migration whose vfmigctl is SIGKILLed once the guest let go of its
# VF: the journal keeps the migration, and vfmigctl recover ends it where the
# guest runs (on a: the orphaned job aborted, VF1 attached again, the claim on
# b released; on b: the claimed VF attached there, the claim released).
t0=$(now_ms)
th_virsh a destroy g2 >/dev/null 2>&1
check "g2 destroyed, $vf1 free" wait_for "vfio_free $g1" 10
srv=0
TH_GUEST_ACK_UNPLUG=1 TH_GUEST_DEVICES=$user_xml th_define_guest a g3 >"$T/def" 2>&1 && th_start_guest a g3 >>"$T/def" 2>&1 || srv=$?
check "g3 (acknowledges unplug) runs on a with $vf1" eval '((srv == 0)) && th_wait_counter_above a g3 0 30' || tap_diag "$(<"$T/def")"
timed "G start g3 with VF1" "$(($(now_ms) - t0))"
t0=$(now_ms)
"$V" -c "$A" --json migrate g3 "$B" --strategy replug --peer local --bandwidth 1 >"$T/m4.json" 2>"$T/m4.err" &
mpid=$!
check "the migration detached $vf1 (step event)" wait_for "grep -q 'detached $vf1' '$T/m4.json'" 120 || tap_diag "$(<"$T/m4.err")"
kill -KILL "$mpid" 2>/dev/null
wait "$mpid"
mrc=$?
tap_diag "$(migrate_report "$T/m4.json")"
assert_eq "vfmigctl migrate SIGKILLed after the detach" 137 "$mrc"
vfm --json status
check "status: the migration is in the journal" has "$(json_get migrations.0.domain_name <<<"$out")" g3 || show --json status
vfm --json recover
timed "G vfmigctl recover" "$vfm_ms"
check "recover: exit 0" is "$rc" 0 || show --json recover
tap_diag "recover steps: $(json_get migrations.0.steps <<<"$out")"
if [[ $(th_state a g3) == running ]]; then
    assert_eq "recover: rolled back (g3 still on a)" true "$(json_get migrations.0.rolled_back <<<"$out")"
    check "recover: g3 has $vf1 again on a" wait_for '[[ $(hostdevs a g3) == "$vf1" ]]' 60
    check "recover re-attached g3's own element: slot 0x07, <rom bar='off'/>, alias ua-vf1" hostdev_keeps a g3
    assert_eq "nothing on b" absent "$(th_state b g3)"
    check "recover: no claim left" claims_empty || show --json claims
    c0=$(ctr a g3)
    check "g3 not stopped: its counter goes on on a" th_wait_counter_above a g3 "$c0" 10
else
    assert_eq "recover: finished (g3 runs on b)" true "$(json_get migrations.0.migrated <<<"$out")"
    assert_eq "g3 runs on b" running "$(th_state b g3)"
    check "recover: g3 has $vf2 on b" wait_for '[[ $(hostdevs b g3) == "$vf2" ]]' 60
    check "recover attached g3's own element on b: slot 0x07, <rom bar='off'/>, alias ua-vf1" hostdev_keeps b g3
    check "recover: the claim on $vf2 is g3's" claims_are "g3 running $vf2" || show --json claims
fi
vfm --json status
check "recover: the journal is clean" eval '[[ $(json_get migrations <<<"$out") == "[]" && $(json_get pending <<<"$out") == "[]" ]]' || show --json status
check "$vf1 and $vf2 still on vfio-pci" eval '[[ $(lab_driver $vf1) == vfio-pci && $(lab_driver $vf2) == vfio-pci ]]'
timed "G kill and recover" "$(($(now_ms) - t0))"

# ================================================================ summary
tap_diag "$(printf '%s\n' "timings (VM clock, TCG inside TCG):" "${timings[@]}" \
    "whole script $(((${EPOCHREALTIME/./} - t_start) / 1000)) ms")"
tap_done
