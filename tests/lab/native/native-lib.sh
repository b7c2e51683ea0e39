# shellcheck shell=bash
# native-lib.sh — helpers of native.sh (lab-native), sourced after lab-lib.sh
# and twohost-lib.sh: TAP checks and timings, the mtty guest's result area
# (mtty-guest.S) read through the QEMU monitor, the guest's XML, and vfmigctl
# runs ($V) with their output kept in $out/$err/$rc.
# shellcheck disable=SC2034 # variables set for the caller

readonly MDEV_BUS=/sys/class/mdev_bus MDEV_DEVS=/sys/bus/mdev/devices
readonly QEMU_NS=http://libvirt.org/schemas/domain/qemu/1.0
timings=()

now_ms() { printf '%s' "$((${EPOCHREALTIME/./} / 1000))"; }
# timed NAME MS: remember one duration for the summary, and show it now.
timed() { timings+=("$(printf '%-46s %8s' "$1" "$2")"); tap_diag "time: $1: $2"; }
# check DESC CMD...: ok if CMD (run in this shell: it may set variables) succeeds.
check() {
    local desc=$1
    shift
    if "$@"; then tap_ok "$desc"; return 0; fi
    tap_fail "$desc"
    return 1
}
is_zero() { (($1 == 0)); }
has() { [[ $1 == *"$2"* ]]; }

# vfio_busy GROUP: true when a process (QEMU) holds /dev/vfio/GROUP (EBUSY).
vfio_busy() {
    local e
    e=$( { exec 3<>"/dev/vfio/$1"; } 2>&1) && return 1
    [[ $e == *"Device or resource busy"* ]]
}
vfio_free() { [[ -c /dev/vfio/$1 ]] && ! vfio_busy "$1"; }
mdev_group() { local g; g=$(readlink "$MDEV_DEVS/$1/iommu_group") && printf '%s' "${g##*/}"; }

# hmp HOST DOMAIN COMMAND: a human monitor command in DOMAIN's QEMU on HOST.
hmp() { th_virsh "$1" qemu-monitor-command --hmp "$2" "$3"; }
# qom HOST DOMAIN PROPERTY: a property of the hostdev as QEMU has it (qom-get).
qom() {
    local out
    out=$(th_virsh "$1" qemu-monitor-command "$2" \
        "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/hostdev0\",\"property\":\"$3\"}}") || return 1
    out=${out#*\"return\":} out=${out%%[,\}]*}
    printf '%s' "${out//\"/}"
}
# guest_bytes HOST DOMAIN: the ROM's 64-byte result area (mtty-guest.S) as
# 64 hex bytes "xx xx ...", from guest RAM through the monitor.
guest_bytes() {
    local out line bytes=()
    out=$(hmp "$1" "$2" 'xp /64xb 0x2000') || return 1
    while IFS= read -r line; do
        line=${line#*: }
        # shellcheck disable=SC2206 # word splitting wanted
        bytes+=(${line//0x/})
    done <<<"${out//$'\r'/}"
    ((${#bytes[@]} == 64)) || { echo "guest_bytes: unexpected '$out'" >&2; return 1; }
    printf '%s\n' "${bytes[*]}"
}
# gb HOST DOMAIN: load the result area into G[] (G[0] state, G[0x10] SCR...).
G=()
gb() { local s; s=$(guest_bytes "$1" "$2") || return 1; read -r -a G <<<"$s"; }
gstate() { gb "$1" "$2" && printf '%s' "${G[0]}"; }
# written / readback: the values the guest wrote (SCR, 4 bytes) and read back
written() { printf '%s %s %s %s %s' "${G[0x10]}" "${G[0x11]}" "${G[0x12]}" "${G[0x13]}" "${G[0x14]}"; }
readback() { printf '%s %s %s %s %s' "${G[0x20]}" "${G[0x30]}" "${G[0x31]}" "${G[0x32]}" "${G[0x33]}"; }
# trigger HOST DOMAIN: set CMOS byte 0x40 to 1 through that QEMU's monitor
trigger() { hmp "$1" "$2" 'o /b 0x70 0x40' >/dev/null && hmp "$1" "$2" 'o /b 0x71 1' >/dev/null; }

# hostdev_xml UUID
hostdev_xml() {
    printf "<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='%s'/></source></hostdev>" "$1"
}
# guest_xml NAME UUID OVERRIDE(0|1): the tiny guest with mdev UUID, with or
# without the QEMU properties native VFIO migration needs here
# (LAB-NOTES: enable-migration is OnOffAuto, a string; there is no dirty
# tracking, so QEMU must be told not to use the device's).
guest_xml() {
    local name=$1 uuid=$2 ovr=$3 xml
    xml=$(TH_GUEST_DEVICES=$(hostdev_xml "$uuid") th_guest_xml "$name" 32 "$LAB_NATIVE_ROM") || return 1
    if ((ovr)); then
        xml=${xml/<domain type=\'qemu\'>/<domain type=\'qemu\' xmlns:qemu=\'$QEMU_NS\'>}
        xml=${xml/<\/domain>/"  <qemu:override>
    <qemu:device alias='hostdev0'>
      <qemu:frontend>
        <qemu:property name='enable-migration' type='string' value='on'/>
        <qemu:property name='x-device-dirty-page-tracking' type='string' value='off'/>
      </qemu:frontend>
    </qemu:device>
  </qemu:override>
</domain>"}
    fi
    printf '%s\n' "$xml"
}
# guest_up HOST NAME UUID OVERRIDE: define and start the guest, wait until it
# wrote its UART (state 1); 0 when it did.
guest_up() {
    guest_xml "$2" "$3" "$4" >"$wd/$2.xml" || return 1
    th_virsh "$1" define "$wd/$2.xml" >"$T/def" 2>&1 && th_start_guest "$1" "$2" >>"$T/def" 2>&1 ||
        { tap_diag "$(<"$T/def")"; return 1; }
    wait_for "[[ \$(gstate $1 $2) == 01 ]]" 60
}
# dest_xml HOST DOMAIN FROM_UUID TO_UUID FILE: the migratable XML with the
# destination's mdev
dest_xml() {
    local xml
    xml=$(th_virsh "$1" dumpxml --migratable "$2") || return 1
    [[ $xml == *"uuid='$3'"* ]] || { echo "dest_xml: no uuid='$3' in $2's XML" >&2; return 1; }
    printf '%s\n' "${xml//uuid=\'$3\'/uuid=\'$4\'}" >"$5"
}
# live_uuid HOST DOMAIN: the mdev UUID in the domain's live XML
live_uuid() {
    local xml
    xml=$(th_virsh "$1" dumpxml "$2") || return 1
    [[ $xml =~ \<address\ uuid=\'([0-9a-f-]{36})\' ]] || return 1
    printf '%s' "${BASH_REMATCH[1]}"
}
# jobinfo_ms FIELD: N of a "FIELD: N ms" line of $jobinfo (virsh domjobinfo
# --completed: libvirt drops the completed job's statistics once read, unless
# --keep-completed)
jobinfo_ms() {
    local l
    while IFS= read -r l; do
        [[ $l == "$1:"* ]] || continue
        l=${l#*:} l=${l// /}
        [[ $l =~ ^([0-9]+)ms$ ]] || return 1
        printf '%s' "${BASH_REMATCH[1]}"
        return 0
    done <<<"$jobinfo"
    return 1
}
ctr() { th_counter "$@" 2>/dev/null || printf '0'; }

# vfm ARGS...: run vfmigctl ($V); $out = stdout, $err = stderr, $rc = status,
# $vfm_ms = wall time.
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
show() { tap_diag "vfmigctl $* -> exit $rc ($vfm_ms ms)" "stdout: ${out:-(empty)}" "stderr: ${err:-(empty)}"; }
# json_get PATH <<<JSON: dotted path (numbers index arrays) in the last JSON
# line of the input; "" when absent.
json_get() {
    python3 -c 'import json, sys
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
try:
    v = json.loads(lines[-1])
    for k in sys.argv[1].split("."):
        v = v[int(k)] if k.isdigit() else v[k]
except Exception:
    v = ""
print(json.dumps(v) if isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool) else v)' "$1"
}
# snapshot: the mediated devices (UUID, type, who made them) and vfmig's
# claims, one line each, for before/after comparisons
snapshot() {
    local m c
    m=$("$V" --json mdev list 2>&1) || m="mdev list failed: $m"
    c=$("$V" --json claims 2>&1) || c="claims failed: $c"
    python3 -c 'import json, sys
def load(s):
    try:
        return json.loads(s)
    except ValueError:
        return s
m, c = load(sys.argv[1]), load(sys.argv[2])
if isinstance(m, dict):
    m = m.get("mdevs", m)
if isinstance(m, list):
    m = sorted(json.dumps(e, sort_keys=True) for e in m)
print("mdevs:", m)
print("claims:", c)' "$m" "$c"
}
# claims_empty: vfmig holds no claim
claims_empty() {
    local c
    c=$("$V" --json claims 2>/dev/null) || return 1
    python3 -c 'import json, sys
v = json.loads(sys.argv[1])
if isinstance(v, dict):
    v = v.get("claims", v)
sys.exit(0 if not v else 1)' "$c"
}
# core_bt: after a vfmigctl that crashed (rc 134/139), its backtrace (gdb)
core_bt() {
    local c
    ((rc == 134 || rc == 139)) || return 0
    for c in /tmp/vfmig-core.*; do
        [[ -e $c ]] || continue
        tap_diag "backtrace of $c:" "$(gdb -q -batch -ex 'bt full' "$V" "$c" 2>&1 | head -n 80)"
        rm -f -- "$c"
    done
}
