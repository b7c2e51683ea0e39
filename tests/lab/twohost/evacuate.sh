#!/bin/bash
# evacuate.sh — vfmigctl evacuate between the two libvirtd hosts (TAP; meson
# test 'lab-evacuate'): three guests on a; the dry run's plan checked field by
# field and nothing changed; evacuate moves the ones that can move live and
# leaves the one that must stop running on a, then moves it stopped with
# --allow-stop (shut down by the ACPI power button, defined and started on
# b); the destination killed mid-evacuation leaves every guest not yet moved
# running on a; --parallel 2. This machine has no VFIO device (DESIGN.md,
# Decisions 15): the guests have no hostdev, and the one that must stop is
# named with --cold (the plans of guests whose devices decide - IGD, replug
# only, no room - are checked from profile files in tests/cli/test-check.py).
set -uo pipefail
here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
source "$here/../lab-lib.sh"
source "$here/twohost-lib.sh"
# its own addresses and ports: lab-migrate may run beside it
export TH_ADDR_A=${TH_ADDR_A:-127.0.0.4} TH_ADDR_B=${TH_ADDR_B:-127.0.0.5} TH_PORT_MIN=${TH_PORT_MIN:-49280}

th_test_init vfmig-ev
th_vfmig_hosts

# jline N KEY: from the Nth JSON line (1-based, or "last") of FILE on stdin, a dotted path
jline() {
    python3 -c 'import json,sys
lines = [l for l in sys.stdin.read().splitlines() if l.strip()]
v = json.loads(lines[-1] if sys.argv[1] == "last" else lines[int(sys.argv[1]) - 1])
for k in sys.argv[2].split("."):
    v = v[int(k)] if k.isdigit() else v[k]
print(json.dumps(v) if isinstance(v, (list, dict)) else str(v).lower() if v is not None else "null")' "$1" "$2" 2>&1
}
# plan_field DOMAIN KEY: a field of DOMAIN's plan line (the first JSON line of FILE)
plan_field() {
    python3 -c 'import json,sys
plan = json.loads(sys.stdin.readline())["plan"]
e = next(e for e in plan if e["domain"] == sys.argv[1])
v = e[sys.argv[2]]
print(json.dumps(v) if isinstance(v, (list, dict)) else str(v).lower() if v is not None else "null")' "$1" "$2" <"$3" 2>&1
}
result_field() { # DOMAIN KEY FILE: from the summary (the last JSON line)
    python3 -c 'import json,sys
lines = [l for l in open(sys.argv[3]).read().splitlines() if l.strip()]
r = next(r for r in json.loads(lines[-1])["results"] if r["domain"] == sys.argv[1])
print(str(r[sys.argv[2]]).lower())' "$1" "$2" "$3" 2>&1
}

th_check "both hosts up" th_up "$wd" || tap_bail "hosts did not start"
ctl_a() { "$VFMIGCTL" -c "$TH_A_URI" --sysroot "$wd/sa" "$@"; }
ctl_a_bg() { exec "$VFMIGCTL" -c "$TH_A_URI" --sysroot "$wd/sa" "$@"; }
B=$TH_B_URI
peer=(--peer "sysroot:$wd/sb")

# three guests on a; p3's ROM powers off on the ACPI power button (a cold move
# shuts it down the way a guest OS would)
{ th_define_guest a p1 && th_start_guest a p1 && th_define_guest a p2 && th_start_guest a p2 &&
    TH_GUEST_ACK_POWERDOWN=1 th_define_guest a p3 && th_start_guest a p3; } || tap_bail "guests"
for g in p1 p2 p3; do th_wait_counter_above a "$g" 0 30 >/dev/null; done
# vfmig's first use on each synthetic host makes its host uuid: not a change
ctl_a check p1 --to "$B" "${peer[@]}" --json >/dev/null 2>&1
snapshot() { # every domain and state on both hosts, and a's definitions
    local h g
    for h in a b; do printf '%s: %s\n' "$h" "$(th_virsh "$h" list --all --name | sort | tr '\n' ' ')"; done
    for g in p1 p2 p3; do printf '%s %s %s\n' "$g" "$(th_state a "$g")" "$(th_virsh a dumpxml --inactive "$g" | md5sum)"; done
    find "$wd/sa/var/lib/vfmig" "$wd/sb/var/lib/vfmig" -type f 2>/dev/null | sort
}
before=$(snapshot)

# ---- the dry run: the plan, field by field, and nothing changed
ctl_a evacuate --to "$B" "${peer[@]}" --cold p3 --dry-run --json >"$wd/d1.json" 2>"$wd/d1.err"
assert_eq "dry run: exit 3 (p3 would be left)" 3 "$?"
assert_eq "dry run: first line is the plan" plan "$(jline 1 event <"$wd/d1.json")"
assert_eq "dry run: last line is the summary" summary "$(jline last event <"$wd/d1.json")"
assert_eq "dry run: the plan has the three guests, in name order" '["p1", "p2", "p3"]' \
    "$(python3 -c 'import json,sys; print(json.dumps([e["domain"] for e in json.loads(sys.stdin.readline())["plan"]]))' <"$wd/d1.json")"
for g in p1 p2; do
    assert_eq "dry run: $g moves live" live "$(plan_field $g action "$wd/d1.json")"
    assert_eq "dry run: $g goes to b" "$(printf '%s' "$B" | tr 'A-Z' 'a-z')" "$(plan_field $g destination "$wd/d1.json")"
    assert_eq "dry run: $g goes to b (its name)" vfmig-th-b "$(plan_field $g destination_host "$wd/d1.json")"
    assert_eq "dry run: $g native (no passthrough devices)" native "$(plan_field $g strategy "$wd/d1.json")"
    assert_eq "dry run: $g takes no devices" "[]" "$(plan_field $g devices "$wd/d1.json")"
    assert_eq "dry run: $g estimated downtime" 300 "$(plan_field $g estimated_downtime_ms "$wd/d1.json")"
    assert_eq "dry run: $g will not stop" false "$(plan_field $g will_stop "$wd/d1.json")"
done
assert_eq "dry run: p3 is left" leave "$(plan_field p3 action "$wd/d1.json")"
assert_eq "dry run: p3 will stop" true "$(plan_field p3 will_stop "$wd/d1.json")"
assert_eq "dry run: p3 has no destination without --allow-stop" null "$(plan_field p3 destination "$wd/d1.json")"
th_check "dry run: p3's reason says why and what --allow-stop would do" \
    grep -q -- '"reason":"asked to move it stopped (--cold): a cold move to .* with --allow-stop"' "$wd/d1.json"
assert_eq "dry run: summary planned 2" 2 "$(jline last planned <"$wd/d1.json")"
assert_eq "dry run: summary left 1" 1 "$(jline last left <"$wd/d1.json")"
assert_eq "dry run: summary says dry run" true "$(jline last dry_run <"$wd/d1.json")"
out=$(ctl_a evacuate --to "$B" "${peer[@]}" --cold p3 --dry-run --allow-stop 2>&1)
assert_eq "dry run --allow-stop: exit 0" 0 "$?"
th_check "dry run --allow-stop: the plan line says p3 will stop, cold, to b" \
    grep -Eq '^p3 +vfmig-th-b +cold +stop +will stop: asked to move it' <<<"$out"
th_check "dry run --allow-stop: nothing changed" grep -q "dry run: nothing changed" <<<"$out"
assert_eq "dry runs changed nothing (domains, states, definitions, vfmig state)" "$before" "$(snapshot)"
c1=$(th_counter a p1) c3=$(th_counter a p3)

# ---- evacuate: p1 and p2 move live, p3 stays running on a
ctl_a evacuate --to "$B" "${peer[@]}" --cold p3 --json >"$wd/e1.json" 2>"$wd/e1.err"
assert_eq "evacuate: exit 3 (p3 left)" 3 "$?"
assert_eq "p1 runs on b" running "$(th_state b p1)"
assert_eq "p2 runs on b" running "$(th_state b p2)"
th_check "p1 was not restarted: its counter went on" th_wait_counter_above b p1 "$c1" 10
assert_eq "p3 still runs on a" running "$(th_state a p3)"
assert_eq "p3 is not on b" absent "$(th_state b p3)"
th_check "p3 was not stopped: its counter went on" th_wait_counter_above a p3 "$c3" 10
assert_eq "summary: p1 moved" moved "$(result_field p1 outcome "$wd/e1.json")"
assert_eq "summary: p3 left" left "$(result_field p3 outcome "$wd/e1.json")"
assert_eq "summary: 2 moved, 1 left" "2 1" "$(jline last moved <"$wd/e1.json") $(jline last left <"$wd/e1.json")"
th_check "start and result events per domain" grep -q '"event":"start".*"domain":"p1"\|"domain":"p1".*"event":"start"' "$wd/e1.json"

# ---- with --allow-stop: p3 is shut down, defined and started on b
c3=$(th_counter a p3)
ctl_a evacuate --to "$B" "${peer[@]}" --cold p3 --allow-stop --shutdown-timeout 60 >"$wd/e2.out" 2>&1
assert_eq "evacuate --allow-stop: exit 0" 0 "$?"
assert_eq "p3 runs on b" running "$(th_state b p3)"
assert_eq "p3 is defined on b (persistent)" yes \
    "$(th_virsh b dominfo p3 | awk '/^Persistent:/ {print $2}')"
assert_eq "a keeps p3's definition, shut off" "shut off" "$(th_state a p3)"
c3b=$(th_counter b p3) || c3b=
if [[ $c3b =~ ^[0-9]+$ ]] && ((c3b < c3)); then tap_ok "p3 was restarted: its counter began again ($c3b < $c3)"
else tap_fail "p3 was restarted: its counter began again" "before $c3, on b $c3b"; fi
th_check "the summary says stopped-and-moved" grep -Eq '^p3 +stopped-and-moved' "$wd/e2.out"
th_check "the plan came before any step" awk '/^plan:/ {p = NR} /^moving / && !m {m = NR} END {exit !(p && m && p < m)}' "$wd/e2.out"

# ---- the destination dies mid-evacuation: every guest not yet moved runs on a
th_define_guest a q1 96 80 && th_start_guest a q1 && th_define_guest a q2 && th_start_guest a q2 &&
    th_define_guest a q3 && th_start_guest a q3 || tap_bail "guests q"
th_wait_counter_above a q1 0 30 >/dev/null
job_running() { th_virsh a domjobinfo q1 2>/dev/null | grep -q 'Data processed'; }
ctl_a_bg evacuate --to "$B" "${peer[@]}" --bandwidth 4 --json >"$wd/e3.json" 2>"$wd/e3.err" &
bg_pid=$!
wait_for job_running 60 >/dev/null
th_host_stop b --kill
wait "$bg_pid"
rc=$?
bg_pid=
assert_eq "destination killed: exit 1" 1 "$rc"
for g in q1 q2 q3; do
    assert_eq "destination killed: $g runs on a" running "$(th_state a "$g")"
    assert_eq "destination killed: $g failed" failed "$(result_field "$g" outcome "$wd/e3.json")"
    th_check "destination killed: $g's message says it still runs on the source" \
        grep -q "still runs on the source" <<<"$(result_field "$g" message "$wd/e3.json")"
done
c=$(th_counter a q2) || c=0
th_check "destination killed: q2 was never stopped" th_wait_counter_above a q2 "$c" 10
th_check "host b comes back" th_host_start b

# ---- --parallel 2: the three q guests move, two at a time
ctl_a evacuate --to "$B" "${peer[@]}" --parallel 2 --json >"$wd/e4.json" 2>"$wd/e4.err"
assert_eq "--parallel 2: exit 0" 0 "$?"
for g in q1 q2 q3; do assert_eq "--parallel 2: $g runs on b" running "$(th_state b "$g")"; done
assert_eq "--parallel 2: 3 moved" 3 "$(jline last moved <"$wd/e4.json")"

# ---- bad input changes nothing
before=$(th_virsh a list --all --name | sort | tr '\n' ' ')
ctl_a evacuate >/dev/null 2>&1
assert_eq "no --to: exit 2" 2 "$?"
ctl_a evacuate --to "$B" --parallel 0 >/dev/null 2>&1
assert_eq "--parallel 0: exit 1" 1 "$?"
ctl_a evacuate --to "qemu+unix:///system?socket=$wd/none/sock" --peer "sysroot:$wd/sb" >"$wd/e5.out" 2>&1
assert_eq "an unreachable destination only: exit 1" 1 "$?"
th_check "an unreachable destination only: says no destination answered" grep -q "no destination answered" "$wd/e5.out"
assert_eq "bad input: nothing changed on a" "$before" "$(th_virsh a list --all --name | sort | tr '\n' ' ')"

tap_done
