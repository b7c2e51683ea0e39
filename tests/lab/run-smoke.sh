#!/bin/bash
# run-smoke.sh — host side of the lab smoke test (meson test 'lab-smoke').
# Boots the lab VM and runs smoke.sh inside it; options go to vm-run.sh.
# Exits 77 (skip) when the lab's prerequisites are missing.
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")

# shellcheck source=run-lib.sh
source "$here/run-lib.sh"
lab_vm_check

exec "$here/vm-run.sh" "$@" "$here/smoke.sh"
