#!/bin/bash
# bench-bind.sh — how long a real bind takes with vfmigctl, compared with the
# other ways of doing it, measured INSIDE the real-kernel lab VM
# (tests/lab/vm-run.sh: QEMU TCG, Debian's 6.1 kernel, e1000e, SR-IOV NVMe).
#
#   bench/bench-bind.sh [--runs N] [--out FILE]     (on the host, as root)
#
# Cases, each N runs (default 5), tools interleaved round by round:
#   e1000e  single device, e1000e -> vfio-pci:
#           raw      driver_override + e1000e/unbind + drivers_probe, written
#                    by shell builtins inside the timing script (no fork)
#           vfmigctl vfmigctl bind BDF (also its own "seconds" from --json:
#                    the bind without process start-up)
#           driverctl  driverctl set-override BDF vfio-pci
#           dpdk     dpdk-devbind.py -b vfio-pci BDF
#   4 VFs   the NVMe PF's 4 VFs (created with autoprobe off), no driver ->
#           vfio-pci: raw writes (override + drivers_probe each) vs one
#           vfmigctl bind VF1 VF2 VF3 VF4 (and dpdk-devbind.py with 4 BDFs)
# Every bind is verified (driver link) and undone by raw writes, untimed,
# before the next; vfio-pci is loaded beforehand so no tool pays for it.
# Times come from bash's $EPOCHREALTIME around each command (no fork).
#
# Prints a Markdown table and writes it to bench/results/bind.md (--out).
# driverctl and dpdk-devbind.py are the host's (the VM sees the host's /usr):
# apt-get install driverctl dpdk pciutils.  A missing tool's rows are left out.
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
srcroot=$(realpath -- "$here/..")
LAB_DIR=${LAB_DIR:-$srcroot/tests/lab}

runs=5 out=$here/results/bind.md guest=0
while (($#)); do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --guest) guest=1; shift ;;
    -h | --help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) printf 'bench-bind.sh: unknown argument %s (try --help)\n' "$1" >&2; exit 2 ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || { printf 'bench-bind.sh: --runs wants a positive integer\n' >&2; exit 2; }

VFMIGCTL=${VFMIGCTL:-$srcroot/build/src/cli/vfmigctl}
DRIVERCTL=/usr/sbin/driverctl
DEVBIND=/usr/bin/dpdk-devbind.py

# ====================================================================== host
if ((!guest)); then
    [[ -x $VFMIGCTL ]] || { printf 'bench-bind.sh: no %s: ninja -C build first\n' "$VFMIGCTL" >&2; exit 1; }
    rc=0
    "$LAB_DIR/vm-run.sh" --check || rc=$?
    ((rc == 0)) || { printf 'bench-bind.sh: the lab VM cannot run here (see above)\n' >&2; exit "$rc"; }
    [[ -x $DRIVERCTL ]] || printf 'bench-bind.sh: no driverctl: apt-get install driverctl (its rows are left out)\n' >&2
    [[ -x $DEVBIND ]] || printf 'bench-bind.sh: no dpdk-devbind.py: apt-get install dpdk (its rows are left out)\n' >&2
    command -v lspci >/dev/null || printf 'bench-bind.sh: dpdk-devbind.py needs lspci: apt-get install pciutils\n' >&2
    tmp=$(mktemp)
    trap 'rm -f -- "$tmp"' EXIT
    export VFMIGCTL VFMIG_DATADIR=${VFMIG_DATADIR:-$srcroot/data}
    # the VM's environment is ours: a PATH without pyenv/cargo shims
    read -r load_before _ </proc/loadavg
    PATH=/usr/sbin:/usr/bin:/sbin:/bin "$LAB_DIR/vm-run.sh" --timeout 1200 --nvme-vfs 4 \
        "${BASH_SOURCE[0]}" --guest --runs "$runs" >"$tmp"
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
nic=$(lab_e1000e) || { echo "no e1000e" >&2; exit 1; }
pf=$(lab_nvme_pf) || { echo "no NVMe PF" >&2; exit 1; }
modprobe vfio-pci
[[ -d $PCI/drivers/vfio-pci ]] || { echo "vfio-pci did not register" >&2; exit 1; }
have_driverctl=0 have_dpdk=0
[[ -x $DRIVERCTL ]] && have_driverctl=1
[[ -x $DEVBIND ]] && command -v lspci >/dev/null && have_dpdk=1

w() { printf '%s' "$2" >"$1"; } # one write(2), no newline
on() { [[ -e $PCI/drivers/$2/$1 ]]; }
nic_on() { on "$nic" vfio-pci; }
note() { printf '%s\n' "$*" >&2; }

# Back to the host driver (untimed): unbind, clear the override, re-probe;
# forget what the tools saved about it.
undo_nic() {
    [[ -e $PCI/devices/$nic/driver ]] && ! on "$nic" e1000e && w "$PCI/devices/$nic/driver/unbind" "$nic"
    w "$PCI/devices/$nic/driver_override" $'\n'
    on "$nic" e1000e || w "$PCI/drivers_probe" "$nic"
    rm -f -- "/var/lib/vfmig/owned/$nic.json" "/etc/driverctl.d/pci-$nic"
    on "$nic" e1000e || { note "cannot return $nic to e1000e"; exit 1; }
}
undo_vfs() {
    local vf
    for vf in "${vfs[@]}"; do
        [[ -e $PCI/devices/$vf/driver ]] && w "$PCI/devices/$vf/driver/unbind" "$vf"
        w "$PCI/devices/$vf/driver_override" $'\n'
        rm -f -- "/var/lib/vfmig/owned/$vf.json"
    done
}

declare -A samples=() # "case|tool" -> "t1 t2 ..." in microseconds
declare -A failed=()  # "case|tool" -> "N|last line of stderr"
# timed CASE TOOL VERIFY CMD...: one sample; the function VERIFY must hold afterwards
timed() {
    local key="$1|$2" verify=$3 t0 t1 rc=0
    shift 3
    t0=${EPOCHREALTIME/./}
    "$@" >/run/bench.out 2>/run/bench.err || rc=$?
    t1=${EPOCHREALTIME/./}
    if ((rc != 0)) || ! "$verify"; then
        local last="" l n=${failed[$key]:-}
        n=${n%%|*}
        while IFS= read -r l; do [[ -n $l ]] && last=$l; done </run/bench.err
        failed[$key]="$((${n:-0} + 1))|exit $rc: ${last:-(no message)}"
        return 1
    fi
    samples[$key]+="$((t1 - t0)) "
}
raw_nic() {
    w "$PCI/devices/$nic/driver_override" vfio-pci
    w "$PCI/drivers/e1000e/unbind" "$nic"
    w "$PCI/drivers_probe" "$nic"
}
raw_vfs() {
    local vf
    for vf in "${vfs[@]}"; do
        w "$PCI/devices/$vf/driver_override" vfio-pci
        w "$PCI/drivers_probe" "$vf"
    done
}
# vfmigctl's own "seconds" (the sum over its results) as a sample
inproc() {
    local s text sum=0
    IFS= read -r -d '' text </run/bench.out || true
    while [[ $text =~ \"seconds\":([0-9]+)\.([0-9]{1,6}) ]]; do
        s=${BASH_REMATCH[2]}000000
        sum=$((sum + 10#${BASH_REMATCH[1]} * 1000000 + 10#${s:0:6}))
        text=${text#*\"seconds\":}
    done
    samples["$1|vfmigctl (its own seconds)"]+="$sum "
}
export VFMIG_DATADIR

t_start=${EPOCHREALTIME/./}
note "bench: e1000e $nic and start-up baselines, $runs runs"
yes_() { :; }
undo_nic
for ((r = 1; r <= runs; r++)); do
    timed start-up "/bin/true (fork+exec)" yes_ /bin/true || true
    timed start-up "vfmigctl --version" yes_ "$VFMIGCTL" --version || true
    timed e1000e raw nic_on raw_nic || true
    undo_nic
    timed e1000e vfmigctl nic_on "$VFMIGCTL" --json bind "$nic" && inproc e1000e
    undo_nic
    if ((have_driverctl)); then
        timed e1000e driverctl nic_on "$DRIVERCTL" set-override "$nic" vfio-pci || true
        undo_nic
    fi
    if ((have_dpdk)); then
        timed e1000e dpdk-devbind.py nic_on "$DEVBIND" -b vfio-pci "$nic" || true
        undo_nic
    fi
done

note "bench: 4 VFs of $pf"
w "$PCI/devices/$pf/sriov_drivers_autoprobe" 0
w "$PCI/devices/$pf/sriov_numvfs" 4
mapfile -t vfs < <(lab_vfs "$pf")
all_on() { local vf; for vf in "${vfs[@]}"; do on "$vf" vfio-pci || return 1; done; }
for ((r = 1; r <= runs; r++)); do
    timed "4 VFs" raw all_on raw_vfs || true
    undo_vfs
    timed "4 VFs" vfmigctl all_on "$VFMIGCTL" --json bind "${vfs[@]}" && inproc "4 VFs"
    undo_vfs
    # dpdk-devbind.py knows only the device classes DPDK drives (network,
    # crypto, DMA, ...): an NVMe VF is "Unknown device".  Tried, not insisted on.
    if ((have_dpdk)); then
        timed "4 VFs" dpdk-devbind.py all_on "$DEVBIND" -b vfio-pci "${vfs[@]}" || have_dpdk=0
        undo_vfs
    fi
done
w "$PCI/devices/$pf/sriov_numvfs" 0
w "$PCI/devices/$pf/sriov_drivers_autoprobe" 1

# ---------------------------------------------------------------- report
# stats "t1 t2 ...": "min median max" in ms (3 decimals)
ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
stats() {
    local -a v
    read -r -a v <<<"$1"
    mapfile -t v < <(printf '%s\n' "${v[@]}" | sort -n)
    local n=${#v[@]} med
    if ((n % 2)); then med=${v[n / 2]}; else med=$(((v[n / 2 - 1] + v[n / 2]) / 2)); fi
    printf '%s %s %s %s' "$n" "${v[0]}" "$med" "${v[n - 1]}"
}
read -r _ load _ </proc/loadavg
kver=$(uname -r)
echo "## Binding one device / a batch to vfio-pci, inside the lab VM"
echo
echo "QEMU TCG (\`tests/lab/vm-run.sh\`, 2 vCPUs), kernel $kver; $(date -u +%Y-%m-%dT%H:%MZ);"
echo "$runs runs per row, tools interleaved; wall time of each command from bash's"
echo "\`\$EPOCHREALTIME\` in the guest. Guest load average at the end: $load."
echo "\`raw\` is the kernel protocol written by shell builtins inside the timing script (no fork);"
echo "the others are one command each (fork+exec included). Ratio: median / raw median."
echo
echo "| case | tool | runs | min ms | median ms | max ms | ratio |"
echo "|------|------|-----:|-------:|----------:|-------:|------:|"
for c in e1000e "4 VFs" start-up; do
    read -r _ _ raw_med _ <<<"$(stats "${samples[$c|raw]:-0}")"
    for tool in raw vfmigctl "vfmigctl (its own seconds)" driverctl dpdk-devbind.py "/bin/true (fork+exec)" "vfmigctl --version"; do
        [[ -n ${samples[$c|$tool]:-} ]] || continue
        read -r n mn med mx <<<"$(stats "${samples[$c|$tool]}")"
        ratio=$(awk -v a="$med" -v b="$raw_med" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "-" }')
        printf '| %s | %s | %d | %s | %s | %s | %s |\n' "$c" "$tool" "$n" "$(ms "$mn")" "$(ms "$med")" "$(ms "$mx")" "$ratio"
    done
done
echo
echo "\`vfmigctl (its own seconds)\`: the \`seconds\` of \`vfmigctl --json bind\`'s results (summed"
echo "over the 4 VFs): locking, journal (fsync), the writes, verification and the IOMMU group"
echo "check, without process start-up and database loading. \`start-up\`: what any command"
echo "costs in this guest (no ratio): vfmigctl's dynamic libraries are loaded over 9p under TCG."
if ((${#failed[@]})); then
    echo
    echo "Failed runs (left out of the table; a tool that fails on a case is not tried again):"
    echo
    for k in "${!failed[@]}"; do
        # shellcheck disable=SC2016 # backquotes are Markdown
        printf -- '- %s, %s ×%s: `%s`\n' "${k%%|*}" "${k#*|}" "${failed[$k]%%|*}" "${failed[$k]#*|}"
    done
fi
note "bench: $(((${EPOCHREALTIME/./} - t_start) / 1000000)) s in the guest"
