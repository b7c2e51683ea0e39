#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-earlyboot.sh — early-boot binding on the real kernel (meson:
# lab-earlyboot). Three boots of the lab VM and one mkinitramfs here:
#   1. the lab's own initramfs: earlyboot.sh plan (policy, `vfmigctl
#      early-boot plan` where the device exists, doctor on the real kernel);
#   2. mkinitramfs for the lab kernel with vfmig's initramfs-tools hook and
#      init-top script from this tree (the plan of 1. via VFMIG_EARLY_PLAN,
#      as for an image built for another host), its contents checked;
#   3. that image booted (vm-run.sh --initrd): earlyboot.sh check;
#   4. the same image with vfmig.early=0: earlyboot.sh control, which then
#      adds a policy and has `vfmigctl early-boot refresh` rebuild the image
#      with the real update-initramfs in the guest; the rebuilt image's
#      contents are checked here.
# TAP on stdout (one plan per part); exit 0 only if every part passed, 77
# when the lab or initramfs-tools is missing.
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
srcroot=$(realpath -- "$here/../..")
build=${MESON_BUILD_ROOT:-$srcroot/build}
vm=$here/vm-run.sh
hook=${VFMIG_INITRAMFS_HOOK:-$build/data/initramfs/initramfs-tools-hook-vfmig}

rc=0
why=$("$vm" --check 2>&1) || rc=$?
if ((rc == 77)); then
    printf '%s\n' "$why" >&2
    printf '1..0 # SKIP %s\n' "${why#*SKIP: }"
    exit 77
elif ((rc != 0)); then
    printf '%s\n' "$why" >&2
    exit "$rc"
fi
for t in mkinitramfs lsinitramfs; do
    if ! command -v "$t" >/dev/null; then
        printf '1..0 # SKIP %s not found (apt-get install initramfs-tools)\n' "$t"
        exit 77
    fi
done
[[ -f $hook ]] || { echo "run-earlyboot.sh: $hook not built (ninja -C $build)" >&2; exit 1; }

# the kernel vm-run.sh boots: the newest /boot/vmlinuz-* with modules
kver=${VFMIG_LAB_KERNEL:+${VFMIG_LAB_KERNEL##*/vmlinuz-}}
if [[ -z $kver ]]; then
    for k in /boot/vmlinuz-*; do
        [[ -f /lib/modules/${k##*/vmlinuz-}/modules.dep ]] || continue
        [[ -z $kver || $(printf '%s\n%s\n' "$kver" "${k##*/vmlinuz-}" | sort -V | tail -n1) != "$kver" ]] &&
            kver=${k##*/vmlinuz-}
    done
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vfmig-earlyboot.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
failed=0
part() { # NAME, then the command; its output is printed, its failure counted
    local name=$1 prc=0
    shift
    printf '# --- %s\n' "$name"
    "$@" || prc=$?
    ((prc == 0)) || { printf '# %s: exit %d\n' "$name" "$prc"; failed=1; }
    return 0
}

# 1. the plan, made where the device is
mkdir -p "$work/plan"
part "boot 1: policy, plan, doctor (the lab's initramfs)" \
    "$vm" --timeout "${LAB_EARLYBOOT_TIMEOUT:-300}" --results "$work/plan" "$here/earlyboot.sh" plan
[[ -s $work/plan/plan ]] || { echo "# no plan from boot 1"; exit 1; }

# 2. the image: mkinitramfs with this tree's hook and init-top script
conf=$work/initramfs-tools
mkdir -p "$conf/hooks" "$conf/scripts/init-top" "$conf/conf.d"
cat >"$conf/initramfs.conf" <<'EOF_CONF'
MODULES=list
BUSYBOX=auto
COMPRESS=zstd
RUNSIZE=10%
FSTYPE=auto
EOF_CONF
# the lab's root needs 9p and overlay; nvme and e1000e as a host has them
printf '%s\n' virtio_pci 9pnet_virtio 9p overlay nvme e1000e >"$conf/modules"
install -m 0755 "$hook" "$conf/hooks/vfmig"
install -m 0755 "$srcroot/data/initramfs/initramfs-tools/scripts/init-top/early_vfmig" "$conf/scripts/init-top/"
image=$work/initrd.img-$kver
image_part() {
    local t0=$EPOCHREALTIME n=0 c
    VFMIG_EARLY_PLAN=$work/plan/plan VFMIG_EARLY_STEP=$srcroot/data/initramfs/vfmig-early.sh \
        mkinitramfs -d "$conf" -o "$image" "$kver" || { echo "not ok 1 - mkinitramfs"; echo "1..1"; return 1; }
    printf '# mkinitramfs %s: %s s, %s bytes\n' "$kver" \
        "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')" "$(stat -c %s "$image")"
    c=$(lsinitramfs "$image")
    check() { n=$((n + 1)); if grep -qE "$2" <<<"$c"; then echo "ok $n - image has $1"; else echo "not ok $n - image has $1"; fail=1; fi; }
    local fail=0
    check "the step" '^usr/lib/vfmig/vfmig-early$'
    check "the plan" '^etc/vfmig/early-boot.plan$'
    check "init-top/early_vfmig" '^scripts/init-top/early_vfmig$'
    check "vfio-pci.ko" '/vfio-pci\.ko'
    check "vfio_iommu_type1.ko" '/vfio_iommu_type1\.ko'
    check "nvme.ko (a host driver that would take the PF)" '/nvme\.ko'
    # init-top runs in ORDER: the step before udev's coldplug
    mkdir -p "$work/unpacked"
    (cd "$work/unpacked" && unmkinitramfs "$image" . >/dev/null 2>&1) || true
    order=$(cat "$work"/unpacked/{,main/}scripts/init-top/ORDER 2>/dev/null | grep -o 'init-top/[a-z_]*' | tr '\n' ' ')
    echo "# init-top ORDER: $order"
    n=$((n + 1))
    if [[ $order == *early_vfmig*udev* ]]; then echo "ok $n - early_vfmig runs before udev"; else echo "not ok $n - early_vfmig runs before udev"; fail=1; fi
    n=$((n + 1))
    if cmp -s "$work/plan/plan" "$(ls -d "$work"/unpacked/{,main/}etc/vfmig/early-boot.plan 2>/dev/null | head -n1)"; then
        echo "ok $n - the image's plan is boot 1's"
    else
        echo "not ok $n - the image's plan is boot 1's"; fail=1
    fi
    echo "1..$n"
    return "$fail"
}
part "mkinitramfs with vfmig's hook" image_part
[[ -f $image ]] || exit 1

# 3. booted from it; 4. the same with the step off
mkdir -p "$work/check" "$work/control"
cp -- "$work/plan/plan" "$work/check/plan"
cp -- "$work/plan/plan" "$work/control/plan"
# the hook earlyboot.sh control installs in the guest's overlay
export VFMIG_INITRAMFS_HOOK=$hook
part "boot 2: the image with vfmig's step" \
    "$vm" --timeout "${LAB_EARLYBOOT_TIMEOUT:-300}" --initrd "$image" --results "$work/check" "$here/earlyboot.sh" check
part "boot 3: the same image, vfmig.early=0 (control); a policy added, early-boot refresh" \
    "$vm" --timeout "${LAB_EARLYBOOT_TIMEOUT:-600}" --initrd "$image" --append vfmig.early=0 \
    --results "$work/control" "$here/earlyboot.sh" control

# 5. the image early-boot refresh rebuilt in boot 3 carries the new plan
refreshed_part() {
    local n=0 fail=0 got desc
    t() { n=$((n + 1)); if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; fail=1; fi; }
    [[ -s $work/control/image ]] || { echo "not ok 1 - boot 3 left the rebuilt image"; echo "1..1"; return 1; }
    mkdir -p "$work/refreshed"
    (cd "$work/refreshed" && unmkinitramfs "$work/control/image" . >/dev/null 2>&1) || true
    got=$(ls -d "$work"/refreshed/{,main/}etc/vfmig/early-boot.plan 2>/dev/null | head -n1)
    got=${got:-/nonexistent}
    desc="the rebuilt image's plan is the plan after the policy change (boot 3's early-boot plan)"
    t cmp -s "$work/control/plan-now" "$got"
    desc="it names the e1000e (policy 70-lab-nic/nic) and still the NVMe PF"
    t eval 'grep -q " 0x8086 0x10d3 .* 70-lab-nic/nic$" "$got" && grep -q " 0x1b36 0x0010 .* 60-lab-early/nvme-pf$" "$got"'
    desc="it differs from the image booted (boot 1's plan)"
    t eval '! cmp -s "$work/plan/plan" "$got"'
    desc="it has the step and init-top/early_vfmig (vfmig's hook ran inside update-initramfs)"
    t eval '[[ $(ls -d "$work"/refreshed/{,main/}usr/lib/vfmig/vfmig-early "$work"/refreshed/{,main/}scripts/init-top/early_vfmig 2>/dev/null | wc -l) == 2 ]]'
    echo "1..$n"
    return "$fail"
}
part "the image early-boot refresh rebuilt (update-initramfs in boot 3)" refreshed_part
if [[ -n ${LAB_EARLYBOOT_KEEP:-} ]]; then
    rm -rf -- "$LAB_EARLYBOOT_KEEP" && cp -a -- "$work" "$LAB_EARLYBOOT_KEEP"
fi
exit "$failed"
