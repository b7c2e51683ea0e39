#!/bin/bash
# smoke.sh — two libvirtd hosts, the tiny guest, live migration both ways,
# hooks, a hook that refuses, a migration killed mid-way (TAP; meson test
# 'lab-twohost').  Exits 77 when the packages cannot be installed.
set -uo pipefail # no -e: a failed test point must not end the run
here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
source "$here/../lab-lib.sh" # TAP helpers
source "$here/twohost-lib.sh"

th_test_init vfmig-th

# The hook every test here uses: one line per call, "HOST ARGS... stdin=BYTES";
# the first call on each host records its environment and where vfmigctl is.
# With WORKDIR/fail-migrate present it refuses "migrate" (exit 1, reason on
# stderr, junk on stdout).
hook=$wd/vfmig-test-hook
cat >"$hook" <<EOF
#!/bin/sh
h=\$(cat /proc/sys/kernel/hostname)
xml=\$(cat)
printf '%s %s stdin=%s\n' "\$h" "\$*" "\${#xml}" >>'$wd/hook.log'
if [ ! -e '$wd/hook-env.'"\$h" ]; then
    env | sort >'$wd/hook-env.'"\$h"
    command -v vfmigctl >'$wd/hook-vfmigctl.'"\$h" || true
fi
if [ "\$2" = migrate ] && [ -e '$wd/fail-migrate' ]; then
    echo "vfmig-test-hook: refusing \$1" >&2
    echo "this is not XML"
    exit 1
fi
exit 0
EOF
chmod +x "$hook"


hook_lines() { # HOST: the hook's log lines of HOST, without the host name
    local l
    while IFS= read -r l; do
        [[ $l == "vfmig-th-$1 "* ]] && printf '%s\n' "${l#* }"
    done <"$wd/hook.log"
}

th_check "both hosts up" th_up "$wd" --hook "$hook" || tap_bail "hosts did not start"
tap_diag "up in ${TH_UP_MS:-?} ms; A_URI=$TH_A_URI"
assert_eq "host names" "vfmig-th-a vfmig-th-b" "$(th_virsh a hostname) $(th_virsh b hostname)"
assert_ne "distinct host_uuid" "$(cat "$wd/a/host_uuid")" "$(cat "$wd/b/host_uuid")"

tap_check "define the tiny guest on a" th_define_guest a g1
t0=$(_th_now_ms)
tap_check "start it" th_start_guest a g1
tap_diag "start: $(($(_th_now_ms) - t0)) ms"
c1=$(th_counter a g1) || c1=0
tap_check "its counter advances on a" th_wait_counter_above a g1 "$c1" 5

: >"$wd/hook.log"
c_before=$(th_counter a g1) || c_before=0
th_check "live p2p migration a -> b" th_migrate a b g1
tap_diag "migration: $TH_MIGRATE_MS ms"
assert_eq "running on b" running "$(th_state b g1)"
assert_eq "a keeps its definition, shut off" "shut off" "$(th_state a g1)"
c_b=$(th_counter b g1) || c_b=0
if ((c_b > c_before)); then tap_ok "counter on b ($c_b) > before migration ($c_before): not rebooted"
else tap_fail "counter on b ($c_b) > before migration ($c_before): not rebooted"; fi
tap_check "counter advances on b" th_wait_counter_above b g1 "$c_b" 5

assert_eq "hook calls on the destination (b)" \
    "g1 migrate begin - stdin=*|g1 prepare begin - stdin=*|g1 start begin - stdin=*|g1 started begin - stdin=*|" \
    "$(hook_lines b | sed 's/stdin=[0-9]*/stdin=*/' | tr '\n' '|')"
# The release hook's last argument: "-" up to libvirt 9.0, the shutoff
# reason ("migrated") in libvirt 11.3; both are right.
src_calls=$(hook_lines a | sed 's/stdin=[0-9]*/stdin=*/' | tr '\n' '|')
if [[ $src_calls == "g1 stopped end - stdin=*|g1 release end migrated stdin=*|" ]]; then
    tap_ok "hook calls on the source (a) (release names the reason: migrated)"
else
    assert_eq "hook calls on the source (a)" "g1 stopped end - stdin=*|g1 release end - stdin=*|" "$src_calls"
fi
tap_diag "hook log:" "$(cat "$wd/hook.log")"
assert_eq "hooks run with a clean environment" "HOME=/root LC_ALL=C PATH=$(_th_daemon_path) PWD=/" \
    "$(grep -v '^_=' "$wd/hook-env.vfmig-th-b" | tr '\n' ' ' | sed 's/ $//')"
if [[ -n ${TH_PATH_PREPEND:-} && -x $TH_PATH_PREPEND/vfmigctl ]]; then
    assert_eq "hook finds vfmigctl on PATH" "$TH_PATH_PREPEND/vfmigctl" "$(cat "$wd/hook-vfmigctl.vfmig-th-b")"
else
    tap_skip "hook finds vfmigctl on PATH" "TH_PATH_PREPEND has no vfmigctl"
fi

c_b=$(th_counter b g1) || c_b=0
th_check "live p2p migration b -> a" th_migrate b a g1
tap_diag "migration: $TH_MIGRATE_MS ms"
assert_eq "running on a again" running "$(th_state a g1)"
assert_eq "gone from b (it was transient there)" absent "$(th_state b g1)"
tap_check "counter on a went on from b's value" th_wait_counter_above a g1 "$c_b" 5

th_check "tunnelled p2p migration a -> b" th_migrate a b g1 --tunnelled
tap_diag "migration: $TH_MIGRATE_MS ms"
th_check "and back" th_migrate b a g1 --tunnelled
tap_diag "migration: $TH_MIGRATE_MS ms"

# A hook that exits non-zero on "migrate" on the destination refuses it.
touch "$wd/fail-migrate"
: >"$wd/hook.log"
if err=$(th_migrate a b g1 2>&1); then tap_fail "migration refused by the hook" "it succeeded"
else tap_ok "migration refused by the hook"; fi
tap_diag "virsh: $err"
if [[ $err == *"vfmig-test-hook: refusing g1"* ]]; then tap_ok "the hook's stderr is in libvirt's error"
else tap_fail "the hook's stderr is in libvirt's error" "$err"; fi
assert_eq "guest stays on a" "running absent" "$(th_state a g1) $(th_state b g1)"
c_a=$(th_counter a g1) || c_a=0
tap_check "and keeps counting" th_wait_counter_above a g1 "$c_a" 5
assert_eq "hook calls (refused)" "vfmig-th-b g1 migrate begin - stdin=*|" \
    "$(sed 's/stdin=[0-9]*/stdin=*/' "$wd/hook.log" | tr '\n' '|')"
rm -f "$wd/fail-migrate"

# Decision 27: a migration that lasts (filled RAM, bandwidth cap); kill the
# destination host mid-way: the guest must go on running on a.
tap_check "define a guest with 64 MiB, 60 MiB filled" th_define_guest a g2 64 60
tap_check "start it" th_start_guest a g2
c2=$(th_counter a g2) || c2=0
tap_check "g2 counts (RAM filled)" th_wait_counter_above a g2 "$c2" 10
t0=$(_th_now_ms)
th_migrate a b g2 --bandwidth 8 >"$wd/slow-migrate.out" 2>&1 &
mpid=$!
# shellcheck disable=SC2016 # wait_for evals it
if wait_for '[[ $(th_state b g2) == paused ]]' 10; then
    tap_ok "slow migration started (g2 paused on b, $(($(_th_now_ms) - t0)) ms)"
else
    tap_fail "slow migration started"
fi
lab_sleep 1
tap_check "kill host b mid-migration" th_host_stop b --kill
rc=0
wait "$mpid" || rc=$?
tap_diag "migration ended after $(($(_th_now_ms) - t0)) ms, exit $rc: $(cat "$wd/slow-migrate.out")"
assert_ne "the migration failed" 0 "$rc"
tap_check "g2 running on a" th_wait_state a g2 running 10
c2=$(th_counter a g2) || c2=0
tap_check "g2 keeps counting on a" th_wait_counter_above a g2 "$c2" 5
tap_check "host b starts again" th_host_start b
assert_eq "b has no g2" absent "$(th_state b g2)"

t0=$(_th_now_ms)
tap_check "th_down" th_down "$wd"
tap_diag "down: $(($(_th_now_ms) - t0)) ms"
left=$(th_leftovers "$wd") && lrc=0 || lrc=$?
[[ -z $left ]] || tap_diag "still running: $left"
assert_eq "no process of the lab is left (libvirtd, QEMU, hooks in its pid namespaces)" 0 "$lrc"
tap_done
