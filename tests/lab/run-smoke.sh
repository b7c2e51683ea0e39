#!/bin/bash
# run-smoke.sh — host side of the lab smoke test (meson test 'lab-smoke').
# Boots the lab VM and runs smoke.sh inside it; options go to vm-run.sh.
# Exits 77 (skip) when the lab's prerequisites are missing.
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")

rc=0
why=$("$here/vm-run.sh" --check 2>&1) || rc=$?
if ((rc == 77)); then
    printf '%s\n' "$why" >&2
    printf '1..0 # SKIP %s\n' "${why#*SKIP: }"
    exit 77
elif ((rc != 0)); then
    printf '%s\n' "$why" >&2
    exit "$rc"
fi

exec "$here/vm-run.sh" "$@" "$here/smoke.sh"
