#!/bin/bash
# native.sh — native VFIO live migration with device state, run INSIDE the
# lab VM booting 6.12 (tests/lab/native/run-native.sh, meson 'lab-native';
# LAB-NOTES "Native migration lab"):
#   A  vfio, vfio_iommu_type1, mdev and the mtty sample loaded; only mdev A
#      exists (vfmigctl mdev create mtty mtty-1 --uuid A)
#   B  the two libvirtd hosts of twohost-lib.sh up inside the VM
#   N  g1 started without <qemu:override>: vfmigctl check exits 3 "restart
#      needed", migrate is refused with nothing moved (negative a);
#      xml --migratable --dry-run shows the properties and changes nothing,
#      without --dry-run writes them; restarted, check says native
#   V  vfmigctl -c A migrate g1 B --strategy native --peer local: g1 runs on b
#      on an instance vfmig created, reads back the UART state written on a;
#      the claim is g1's (adopted) until it is destroyed there; timings and QEMU's downtime
#   C-E the same with bare virsh migrate --live --p2p --xml DEST.xml (g2)
#   F  bare virsh without the properties (g4): QEMU fails it, g4 stays on a
#   X  (negative b) mtty-1 full and every other instance held open: migrate
#      refused naming the cause, g3 on a, nothing claimed or created
#   H  bare virsh migrate + the vfmig hook: b's hook claims B (reset first:
#      F left it RESUMING), rewrites the UUID; state read back on b
#   K  (negative c) b's libvirtd killed during the incoming migration: g5
#      keeps running on a, nothing claimed or created
#
# Environment: LAB_MTTY_KO (mtty.ko built for this kernel, required),
# LAB_NATIVE_ROM (the assembled guest ROM, required), LAB_RESULTS, VFMIGCTL,
# VFMIG_DATADIR (default: this tree's build and data).
# shellcheck disable=SC2016 # conditions given to eval/wait_for are single-quoted on purpose
set -uo pipefail # no -e: a failed test point must not end the run

here=${LAB_DIR:-$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")/..")}
# shellcheck source=../lab-lib.sh
source "$here/lab-lib.sh"
lab_require_vm
# shellcheck source=../twohost/twohost-lib.sh
source "$here/twohost/twohost-lib.sh"

t_start=${EPOCHREALTIME/./}
srcroot=$(realpath -- "$here/../..")
V=${VFMIGCTL:-$srcroot/build/src/cli/vfmigctl}
export VFMIG_DATADIR=${VFMIG_DATADIR:-$srcroot/data}
mig_ms=0 elapsed='?' downtime='?' vmig_ms=0 vmig_s='?' vdowntime='?' hmig_ms=0
wd='' T='' uuid_a='' uuid_b='' mtty_loaded=0 holder=''
# shellcheck source=native-lib.sh
source "$here/native/native-lib.sh"

cleanup() {
    local u
    [[ -n $holder ]] && kill "$holder" 2>/dev/null
    [[ -n $wd ]] && { th_down "$wd" || echo "th_down failed"; }
    # every instance (A, the ones vfmig or the hook created, the fillers):
    # the VM is thrown away, but mtty cannot be unloaded while they exist
    for u in "$MDEV_DEVS"/*; do
        [[ -e $u/remove ]] && { echo 1 >"$u/remove" || echo "cannot remove mdev ${u##*/}"; }
    done
    ((mtty_loaded)) && { rmmod mtty || echo "rmmod mtty failed"; }
    if [[ -n ${LAB_RESULTS:-} && -d ${LAB_RESULTS:-} && -n $wd ]]; then
        # libvirt's and QEMU's logs, for a failed run (the VM is thrown away)
        tar -C "$wd" -czf "$LAB_RESULTS/native-logs.tar.gz" --exclude='*.sock' --exclude='*-sock' \
            a/var/log b/var/log a/daemon.log b/daemon.log ./*.xml hook.log 2>/dev/null || true
    fi
    echo "VM time in script $(((${EPOCHREALTIME/./} - t_start) / 1000)) ms"
}
tap_init cleanup

# ================================================================ A  mtty
[[ -r ${LAB_MTTY_KO:-} ]] || tap_bail "no mtty.ko (LAB_MTTY_KO=${LAB_MTTY_KO:-}): run-native.sh builds it"
[[ -r ${LAB_NATIVE_ROM:-} ]] || tap_bail "no guest ROM (LAB_NATIVE_ROM=${LAB_NATIVE_ROM:-})"
[[ -x $V ]] || tap_bail "no vfmigctl at $V (VFMIGCTL)"
why=$(th_missing 2>&1) || tap_bail "twohost packages missing in the VM's root: ${why//$'\n'/, }"
# a crashing vfmigctl leaves a core; core_bt shows its backtrace
ulimit -c unlimited
echo '/tmp/vfmig-core.%p' >/proc/sys/kernel/core_pattern 2>/dev/null || true
ip link set lo up # p2p migration needs it (LAB-NOTES); vm-run's PID 1 did it too
wd=$(mktemp -d /run/vfmig-nat.XXXXXX) T=$wd/t
mkdir -p "$T"
if [[ -d ${LAB_RESULTS:-/nonexistent}/th-caps ]]; then
    export TH_CAPS_CACHE=$LAB_RESULTS/th-caps # run-native.sh keeps them between runs
else
    export TH_CAPS_CACHE=''
fi
tap_diag "kernel $(uname -r), $(nproc) CPUs, $(($(sed -n 's/MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo) / 1024)) MiB;" \
    "$(qemu-system-x86_64 --version | head -n1); $(libvirtd --version); vfmigctl $V"

t0=$(now_ms)
check "modprobe vfio vfio_iommu_type1 mdev" eval 'modprobe vfio && modprobe vfio_iommu_type1 && modprobe mdev'
insmod "$LAB_MTTY_KO" 2>"$T/insmod" && mtty_loaded=1
check "insmod mtty.ko (built for $(uname -r))" eval '((mtty_loaded))' || tap_diag "$(<"$T/insmod")"
check "parent mtty appears under $MDEV_BUS" wait_for "[[ -d $MDEV_BUS/mtty/mdev_supported_types/mtty-1 ]]" 10 ||
    tap_bail "no mtty parent"
types=$MDEV_BUS/mtty/mdev_supported_types
tap_diag "mtty-1: name '$(_lab_read "$types/mtty-1/name")', device_api $(_lab_read "$types/mtty-1/device_api")," \
    "available_instances $(_lab_read "$types/mtty-1/available_instances")"
vfm mdev types
tap_diag "vfmigctl mdev types:" "$out"
read -r uuid_a </proc/sys/kernel/random/uuid
vfm mdev create mtty mtty-1 --uuid "$uuid_a"
check "vfmigctl mdev create mtty mtty-1 --uuid A: exit 0" is_zero "$rc" || show mdev create
check "instance A $uuid_a exists, the only one" eval '[[ -e $MDEV_DEVS/$uuid_a/iommu_group ]] && (($(ls "$MDEV_DEVS" | wc -l) == 1))'
ga=$(mdev_group "$uuid_a")
check "mdev A has its own IOMMU group, /dev/vfio/$ga free" eval '[[ -n $ga ]] && vfio_free $ga'
vfm --json probe "$uuid_a"
tap_diag "vfmigctl --json probe A (exit $rc): $out"
check "probe mdev A: dirty tracking none, the IOMMU's answer said why" \
    eval '[[ $out =~ \"dirty_tracking\":\ *\"none\" && $out == *"IOMMU dirty tracking: "* ]]' || show probe
vfm --json profile
tap_diag "vfmigctl --json profile (before any guest; exit $rc), mdevs: $(json_get mdevs <<<"$out")"
timed "A modules, mtty, mdev A (vfmigctl)" "$(($(now_ms) - t0)) ms"

# ================================================================ B  hosts
t0=$(now_ms)
check "hosts a and b up inside the VM" th_up "$wd" || tap_bail "the two hosts did not start"
timed "B both libvirtd hosts up" "$(($(now_ms) - t0)) ms"
# the vfmig hook as installed (data/libvirt/vfmig), pointed at this build; it
# logs each call (installed on both hosts in H, after the bare-virsh proof)
hook=$wd/vfmig
{
    echo '#!/bin/sh'
    echo "echo \"\$(cat /proc/sys/kernel/hostname) \$*\" >>'$wd/hook.log'"
    echo "VFMIG_DATADIR='$VFMIG_DATADIR' exec '$V' hook qemu \"\$@\" 2>>'$wd/hook.err'"
} >"$hook"
chmod +x "$hook"
A=$TH_A_URI B=$TH_B_URI

# ================================================================ N  check, xml --migratable
# g1 started WITHOUT the QEMU properties: check and migrate refuse it before
# anything moves ("restart needed"); xml --migratable writes them; restarted,
# check says native
t0=$(now_ms)
check "g1 (mdev A, no <qemu:override>) runs on a and wrote its UART" guest_up a g1 "$uuid_a" 0
timed "N g1 started until the UART is written" "$(($(now_ms) - t0)) ms"
snap0=$(snapshot)
vfm -c "$A" --json check g1 --to "$B" --peer local --ask-qemu
check "check --ask-qemu g1 started without the properties: exit 3" eval '((rc == 3))' || show check
check "check names the cause: restart needed" has "$out$err" "restart needed" || show check
check "check read the properties from the running QEMU: enable-migration is auto there (qom-get)" \
    eval '[[ $out == *"QEMU runs it with auto"* && $out == *qom-get* ]]' || show check
vfm -c "$A" --json migrate g1 "$B" --strategy native --peer local
check "(negative a) migrate --strategy native refused: exit != 0" eval '((rc != 0))'
check "(negative a) migrate names the cause: restart needed" has "$out$err" "restart needed"
show migrate g1
assert_eq "(negative a) g1 still runs on a" running "$(th_state a g1)"
assert_eq "(negative a) nothing on b" absent "$(th_state b g1)"
snap1=$(snapshot)
check "(negative a) nothing claimed or created: mdev list and claims as before" eval '[[ $snap0 == "$snap1" ]]' ||
    tap_diag "before: $snap0" "after: $snap1"
th_virsh a dumpxml --inactive g1 >"$T/inactive0"
vfm -c "$A" xml --migratable g1 --dry-run
check "xml --migratable g1 --dry-run: exit 0" is_zero "$rc" || show xml --dry-run
tap_diag "xml --migratable --dry-run:" "$out"
check "the diff adds enable-migration, string, on" eval '[[ $out =~ \+.*enable-migration.*string.*on ]] || [[ $out =~ \+.*enable-migration.*value=.on ]]'
check "the diff adds x-device-dirty-page-tracking, string, off" eval '[[ $out =~ \+.*x-device-dirty-page-tracking.*off ]]'
th_virsh a dumpxml --inactive g1 >"$T/inactive1"
check "--dry-run changed nothing in the definition" cmp -s "$T/inactive0" "$T/inactive1"
vfm -c "$A" xml --migratable g1
check "xml --migratable g1: exit 0" is_zero "$rc" || show xml
xml=$(th_virsh a dumpxml --inactive g1)
check "the definition has enable-migration type string value on" \
    eval '[[ $xml =~ name=.enable-migration.\ type=.string.\ value=.on. ]]' || tap_diag "$xml"
check "the definition has x-device-dirty-page-tracking type string value off" \
    eval '[[ $xml =~ name=.x-device-dirty-page-tracking.\ type=.string.\ value=.off. ]]'
t0=$(now_ms)
th_virsh a destroy g1 >/dev/null 2>&1
check "g1 destroyed, mdev A free" wait_for "vfio_free $ga" 20
th_start_guest a g1 >"$T/start" 2>&1
check "g1 restarted on a with the properties" is_zero $? || tap_diag "$(<"$T/start")"
check "g1 wrote its UART again (state 1)" wait_for '[[ $(gstate a g1) == 01 ]]' 60
timed "N g1 restarted until the UART is written" "$(($(now_ms) - t0)) ms"
assert_eq "QEMU on a: hostdev0 enable-migration" on "$(qom a g1 enable-migration)"
assert_eq "QEMU on a: hostdev0 x-device-dirty-page-tracking" off "$(qom a g1 x-device-dirty-page-tracking)"
vfm -c "$A" --json check g1 --to "$B" --peer local
check "check g1 --to b: exit 0" is_zero "$rc"
show check g1
check "check says strategy native" eval '[[ $out =~ \"strategy\":\ *\"native\" ]]'
check "check names the QEMU properties (qemu_properties)" has "$out" qemu_properties
check "the plan says the RAM is copied without dirty tracking" eval '[[ ${out,,} == *"dirty tracking"* ]]'

# ================================================================ V  vfmigctl migrate a -> b
gb a g1
w_1=$(written)
tap_diag "g1 on a wrote SCR 0x${G[0x10]}, FIFO ${G[0x11]} ${G[0x12]} ${G[0x13]} ${G[0x14]}"
c0=$(ctr a g1)
vfm -c "$A" --json migrate g1 "$B" --strategy native --peer local
vmig_ms=$vfm_ms
check "vfmigctl -c A --json migrate g1 B --strategy native --peer local: exit 0" is_zero "$rc"
show migrate g1
core_bt
vmig_s=$(json_get result.seconds <<<"$out")
[[ -n $vmig_s ]] || vmig_s=$(python3 -c 'import json, sys
for l in sys.stdin:
    try:
        e = json.loads(l)
    except ValueError:
        continue
    r = e if e.get("event") == "result" else e.get("result")
    if isinstance(r, dict) and "seconds" in r:
        print("%.2f" % r["seconds"])' <<<"$out")
timed "V vfmigctl migrate a -> b (wall)" "$vmig_ms ms"
timed "V vfmigctl migrate: its seconds" "${vmig_s:-?} s"
assert_eq "g1 runs on b" running "$(th_state b g1)"
uuid_b=$(live_uuid b g1)
check "g1 on b holds an mdev that is not A ($uuid_b)" eval '[[ -n $uuid_b && $uuid_b != "$uuid_a" && -e $MDEV_DEVS/$uuid_b ]]'
gbb=$(mdev_group "$uuid_b")
check "/dev/vfio/$gbb is busy (b's QEMU holds it)" vfio_busy "$gbb"
check "migrate removed source mdev A on a (vfmig created it): step 'source'" \
    has "$out" "removed source mediated device $uuid_a"
check "mdev A is gone on a, its capacity back" wait_for "[[ ! -e $MDEV_DEVS/$uuid_a ]]" 20
vfm --json mdev list
tap_diag "mdev list after: $out"
check "vfmig created the destination instance (mdev list says vfmig)" eval '[[ $out =~ $uuid_b[^}]*vfmig ]]'
jobinfo=$(th_virsh a domjobinfo --completed --keep-completed g1 2>&1)
tap_diag "domjobinfo --completed g1 on a:" "$jobinfo"
vdowntime=$(jobinfo_ms 'Total downtime') || vdowntime='?'
timed "V downtime (QEMU, a)" "$vdowntime ms"
c1=$(ctr b g1)
check "g1 not rebooted: counter on b ($c1) > before ($c0)" eval '((c1 > c0))'
check "trigger g1's read-back on b" trigger b g1
check "g1 on b read SCR and the FIFO back (state 2)" wait_for '[[ $(gstate b g1) == 02 ]]' 60
gb b g1
assert_eq "vfmigctl migrate: SCR and FIFO read back on b = written on a" "$w_1" "$(readback)"
# issue 16, 6: the claim is the domain's while it runs there, and ends with it
claim_of() {
    local c
    c=$("$V" --json claims 2>/dev/null) || return 1
    python3 -c 'import json, sys
got = ["%s %s %s" % (c["domain_name"], c["state"], " ".join(d.get("uuid") or d.get("bdf") for d in c["devices"]))
       for c in json.loads(sys.argv[1])]
sys.exit(0 if got == [sys.argv[2]] else 1)' "$c" "$1"
}
check "the claim is g1's, adopted on b (vfmigctl claims --json: running, $uuid_b)" claim_of "g1 running $uuid_b" ||
    tap_diag "$("$V" --json claims 2>&1)"
th_virsh b destroy g1 >/dev/null 2>&1
check "g1 destroyed on b, its mdev free" wait_for "vfio_free $gbb" 20
check "g1's claim ended with it (vfmigctl claims --json)" wait_for claims_empty 10
vfm mdev create mtty mtty-1 --uuid "$uuid_a"
check "mdev A created again for the bare virsh guests" eval '((rc == 0)) && [[ -e $MDEV_DEVS/$uuid_a/iommu_group ]]' ||
    show mdev create
ga=$(mdev_group "$uuid_a")

# ================================================================ C  bare virsh: guest on a
t0=$(now_ms)
check "define and start g2 on a (mdev A, enable-migration=on, x-device-dirty-page-tracking=off)" \
    guest_up a g2 "$uuid_a" 1
[[ $(th_state a g2) == running ]] ||
    tap_bail "g2 does not run on a: $(tail -n 5 "$wd/a/var/log/libvirt/qemu/g2.log" 2>&1)"
timed "C g2 started until the UART is written" "$(($(now_ms) - t0)) ms"
gb a g2
w_a=$(written)
tap_diag "g2 on a: mtty at config address 0x${G[0xb]}${G[0xa]}${G[9]}${G[8]}, I/O base 0x${G[5]}${G[4]};" \
    "wrote SCR 0x${G[0x10]}, FIFO ${G[0x11]} ${G[0x12]} ${G[0x13]} ${G[0x14]}; LSR then 0x${G[0x18]}"
check "the guest assigned an I/O base to BAR0" eval '[[ ${G[5]}${G[4]} != 0000 ]]'
check "LSR on a says data ready (the bytes are in mtty's FIFO)" eval '(( 0x${G[0x18]} & 1 ))'
check "/dev/vfio/$ga is busy (a's QEMU holds mdev A)" vfio_busy "$ga"
assert_eq "QEMU on a: hostdev0 enable-migration" on "$(qom a g2 enable-migration)"
assert_eq "QEMU on a: hostdev0 x-device-dirty-page-tracking" off "$(qom a g2 x-device-dirty-page-tracking)"
blocked=$(th_virsh a qemu-monitor-command g2 '{"execute":"query-migrate"}' 2>&1)
check "QEMU on a reports no migration blocker" eval '[[ $blocked != *blocked-reasons* ]]' || tap_diag "$blocked"
c0=$(ctr a g2)
check "g2 counts on a" th_wait_counter_above a g2 "$c0" 10

# ================================================================ D  bare virsh migrate a -> b
check "destination XML: g2's migratable XML with mdev B (the one vfmig made)" dest_xml a g2 "$uuid_a" "$uuid_b" "$wd/g2-dest.xml"
check "DEST.xml names mdev B, not A" eval 'grep -q "$uuid_b" "$wd/g2-dest.xml" && ! grep -q "$uuid_a" "$wd/g2-dest.xml"'
c0=$(ctr a g2)
th_migrate a b g2 --xml "$wd/g2-dest.xml" >"$T/mig" 2>&1
mrc=$?
check "virsh migrate --live --p2p --xml DEST.xml g2 a -> b: exit 0" is_zero "$mrc" || tap_diag "$(<"$T/mig")"
mig_ms=$TH_MIGRATE_MS
timed "D virsh migrate a -> b (wall)" "$mig_ms ms"
assert_eq "g2 runs on b" running "$(th_state b g2)"
assert_eq "a keeps g2's definition, shut off" "shut off" "$(th_state a g2)"
check "b's live XML has mdev B" eval 'th_virsh b dumpxml g2 | grep -q "uuid=.$uuid_b."'
check "/dev/vfio/$gbb is busy (b's QEMU holds mdev B)" vfio_busy "$gbb"
check "mdev A released on a: /dev/vfio/$ga can be opened" wait_for "vfio_free $ga" 20
c1=$(ctr b g2)
check "g2 not rebooted: counter on b ($c1) > before the migration ($c0)" eval '((c1 > c0))'
check "counter advances on b" th_wait_counter_above b g2 "$c1" 10
assert_eq "QEMU on b: hostdev0 enable-migration" on "$(qom b g2 enable-migration)"
jobinfo=$(th_virsh a domjobinfo --completed --keep-completed g2 2>&1)
tap_diag "domjobinfo --completed g2 on a:" "$jobinfo"
elapsed=$(jobinfo_ms 'Time elapsed') || elapsed='?'
downtime=$(jobinfo_ms 'Total downtime') || downtime='?'
check "domjobinfo --completed on a reports the downtime" eval '[[ $downtime =~ ^[0-9]+$ ]]'
timed "D libvirt job time elapsed (a)" "$elapsed ms"
timed "D downtime (QEMU, a)" "$downtime ms"

# ================================================================ E  state on b
gb b g2
assert_eq "RAM on b: the values written on a came along" "$w_a" "$(written)"
assert_eq "the guest on b has not read back yet (state 1)" 01 "${G[0]}"
t0=$(now_ms)
check "trigger the read-back through b's monitor (CMOS 0x40 = 1)" trigger b g2
check "the guest on b read SCR and the FIFO back (state 2)" wait_for '[[ $(gstate b g2) == 02 ]]' 60
timed "E read-back on b after the trigger" "$(($(now_ms) - t0)) ms"
gb b g2
tap_diag "g2 on b read: SCR 0x${G[0x20]}, LSR 0x${G[0x21]}, ${G[0x22]} bytes: ${G[*]:0x30:4}, LSR after 0x${G[0x23]}"
assert_eq "SCR on b = the value written on a" "${w_a%% *}" "${G[0x20]}"
assert_eq "b's FIFO held 4 bytes" 04 "${G[0x22]}"
assert_eq "the FIFO bytes on b = those written on a" "${w_a#* }" "${G[0x30]} ${G[0x31]} ${G[0x32]} ${G[0x33]}"
assert_eq "SCR and FIFO read back on b = written on a" "$w_a" "$(readback)"
check "LSR on b before reading: data ready" eval '(( 0x${G[0x21]} & 1 ))'
assert_eq "LSR on b after reading: FIFO empty (0x60)" 60 "${G[0x23]}"

# ================================================================ F  no override
t0=$(now_ms)
th_virsh b destroy g2 >/dev/null 2>&1
check "g2 destroyed on b, mdev B free" wait_for "vfio_free $gbb" 20
check "g4 (no <qemu:override>) runs on a with mdev A, wrote its UART" guest_up a g4 "$uuid_a" 0
timed "F g4 started until the UART is written" "$(($(now_ms) - t0)) ms"
gb a g4
w_2=$(written)
assert_eq "QEMU on a: g4's hostdev0 enable-migration" auto "$(qom a g4 enable-migration)"
check "destination XML for g4 with mdev B" dest_xml a g4 "$uuid_a" "$uuid_b" "$wd/g4-dest.xml"
c0=$(ctr a g4)
th_migrate a b g4 --xml "$wd/g4-dest.xml" >"$T/mig" 2>&1
mrc=$?
check "bare virsh migration of g4 without the override fails" eval '((mrc != 0))'
tap_diag "virsh migrate (exit $mrc): $(<"$T/mig")"
timed "F failed migration" "$TH_MIGRATE_MS ms"
check "the error is QEMU's: the device cannot be migrated without the properties" \
    eval 'grep -Eqi "ram_save_setup|not supported|dirty tracking" "$T/mig"'
assert_eq "g4 keeps running on a" running "$(th_state a g4)"
assert_eq "nothing on b" absent "$(th_state b g4)"
check "mdev B free again (b's QEMU gone)" wait_for "vfio_free $gbb" 20
check "/dev/vfio/$ga still busy (a's QEMU holds mdev A)" vfio_busy "$ga"
c1=$(ctr a g4)
check "g4 not stopped: counter on a went on ($c1 > $c0)" eval '((c1 > c0))'
check "trigger g4's read-back on a" trigger a g4
check "g4 read its UART back on a (state 2)" wait_for '[[ $(gstate a g4) == 02 ]]' 60
gb a g4
assert_eq "g4's device state on a is intact after the failed migration" "$w_2" "$(readback)"
th_virsh a destroy g4 >/dev/null 2>&1
check "g4 destroyed on a, mdev A free" wait_for "vfio_free $ga" 20

# ================================================================ X  no free instance, no capacity on b
t0=$(now_ms)
check "g3 (mdev A, with the properties) runs on a and wrote its UART" guest_up a g3 "$uuid_a" 1
timed "X g3 started until the UART is written" "$(($(now_ms) - t0)) ms"
avail=$(_lab_read "$types/mtty-1/available_instances")
fill=()
for ((i = 0; i < avail; i++)); do
    read -r u </proc/sys/kernel/random/uuid
    lab_sysfs_write "$types/mtty-1/create" "$u" 2>/dev/null && fill+=("$u")
done
check "mtty-1 filled: $avail more instances, available_instances 0" \
    wait_for "[[ \$(_lab_read $types/mtty-1/available_instances) == 0 ]] && [[ -e $MDEV_DEVS/${fill[-1]:-none}/iommu_group ]]" 10
groups=()
for u in "$uuid_b" "${fill[@]}"; do groups+=("$(mdev_group "$u")"); done
# one process holds every free instance's group open (as a QEMU would); it
# exits 1 if one cannot be opened, and is started again (a CI run once found
# it gone, and the migration then took a free filler)
all_held() { local g; for g in "${groups[@]}"; do vfio_busy "$g" || return 1; done; }
for attempt in 1 2 3; do
    bash -c 'for g; do exec {fd}<>"/dev/vfio/$g" || exit 1; done; exec sleep 3600' holder "${groups[@]}" &
    holder=$!
    wait_for 'all_held' 10 && break
    tap_diag "holder attempt $attempt: not every group is held open$(kill -0 "$holder" 2>/dev/null || echo ' (it exited)'); groups ${groups[*]}"
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
    holder=''
done
if [[ -z $holder ]]; then
    tap_skip "(negative b) no free instance, no room" "could not hold every other mtty-1 instance open (see the diagnostics above)"
else
check "every mtty-1 instance but A is held open (pid $holder)" all_held
snap0=$(snapshot)
vfm -c "$A" --json migrate g3 "$B" --strategy native --peer local
check "(negative b) migrate refused: exit != 0" eval '((rc != 0))'
# check refuses it first (rule mdev-destination); the claim's own message,
# "no free mediated device of type", is only reached when check passed
check "(negative b) the cause: no free mtty-1 instance, no room" \
    eval 'has "$out$err" "no free mediated device of type" || has "$out$err" "no free mtty-1 instance and no parent with room"'
show migrate g3
assert_eq "(negative b) g3 still runs on a" running "$(th_state a g3)"
assert_eq "(negative b) nothing on b" absent "$(th_state b g3)"
snap1=$(snapshot)
check "(negative b) nothing claimed or created: mdev list and claims as before" eval '[[ $snap0 == "$snap1" ]]' ||
    tap_diag "before: $snap0" "after: $snap1"
kill "$holder" && wait "$holder" 2>/dev/null
holder=''
fi
# a remove of an instance a process holds blocks in the kernel: only free ones
for u in "${fill[@]}"; do
    g=$(mdev_group "$u")
    if wait_for "vfio_free $g" 10; then lab_sysfs_write "$MDEV_DEVS/$u/remove" 1; else tap_diag "filler $u stays: in use"; fi
done
check "the fillers removed, instance B free again" \
    wait_for "[[ ! -e $MDEV_DEVS/${fill[-1]:-none} ]] && vfio_free $gbb" 10

# ================================================================ H  bare virsh + the vfmig hook
# b's hook claims a free instance (B) and rewrites the UUID. B was the
# destination of g4's failed migration in F: its QEMU died while B was
# RESUMING, and mtty keeps that state across close (it has no reset on close
# and no VFIO_DEVICE_FLAGS_RESET, so QEMU never resets it); the next incoming
# QEMU got no migration data fd ("load of migration failed: Bad file
# descriptor"). The claim now resets such an instance first
# (vfm_vfio_mdev_ready), which this step proves on the real kernel.
check "the vfmig hook installed on both hosts" th_hook "$wd" "$hook"
gb a g3
w_3=$(written)
c0=$(ctr a g3)
# a watchdog: the one earlier run hung here; if it does again, say where
th_migrate a b g3 >"$T/mig" 2>&1 &
mpid=$!
wait_for '! kill -0 $mpid 2>/dev/null' 120 || {
    tap_diag "th_migrate still running after 120 s; hook.log:" "$(cat "$wd/hook.log" 2>&1)"
    tap_diag "processes:" "$(ps -eo pid,ppid,stat,etime,args | grep -E 'vfmig|virsh|qemu|libvirt' | grep -v grep | cut -c1-200)"
    tap_diag "a's libvirtd log tail:" "$(tail -n 30 "$wd/a/var/log/libvirt/libvirtd.log" 2>&1)"
    tap_diag "b's libvirtd log tail:" "$(tail -n 30 "$wd/b/var/log/libvirt/libvirtd.log" 2>&1)"
    tap_diag "b's qemu log:" "$(tail -n 20 "$wd"/b/var/log/libvirt/qemu/g3.log 2>&1)"
    kill "$mpid" 2>/dev/null
}
wait "$mpid"
mrc=$?
hmig_ms=$TH_MIGRATE_MS
check "virsh migrate --live --p2p g3 a -> b (no --xml): exit 0" is_zero "$mrc" || {
    tap_diag "$(<"$T/mig")" "b's qemu log:" "$(tail -n 20 "$wd"/b/var/log/libvirt/qemu/g3.log 2>&1)"
    tap_diag "kernel log:" "$(dmesg | tail -n 40)"
}
timed "H virsh migrate + hook a -> b (wall)" "$hmig_ms ms"
tap_diag "hook calls:" "$(cat "$wd/hook.log" 2>&1)"
check "b's hook saw migrate begin" grep -q "vfmig-th-b g3 migrate begin" "$wd/hook.log"
tap_diag "hook stderr:" "$(cat "$wd/hook.err" 2>&1)"
check "b's hook reset B before taking it: F had left it RESUMING" \
    grep -q "mediated device $uuid_b: its VFIO migration state was RESUMING .*reset to RUNNING" "$wd/hook.err"
assert_eq "g3 runs on b" running "$(th_state b g3)"
uuid_h=$(live_uuid b g3)
check "b's hook rewrote the UUID: g3 on b holds $uuid_h, not A" eval '[[ -n $uuid_h && $uuid_h != "$uuid_a" ]]'
c1=$(ctr b g3)
check "g3 not rebooted: counter on b ($c1) > before ($c0)" eval '((c1 > c0))'
check "trigger g3's read-back on b" trigger b g3
check "g3 on b read SCR and the FIFO back (state 2)" wait_for '[[ $(gstate b g3) == 02 ]]' 60
gb b g3
assert_eq "hook path: SCR and FIFO read back on b = written on a" "$w_3" "$(readback)"
# the hook's claim is the guest's now ("started" adopts it): it stays while g3 runs on b
claims=$("$V" --json claims 2>&1)
check "the hook's claim is g3's now: state running, holding $uuid_h" \
    eval '[[ $claims =~ \"domain_name\":\"g3\",\"state\":\"running\" && $claims == *"\"uuid\":\"$uuid_h\""* ]]' ||
    tap_diag "$claims"

# ================================================================ K  (negative c) destination killed
# b's libvirtd is killed in the middle of the incoming migration: a test hook
# on b (qemu.d/zz-stall) holds "start begin" of the incoming guest (vfmig has
# claimed and created b's instance by then) until the host is gone; the
# source's libvirtd then loses its peer. The guest must run on a, nothing
# be left claimed or created.
for h in a b; do [[ $(th_state $h g3) != running ]] || th_virsh $h destroy g3 >/dev/null 2>&1; done
check "g3 stopped, mdev A free" wait_for "vfio_free $ga" 20
check "g3's claim ended with it (b's release hook)" wait_for claims_empty 20 || tap_diag "$("$V" --json claims 2>&1)"
check "g5 (mdev A, with the properties) runs on a and wrote its UART" guest_up a g5 "$uuid_a" 1
stall=$wd/zz-stall
{
    echo '#!/bin/sh'
    echo "[ \"\$2 \$3\" = 'start begin' ] && [ -e '$wd/stall' ] && grep -qx vfmig-th-b /proc/sys/kernel/hostname || exit 0"
    echo ": >'$wd/stalled'"
    echo "while [ -e '$wd/stall' ]; do sleep 0.1; done"
} >"$stall"
chmod +x "$stall"
: >"$wd/stall"
check "the stall hook installed" th_hook "$wd" "$stall" zz-stall
snap0=$(snapshot)
c0=$(ctr a g5)
"$V" -c "$A" --json migrate g5 "$B" --strategy native --peer local >"$T/kout" 2>"$T/kerr" &
kpid=$!
check "b's libvirtd is in g5's start hook (the incoming migration under way)" wait_for "[[ -e $wd/stalled ]]" 90
th_host_stop b --kill
rm -f -- "$wd/stall"
check "vfmigctl migrate ends after b died" wait_for '! kill -0 $kpid 2>/dev/null' 120 || kill "$kpid" 2>/dev/null
krc=0
wait "$kpid" || krc=$?
kout=$(<"$T/kout") kerr=$(<"$T/kerr")
tap_diag "vfmigctl migrate g5 with b killed -> exit $krc" "stdout: $kout" "stderr: $kerr"
check "(negative c) migrate failed: exit != 0" eval '((krc != 0))'
check "(negative c) vfmig says it could not migrate g5 and rolled back" \
    eval '[[ $kout$kerr == *"cannot migrate g5"* && $kout =~ \"rolled_back\":\ *true ]]'
assert_eq "(negative c) g5 still runs on a" running "$(th_state a g5)"
check "(negative c) g5 not stopped: its counter goes on" th_wait_counter_above a g5 "$c0" 20
check "(negative c) nothing claimed or created: mdev list and claims as before" \
    wait_for '[[ $(snapshot) == "$snap0" ]]' 20 || tap_diag "before: $snap0" "after: $(snapshot)"
check "(negative c) mdev A still held by a's QEMU" vfio_busy "$ga"
th_virsh a destroy g5 >/dev/null 2>&1

# ================================================================ summary
tap_diag "vfmigctl migrate --strategy native a -> b: $vmig_ms ms wall (its seconds ${vmig_s:-?}), downtime $vdowntime ms"
tap_diag "bare virsh migrate --xml a -> b: $(awk -v m="$mig_ms" 'BEGIN { printf "%.1f", m / 1000 }') s wall" \
    "(libvirt job $elapsed ms), downtime $downtime ms; mtty state (SCR + 4 FIFO bytes) read back on b"
tap_diag "bare virsh migrate + vfmig hook a -> b: $hmig_ms ms wall"
tap_diag "$(printf '%s\n' "timings (VM clock, TCG inside TCG):" "${timings[@]}" \
    "whole script $(((${EPOCHREALTIME/./} - t_start) / 1000)) ms")"
tap_done
