#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# dracut-contents.sh — vfmig's dracut module builds into an image with what
# the early-boot step needs (meson: lab-dracut). No VM boots: Debian's
# `dracut` package replaces initramfs-tools, so the lab boots only the
# initramfs-tools image (lab-earlyboot); dracut-core (no kernel hooks)
# installs beside it and builds images on request. The module comes from
# this tree: a copy of dracut's base directory with modules.d/90vfmig added
# (dracutbasedir), nothing installed on this machine. The module runs
# vfmigctl as on a host, here on a synthetic one (--sysroot, through
# VFMIGCTL): the image gets that host's plan, and the module records it for
# dracut's kernel ($kernel) in the synthetic host's /var/lib/vfmig, which
# `early-boot status -k` then finds up to date. TAP; 77 without dracut.
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
srcroot=$(realpath -- "$here/../..")
build=${MESON_BUILD_ROOT:-$srcroot/build}
base=${VFMIG_DRACUT_BASE:-/usr/lib/dracut}

for t in dracut lsinitrd; do
    command -v "$t" >/dev/null || { printf '1..0 # SKIP %s not found (apt-get install dracut-core)\n' "$t"; exit 77; }
done
kver=''
for m in /lib/modules/*/modules.dep; do
    k=${m%/modules.dep}; k=${k##*/}
    [[ -z $kver || $(printf '%s\n%s\n' "$kver" "$k" | sort -V | tail -n1) == "$k" ]] && kver=$k
done
[[ -n $kver ]] || { printf '1..0 # SKIP no kernel modules in /lib/modules\n'; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/vfmig-dracut.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
cp -a -- "$base" "$work/base"
mkdir -p "$work/base/modules.d/90vfmig"
install -m 0755 "$build/data/initramfs/dracut-module-setup.sh" "$work/base/modules.d/90vfmig/module-setup.sh"
install -m 0755 "$srcroot/data/initramfs/dracut/90vfmig/vfmig-pre-udev.sh" "$work/base/modules.d/90vfmig/"
# the host: a synthetic server whose policy binds its NVMe at boot; the
# module's vfmigctl is the build's, on that host
root=$work/host
python3 "$srcroot/tests/hosts/gen-host.py" --profile server --pfs 1 --vfs-per-pf 0 --fault nvme-held "$root" >/dev/null
ctl=$build/src/cli/vfmigctl
printf '#!/bin/sh\nexec %q --sysroot %q "$@"\n' "$ctl" "$root" >"$work/vfmigctl"
chmod 0755 "$work/vfmigctl"
export VFMIG_DATADIR=$srcroot/data
"$ctl" --sysroot "$root" early-boot plan >"$work/plan" 2>/dev/null
record=$root/var/lib/vfmig/early-boot/$kver.plan

n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
t0=$EPOCHREALTIME
if dracutbasedir=$work/base VFMIGCTL=$work/vfmigctl VFMIG_EARLY_STEP=$srcroot/data/initramfs/vfmig-early.sh \
    dracut --no-hostonly --force --quiet --modules 'base vfmig' --no-early-microcode --tmpdir "$work" \
    "$work/img" "$kver" >"$work/dracut.log" 2>&1; then
    ok "dracut --modules 'base vfmig' builds an image for $kver"
else
    notok "dracut --modules 'base vfmig' builds an image for $kver"
    sed 's/^/# /' "$work/dracut.log"
    echo "1..$n"
    exit 1
fi
printf '# dracut: %s s\n' "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"
c=$(lsinitrd "$work/img")
has() { if grep -qE "$2" <<<"$c"; then ok "image has $1"; else notok "image has $1"; fi; }
has "the module vfmig" '^vfmig$'
has "the step" ' usr/lib/vfmig/vfmig-early$'
has "the plan" ' etc/vfmig/early-boot.plan$'
has "the pre-udev hook" ' usr/lib/dracut/hooks/pre-udev/00-vfmig-pre-udev\.sh$'
has "vfio-pci.ko" '/vfio-pci\.ko'
has "vfio_iommu_type1.ko" '/vfio_iommu_type1\.ko'
has "modprobe" ' (usr/)?s?bin/modprobe( |$)'
if cmp -s <(lsinitrd -f etc/vfmig/early-boot.plan "$work/img") "$work/plan"; then
    ok "the image's plan is the host's (early-boot plan)"
else
    notok "the image's plan is the host's (early-boot plan)"
fi
if grep -q '^device .* 0x144d 0xa80a .* vfio-pci vfio_pci nvme ' "$work/plan"; then
    ok "that plan binds the host's NVMe"
else
    notok "that plan binds the host's NVMe"
fi
# the record, for dracut's kernel: what the image has, made by dracut
if cmp -s <(printf 'generator dracut\n'; cat "$work/plan") "$record"; then
    ok "the module recorded the plan for $kver (generator dracut)"
else
    notok "the module recorded the plan for $kver (generator dracut)"
    if [[ -f $record ]]; then sed 's/^/# /' "$record"; else echo "# no $record"; fi
fi
st=$("$ctl" --sysroot "$root" --json early-boot status -k "$kver" 2>/dev/null)
if [[ $st == *'"state":"up-to-date"'*'"recorded_generator":"dracut"'* ]]; then
    ok "early-boot status -k $kver: up to date, built by dracut"
else
    notok "early-boot status -k $kver: up to date, built by dracut"
    echo "# $st"
fi
if lsinitrd -f usr/lib/vfmig/vfmig-early "$work/img" | cmp -s - "$srcroot/data/initramfs/vfmig-early.sh"; then
    ok "the image's step is this tree's"
else
    notok "the image's step is this tree's"
fi
echo "1..$n"
exit "$fail"
