#!/bin/bash
# bench-hotplug.sh — how long vfmigd takes to bind hot-added VFs, against the
# userspace floor, measured INSIDE the real-kernel lab VM
# (tests/lab/vm-run.sh: QEMU TCG, Debian's 6.1 kernel, SR-IOV NVMe).
#
#   bench/bench-hotplug.sh [--runs N] [--vfs N] [--out FILE]   (on the host, as root)
#
# Both paths start from the same state: the NVMe PF with
# sriov_drivers_autoprobe 0, no VFs, vfio_pci loaded, the host's
# systemd-udevd running; the clock starts just before the sriov_numvfs write
# and stops when every VF's driver link is vfio-pci.  N runs each (default 5),
# interleaved round by round:
#   floor   the userspace floor (DESIGN.md Decisions 26): the sriov_numvfs
#           write, then for each VF driver_override + drivers_probe, written by
#           shell builtins in the timing script right after the write returns
#           (no fork, no udev, no policy)
#   vfmigd  a plain sriov_numvfs write; vfmigd (started fresh for the run, with
#           a policy: Ids=1b36:0010 VirtualFunction=true Manage=true
#           AutoBind=true) binds the VFs from their udev add events; the end
#           is polled every 20 ms.  Its debug log splits the time: write ->
#           first "uevent add" it receives (the kernel's event, since vfmigd
#           listens to the kernel rather than to udev), that -> last "bound",
#           and (builds with the hotplug worker) that split by the worker's
#           "hotplug round" debug lines: round begins, write over and its VFs
#           announced (since issue 21's third part: said by the round's
#           closing line, in ms after it began), last "bound";
#   udev    (not timed, no vfmigd) a write watched by `udevadm monitor
#           --kernel --udev`: how long systemd-udevd holds the first add
#           event before it passes it on (what vfmigd waited for when it
#           listened to udev); on its own, because the monitor prints every
#           event and took the CPU from the vfmigd runs it once sat beside
#   vf create  `vfmigctl --json vf create PF N` (no daemon): it writes
#           sriov_numvfs and binds the VFs it created itself, as one batch;
#           wall time (fork+exec and start-up included) and its own "seconds"
# The journal is emptied between vfmigd runs (vfmigd stopped), so every run
# binds from the same state.  Also: vfmigd's resident memory (VmRSS) and its
# wakeups (voluntary context switches, summed over its threads) during 10 s
# idle, right after start and after it bound the VFs.
#
# Prints a Markdown table and writes it to bench/results/hotplug.md (--out).
# shellcheck disable=SC2016 # conditions given to wait_for are single-quoted on purpose
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
srcroot=$(realpath -- "$here/..")
LAB_DIR=${LAB_DIR:-$srcroot/tests/lab}

runs=5 nvfs=3 out=$here/results/hotplug.md guest=0
while (($#)); do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --vfs) nvfs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --guest) guest=1; shift ;;
    -h | --help) sed -n '2,40p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf 'bench-hotplug.sh: unknown argument %s (try --help)\n' "$1" >&2; exit 2 ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { printf 'bench-hotplug.sh: --runs wants a positive integer\n' >&2; exit 2; }
[[ $nvfs =~ ^[1-4]$ ]] || { printf 'bench-hotplug.sh: --vfs wants 1 to 4 (the lab NVMe has 4)\n' >&2; exit 2; }

VFMIGD=${VFMIGD:-$srcroot/build/src/daemon/vfmigd}
VFMIGCTL=${VFMIGCTL:-$(dirname -- "$(dirname -- "$VFMIGD")")/cli/vfmigctl}
UDEVD=/lib/systemd/systemd-udevd

# ====================================================================== host
if ((!guest)); then
    [[ -x $VFMIGD ]] || { printf 'bench-hotplug.sh: no %s: ninja -C build first\n' "$VFMIGD" >&2; exit 1; }
    [[ -x $UDEVD ]] || { printf 'bench-hotplug.sh: no %s: apt-get install udev\n' "$UDEVD" >&2; exit 1; }
    rc=0
    "$LAB_DIR/vm-run.sh" --check || rc=$?
    ((rc == 0)) || { printf 'bench-hotplug.sh: the lab VM cannot run here (see above)\n' >&2; exit "$rc"; }
    tmp=$(mktemp)
    trap 'rm -f -- "$tmp"' EXIT
    export VFMIGD VFMIGCTL VFMIG_DATADIR=${VFMIG_DATADIR:-$srcroot/data}
    read -r load_before _ </proc/loadavg
    PATH=/usr/sbin:/usr/bin:/sbin:/bin "$LAB_DIR/vm-run.sh" --timeout 1200 --nvme-vfs 4 \
        "${BASH_SOURCE[0]}" --guest --runs "$runs" --vfs "$nvfs" >"$tmp"
    read -r load_after _ </proc/loadavg
    printf '\nHost (%s CPUs) load average, 1 min, before/after the VM: %s / %s: the VM'"'"'s vCPUs\nshare the machine, so the spread (max) is mostly other load.\n' \
        "$(nproc)" "$load_before" "$load_after" >>"$tmp"
    cat -- "$tmp"
    mkdir -p -- "$(dirname -- "$out")"
    cp -- "$tmp" "$out"
    printf '\n(written to %s)\n' "$out" >&2
    exit 0
fi

# ===================================================================== guest
# shellcheck source-path=SCRIPTDIR source=../tests/lab/lab-lib.sh
source "$LAB_DIR/lab-lib.sh"
lab_require_vm
readonly PCI=/sys/bus/pci
readonly SOCK=/run/vfmig/vfmigd.sock STATE=/var/lib/vfmig
readonly POLICY=/etc/vfmig/policies.d/50-vfmig-bench-hotplug.conf
pf=$(lab_nvme_pf) || { echo "no NVMe PF" >&2; exit 1; }
P=$PCI/devices/$pf
note() { printf '%s\n' "$*" >&2; }
w() { printf '%s' "$2" >"$1"; } # one write(2), no newline
on() { [[ -e $PCI/drivers/$2/$1 ]]; }
dead() {
    local s
    { IFS= read -r s <"/proc/$1/stat"; } 2>/dev/null || return 0
    s=${s##*) }
    [[ ${s:0:1} == Z ]]
}
slurp() { text=''; IFS= read -r -d '' text <"$1" || true; }

udevd_pid='' dpid=''
cleanup() {
    [[ -n $dpid ]] && { kill -TERM "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; }
    w "$P/sriov_numvfs" 0 2>/dev/null || true
    w "$P/sriov_drivers_autoprobe" 1 2>/dev/null || true
    [[ -n $udevd_pid ]] && { kill -TERM "$udevd_pid" 2>/dev/null; wait "$udevd_pid" 2>/dev/null; }
    rm -f -- "$POLICY"
    rm -rf -- "$STATE"
}
trap cleanup EXIT

mkdir -p /run/vfmig "${POLICY%/*}"
rm -rf -- "$STATE"
"$UDEVD" >/run/bench-udevd.log 2>&1 &
udevd_pid=$!
wait_for 'udevadm control --ping >/dev/null 2>&1' 30 || { note "systemd-udevd does not answer"; exit 1; }
printf '%s\n' '[Policy bench-nvme-vfs]' 'Ids=1b36:0010' 'VirtualFunction=true' 'Manage=true' 'AutoBind=true' >"$POLICY"
modprobe vfio-pci
[[ -d $PCI/drivers/vfio-pci ]] || { note "vfio-pci did not register"; exit 1; }
w "$P/sriov_drivers_autoprobe" 0
# the VFs' BDFs (the same every time): learnt once, so the timed loops need no readlink
w "$P/sriov_numvfs" "$nvfs"
mapfile -t vfs < <(lab_vfs "$pf")
w "$P/sriov_numvfs" 0
((${#vfs[@]} == nvfs)) || { note "expected $nvfs VFs, got ${#vfs[@]}"; exit 1; }
all_on() { local vf; for vf in "${vfs[@]}"; do on "$vf" vfio-pci || return 1; done; }

declare -A samples=() failed=()
add() { samples[$1]+="$2 "; }
fail() { failed[$1]=$((${failed[$1]:-0} + 1)); }

declare -A floor_of=() vfmigd_of=() # ROUND -> us: the paired ratio
floor_run() { # ROUND
    local t0 tw t1 vf
    t0=${EPOCHREALTIME/./}
    w "$P/sriov_numvfs" "$nvfs"
    tw=${EPOCHREALTIME/./}
    for vf in "${vfs[@]}"; do
        w "$PCI/devices/$vf/driver_override" vfio-pci
        w "$PCI/drivers_probe" "$vf"
    done
    t1=${EPOCHREALTIME/./}
    if all_on; then
        add floor $((t1 - t0))
        floor_of[$1]=$((t1 - t0))
        add numvfs-write $((tw - t0))
    else
        fail floor
    fi
    w "$P/sriov_numvfs" 0
}

# time of day in ms (local time, as GLib's log prints it) of an $EPOCHREALTIME
tod_ms() {
    local us=${1/./} hms
    printf -v hms '%(%H:%M:%S)T' "$((us / 1000000))"
    echo $(((10#${hms:0:2} * 3600 + 10#${hms:3:2} * 60 + 10#${hms:6:2}) * 1000 + us % 1000000 / 1000))
}
log_ms() { # "HH:MM:SS.mmm" -> ms
    echo $(((10#${1:0:2} * 3600 + 10#${1:3:2} * 60 + 10#${1:6:2}) * 1000 + 10#${1:9:3}))
}

start_daemon() {
    rm -f -- "$SOCK" "$STATE"/owned/*.json "$STATE"/intent/*.json
    G_MESSAGES_DEBUG=vfmig "$VFMIGD" --socket "$SOCK" >/run/bench-vfmigd.log 2>&1 &
    dpid=$!
    # "listening" is logged once the udev monitor is set up, after the socket
    wait_for 'slurp /run/bench-vfmigd.log; [[ $text == *" listening on "* ]] || dead $dpid' 60 && ! dead "$dpid"
}
stop_daemon() {
    kill -TERM "$dpid"
    wait "$dpid" || note "vfmigd exited $?"
    dpid=''
}

# proc_sum PID -> "VmRSS_kB threads voluntary nonvoluntary" (context
# switches summed over the threads)
proc_sum() {
    local t l rss=0 n=0 vol=0 nvol=0
    while IFS= read -r l; do [[ $l == VmRSS:* ]] && { l=${l#VmRSS:}; l=${l% kB}; rss=$((l)); }; done <"/proc/$1/status"
    for t in /proc/"$1"/task/*; do
        n=$((n + 1))
        while IFS= read -r l; do
            case $l in
            voluntary_ctxt_switches:*) vol=$((vol + ${l##*:})) ;;
            nonvoluntary_ctxt_switches:*) nvol=$((nvol + ${l##*:})) ;;
            esac
        done <"$t/status"
    done
    echo "$rss $n $vol $nvol"
}
declare -A idle=()
idle_probe() { # LABEL: 1 s to settle, then 10 s idle
    local a b
    lab_sleep 1
    read -r -a a <<<"$(proc_sum "$dpid")"
    lab_sleep 10
    read -r -a b <<<"$(proc_sum "$dpid")"
    idle[$1]="${b[0]} ${b[1]} $((b[2] - a[2])) $((b[3] - a[3]))"
}

# udevadm monitor's first KERNEL and UDEV add lines (monotonic seconds, the
# same clock): how long systemd-udevd held the event
udev_split() {
    local l k='' u=''
    while IFS= read -r l; do
        [[ -z $k && $l =~ ^KERNEL\[([0-9]+)\.([0-9]+)\]\ +add ]] && k=$((10#${BASH_REMATCH[1]} * 1000000 + 10#${BASH_REMATCH[2]}))
        [[ -z $u && $l =~ ^UDEV\ +\[([0-9]+)\.([0-9]+)\]\ +add ]] && u=$((10#${BASH_REMATCH[1]} * 1000000 + 10#${BASH_REMATCH[2]}))
    done </run/bench-udevadm.log
    [[ -n $k && -n $u ]] && add "udev-hold" $((u - k))
}

daemon_run() { # ROUND
    local t0 tw t1 t0ms first='' last='' round='' gathered='' gathered_ms='' after='' l
    start_daemon || { fail vfmigd; note "vfmigd did not start: $text"; return; }
    (($1 == 1)) && idle_probe "after start"
    t0=${EPOCHREALTIME/./}
    w "$P/sriov_numvfs" "$nvfs"
    tw=${EPOCHREALTIME/./}
    if wait_for all_on 60; then
        t1=${EPOCHREALTIME/./}
        add vfmigd $((t1 - t0))
        vfmigd_of[$1]=$((t1 - t0))
        t0ms=$(tod_ms "$t0")
        while IFS= read -r l; do
            [[ $l =~ ([0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}):\ uevent\ add\  && -z $first ]] && first=${BASH_REMATCH[1]}
            [[ $l =~ ([0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}):\ bound\  ]] && last=${BASH_REMATCH[1]}
            [[ $l =~ ([0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}):\ hotplug\ round:\ took\  && -z $round ]] && round=${BASH_REMATCH[1]}
            # builds before the round's one closing line logged this one on the way
            [[ $l =~ ([0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}):\ hotplug\ round:\ no\ write && -z $gathered ]] && gathered=${BASH_REMATCH[1]}
            [[ $l =~ hotplug\ round:\ [0-9]+\ devices\;\ no\ write\ under\ way\ and\ its\ VFs\ announced\ ([0-9]+)\.([0-9])\ ms && -z $after ]] &&
                after=$((10#${BASH_REMATCH[1]} * 1000 + 10#${BASH_REMATCH[2]} * 100))
        done </run/bench-vfmigd.log
        # the write over, in the log's ms since midnight: logged, or the
        # round's beginning plus what its closing line says
        [[ -z $gathered && -n $round && -n $after ]] && gathered_ms=$(($(log_ms "$round") + after / 1000))
        [[ -n $gathered ]] && gathered_ms=$(log_ms "$gathered")
        if [[ -n $first && -n $last ]]; then
            add "vfmigd-to-event" $((($(log_ms "$first") - t0ms) * 1000))
            add "vfmigd-event-to-bound" $((($(log_ms "$last") - $(log_ms "$first")) * 1000))
        fi
        # the hotplug worker's steps (builds since issue 21's second part)
        if [[ -n $first && -n $round && -n $gathered_ms && -n $last ]]; then
            add "vfmigd-event-to-round" $((($(log_ms "$round") - $(log_ms "$first")) * 1000))
            add "vfmigd-round-to-gathered" $(((gathered_ms - $(log_ms "$round")) * 1000))
            add "vfmigd-write-to-gathered" $(((gathered_ms - t0ms) * 1000 - (tw - t0)))
            add "vfmigd-gathered-to-bound" $((($(log_ms "$last") - gathered_ms) * 1000))
        fi
        (($1 == 1)) && idle_probe "after binding"
    else
        fail vfmigd
        note "vfmigd run $1: not all bound after 60 s"
    fi
    lab_sleep 1 # udevd passes the last events on
    w "$P/sriov_numvfs" 0
    stop_daemon
}

# How long systemd-udevd holds a new VF's add event before it passes it on
# (what vfmigd waited for while it listened to udev): a write of its own,
# not timed, with no vfmigd; `udevadm monitor` prints every event of both
# kinds, and beside a timed run it took the CPU from what was timed.
udev_run() {
    local mon
    udevadm monitor --kernel --udev --subsystem-match=pci >/run/bench-udevadm.log 2>&1 &
    mon=$!
    wait_for 'slurp /run/bench-udevadm.log; [[ $text == *"UDEV - the event"* ]]' 10 || true
    w "$P/sriov_numvfs" "$nvfs"
    wait_for 'slurp /run/bench-udevadm.log; [[ $text =~ UDEV\ +\[[^]]*\]\ +add ]]' 10 || true
    kill -TERM "$mon" 2>/dev/null
    wait "$mon" 2>/dev/null
    udev_split
    w "$P/sriov_numvfs" 0
    lab_sleep 1 # udevd done with the removes before the next timed write
}

# vfmigctl vf create, no daemon: the command that creates the VFs binds them
vfcreate_run() {
    local t0 t1 text s sum=''
    rm -f -- "$STATE"/owned/*.json "$STATE"/intent/*.json
    t0=${EPOCHREALTIME/./}
    "$VFMIGCTL" --json vf create "$pf" "$nvfs" >/run/bench-vfcreate.out 2>/run/bench-vfcreate.err
    t1=${EPOCHREALTIME/./}
    if all_on; then
        add vfcreate $((t1 - t0))
        IFS= read -r -d '' text </run/bench-vfcreate.out || true
        while [[ $text =~ \"seconds\":([0-9]+)\.([0-9]{1,6}) ]]; do
            s=${BASH_REMATCH[2]}000000
            sum=$((10#${BASH_REMATCH[1]} * 1000000 + 10#${s:0:6}))
            text=${text#*\"seconds\":}
        done
        [[ -n $sum ]] && add vfcreate-own "$sum" # the last: the vf create's own
    else
        fail "vf create"
        slurp /run/bench-vfcreate.err
        note "vf create: $text"
    fi
    "$VFMIGCTL" vf destroy "$pf" >/dev/null 2>&1 || w "$P/sriov_numvfs" 0
    w "$P/sriov_drivers_autoprobe" 0
    rm -f -- "$STATE"/owned/*.json
}

t_start=${EPOCHREALTIME/./}
note "bench: $nvfs VFs of $pf, $runs runs"
for ((r = 1; r <= runs; r++)); do
    floor_run "$r"
    daemon_run "$r"
    vfcreate_run
    udev_run
done

# ---------------------------------------------------------------- report
ms() { local v=$1 sign=''; ((v < 0)) && { sign=-; v=$((-v)); }; printf '%s%d.%03d' "$sign" $((v / 1000)) $((v % 1000)); }
stats() {
    local -a v
    read -r -a v <<<"$1"
    mapfile -t v < <(printf '%s\n' "${v[@]}" | sort -n)
    local n=${#v[@]} med
    if ((n % 2)); then med=${v[n / 2]}; else med=$(((v[n / 2 - 1] + v[n / 2]) / 2)); fi
    printf '%s %s %s %s' "$n" "${v[0]}" "$med" "${v[n - 1]}"
}
read -r load _ </proc/loadavg
echo "## Hotplug: sriov_numvfs write -> all $nvfs VFs on vfio-pci, inside the lab VM"
echo
echo "QEMU TCG (\`tests/lab/vm-run.sh\`, 2 vCPUs), kernel $(uname -r), the host's systemd-udevd"
echo "running in the guest; $(date -u +%Y-%m-%dT%H:%MZ); $runs runs per row, floor and vfmigd interleaved."
echo "Guest load average at the end: $load. NVMe PF $pf, autoprobe 0, vfio_pci loaded beforehand."
echo "Ratio: median / floor median."
echo
echo "| path | runs | min ms | median ms | max ms | ratio |"
echo "|------|-----:|-------:|----------:|-------:|------:|"
read -r _ _ floor_med _ <<<"$(stats "${samples[floor]:-0}")"
for key in floor numvfs-write vfmigd vfmigd-to-event vfmigd-event-to-bound vfmigd-event-to-round vfmigd-round-to-gathered \
    vfmigd-write-to-gathered vfmigd-gathered-to-bound udev-hold vfcreate vfcreate-own; do
    [[ -n ${samples[$key]:-} ]] || continue
    case $key in
    floor) label="floor: write + shell loop (override + drivers_probe per VF)" ;;
    numvfs-write) label="… of which the sriov_numvfs write itself" ;;
    vfmigd) label="**vfmigd**: write → every VF on vfio-pci (polled 20 ms)" ;;
    vfmigd-to-event) label="… write → first (kernel) add event received by vfmigd" ;;
    vfmigd-event-to-bound) label="… first add event → last VF bound (vfmigd's log)" ;;
    vfmigd-event-to-round) label="… … first add event → its worker's round begins (thread, host, database and policies)" ;;
    vfmigd-round-to-gathered) label="… … round begins → the write over and its VFs announced (waits on the kernel)" ;;
    vfmigd-write-to-gathered) label="… … (the write's return, as the timing script saw it → the worker saw it; ms resolution)" ;;
    vfmigd-gathered-to-bound) label="… … → last VF bound: policy, locks, journal, kernel writes, verification, groups" ;;
    udev-hold) label="systemd-udevd: kernel add event → its udev add event (udevadm monitor, untimed writes)" ;;
    vfcreate) label="**vfmigctl vf create** (no daemon): command → every VF bound (fork+exec included)" ;;
    vfcreate-own) label="… its own seconds (sriov_numvfs write and the batch bind)" ;;
    esac
    read -r n mn med mx <<<"$(stats "${samples[$key]}")"
    ratio=-
    [[ $key == floor || $key == vfmigd || $key == vfcreate || $key == vfcreate-own ]] &&
        ratio=$(awk -v a="$med" -v b="$floor_med" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "-" }')
    printf '| %s | %d | %s | %s | %s | %s |\n' "$label" "$n" "$(ms "$mn")" "$(ms "$med")" "$(ms "$mx")" "$ratio"
done
paired=''
for r in "${!vfmigd_of[@]}"; do
    [[ -n ${floor_of[$r]:-} ]] && paired+="$((vfmigd_of[$r] * 1000 / floor_of[$r])) "
done
if [[ -n $paired ]]; then
    read -r n mn med mx <<<"$(stats "$paired")"
    echo
    printf 'Paired: each round'"'"'s vfmigd time over the same round'"'"'s floor (written back to back, so\n'
    printf 'both see the same load): median %d.%03d×, min %d.%03d×, max %d.%03d× over %d rounds.\n' \
        $((med / 1000)) $((med % 1000)) $((mn / 1000)) $((mn % 1000)) $((mx / 1000)) $((mx % 1000)) "$n"
fi
echo
echo "The breakdown rows come from vfmigd's \`G_MESSAGES_DEBUG=vfmig\` log (millisecond"
echo "timestamps): vfmigd hears of a VF from the kernel's own add event (sent during the"
echo "sriov_numvfs write); its hotplug worker waits for the write to return and for the add"
echo "events of every VF it created, then binds them as one request (one journal record)."
echo "The udev row is what vfmigd waited for while it listened to udev instead."
echo
echo "### vfmigd at rest"
echo
echo "| when | VmRSS kB | threads | voluntary ctxt switches in 10 s | nonvoluntary in 10 s |"
echo "|------|---------:|--------:|--------------------------------:|---------------------:|"
for k in "after start" "after binding"; do
    [[ -n ${idle[$k]:-} ]] || continue
    read -r rss thr vol nvol <<<"${idle[$k]}"
    printf '| idle %s | %s | %s | %s | %s |\n' "$k" "$rss" "$thr" "$vol" "$nvol"
done
echo
echo "Run 1 only: 1 s after vfmigd logged \"listening\" (and again 1 s after its binds), then"
echo "10 s of nothing; context switches summed over /proc/PID/task/*."
if ((${#failed[@]})); then
    echo
    echo "Failed runs (left out of the table):"
    echo
    for k in "${!failed[@]}"; do printf -- '- %s ×%s\n' "$k" "${failed[$k]}"; done
fi
note "bench: $(((${EPOCHREALTIME/./} - t_start) / 1000000)) s in the guest"
