#!/bin/bash
# migrate.sh — vfmigctl migrate between the two libvirtd hosts (TAP; meson
# test 'lab-migrate'): the libvirt sequence, progress, dry run, a destination
# killed mid-migration, Ctrl-C, a timeout, and the vfmig hook installed on
# both hosts. This machine has no VFIO devices (DESIGN.md, Decisions 15):
# the guest has no hostdev, each host's vfmig reads its own synthetic host
# (sysroot), and what needs a real device runs in the real-kernel lab.
set -uo pipefail
here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
source "$here/../lab-lib.sh"
source "$here/twohost-lib.sh"

th_test_init vfmig-mg
th_vfmig_hosts

# the vfmig hook as installed (data/libvirt/vfmig), pointed at this build and
# at the synthetic host of the host it runs on; it logs each call
hook=$wd/vfmig
{
    echo '#!/bin/sh'
    echo 'h=$(cat /proc/sys/kernel/hostname)'
    echo "case \$h in *-a) root='$wd/sa' ;; *) root='$wd/sb' ;; esac"
    echo "echo \"\$h \$*\" >>'$wd/hook.log'"
    echo "VFMIG_DATADIR='$VFMIG_DATADIR' VFMIG_SYSROOT=\$root exec '$VFMIGCTL' hook qemu \"\$@\""
} >"$hook"
chmod +x "$hook"

json_get() { # KEY: from the JSON object on stdin (dotted path), printed lower-case
    python3 -c 'import json,sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if k.isdigit() else v[k]
print(str(v).lower())' "$1" 2>/dev/null
}

th_check "both hosts up, vfmig hook installed" th_up "$wd" --hook "$hook" || tap_bail "hosts did not start"
ctl_a() { "$VFMIGCTL" -c "$TH_A_URI" --sysroot "$wd/sa" "$@"; }
# only as "ctl_a_bg … &": the background subshell becomes vfmigctl itself,
# so $! is its PID and a signal reaches it
ctl_a_bg() { exec "$VFMIGCTL" -c "$TH_A_URI" --sysroot "$wd/sa" "$@"; }
ctl_b() { "$VFMIGCTL" -c "$TH_B_URI" --sysroot "$wd/sb" "$@"; }

th_check "define and start the guest on a" sh -c "true"
th_define_guest a g1 && th_start_guest a g1 || tap_bail "guest"
c0=$(th_counter a g1) || c0=0

out=$(ctl_a check g1 --to "$TH_B_URI" --peer "sysroot:$wd/sb" --json 2>&1)
assert_eq "check against the live hosts: exit 0" 0 "$?"
assert_eq "check: migratable (no passthrough devices)" true "$(json_get destinations.0.migratable <<<"$out")"

out=$(ctl_a check g1 --to "$TH_B_URI" --peer "sysroot:$wd/sb" --ask-qemu --json 2>&1)
assert_eq "check --ask-qemu: QEMU reports no blocker for the tiny guest" "[]" \
    "$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["destinations"][0]["qemu_blocked_reasons"]))' <<<"$out" 2>&1)"

out=$(ctl_a migrate g1 "$TH_B_URI" --dry-run 2>&1)
assert_eq "dry run: exit 0" 0 "$?"
assert_eq "dry run: still on a" running "$(th_state a g1)"
assert_eq "dry run: nothing on b" absent "$(th_state b g1)"

t0=$(_th_now_ms)
ctl_a migrate g1 "$TH_B_URI" --json >"$wd/m1.json" 2>"$wd/m1.err"
rc=$?
tap_diag "vfmigctl migrate: $(($(_th_now_ms) - t0)) ms"
assert_eq "migrate a -> b: exit 0" 0 "$rc"
assert_eq "running on b" running "$(th_state b g1)"
th_check "not rebooted: the counter went on from a's value" th_wait_counter_above b g1 "$c0" 10
assert_eq "result event says migrated" true "$(tail -n 1 "$wd/m1.json" | json_get migrated)"
th_check "step events with durations" grep -q '"event":"step"' "$wd/m1.json"
th_check "the destination hook saw migrate begin" grep -q "vfmig-th-b g1 migrate begin" "$wd/hook.log"
th_check "the source hook saw release end" grep -q "vfmig-th-a g1 release end" "$wd/hook.log"

out=$(ctl_b migrate g1 "$TH_A_URI" 2>&1)
assert_eq "migrate b -> a: exit 0" 0 "$?"
th_check "human output says where it runs" grep -q "runs on" <<<"$out"
assert_eq "running on a again" running "$(th_state a g1)"

# a migration that lasts: guest RAM filled, bandwidth capped (Decision 27)
th_virsh a destroy g1 >/dev/null 2>&1
th_virsh a undefine g1 >/dev/null 2>&1
th_define_guest a g2 96 80 && th_start_guest a g2 || tap_bail "slow guest"
th_wait_counter_above a g2 0 30 >/dev/null

job_running() { th_virsh a domjobinfo g2 2>/dev/null | grep -q 'Data processed'; }

# the destination dies mid-migration: the guest keeps running on a
ctl_a_bg migrate g2 "$TH_B_URI" --bandwidth 4 >"$wd/m2.out" 2>&1 &
bg_pid=$!
wait_for job_running 30 >/dev/null
th_host_stop b --kill
wait "$bg_pid"
rc=$?
bg_pid=
assert_ne "destination killed: vfmigctl fails" 0 "$rc"
assert_eq "destination killed: the guest runs on a" running "$(th_state a g2)"
c1=$(th_counter a g2) || c1=0
th_check "destination killed: the guest was not stopped" th_wait_counter_above a g2 "$c1" 10
th_check "host b comes back" th_host_start b

# Ctrl-C aborts the job cleanly
ctl_a_bg migrate g2 "$TH_B_URI" --bandwidth 4 >"$wd/m3.out" 2>&1 &
bg_pid=$!
# this vfmigctl's own job: it printed its pre-flight (its signal handler is
# in place by then), and libvirt reports a migration running
started_here() { grep -q "pre-flight" "$wd/m3.out" && job_running; }
wait_for started_here 30 >/dev/null
kill -INT "$bg_pid"
wait "$bg_pid"
rc=$?
bg_pid=
assert_ne "Ctrl-C: vfmigctl fails" 0 "$rc"
th_check "Ctrl-C: says it was cancelled" grep -q "cancelled" "$wd/m3.out"
assert_eq "Ctrl-C: the guest runs on a" running "$(th_state a g2)"
assert_eq "Ctrl-C: nothing left on b" absent "$(th_state b g2)"

ctl_a migrate g2 "$TH_B_URI" --bandwidth 4 --timeout 2 >"$wd/m4.out" 2>&1
assert_ne "timeout: vfmigctl fails" 0 "$?"
th_check "timeout: says it timed out" grep -q "timed out" "$wd/m4.out"
assert_eq "timeout: the guest runs on a" running "$(th_state a g2)"

ctl_a migrate nosuchdomain "$TH_B_URI" >/dev/null 2>&1
assert_eq "unknown domain: exit 1" 1 "$?"
ctl_a migrate g2 "$TH_B_URI" --strategy teleport >/dev/null 2>&1
assert_eq "unknown strategy: exit 1" 1 "$?"
assert_eq "after bad input: still on a" running "$(th_state a g2)"

# vfmigctl SIGKILLed mid-migration: its journal record stays, status shows
# it, and vfmigctl recover ends the orphaned job where the guest runs
kill_mid_migration() { # OUTFILE: starts a capped migration of g2 and kills vfmigctl in it
    ctl_a_bg migrate g2 "$TH_B_URI" --bandwidth 4 >"$1" 2>&1 &
    bg_pid=$!
    started() { grep -q "pre-flight" "$1" && job_running; }
    wait_for "started $1" 30 >/dev/null
    kill -KILL "$bg_pid"
    wait "$bg_pid"
    rc=$?
    bg_pid=
    return "$rc"
}
runs_on_one_host() { # prints a or b when g2 runs on exactly one of them
    local sa sb
    sa=$(th_state a g2) sb=$(th_state b g2)
    if [[ $sa == running && $sb != running ]]; then echo a; elif [[ $sb == running && $sa != running ]]; then echo b; else echo "a=$sa b=$sb"; fi
}
kill_mid_migration "$wd/m5.out"
assert_eq "SIGKILL mid-migration: vfmigctl died" 137 "$?"
out=$(ctl_a status --json 2>&1)
assert_eq "SIGKILL: status shows the migration in flight" migrating "$(json_get migrations.0.phase <<<"$out")"
out=$(ctl_a recover --json 2>"$wd/r1.err")
assert_eq "recover: exit 0" 0 "$?"
where=$(runs_on_one_host)
tap_diag "after recover the guest runs on: $where"
if [[ $where == a ]]; then
    assert_eq "recover: the guest runs on a, the migration rolled back" true "$(json_get migrations.0.rolled_back <<<"$out")"
    no_job() { ! job_running; }
    th_check "recover: the orphaned job was aborted" no_job
else
    assert_eq "recover: the guest runs on b, the migration finished" b "$where"
    assert_eq "recover: says it had moved" true "$(json_get migrations.0.migrated <<<"$out")"
fi
out=$(ctl_a status --json 2>&1)
assert_eq "recover: no migration left in the journal" "[]" \
    "$(python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["migrations"]))' <<<"$out" 2>&1)"
out=$(ctl_a recover 2>&1)
assert_eq "recover again: nothing to recover" "nothing to recover" "$out"

# killed again: the next migrate of that domain recovers it first, then runs
if [[ $where == a ]]; then
    kill_mid_migration "$wd/m6.out"
    assert_eq "SIGKILL again: vfmigctl died" 137 "$?"
    ctl_a migrate g2 "$TH_B_URI" >"$wd/m7.out" 2>&1
    assert_eq "the next migrate: exit 0" 0 "$?"
    th_check "the next migrate recovered the interrupted one first" grep -q "recovered an interrupted migration" "$wd/m7.out"
    assert_eq "the next migrate: runs on b" b "$(runs_on_one_host)"
fi

tap_done
