#!/bin/bash
# hotplug.sh — vfmigd's hotplug binding on the real kernel, run INSIDE the lab VM:
#   tests/lab/run-hotplug.sh               (builds the kill shim, boots the VM)
#   tests/lab/vm-run.sh tests/lab/hotplug.sh   (the shim's test points then skip)
#
# With the host's systemd-udevd running in the guest and vfmigd on the real
# sysfs (no --sysroot), a policy in /etc/vfmig/policies.d managing the NVMe
# VFs (Ids=1b36:0010, VirtualFunction=true, Manage=true, AutoBind=true):
#   A  at start vfmigd turns sriov_drivers_autoprobe off on the NVMe PF
#   B  a plain `echo 3 > sriov_numvfs` (no vfmigctl): vfmigd binds the three
#      VFs to vfio-pci from their udev add events; nvme never probed them
#      (dmesg, the daemon's "was unbound"); vfmigctl status --json, answered
#      by the daemon (its log names the caller's pid), lists them as owned
#   C  sriov_numvfs 0: vfmigd drops the records of the removed VFs at their
#      remove events (status, then restore has nothing left)
#   C1 the policy edited in place (AutoBind=false) while vfmigd runs: the
#      next write's VFs stay unbound (inotify saw the edit)
#   C2 vfmigctl vf create with vfmigd running: vf create binds its VFs, the
#      daemon (which hears the kernel's add events) binds none of them again
#   D  vfmigd SIGKILLed from outside right after the sriov_numvfs write;
#      restarted, its start-up scan binds every VF the policy manages
#   E  vfmigd SIGKILLed by kill-shim.so right after it wrote one VF's
#      driver_override (that VF half-bound, deterministically); restarted:
#      "interrupted bind" recovered, all VFs bound, the journal clean
#   F  the udev rule (the build's configured data/udev/70-vfmig.rules, with
#      vfmigctl and the data "installed" at the paths it names) with vfmigd
#      stopped and autoprobe left at 0: what the rule alone achieves
#   G  control: autoprobe 1 and the rule, no daemon: the kernel's probe of
#      nvme is visible in dmesg (the check of B can see one) and the rule
#      comes too late (DESIGN.md Decisions 9)
# Prints TAP.  Known vfmig bugs are "not ok ... # TODO" points (they do not
# fail the test); with LAB_STRICT=1 they count as failures.
#
# Environment: VFMIGCTL, VFMIGD (default build/src/{cli/vfmigctl,daemon/vfmigd}
# of this source tree), VFMIG_DATADIR (default data/ of this tree),
# VFMIG_UDEV_RULE (default build/data/udev/70-vfmig.rules, next to VFMIGCTL's
# build tree), LAB_KILL_SHIM (kill-shim.so built on the host by run-hotplug.sh),
# LAB_STRICT.  Logs (vfmigd, udevd) go to $LAB_RESULTS/hotplug-*.log.
# shellcheck disable=SC2016 # conditions given to eval are single-quoted on purpose
set -euo pipefail

here=${LAB_DIR:-$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")}
# shellcheck source=lab-lib.sh source-path=SCRIPTDIR
source "$here/lab-lib.sh"
lab_require_vm

readonly PCI=/sys/bus/pci
srcroot=$(realpath -- "$here/../..")
V=${VFMIGCTL:-$srcroot/build/src/cli/vfmigctl}
D=${VFMIGD:-$(dirname -- "$(dirname -- "$V")")/daemon/vfmigd}
export VFMIG_DATADIR=${VFMIG_DATADIR:-$srcroot/data}
RULE=${VFMIG_UDEV_RULE:-$(dirname -- "$(dirname -- "$(dirname -- "$V")")")/data/udev/70-vfmig.rules}
UDEVD=/lib/systemd/systemd-udevd
readonly STATE=/var/lib/vfmig
readonly POLICY=/etc/vfmig/policies.d/50-vfmig-lab-hotplug.conf
readonly SOCK=/run/vfmig/vfmigd.sock
readonly NVFS=3
LOGS=${LAB_RESULTS:-/run}
shim=${LAB_KILL_SHIM:-}
[[ -n $shim && -r $shim ]] || shim=''
T=/run/vfmig-lab-hotplug
pf='' P='' udevd_pid='' dpid='' dlog='' dstarts=0 vfs=()
t_start=${EPOCHREALTIME/./}

# ------------------------------------------------------------------ helpers
tap_todo() {
    local desc=$1 why=$2
    shift 2
    if [[ -n ${LAB_STRICT:-} ]]; then
        tap_fail "$desc (known: $why)" "$@"
        return
    fi
    _tap_n=$((_tap_n + 1))
    printf 'not ok %d - %s # TODO %s\n' "$_tap_n" "$desc" "$why"
    local d
    for d in "$@"; do tap_diag "$d"; done
}
# check DESC [--todo REASON] CMD [ARGS...]
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
has() { # STR FRAG...: STR contains each FRAG literally, in this order
    local s=$1 f
    shift
    for f; do
        [[ $s == *"$f"* ]] || return 1
        s=${s#*"$f"}
    done
}
is() { [[ $1 == "$2" ]]; }
rd() { _lab_read "$1"; }
slurp() { # FILE -> $text (no fork)
    text=''
    IFS= read -r -d '' text <"$1" || true
}
override() { rd "$PCI/devices/$1/driver_override"; }
on() { [[ -e $PCI/drivers/$2/$1 ]]; } # BDF DRIVER, without forking
all_on_vfio() {
    local vf
    ((${#vfs[@]})) || return 1
    for vf in "${vfs[@]}"; do on "$vf" vfio-pci || return 1; done
}
# The VFs of the PF now (readlink: only after the sriov_numvfs write).
read_vfs() { mapfile -t vfs < <(lab_vfs "$pf"); }
numvfs() { # N: write sriov_numvfs by hand (no vfmigctl)
    lab_sysfs_write "$P/sriov_numvfs" "$1"
}
# journal state
# intents: the BDFs with a pending intent, those of a batch record
# (intent/batch-ID.json: the devices of one request) included
intents() {
    local f t
    for f in "$STATE"/intent/*.json; do
        [[ -e $f ]] || continue
        if [[ ${f##*/} == batch-* ]]; then
            IFS= read -r -d '' t <"$f" || true
            while [[ $t =~ \"bdf\"\ *:\ *\"([^\"]+)\" ]]; do
                printf '%s ' "${BASH_REMATCH[1]}"
                t=${t#*"${BASH_REMATCH[0]}"}
            done
        else
            f=${f##*/}
            printf '%s ' "${f%.json}"
        fi
    done
}
owned() { local f; for f in "$STATE"/owned/*.json; do [[ -e $f ]] && { f=${f##*/}; printf '%s ' "${f%.json}"; }; done; }
# dead PID: gone or a zombie (our child, not yet waited for)
dead() {
    local s
    { IFS= read -r s <"/proc/$1/stat"; } 2>/dev/null || return 0
    s=${s##*) }
    [[ ${s:0:1} == Z ]]
}

# Kernel log: kmsg_mark remembers how many lines there are; kmsg_new sets
# $kmsg to the lines logged since (one string).
kmsg_n=0 kmsg=''
kmsg_mark() {
    local -a l
    dmesg >"$T/dmesg" 2>&1 || true
    mapfile -t l <"$T/dmesg"
    kmsg_n=${#l[@]}
}
kmsg_new() {
    local -a l
    dmesg >"$T/dmesg" 2>&1 || true
    mapfile -t l <"$T/dmesg"
    kmsg=''
    local i
    for ((i = kmsg_n; i < ${#l[@]}; i++)); do kmsg+="${l[i]}"$'\n'; done
}
# nvme_lines BDF...: the new kernel lines where nvme speaks of a BDF
nvme_lines() {
    local line bdf out=''
    while IFS= read -r line; do
        [[ $line == *nvme* ]] || continue
        for bdf; do [[ $line == *"$bdf"* ]] && { out+="$line"$'\n'; break; }; done
    done <<<"$kmsg"
    printf '%s' "$out"
}

# vfmigd: start_daemon [ENV=VALUE...] (env for vfmigd only); the log is
# $LOGS/hotplug-vfmigd-N.log ($dlog).  Waits (polls) for the socket and the
# "listening" line.
start_daemon() {
    dstarts=$((dstarts + 1))
    dlog=$LOGS/hotplug-vfmigd-$dstarts.log
    rm -f -- "$SOCK"
    env G_MESSAGES_DEBUG=vfmig "$@" "$D" --socket "$SOCK" >"$dlog" 2>&1 &
    dpid=$!
    local t0=${EPOCHREALTIME/./}
    # the socket exists before the udev monitor does: "listening" is logged
    # once both are set up (as READY=1 under systemd)
    if ! wait_for '[[ -S $SOCK ]] && { slurp "$dlog"; [[ $text == *" listening on "* ]]; } || dead $dpid' 60 ||
        dead "$dpid"; then
        slurp "$dlog"
        tap_diag "vfmigd (pid $dpid) did not come up: $text"
        return 1
    fi
    tap_diag "vfmigd #$dstarts (pid $dpid) listening after $(((${EPOCHREALTIME/./} - t0) / 1000)) ms${*:+ ($*)}"
}
# stop_daemon: SIGTERM by PID, wait; $drc = its exit status
drc=''
stop_daemon() {
    drc=''
    [[ -n $dpid ]] || return 0
    kill -TERM "$dpid" 2>/dev/null || true
    wait_for 'dead $dpid' 20 || kill -KILL "$dpid" 2>/dev/null || true
    drc=0
    wait "$dpid" 2>/dev/null || drc=$?
    dpid=''
}
# kill9_daemon: SIGKILL by PID, wait
kill9_daemon() {
    kill -KILL "$dpid" 2>/dev/null || true
    drc=0
    wait "$dpid" 2>/dev/null || drc=$?
    dpid=''
}
dlog_text() { slurp "$dlog"; dtext=$text; }
no_vfmigd() {
    local c
    for c in /proc/[0-9]*/comm; do
        { IFS= read -r c <"$c"; } 2>/dev/null || continue
        [[ $c == vfmigd ]] && return 1
    done
    return 0
}

# vfm ARGS...: vfmigctl through the daemon (VFMIG_SOCKET); $out, $err, $rc,
# $vpid (its pid, which the daemon's debug log names).
out='' err='' rc=0 vpid=''
vfm() {
    rc=0
    VFMIG_SOCKET=$SOCK "$V" "$@" >"$T/out" 2>"$T/err" &
    vpid=$!
    wait "$vpid" || rc=$?
    slurp "$T/out"; out=${text%$'\n'}
    slurp "$T/err"; err=${text%$'\n'}
}
show() { tap_diag "vfmigctl $* -> exit $rc" "stdout: ${out:-(empty)}" "stderr: ${err:-(empty)}"; }
# vcall METHOD: ask vfmigd itself with the independent varlink client of the
# daemon tests (DESIGN.md Decisions 28); $vout = the reply's parameters as
# compact JSON (or the error), $vrc = the client's status.
vout='' vrc=0
vcall() {
    vrc=0
    /usr/bin/python3 -c 'import json, sys
sys.path.insert(0, sys.argv[1])
import varlink_client
with varlink_client.Connection(sys.argv[2]) as c:
    print(json.dumps(c.call(sys.argv[3]), separators=(",", ":")))' \
        "$srcroot/tests/daemon" "$SOCK" "$1" >"$T/vout" 2>&1 || vrc=$?
    slurp "$T/vout"
    vout=${text%$'\n'}
}

# Empty the journal's records (vfmigd stopped): each phase starts clean.
journal_reset() { rm -f -- "$STATE"/owned/*.json "$STATE"/intent/*.json; }

# Back to no VFs; raw writes only.
vfs_off() {
    [[ -n $pf && $(rd "$P/sriov_numvfs") != 0 ]] && { numvfs 0 || true; }
    vfs=()
}

udev_installed=()
cleanup() {
    local f
    stop_daemon
    vfs_off
    [[ -n $pf ]] && { lab_sysfs_write "$P/sriov_drivers_autoprobe" 1 || true; }
    for f in "${udev_installed[@]}"; do rm -f -- "$f"; done
    if [[ -n $udevd_pid ]]; then
        kill -TERM "$udevd_pid" 2>/dev/null || true
        wait_for 'dead $udevd_pid' 10 || kill -KILL "$udevd_pid" 2>/dev/null || true
        wait "$udevd_pid" 2>/dev/null || true
    fi
    rm -f -- "$POLICY"
    rm -rf -- "$STATE"
    echo "numvfs $(rd "$P/sriov_numvfs"), VM time in script $(((${EPOCHREALTIME/./} - t_start) / 1000)) ms"
}
tap_init cleanup

mkdir -p "$T" "${POLICY%/*}" /run/vfmig
[[ -x $V ]] || tap_bail "no vfmigctl at $V (ninja -C build first)"
[[ -x $D ]] || tap_bail "no vfmigd at $D (ninja -C build first)"
[[ -x $UDEVD ]] || tap_bail "no $UDEVD (apt-get install udev)"
pf=$(lab_nvme_pf) || tap_bail "no SR-IOV NVMe PF"
P=$PCI/devices/$pf
(($(rd "$P/sriov_totalvfs") >= NVFS)) || tap_bail "the PF offers $(rd "$P/sriov_totalvfs") VFs, $NVFS needed (--nvme-vfs)"
tap_diag "vfmigd $D, vfmigctl $V, VFMIG_DATADIR=$VFMIG_DATADIR, PF $pf, kill shim ${shim:-none}"
rm -rf -- "$STATE"
set +e

# ============================================================ A  udevd, vfmigd
"$UDEVD" >"$LOGS/hotplug-udevd.log" 2>&1 &
udevd_pid=$!
check "systemd-udevd (the host's, pid $udevd_pid) answers udevadm control --ping" \
    wait_for 'udevadm control --ping >/dev/null 2>&1' 30 || tap_bail "no udevd"

printf '%s\n' '# tests/lab/hotplug.sh' '[Policy lab-nvme-vfs]' 'Ids=1b36:0010' 'VirtualFunction=true' \
    'Manage=true' 'AutoBind=true' >"$POLICY"
module_at_start=0
[[ -d /sys/module/vfio_pci ]] && module_at_start=1
assert_eq "before vfmigd: $pf sriov_drivers_autoprobe reads 1 (the kernel's default)" 1 "$(rd "$P/sriov_drivers_autoprobe")"
assert_eq "before vfmigd: no VFs" 0 "$(rd "$P/sriov_numvfs")"
start_daemon || tap_bail "vfmigd did not start"
assert_eq "vfmigd at start: $pf sriov_drivers_autoprobe reads 0" 0 "$(rd "$P/sriov_drivers_autoprobe")"
dlog_text
check "vfmigd's log says so (autoprobe, a policy manages its VFs) and udev is on" \
    has "$dtext" "turned off VF autoprobe on $pf: a policy manages its VFs" "(host /, udev on)" || tap_diag "$dtext"

# ====================================== B  echo 3 > sriov_numvfs: auto-bind
kmsg_mark
t0=${EPOCHREALTIME/./}
check "echo $NVFS > $P/sriov_numvfs (a plain shell write)" numvfs "$NVFS"
t_written=${EPOCHREALTIME/./}
read_vfs
assert_eq "$NVFS VFs exist" "$NVFS" "${#vfs[@]}"
if check "every VF's driver link becomes vfio-pci (polled, 60 s at most)" wait_for all_on_vfio 60; then
    tap_diag "bound $(((${EPOCHREALTIME/./} - t0) / 1000)) ms after the sriov_numvfs write began (the write took $(((t_written - t0) / 1000)) ms)"
fi
kmsg_new
for vf in "${vfs[@]}"; do
    assert_eq "$vf: driver vfio-pci, driver_override vfio-pci" "vfio-pci vfio-pci" "$(lab_driver "$vf") $(override "$vf")"
done
lines=$(nvme_lines "${vfs[@]}")
check "no nvme probe of the VFs since the write (dmesg has no nvme line naming ${vfs[*]})" is "$lines" "" ||
    tap_diag "$lines"
dlog_text
for vf in "${vfs[@]}"; do
    check "vfmigd saw the udev add of $vf and bound it from no driver ('was unbound')" \
        has "$dtext" "uevent add $vf" "bound $vf to vfio-pci (was unbound)"
done
# one write, one request: the hotplug worker waits for the write and for the
# add events of the VFs it created, then binds them all with one journal
# record (lib/bind/vfm-hotplug.c); its log names the record and its members
batchline='' nreq=0
declare -A nbound=()
while IFS= read -r line; do
    if [[ $line == *"auto-bind of "*" devices as one request (journal record batch-"* ]]; then
        nreq=$((nreq + 1))
        batchline=$line
    fi
    for vf in "${vfs[@]}"; do [[ $line == *"bound $vf to "* ]] && nbound[$vf]=$((${nbound[$vf]:-0} + 1)); done
done <<<"$dtext"
assert_eq "vfmigd bound the VFs of the one sriov_numvfs write in one request (its log: one batch line)" 1 "$nreq" ||
    tap_diag "$dtext"
check "... of all $NVFS VFs, with one journal record (intent/batch-ID.json)" \
    has "$batchline" "auto-bind of $NVFS devices as one request (journal record batch-" || tap_diag "$batchline"
for vf in "${vfs[@]}"; do
    check "... the request names $vf" has "$batchline" " $vf"
    assert_eq "... $vf bound once" 1 "${nbound[$vf]:-0}"
done
if ((module_at_start)); then
    tap_diag "vfio_pci was loaded before vfmigd started"
else
    check "vfmigd loaded vfio_pci itself" test -d /sys/module/vfio_pci
fi
assert_eq "the journal: no intent left" "" "$(intents)"

# vfmigctl status reads the journal itself (vfmigctl(8): only bind, unbind
# and restore go through the daemon); vfmigd's own answer is io.vfmig.Status.
vfm --json status
check "vfmigctl status --json (VFMIG_SOCKET set): exit 0" is "$rc" 0 || show --json status
dlog_text
if has "$dtext" "pid $vpid) calls io.vfmig.Status"; then
    tap_diag "vfmigctl status went through vfmigd"
else
    tap_diag "vfmigctl status did not call vfmigd (documented: it reads the journal itself)"
fi
for vf in "${vfs[@]}"; do
    check "vfmigctl status --json: $vf owned, on vfio-pci, in place, no original driver" \
        has "$out" "{\"bdf\":\"$vf\",\"driver\":\"vfio-pci\",\"current_driver\":\"vfio-pci\",\"in_place\":true,\"original_driver\":null"
done
check "vfmigctl status --json: nothing pending, no journal problem" has "$out" '"pending":[],"migrations":[],"journal_problems":[]'
vcall io.vfmig.Status
check "vfmigd's io.vfmig.Status (varlink, tests/daemon/varlink_client.py): answers" is "$vrc" 0 || tap_diag "$vout"
for vf in "${vfs[@]}"; do
    check "io.vfmig.Status: $vf owned, on vfio-pci, in place" \
        has "$vout" "{\"bdf\":\"$vf\",\"driver\":\"vfio-pci\",\"current_driver\":\"vfio-pci\",\"in_place\":true"
done
check "io.vfmig.Status: the same JSON as vfmigctl status --json" is "$vout" "$out" ||
    tap_diag "daemon: $vout" "vfmigctl: $out"

# ================================================= C  echo 0 > sriov_numvfs
gone=("${vfs[@]}")
check "echo 0 > sriov_numvfs" numvfs 0
vfs=()
check "the VFs are gone from sysfs" eval '[[ ! -e $PCI/devices/${gone[0]} && ! -e $PCI/devices/${gone[-1]} ]]'
# vfmigd drops the records of removed devices at their "remove" events
wait_for 'dlog_text; has "$dtext" "uevent remove ${gone[-1]}"' 10 ||
    tap_diag "vfmigd did not log the remove of ${gone[-1]} within 10 s"
vcall io.vfmig.Status
status_after=$vout
check "io.vfmig.Status after the removal: answers" is "$vrc" 0 || tap_diag "$vout"
for vf in "${gone[@]}"; do
    if [[ $status_after != *"\"bdf\":\"$vf\""* ]]; then
        tap_ok "status after the removal: $vf's record is dropped"
    else
        check "status after the removal: $vf's record is reported not in place, with no current driver" \
            has "$status_after" "{\"bdf\":\"$vf\",\"driver\":\"vfio-pci\",\"current_driver\":null,\"in_place\":false"
    fi
done
check "vfmigd drops the owned records of removed VFs (remove uevent)" \
    wait_for '[[ -z $(owned) ]]' 10 || tap_diag "owned records left: $(owned)"
check "vfmigd says why it dropped ${gone[-1]}'s record" \
    eval 'dlog_text; has "$dtext" "${gone[-1]} was removed while bound to vfio-pci: dropped its record"'
vfm --json restore
check "vfmigctl restore after the removal: exit 0, nothing left" \
    eval '((rc == 0)) && [[ -z $(owned) ]]' || show --json restore
check "restore went through vfmigd (its log: pid $vpid calls io.vfmig.Restore)" \
    eval 'dlog_text; has "$dtext" "pid $vpid) calls io.vfmig.Restore"'

# ===================== C1  a policy edited in place applies at the next write
# vfmigd keeps the parsed policies between hotplug rounds and learns of an
# edit from inotify (the lab's root is an overlay: the guest's own changes
# raise events); an edit it missed would bind these VFs by the old policy.
check "vfmigd watches its database and policies with inotify (its start log)" \
    has "$dtext" "driver database and policies: changes seen by inotify" || tap_diag "$dtext"
printf '%s\n' '# tests/lab/hotplug.sh, C1' '[Policy lab-nvme-vfs]' 'Ids=1b36:0010' 'VirtualFunction=true' \
    'Manage=true' 'AutoBind=false' >"$POLICY" # truncated and rewritten: the same file
mark=${#dtext}
check "C1: echo $NVFS > sriov_numvfs after the policy says AutoBind=false" numvfs "$NVFS"
read_vfs
check "C1: vfmigd's hotplug round for the $NVFS VFs ends (its closing debug line)" \
    wait_for 'dlog_text; has "${dtext:mark}" "hotplug round: $NVFS devices; no write under way"' 30 ||
    tap_diag "${dtext:mark}"
for vf in "${vfs[@]}"; do
    check "C1: $vf left unbound by the edited policy (no driver, no override)" \
        eval '[[ ! -e $PCI/devices/$vf/driver && $(override "$vf") == "(null)" ]]'
done
check "C1: vfmigd bound none of them" eval 'dlog_text; ! has "${dtext:mark}" "bound ${vfs[0]} to"'
printf '%s\n' '# tests/lab/hotplug.sh' '[Policy lab-nvme-vfs]' 'Ids=1b36:0010' 'VirtualFunction=true' \
    'Manage=true' 'AutoBind=true' >"$POLICY"
check "C1: echo 0 > sriov_numvfs" numvfs 0
vfs=()
stop_daemon
assert_eq "vfmigd: SIGTERM -> exit 0" 0 "$drc"

# ============ C2  vfmigctl vf create while vfmigd runs: one bind per VF
# vfmigd hears the kernel's add events at once (not udev's, which come
# after the rules); vf create binds the VFs it creates itself, and the
# daemon leaves them to it (its sriov record says a live process is at work)
# or finds them bound already: never two binds of one VF.
journal_reset
start_daemon || tap_bail "vfmigd did not start"
dlog_text
mark=${#dtext}
vfm --json vf create "$pf" "$NVFS"
creator=$vpid create_out=$out
check "vfmigctl vf create $pf $NVFS with vfmigd running: exit 0" is "$rc" 0 || show --json vf create "$pf" "$NVFS"
read_vfs
check "vf create: every VF on vfio-pci" all_on_vfio
wait_for 'dlog_text; has "${dtext:mark}" "uevent add ${vfs[-1]}"' 10 || tap_diag "vfmigd did not log the add of ${vfs[-1]}"
dlog_text
new=${dtext:mark}
left=0
for vf in "${vfs[@]}"; do
    check "vf create bound $vf itself" has "$create_out" "\"bdf\":\"$vf\",\"op\":\"bind\"" "bound $vf to vfio-pci (was unbound)"
    check "vfmigd heard the add of $vf and did not bind it too" eval 'has "$new" "uevent add $vf" && ! has "$new" "bound $vf to"'
    has "$new" "$vf left to the vf create of pid $creator" && left=$((left + 1))
done
tap_diag "vfmigd left $left of ${#vfs[@]} VFs to vf create while it ran (the others it found bound)"
assert_eq "after vf create: no intent left" "" "$(intents)"
assert_eq "after vf create: one owned record per VF" "${vfs[*]} " "$(owned)"
vfm --json vf destroy "$pf"
check "vfmigctl vf destroy $pf: exit 0" is "$rc" 0 || show --json vf destroy "$pf"
vfs=()
stop_daemon
# vf destroy gives the PF the kernel's default autoprobe (1) back; D starts
# from the state vfmigd leaves (0), as after C
lab_sysfs_write "$P/sriov_drivers_autoprobe" 0
journal_reset

# ================= D  kill -9 from outside right after the write, restart
journal_reset
assert_eq "vfmigd stopped: autoprobe stays 0 on $pf" 0 "$(rd "$P/sriov_drivers_autoprobe")"
start_daemon || tap_bail "vfmigd did not start"
numvfs "$NVFS"
wrc=$?
kill -KILL "$dpid" 2>/dev/null
assert_eq "echo $NVFS > sriov_numvfs with vfmigd running (kill -9 right after): the write succeeds" 0 "$wrc"
kill9_daemon
read_vfs
at_kill=''
for vf in "${vfs[@]}"; do at_kill+="$vf:$(lab_driver "$vf")/$(override "$vf") "; done
dlog_text
n=0
for vf in "${vfs[@]}"; do [[ $dtext == *"uevent add $vf"* ]] && n=$((n + 1)); done
tap_diag "killed having logged $n of ${#vfs[@]} add events; VFs (driver/override): $at_kill; intents: $(intents); owned: $(owned)"
assert_eq "vfmigd killed by SIGKILL (exit 137)" 137 "$drc"
# vfmigd hears the kernel's add events during the write itself: it may have
# begun (or finished) binding when the kill lands; whatever it left is the
# restart's to finish
tap_diag "at the kill: owned records: $(owned)"
intent_at_kill=$(intents)
start_daemon || tap_bail "vfmigd did not restart"
check "restarted vfmigd binds every VF the policy manages (60 s at most)" wait_for all_on_vfio 60
dlog_text
for vf in $intent_at_kill; do
    check "restarted vfmigd recovered the interrupted bind of $vf (journal)" has "$dtext" "$vf: interrupted bind"
done
[[ -n $intent_at_kill ]] || tap_diag "no intent was in the journal at the kill: nothing to recover"
for vf in "${vfs[@]}"; do
    check "restarted vfmigd: its start-up scan bound $vf (logged before 'listening')" \
        has "$dtext" "bound $vf to vfio-pci (was unbound)" " listening on "
done
assert_eq "after the restart: no intent left" "" "$(intents)"
assert_eq "after the restart: one owned record per VF" "${vfs[*]} " "$(owned)"
vfs_off
stop_daemon

# ====== E  SIGKILL right after vfmigd wrote one VF's driver_override (shim)
# vfmigd binds the VFs of a write as one request in one thread (the batch
# record names them all); the pattern matches one write, the
# driver_override of the middle VF (VF numbers are stable: the same BDFs as
# in D), so the kill lands mid-batch.
if [[ -z $shim ]]; then
    tap_skip "vfmigd killed mid-bind by kill-shim.so" "no kill-shim.so (LAB_KILL_SHIM; run-hotplug.sh builds it)"
else
    journal_reset
    victim=${vfs[1]:-0000:01:00.2}
    : >"$T/kill.log"
    start_daemon LD_PRELOAD="$shim" VFMIG_KILL_MATCH="/sys/devices/*/$victim/driver_override" VFMIG_KILL_N=1 \
        VFMIG_KILL_WHEN=after VFMIG_KILL_LOG="$T/kill.log" || tap_bail "vfmigd did not start"
    check "echo $NVFS > sriov_numvfs with the shimmed vfmigd" numvfs "$NVFS"
    read_vfs
    check "vfmigd dies of SIGKILL right after writing $victim's driver_override (60 s at most)" wait_for 'dead $dpid' 60
    kill9_daemon
    slurp "$T/kill.log"
    at_kill=''
    for vf in "${vfs[@]}"; do at_kill+="$vf:$(lab_driver "$vf")/$(override "$vf") "; done
    tap_diag "exit $drc; sysfs writes: ${text//$'\n'/; }" "VFs (driver/override): $at_kill; intents: $(intents); owned: $(owned)"
    assert_eq "vfmigd's exit status: SIGKILL (137)" 137 "$drc"
    intent_at_kill=$(intents)
    check "$victim was half-bound at the kill: override vfio-pci, no driver, an intent in the journal" \
        eval '[[ $(override $victim) == vfio-pci && -z $(lab_driver $victim) && " $intent_at_kill" == *" $victim "* ]]'
    start_daemon || tap_bail "vfmigd did not restart"
    check "restarted vfmigd binds every VF the policy manages (60 s at most)" wait_for all_on_vfio 60
    dlog_text
    # a VF whose bind another thread was finishing at the kill may have its
    # driver link already: recovery records it; any other is rolled back and
    # bound again by the start-up scan
    recovered() {
        has "$dtext" " listening on " &&
            { has "$dtext" "$1: interrupted bind to vfio-pci had completed; recorded it" ||
                has "$dtext" "$1: interrupted bind rolled back" "bound $1 to vfio-pci"; }
    }
    for vf in $intent_at_kill; do
        check "restarted vfmigd recovered $vf's interrupted bind (journal) before it listened" \
            recovered "$vf" || tap_diag "$dtext"
    done
    assert_eq "after the restart: no intent left" "" "$(intents)"
    assert_eq "after the restart: one owned record per VF" "${vfs[*]} " "$(owned)"
    for vf in "${vfs[@]}"; do
        assert_eq "$vf: driver vfio-pci, override vfio-pci" "vfio-pci vfio-pci" "$(lab_driver "$vf") $(override "$vf")"
    done
    vfs_off
    stop_daemon
    assert_eq "vfmigd: SIGTERM -> exit 0" 0 "$drc"
fi
journal_reset

# ======================================= F  the udev rule, vfmigd not running
# The configured rule names vfmigctl by its installed path (@SBINDIR@); it is
# "installed" in the guest's overlay: vfmigctl there (a symlink to the
# build's) and the data where the build expects it (VFM_DATADIR, udev gives
# programs no VFMIG_DATADIR).
sbin=''
if [[ -r $RULE ]]; then
    while IFS= read -r line; do
        [[ $line =~ ^IMPORT\{program\}=\"(/[^ \"]*)/vfmigctl\  ]] && sbin=${BASH_REMATCH[1]}
    done <"$RULE"
fi
check "the configured rule ($RULE) names vfmigctl by an absolute path, @SBINDIR@ substituted" test -n "$sbin"
# VFM_DATADIR as the build configured it (vfm-config.h at the build's top)
datadir=/usr/local/share/vfmig
if [[ -r $(dirname -- "$V")/../../vfm-config.h ]]; then
    while IFS= read -r line; do
        [[ $line =~ ^#define\ VFM_DATADIR\ \"(/[^\"]*)\" ]] && datadir=${BASH_REMATCH[1]}
    done <"$(dirname -- "$V")/../../vfm-config.h"
fi
if [[ -n $sbin ]]; then
    mkdir -p "$sbin" "${datadir%/*}" /etc/udev/rules.d
    ln -sfn "$V" "$sbin/vfmigctl" && udev_installed+=("$sbin/vfmigctl")
    [[ -e $datadir ]] || { ln -sfn "$VFMIG_DATADIR" "$datadir" && udev_installed+=("$datadir"); }
    cp -- "$RULE" /etc/udev/rules.d/70-vfmig.rules && udev_installed+=(/etc/udev/rules.d/70-vfmig.rules)
    check "udevadm control --reload (rule in /etc/udev/rules.d, vfmigctl at $sbin/vfmigctl, data at $datadir)" \
        udevadm control --reload
    check "vfmigd is not running (no process of that name)" no_vfmigd
    assert_eq "autoprobe is still 0 on $pf (left by vfmigd)" 0 "$(rd "$P/sriov_drivers_autoprobe")"
    # what udev sends after its rules: the add event's properties (a later
    # "change" event, which the kernel sends for every VF once its physfn
    # link exists, does not run the rule and drops VFMIG_DRIVER from the db)
    : >"$T/monitor"
    udevadm monitor --udev --property --subsystem-match=pci >>"$T/monitor" 2>&1 &
    monpid=$!
    wait_for 'slurp "$T/monitor"; [[ $text == *"UDEV - the event"* ]]' 10 || tap_diag "udevadm monitor: no header"
    kmsg_mark
    check "echo $NVFS > sriov_numvfs (no daemon)" numvfs "$NVFS"
    read_vfs
    check "udevadm settle (the rule's programs done)" udevadm settle --timeout=120
    kill -TERM "$monpid"
    wait "$monpid"
    slurp "$T/monitor"
    declare -A add_event=()
    block=''
    while IFS= read -r line; do
        if [[ -z $line ]]; then
            if [[ $block == *$'\nACTION=add\n'* ]]; then
                for vf in "${vfs[@]}"; do [[ $block == *"/$vf"$'\n'* ]] && add_event[$vf]=$block; done
            fi
            block=''
        else
            block+="$line"$'\n'
        fi
    done <<<"$text"$'\n\n'
    env -i "$sbin/vfmigctl" udev-query "${vfs[0]}" >"$T/out" 2>"$T/err"
    slurp "$T/out"
    assert_eq "vfmigctl udev-query ${vfs[0]} in udev's empty environment prints VFMIG_DRIVER=vfio-pci" \
        "VFMIG_DRIVER=vfio-pci" "${text%$'\n'}" || { slurp "$T/err"; tap_diag "stderr: $text"; }
    env -i "$sbin/vfmigctl" udev-query "$pf" >"$T/out" 2>&1
    slurp "$T/out"
    assert_eq "vfmigctl udev-query $pf (the PF, not managed) prints nothing" "" "$text"
    for vf in "${vfs[@]}"; do
        check "$vf: its udev add event carries VFMIG_DRIVER=vfio-pci (IMPORT{program} vfmigctl udev-query; udevadm monitor)" \
            has "${add_event[$vf]:-}" "VFMIG_DRIVER=vfio-pci" || tap_diag "${add_event[$vf]:-no add event seen for $vf}"
        assert_eq "$vf: the rule wrote driver_override=vfio-pci" vfio-pci "$(override "$vf")"
        assert_eq "$vf: no driver yet (autoprobe 0: nothing probes it, the rule only sets the override)" \
            "" "$(lab_driver "$vf")"
    done
    for vf in "${vfs[@]}"; do
        check "echo $vf > drivers_probe: $vf binds to vfio-pci (the override decides)" \
            eval 'lab_sysfs_write "$PCI/drivers_probe" "$vf" && wait_for "on $vf vfio-pci" 10'
    done
    kmsg_new
    lines=$(nvme_lines "${vfs[@]}")
    check "no nvme probe of the VFs (dmesg)" is "$lines" "" || tap_diag "$lines"
    assert_eq "vfmig recorded nothing (no daemon; the rule does not journal)" "" "$(owned)$(intents)"
    vfs_off

    # ===================== G  control: autoprobe 1, rule installed, no daemon
    lab_sysfs_write "$P/sriov_drivers_autoprobe" 1
    kmsg_mark
    check "autoprobe 1: echo 1 > sriov_numvfs" numvfs 1
    read_vfs
    vf=${vfs[0]}
    udevadm settle --timeout=120
    check "autoprobe 1: nvme probes $vf in the kernel (dmesg names it; the check of B would see it)" \
        wait_for 'kmsg_new; [[ -n $(nvme_lines $vf) ]]' 10
    tap_diag "$(nvme_lines "$vf")"
    check "autoprobe 1: the rule still writes driver_override=vfio-pci, after nvme had the VF" \
        is "$(override "$vf")" vfio-pci
    wait_for "[[ ! -e $PCI/devices/$vf/driver ]]" 5
    tap_diag "$vf then (waited up to 5 s for nvme to give it up): driver '$(lab_driver "$vf")', override '$(override "$vf")'"
    vfs_off
    lab_sysfs_write "$P/sriov_drivers_autoprobe" 0
fi

tap_done
