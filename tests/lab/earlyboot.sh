#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# earlyboot.sh STAGE — runs inside the lab VM (run-earlyboot.sh boots it
# three times). TAP on stdout.
#
#   plan     (the lab's own initramfs; nvme has the NVMe PF) a policy that
#            binds the PF at boot, by its PCI path and ids; `vfmigctl
#            early-boot plan` (what the initramfs hook calls) into
#            $LAB_RESULTS/plan; `vfmigctl doctor` on the real kernel: each
#            line as the lab really is, the early-boot line failing (nvme
#            holds the PF, this image has no vfmig step).
#   check    (booted from the mkinitramfs image with vfmig's hook) the PF is
#            on vfio-pci, the kernel log has no line of nvme probing it
#            though nvme is loaded, the step's record; status shows it,
#            doctor's early-boot line passes, restore (adopting it) gives
#            the PF to nvme.
#   control  (the same image, vfmig.early=0) the step skipped, nvme has the
#            PF: what check would see without vfmig. Then the image kept
#            current: this boot's image carries boot 1's plan, recorded as
#            the hook records it; a policy for the e1000e makes `early-boot
#            status` stale, `early-boot refresh` rebuilds the image with the
#            real update-initramfs (the shipped generators.conf; vfmig's hook
#            and MODULES=list as for the image booted, in this boot's
#            overlay: /boot and /etc/initramfs-tools of the host stay as
#            they are) and the image is copied to $LAB_RESULTS/image for
#            run-earlyboot.sh to look into.
set -euo pipefail

here=${LAB_DIR:-$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")}
source "$here/lab-lib.sh"
lab_require_vm

stage=${1:?usage: earlyboot.sh plan|check|control}
srcroot=$(realpath -- "$here/../..")
V=${VFMIGCTL:-$srcroot/build/src/cli/vfmigctl}
export VFMIG_DATADIR=${VFMIG_DATADIR:-$srcroot/data}
readonly PCI=/sys/bus/pci RECORD=/run/vfmig/early-boot.json
# no libvirtd in the VM: doctor's version lines cannot be known (n/a)
readonly NO_LIBVIRT=test:///nonexistent-vfmig-lab.xml

tap_init

pf=$(lab_nvme_pf) || tap_bail "no SR-IOV NVMe controller (1b36:0010)"
path=$(realpath -- "$PCI/devices/$pf")
path=${path#/sys/devices/}

# The policy, the same in each boot (the VM's root is fresh each time).
mkdir -p /etc/vfmig/policies.d
cat >/etc/vfmig/policies.d/60-lab-early.conf <<EOF
# the lab's NVMe controller, bound to VFIO before nvme at boot
[Policy nvme-pf]
PciPath=$path
Ids=1b36:0010
Manage=true
AutoBind=true
EOF

# nvme's probe of a controller prints "nvme nvmeN: pci function BDF"
nvme_probed() { dmesg | grep -E "nvme nvme[0-9]+: pci function $1\$"; }

# run_doctor: vfmigctl doctor --json once (each run ~1 s in the TCG guest);
# doctor_line ID then gives "STATE|detail|fix" of the first check with that
# id, all read with one python3 (~0.3 s per start in the guest). The
# human lines go to the TAP diagnostics.
declare -A doctor_lines=()
run_doctor() {
    local rc=0 id line
    "$V" -c "$NO_LIBVIRT" doctor --json >"$LAB_RESULTS/doctor-$stage.json" 2>"$LAB_RESULTS/doctor-$stage.err" || rc=$?
    while IFS=$'\t' read -r id line; do
        if [[ $id == '#'* ]]; then
            printf '%s\n' "$id"
        elif [[ -z ${doctor_lines[$id]+set} ]]; then
            doctor_lines[$id]=$line
        fi
    done < <(/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
for c in r["checks"]:
    print("%s\t%s|%s|%s" % (c["id"], c["state"], c["detail"], c["fix"] or ""))
    mark = {"ok": "\u2713", "fail": "\u2717"}.get(c["state"], "\u2013")
    print("# %s %s: %s" % (mark, c["title"], c["detail"]))
    if c["fix"]:
        print("#     fix: " + c["fix"])' "$LAB_RESULTS/doctor-$stage.json")
    return "$rc"
}
doctor_line() { printf '%s\n' "${doctor_lines[$1]:-}"; }

case $stage in
plan)
    assert_eq "nvme has the PF (the lab's own initramfs)" nvme "$(lab_driver "$pf")"
    "$V" early-boot plan >"$LAB_RESULTS/plan" 2>"$LAB_RESULTS/plan.err" ||
        tap_fail "vfmigctl early-boot plan" "$(cat "$LAB_RESULTS/plan.err")"
    tap_diag "$(cat "$LAB_RESULTS/plan")"
    line=$(grep '^device ' "$LAB_RESULTS/plan" || true)
    case $line in
    "device $path 0x1b36 0x0010 0x"????" 0x"????" vfio-pci vfio_pci nvme 60-lab-early/nvme-pf")
        tap_ok "the plan names the PF by path and ids, vfio-pci, nvme to return to" ;;
    *) tap_fail "the plan names the PF by path and ids, vfio-pci, nvme to return to" "$line" ;;
    esac

    # doctor on the real kernel: the lab as it is
    rc=0
    run_doctor || rc=$?
    assert_eq "doctor exits 1 (the lab lacks things, below)" 1 "$rc"
    for id in iommu-firmware iommu-enabled interrupt-remapping modules-alias module iommu-backend variant-module; do
        assert_eq "doctor: $id passes on the real kernel" ok "$(doctor_line "$id" | cut -d'|' -f1)"
    done
    line=$(doctor_line group-viable)
    assert_eq "doctor: the PF's IOMMU group passes" ok "${line%%|*}"
    line=$(doctor_line early-boot)
    assert_eq "doctor: early-boot fails (nvme holds the PF, no vfmig step in this image)" fail "${line%%|*}"
    case $line in
    *"nvme holds it"*"no vfmig step"*"update-initramfs -u -k $(uname -r)"*) tap_ok "doctor: its fix names update-initramfs for $(uname -r)" ;;
    *) tap_fail "doctor: its fix names update-initramfs" "$line" ;;
    esac
    # what the lab truly lacks: no vfmigd running, no libvirtd in the VM
    assert_eq "doctor: vfmigd fails (not running in this VM)" fail "$(doctor_line vfmigd | cut -d'|' -f1)"
    assert_eq "doctor: QEMU's version n/a (no libvirtd)" n/a "$(doctor_line qemu-version | cut -d'|' -f1)"
    ;;

check)
    tap_diag "$(dmesg | grep -E 'vfmig-early|nvme' || true)"
    assert_eq "the PF is on vfio-pci after boot" vfio-pci "$(lab_driver "$pf")"
    assert_eq "its driver_override is vfio-pci" vfio-pci "$(cat "$PCI/devices/$pf/driver_override")"
    tap_check "nvme is loaded (it could have taken the PF)" test -d "$PCI/drivers/nvme"
    if out=$(nvme_probed "$pf"); then
        tap_fail "the kernel log has no nvme probe of $pf" "$out"
    else
        tap_ok "the kernel log has no nvme probe of $pf"
    fi
    tap_check "the kernel log has the step's bind" eval 'dmesg | grep -q "vfmig-early: $pf: bound to vfio-pci before any host driver"'
    group=$(lab_iommu_group "$pf")
    tap_check "/dev/vfio/$group exists" test -e "/dev/vfio/$group"
    tap_check "the step's record $RECORD" test -s "$RECORD"
    tap_diag "$(cat "$RECORD" 2>/dev/null)"
    assert_eq "the record's plan is the image's" "$(sed -n 's/^plan //p' "$LAB_RESULTS/plan")" \
        "$(/usr/bin/python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["plan"])' "$RECORD")"
    st=$("$V" status --json)
    assert_eq "status --json: early_boot has the PF bound" "$pf bound vfio-pci nvme" \
        "$(/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1])["early_boot"]["devices"][0]; print(d["bdf"], d["result"], d["driver"], d["host_driver"])' "$st")"
    run_doctor || true
    line=$(doctor_line early-boot)
    assert_eq "doctor: early-boot passes" ok "${line%%|*}"
    tap_diag "$line"

    # restore adopts the early bind (an owned record) and returns the PF
    out=$("$V" --no-daemon restore 2>&1) || tap_fail "vfmigctl restore" "$out"
    tap_diag "$out"
    assert_eq "restore gave the PF to nvme" nvme "$(lab_driver "$pf")"
    assert_eq "its override is cleared" "(null)" "$(cat "$PCI/devices/$pf/driver_override")"
    wait_for 'nvme_probed "$pf" >/dev/null' 10 || true
    tap_check "nvme probed it now (kernel log)" eval 'nvme_probed "$pf" >/dev/null'
    assert_eq "vfmig owns nothing after restore" "[]" \
        "$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["owned"])' "$("$V" status --json)")"
    ;;

control)
    assert_eq "vfmig.early=0: nvme has the PF" nvme "$(lab_driver "$pf")"
    tap_check "the kernel log says the step was skipped" eval 'dmesg | grep -q "vfmig-early: skipped: vfmig.early=0"'
    tap_check "nvme probed it (kernel log)" eval 'nvme_probed "$pf" >/dev/null'
    tap_check "no record $RECORD" test ! -e "$RECORD"

    # --- the image kept current (early-boot status / refresh)
    rel=$(uname -r)
    st_json() { "$V" early-boot status --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["state"], s["recorded_plan"], s["current_plan"],
      " ".join("%s:%s:%s" % (e["vendor"], e["device"], e["policy"]) for e in s["added"]) or "-",
      " ".join(e["pci_path"] for e in s["removed"]) or "-", (s["generator"] or {}).get("image"))'; }
    image_plan=$(sed -n 's/^plan //p' "$LAB_RESULTS/plan")
    read -r state rec cur added removed img <<<"$(st_json)"
    assert_eq "status: no record for $rel (the image was built elsewhere, with VFMIG_EARLY_PLAN)" \
        "no-record None $image_plan" "$state $rec $cur"
    # what vfmig's hook runs when it builds an image, for this boot's
    "$V" --no-daemon early-boot plan --record "$rel" --generator initramfs-tools >"$LAB_RESULTS/plan-recorded" ||
        tap_fail "early-boot plan --record $rel"
    assert_eq "the recorded plan is the booted image's (boot 1's)" "$image_plan" \
        "$(sed -n 's/^plan //p' "$LAB_RESULTS/plan-recorded")"
    read -r state rec cur added removed img <<<"$(st_json)"
    assert_eq "status: up to date, the image /boot/initrd.img-$rel" \
        "up-to-date $image_plan $image_plan /boot/initrd.img-$rel" "$state $rec $cur $img"

    nic=$(lab_e1000e) || tap_bail "no e1000e"
    nicpath=$(realpath -- "$PCI/devices/$nic")
    nicpath=${nicpath#/sys/devices/}
    printf '[Policy nic]\nPciPath=%s\nIds=8086:10d3\nManage=true\nAutoBind=true\n' "$nicpath" \
        >/etc/vfmig/policies.d/70-lab-nic.conf
    read -r state rec cur added removed img <<<"$(st_json)"
    assert_eq "a policy added: status stale, the e1000e added, nothing removed" \
        "stale $image_plan 8086:10d3:70-lab-nic/nic -" "$state $rec $added $removed"
    tap_diag "$("$V" early-boot status 2>&1)"

    # The real generator, configured in this boot's overlay as the image
    # booted was made: vfmig's hook and init-top script, MODULES=list (under
    # TCG MODULES=most takes many minutes).
    mkdir -p /etc/initramfs-tools/hooks /etc/initramfs-tools/scripts/init-top
    install -m 0755 "${VFMIG_INITRAMFS_HOOK:?}" /etc/initramfs-tools/hooks/vfmig
    install -m 0755 "$srcroot/data/initramfs/initramfs-tools/scripts/init-top/early_vfmig" \
        /etc/initramfs-tools/scripts/init-top/
    sed -i 's/^MODULES=.*/MODULES=list/' /etc/initramfs-tools/initramfs.conf
    # zstd's default level 9 under TCG is most of a minute: level 1
    echo COMPRESSLEVEL=1 >>/etc/initramfs-tools/initramfs.conf
    printf '%s\n' virtio_pci 9pnet_virtio 9p overlay nvme e1000e >/etc/initramfs-tools/modules
    if [[ -f /etc/initramfs-tools/update-initramfs.conf ]]; then
        sed -i 's/^update_initramfs=.*/update_initramfs=yes/' /etc/initramfs-tools/update-initramfs.conf
    fi
    export VFMIGCTL=$V VFMIG_EARLY_STEP=$srcroot/data/initramfs/vfmig-early.sh
    before=$(stat -c %Y:%s "/boot/initrd.img-$rel")
    t0=$EPOCHREALTIME
    rc=0
    out=$("$V" early-boot refresh 2>"$LAB_RESULTS/refresh.err") || rc=$?
    tap_diag "early-boot refresh: $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s, exit $rc"
    tap_diag "$out"
    tap_diag "$(tail -n 5 "$LAB_RESULTS/refresh.err")"
    assert_eq "refresh exits 0" 0 "$rc"
    case $out in
    *"stale; running: /usr/sbin/update-initramfs -u -k $rel"*"rebuilt, it carries plan"*)
        tap_ok "refresh ran update-initramfs -u -k $rel (the shipped generators.conf)" ;;
    *) tap_fail "refresh ran update-initramfs -u -k $rel (the shipped generators.conf)" "$out" ;;
    esac
    tap_check "update-initramfs replaced /boot/initrd.img-$rel (in this boot's overlay)" \
        test "$before" != "$(stat -c %Y:%s "/boot/initrd.img-$rel")"
    "$V" early-boot plan >"$LAB_RESULTS/plan-now" 2>/dev/null
    read -r state rec cur added removed img <<<"$(st_json)"
    assert_eq "status: up to date with the new plan" "up-to-date $(sed -n 's/^plan //p' "$LAB_RESULTS/plan-now")" \
        "$state $rec"
    tap_check "the record is the plan now, made by initramfs-tools" \
        eval 'diff <(printf "generator initramfs-tools\n"; cat "$LAB_RESULTS/plan-now") "/var/lib/vfmig/early-boot/$rel.plan"'
    cp -- "/boot/initrd.img-$rel" "$LAB_RESULTS/image"
    # up to date: the second refresh runs nothing
    after=$(stat -c %Y:%s "/boot/initrd.img-$rel")
    out=$("$V" early-boot refresh 2>&1) || true
    assert_eq "a second refresh runs nothing" "early-boot image of $rel: up to date (plan $cur): nothing to do" "$out"
    assert_eq "the image is untouched" "$after" "$(stat -c %Y:%s "/boot/initrd.img-$rel")"
    ;;
*)
    tap_bail "unknown stage $stage"
    ;;
esac
tap_done
