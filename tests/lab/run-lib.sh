# shellcheck shell=bash
# run-lib.sh — sourced by the host side of the lab tests (run-*.sh,
# native/run-native.sh): meson's skip and the VM's prerequisites, once.

_lab_run_dir=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")

# lab_skip REASON: skip the test (exit 77), REASON on stderr and as TAP's
# "1..0 # SKIP" (a TAP test may not exit 77 itself, so meson reads the code).
lab_skip() {
    printf '%s: %s\n' "${0##*/}" "$1" >&2
    printf '1..0 # SKIP %s\n' "${1//$'\n'/; }"
    exit 77
}

# lab_vm_check: vm-run.sh --check. Skips when the lab's prerequisites are
# missing, exits with its status on any other failure; else sets
# LAB_VM_KVER, the release of the kernel the VM boots.
lab_vm_check() {
    local rc=0 why kernel
    why=$("$_lab_run_dir/vm-run.sh" --check 2>&1) || rc=$?
    if ((rc == 77)); then
        lab_skip "${why#*SKIP: }"
    elif ((rc != 0)); then
        printf '%s\n' "$why" >&2
        exit "$rc"
    fi
    # "prerequisites present: QEMU, KERNEL, busybox"
    kernel=${why#*, } kernel=${kernel%%, busybox*}
    LAB_VM_KVER=${kernel##*/vmlinuz-}
}
