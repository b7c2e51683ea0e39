# shellcheck shell=bash
# lab-lib.sh — helpers for scripts that vm-run.sh runs inside the lab VM.
#
#   source "${LAB_DIR:-$(dirname -- "${BASH_SOURCE[0]}")}/lab-lib.sh"
#   lab_require_vm                 # refuse to touch a real host's /sys
#
# Device lookup:  lab_nvme_pf, lab_e1000e, lab_vfs PF, lab_iommu_group BDF,
#                 lab_driver BDF, lab_sysfs_write FILE VALUE
# Waiting:        wait_for COND TIMEOUT_S   (COND is eval'ed; polls, no fixed sleep)
# TAP output:     tap_ok, tap_fail, tap_check, assert_eq, assert_ne, tap_skip,
#                 tap_diag, tap_bail, tap_done
# Everything goes to stdout (TAP); diagnostics are "# " lines.

LAB_SYSFS_PCI=${LAB_SYSFS_PCI:-/sys/bus/pci}

# --------------------------------------------------------------- safety
# True only inside a VM started by vm-run.sh (its kernel command line).
lab_in_vm() {
    local cmdline
    read -r cmdline </proc/cmdline || return 1
    [[ " $cmdline " == *" vfmig_lab.guest=1 "* ]]
}

lab_require_vm() {
    if ! lab_in_vm; then
        printf 'Bail out! not inside the vfmig lab VM (run me through tests/lab/vm-run.sh)\n'
        exit 99
    fi
}

# --------------------------------------------------------------- sysfs
_lab_read() { # FILE -> first line, or "" if unreadable
    local v=''
    { read -r v || [[ -n $v ]]; } 2>/dev/null <"$1" || true
    printf '%s' "$v"
}

# Print the BDF of the first SR-IOV capable QEMU NVMe controller (1b36:0010).
lab_nvme_pf() {
    local d
    for d in "$LAB_SYSFS_PCI"/devices/*; do
        [[ $(_lab_read "$d/vendor") == 0x1b36 && $(_lab_read "$d/device") == 0x0010 ]] || continue
        [[ -e $d/sriov_totalvfs ]] || continue
        (($(_lab_read "$d/sriov_totalvfs") > 0)) || continue
        printf '%s\n' "${d##*/}"
        return 0
    done
    return 1
}

# Print the BDF of the e1000e (8086:10d3, QEMU's 82574L).
lab_e1000e() {
    local d
    for d in "$LAB_SYSFS_PCI"/devices/*; do
        if [[ $(_lab_read "$d/vendor") == 0x8086 && $(_lab_read "$d/device") == 0x10d3 ]]; then
            printf '%s\n' "${d##*/}"
            return 0
        fi
    done
    return 1
}

# Print the VF BDFs of PF, in VF index order.
lab_vfs() {
    local pf=$1 n i link
    n=$(_lab_read "$LAB_SYSFS_PCI/devices/$pf/sriov_numvfs")
    for ((i = 0; i < ${n:-0}; i++)); do
        link=$(readlink "$LAB_SYSFS_PCI/devices/$pf/virtfn$i") || return 1
        printf '%s\n' "${link##*/}"
    done
}

# Print the IOMMU group number of BDF (fails if it has none).
lab_iommu_group() {
    local g
    g=$(readlink "$LAB_SYSFS_PCI/devices/$1/iommu_group") || return 1
    printf '%s\n' "${g##*/}"
}

# Print the name of the driver bound to BDF, or nothing.
lab_driver() {
    local drv
    drv=$(readlink "$LAB_SYSFS_PCI/devices/$1/driver" 2>/dev/null) || return 0
    printf '%s\n' "${drv##*/}"
}

# Write VALUE to a sysfs FILE as one write(2); returns its failure (with the
# kernel's errno text on stderr) instead of exiting under set -e.
lab_sysfs_write() {
    lab_in_vm || { printf 'lab_sysfs_write: refusing outside the lab VM\n' >&2; return 1; }
    printf '%s\n' "$2" >"$1"
}

# --------------------------------------------------------------- waiting
# Sleep without forking (fork+exec costs ~30 ms in the TCG guest).
_lab_sleep_fd=''
lab_sleep() {
    if [[ -z $_lab_sleep_fd ]]; then
        exec {_lab_sleep_fd}<> <(:) || { sleep "$1"; return 0; }
    fi
    read -r -t "$1" -u "$_lab_sleep_fd" _ || true
}

# wait_for COND TIMEOUT_S: poll COND (a shell command string, eval'ed) every
# 20 ms until it succeeds (0) or TIMEOUT_S seconds (may be fractional) passed (1).
wait_for() {
    local cond=$1 timeout=$2 sec frac='' deadline
    [[ $timeout =~ ^[0-9]*(\.[0-9]*)?$ ]] || { printf 'wait_for: bad timeout %s\n' "$timeout" >&2; return 2; }
    sec=${timeout%%.*}
    [[ $timeout == *.* ]] && frac=${timeout#*.}
    frac=${frac}000000
    deadline=$((${EPOCHREALTIME/./} + 10#${sec:-0} * 1000000 + 10#${frac:0:6}))
    while :; do
        eval "$cond" && return 0
        ((${EPOCHREALTIME/./} < deadline)) || return 1
        lab_sleep 0.02
    done
}

# --------------------------------------------------------------- TAP
_tap_n=0 _tap_failed=0

# tap_diag TEXT: TEXT (may be several lines) as TAP comments.
tap_diag() { local l; while IFS= read -r l; do printf '# %s\n' "$l"; done <<<"$*"; }
tap_ok() { _tap_n=$((_tap_n + 1)); printf 'ok %d - %s\n' "$_tap_n" "$1"; }
tap_fail() {
    _tap_n=$((_tap_n + 1)) _tap_failed=$((_tap_failed + 1))
    printf 'not ok %d - %s\n' "$_tap_n" "$1"
    shift
    local d
    for d in "$@"; do tap_diag "$d"; done
}
tap_skip() { _tap_n=$((_tap_n + 1)); printf 'ok %d - %s # SKIP %s\n' "$_tap_n" "$1" "${2:-}"; }

# tap_check DESC CMD [ARGS...]: one test point, ok if CMD succeeds; CMD's
# output is shown as diagnostics when it fails.
tap_check() {
    local desc=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    if ((rc == 0)); then
        tap_ok "$desc"
    else
        tap_fail "$desc" "command: $* (exit $rc)" ${out:+"$out"}
    fi
    return "$rc"
}

# assert_eq DESC EXPECTED ACTUAL / assert_ne DESC UNEXPECTED ACTUAL
assert_eq() {
    if [[ $2 == "$3" ]]; then tap_ok "$1"; return 0; fi
    tap_fail "$1" "expected: '$2'" "actual:   '$3'"
    return 1
}
assert_ne() {
    if [[ $2 != "$3" ]]; then tap_ok "$1"; return 0; fi
    tap_fail "$1" "expected anything but: '$2'"
    return 1
}

tap_bail() { printf 'Bail out! %s\n' "$*"; _tap_finished=1; exit 99; }

# tap_done: print the plan; returns 1 if any test point failed.
tap_done() {
    _tap_finished=1
    printf '1..%d\n' "$_tap_n"
    ((_tap_failed == 0)) || { tap_diag "$_tap_failed of $_tap_n failed"; return 1; }
}

# tap_init [CLEANUP_FN]: on exit, run CLEANUP_FN (output as diagnostics),
# report an unexpected exit (e.g. set -e) as a failed test point and print
# the plan if tap_done did not run.  The exit status is non-zero if any
# test point failed.
_tap_finished=0 _tap_cleanup=''
tap_init() {
    _tap_cleanup=${1:-}
    trap _tap_on_exit EXIT
}
_tap_on_exit() {
    local rc=$?
    set +e
    if [[ -n $_tap_cleanup ]]; then
        "$_tap_cleanup" 2>&1 | while IFS= read -r l; do printf '# cleanup: %s\n' "$l"; done
    fi
    if ((!_tap_finished)); then
        ((rc == 0 || _tap_failed > 0)) || tap_fail "script aborted (exit $rc)"
        tap_done
    fi
    ((rc != 0 || _tap_failed == 0)) || rc=1
    exit "$rc"
}
