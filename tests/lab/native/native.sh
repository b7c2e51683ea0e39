#!/bin/bash
# native.sh — native VFIO live migration with device state, run INSIDE the
# lab VM booting 6.12 (tests/lab/native/run-native.sh, meson 'lab-native';
# LAB-NOTES "Native migration lab"):
#   A  vfio, vfio_iommu_type1, mdev and the mtty sample loaded; two mtty-1
#      instances created: A (for host a) and B (for host b)
#   B  the two libvirtd hosts of twohost-lib.sh up inside the VM
#   C  guest g1 (the ROM of mtty-guest.S) started on a with mdev A and the
#      QEMU properties enable-migration=on, x-device-dirty-page-tracking=off
#      (<qemu:override>); it writes SCR and 4 FIFO bytes of its UART
#   D  virsh migrate --live --p2p --xml DEST.xml (the domain XML with UUID B):
#      g1 runs on b with mdev B, not rebooted; timings and QEMU's downtime
#   E  on b, the guest reads SCR and the FIFO back (triggered by a CMOS byte
#      set through b's QEMU monitor): exactly the values written on a
#   F  negative: g2 on a with mdev A and no override: the migration to b
#      fails, g2 keeps running on a with its device state, nothing on b
# Bare virsh only (no vfmigctl): the groundwork for vfmig's native strategy.
#
# Environment: LAB_MTTY_KO (mtty.ko built for this kernel, required),
# LAB_NATIVE_ROM (the assembled guest ROM, required), LAB_RESULTS.
# shellcheck disable=SC2016 # conditions given to eval/wait_for are single-quoted on purpose
set -uo pipefail # no -e: a failed test point must not end the run

here=${LAB_DIR:-$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")/..")}
# shellcheck source=../lab-lib.sh
source "$here/lab-lib.sh"
lab_require_vm
# shellcheck source=../twohost/twohost-lib.sh
source "$here/twohost/twohost-lib.sh"

readonly MDEV_BUS=/sys/class/mdev_bus MDEV_DEVS=/sys/bus/mdev/devices
readonly QEMU_NS=http://libvirt.org/schemas/domain/qemu/1.0
t_start=${EPOCHREALTIME/./}
mig_ms=0 elapsed='?' downtime='?'
wd='' T='' uuid_a='' uuid_b='' mtty_loaded=0
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
# dest_xml HOST DOMAIN FROM_UUID TO_UUID FILE: the migratable XML with the
# destination's mdev
dest_xml() {
    local xml
    xml=$(th_virsh "$1" dumpxml --migratable "$2") || return 1
    [[ $xml == *"uuid='$3'"* ]] || { echo "dest_xml: no uuid='$3' in $2's XML" >&2; return 1; }
    printf '%s\n' "${xml//uuid=\'$3\'/uuid=\'$4\'}" >"$5"
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

cleanup() {
    local u
    [[ -n $wd ]] && { th_down "$wd" || echo "th_down failed"; }
    for u in "$uuid_a" "$uuid_b"; do
        [[ -n $u && -e $MDEV_DEVS/$u/remove ]] && { echo 1 >"$MDEV_DEVS/$u/remove" || echo "cannot remove mdev $u"; }
    done
    ((mtty_loaded)) && { rmmod mtty || echo "rmmod mtty failed"; }
    if [[ -n ${LAB_RESULTS:-} && -d ${LAB_RESULTS:-} && -n $wd ]]; then
        # libvirt's and QEMU's logs, for a failed run (the VM is thrown away)
        tar -C "$wd" -czf "$LAB_RESULTS/native-logs.tar.gz" --exclude='*.sock' --exclude='*-sock' \
            a/var/log b/var/log a/daemon.log b/daemon.log ./*.xml 2>/dev/null || true
    fi
    echo "VM time in script $(((${EPOCHREALTIME/./} - t_start) / 1000)) ms"
}
tap_init cleanup

# ================================================================ A  mtty
[[ -r ${LAB_MTTY_KO:-} ]] || tap_bail "no mtty.ko (LAB_MTTY_KO=${LAB_MTTY_KO:-}): run-native.sh builds it"
[[ -r ${LAB_NATIVE_ROM:-} ]] || tap_bail "no guest ROM (LAB_NATIVE_ROM=${LAB_NATIVE_ROM:-})"
why=$(th_missing 2>&1) || tap_bail "twohost packages missing in the VM's root: ${why//$'\n'/, }"
ip link set lo up # p2p migration needs it (LAB-NOTES); vm-run's PID 1 did it too
wd=$(mktemp -d /run/vfmig-nat.XXXXXX) T=$wd/t
mkdir -p "$T"
if [[ -d ${LAB_RESULTS:-/nonexistent}/th-caps ]]; then
    export TH_CAPS_CACHE=$LAB_RESULTS/th-caps # run-native.sh keeps them between runs
else
    export TH_CAPS_CACHE=''
fi
tap_diag "kernel $(uname -r), $(nproc) CPUs, $(($(sed -n 's/MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024)) MiB;" \
    "$(qemu-system-x86_64 --version | head -n1); $(libvirtd --version)"

t0=$(now_ms)
check "modprobe vfio vfio_iommu_type1 mdev" eval 'modprobe vfio && modprobe vfio_iommu_type1 && modprobe mdev'
insmod "$LAB_MTTY_KO" 2>"$T/insmod" && mtty_loaded=1
check "insmod mtty.ko (built for $(uname -r))" eval '((mtty_loaded))' || tap_diag "$(<"$T/insmod")"
check "parent mtty appears under $MDEV_BUS" wait_for "[[ -d $MDEV_BUS/mtty/mdev_supported_types/mtty-1 ]]" 10 ||
    tap_bail "no mtty parent"
types=$MDEV_BUS/mtty/mdev_supported_types
tap_diag "mtty-1: name '$(_lab_read "$types/mtty-1/name")', device_api $(_lab_read "$types/mtty-1/device_api")," \
    "available_instances $(_lab_read "$types/mtty-1/available_instances")"
read -r uuid_a </proc/sys/kernel/random/uuid
read -r uuid_b </proc/sys/kernel/random/uuid
for u in "$uuid_a" "$uuid_b"; do
    lab_sysfs_write "$types/mtty-1/create" "$u" 2>"$T/create"
    check "create mtty-1 instance $u" wait_for "[[ -e $MDEV_DEVS/$u/iommu_group ]]" 10 || tap_diag "$(<"$T/create")"
done
ga=$(mdev_group "$uuid_a") gbb=$(mdev_group "$uuid_b")
check "each instance has its own IOMMU group, /dev/vfio/N free ($ga, $gbb)" \
    eval '[[ -n $ga && -n $gbb && $ga != "$gbb" ]] && vfio_free $ga && vfio_free $gbb'
timed "A modules, mtty, two instances" "$(($(now_ms) - t0)) ms"
tap_diag "mdev A $uuid_a (group $ga) for host a, mdev B $uuid_b (group $gbb) for host b"

# ================================================================ B  hosts
t0=$(now_ms)
check "hosts a and b up inside the VM" th_up "$wd" || tap_bail "the two hosts did not start"
timed "B both libvirtd hosts up" "$(($(now_ms) - t0)) ms"

# ================================================================ C  guest on a
t0=$(now_ms)
guest_xml g1 "$uuid_a" 1 >"$wd/g1.xml"
th_virsh a define "$wd/g1.xml" >"$T/def" 2>&1
check "define g1 on a (mdev A, enable-migration=on, x-device-dirty-page-tracking=off)" is_zero $? ||
    tap_diag "$(<"$T/def")"
th_start_guest a g1 >"$T/start" 2>&1
check "start g1 on a (QEMU opens /dev/vfio/$ga)" is_zero $? || tap_diag "$(<"$T/start")"
[[ $(th_state a g1) == running ]] ||
    tap_bail "g1 does not run on a: $(tail -n 5 "$wd/a/var/log/libvirt/qemu/g1.log" 2>&1)"
check "the guest found the mtty UART and wrote to it (state 1)" wait_for '[[ $(gstate a g1) == 01 ]]' 60
timed "C g1 started until the UART is written" "$(($(now_ms) - t0)) ms"
gb a g1
w_a=$(written)
tap_diag "g1 on a: mtty at config address 0x${G[0xb]}${G[0xa]}${G[9]}${G[8]}, I/O base 0x${G[5]}${G[4]};" \
    "wrote SCR 0x${G[0x10]}, FIFO ${G[0x11]} ${G[0x12]} ${G[0x13]} ${G[0x14]}; LSR then 0x${G[0x18]}"
check "the guest assigned an I/O base to BAR0" eval '[[ ${G[5]}${G[4]} != 0000 ]]'
check "LSR on a says data ready (the bytes are in mtty's FIFO)" eval '(( 0x${G[0x18]} & 1 ))'
check "/dev/vfio/$ga is busy (a's QEMU holds mdev A)" vfio_busy "$ga"
assert_eq "QEMU on a: hostdev0 enable-migration" on "$(qom a g1 enable-migration)"
assert_eq "QEMU on a: hostdev0 x-device-dirty-page-tracking" off "$(qom a g1 x-device-dirty-page-tracking)"
blocked=$(th_virsh a qemu-monitor-command g1 '{"execute":"query-migrate"}' 2>&1)
check "QEMU on a reports no migration blocker" eval '[[ $blocked != *blocked-reasons* ]]' || tap_diag "$blocked"
c0=$(ctr a g1)
check "g1 counts on a" th_wait_counter_above a g1 "$c0" 10

# ================================================================ D  migrate a -> b
check "destination XML: g1's migratable XML with mdev B" dest_xml a g1 "$uuid_a" "$uuid_b" "$wd/g1-dest.xml"
check "DEST.xml names mdev B, not A" eval 'grep -q "$uuid_b" "$wd/g1-dest.xml" && ! grep -q "$uuid_a" "$wd/g1-dest.xml"'
c0=$(ctr a g1)
th_migrate a b g1 --xml "$wd/g1-dest.xml" >"$T/mig" 2>&1
mrc=$?
check "virsh migrate --live --p2p --xml DEST.xml g1 a -> b: exit 0" is_zero "$mrc" || tap_diag "$(<"$T/mig")"
mig_ms=$TH_MIGRATE_MS
timed "D virsh migrate a -> b (wall)" "$mig_ms ms"
assert_eq "g1 runs on b" running "$(th_state b g1)"
assert_eq "a keeps g1's definition, shut off" "shut off" "$(th_state a g1)"
check "b's live XML has mdev B" eval 'th_virsh b dumpxml g1 | grep -q "uuid=.$uuid_b."'
check "/dev/vfio/$gbb is busy (b's QEMU holds mdev B)" vfio_busy "$gbb"
check "mdev A released on a: /dev/vfio/$ga can be opened" wait_for "vfio_free $ga" 20
c1=$(ctr b g1)
check "g1 not rebooted: counter on b ($c1) > before the migration ($c0)" eval '((c1 > c0))'
check "counter advances on b" th_wait_counter_above b g1 "$c1" 10
assert_eq "QEMU on b: hostdev0 enable-migration" on "$(qom b g1 enable-migration)"
jobinfo=$(th_virsh a domjobinfo --completed --keep-completed g1 2>&1)
tap_diag "domjobinfo --completed g1 on a:" "$jobinfo"
elapsed=$(jobinfo_ms 'Time elapsed') || elapsed='?'
downtime=$(jobinfo_ms 'Total downtime') || downtime='?'
check "domjobinfo --completed on a reports the downtime" eval '[[ $downtime =~ ^[0-9]+$ ]]'
timed "D libvirt job time elapsed (a)" "$elapsed ms"
timed "D downtime (QEMU, a)" "$downtime ms"

# ================================================================ E  state on b
gb b g1
assert_eq "RAM on b: the values written on a came along" "$w_a" "$(written)"
assert_eq "the guest on b has not read back yet (state 1)" 01 "${G[0]}"
t0=$(now_ms)
check "trigger the read-back through b's monitor (CMOS 0x40 = 1)" trigger b g1
check "the guest on b read SCR and the FIFO back (state 2)" wait_for '[[ $(gstate b g1) == 02 ]]' 60
timed "E read-back on b after the trigger" "$(($(now_ms) - t0)) ms"
gb b g1
tap_diag "g1 on b read: SCR 0x${G[0x20]}, LSR 0x${G[0x21]}, ${G[0x22]} bytes: ${G[*]:0x30:4}, LSR after 0x${G[0x23]}"
assert_eq "SCR on b = the value written on a" "${w_a%% *}" "${G[0x20]}"
assert_eq "b's FIFO held 4 bytes" 04 "${G[0x22]}"
assert_eq "the FIFO bytes on b = those written on a" "${w_a#* }" "${G[0x30]} ${G[0x31]} ${G[0x32]} ${G[0x33]}"
assert_eq "SCR and FIFO read back on b = written on a" "$w_a" "$(readback)"
check "LSR on b before reading: data ready" eval '(( 0x${G[0x21]} & 1 ))'
assert_eq "LSR on b after reading: FIFO empty (0x60)" 60 "${G[0x23]}"

# ================================================================ F  no override
t0=$(now_ms)
th_virsh b destroy g1 >/dev/null 2>&1
check "g1 destroyed on b, mdev B free" wait_for "vfio_free $gbb" 20
guest_xml g2 "$uuid_a" 0 >"$wd/g2.xml"
srv=0
{ th_virsh a define "$wd/g2.xml" && th_start_guest a g2; } >"$T/def" 2>&1 || srv=$?
check "g2 (no <qemu:override>) runs on a with mdev A" is_zero "$srv" || tap_diag "$(<"$T/def")"
check "g2 wrote to its UART (state 1)" wait_for '[[ $(gstate a g2) == 01 ]]' 60
timed "F g2 started until the UART is written" "$(($(now_ms) - t0)) ms"
gb a g2
w_2=$(written)
assert_eq "QEMU on a: g2's hostdev0 enable-migration" auto "$(qom a g2 enable-migration)"
check "destination XML for g2 with mdev B" dest_xml a g2 "$uuid_a" "$uuid_b" "$wd/g2-dest.xml"
c0=$(ctr a g2)
th_migrate a b g2 --xml "$wd/g2-dest.xml" >"$T/mig" 2>&1
mrc=$?
check "migration of g2 without the override fails" eval '((mrc != 0))'
tap_diag "virsh migrate (exit $mrc): $(<"$T/mig")"
timed "F failed migration" "$TH_MIGRATE_MS ms"
check "the error is QEMU's: the device cannot be migrated without the properties" \
    eval 'grep -Eqi "ram_save_setup|not supported|dirty tracking" "$T/mig"'
assert_eq "g2 keeps running on a" running "$(th_state a g2)"
assert_eq "nothing on b" absent "$(th_state b g2)"
check "mdev B free again (b's QEMU gone)" wait_for "vfio_free $gbb" 20
check "/dev/vfio/$ga still busy (a's QEMU holds mdev A)" vfio_busy "$ga"
c1=$(ctr a g2)
check "g2 not stopped: counter on a went on ($c1 > $c0)" eval '((c1 > c0))'
check "counter advances on a" th_wait_counter_above a g2 "$c1" 10
check "trigger g2's read-back on a" trigger a g2
check "g2 read its UART back on a (state 2)" wait_for '[[ $(gstate a g2) == 02 ]]' 60
gb a g2
assert_eq "g2's device state on a is intact after the failed migration" "$w_2" "$(readback)"

# ================================================================ summary
tap_diag "native migration a -> b: $(awk -v m="$mig_ms" 'BEGIN { printf "%.1f", m / 1000 }') s wall" \
    "(libvirt job $elapsed ms), downtime $downtime ms; mtty state (SCR + 4 FIFO bytes) read back on b"
tap_diag "$(printf '%s\n' "timings (VM clock, TCG inside TCG):" "${timings[@]}" \
    "whole script $(((${EPOCHREALTIME/./} - t_start) / 1000)) ms")"
tap_done
