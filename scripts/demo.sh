#!/bin/bash
# The demo: builds vfmig and runs it on a synthetic server (8 PFs of mixed
# vendors with their VFs) and a laptop with Intel integrated graphics.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

work=$(mktemp -d /tmp/vfmig-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 tests/hosts/gen-host.py --profile server --pfs 8 --vfs-per-pf 4 "$work/server"
python3 tests/hosts/gen-host.py --profile laptop "$work/laptop"
export VFMIG_DATADIR=$PWD/data
ctl=./build/src/cli/vfmigctl

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
step $ctl --sysroot "$work/server" list
vf=$($ctl --sysroot "$work/server" list --json | python3 -c 'import json,sys; print(next(d["bdf"] for d in json.load(sys.stdin) if d["device"]=="101e"))')
step $ctl --sysroot "$work/server" explain "$vf"
step $ctl --sysroot "$work/laptop" list
step $ctl --sysroot "$work/laptop" explain 0000:00:02.0
step $ctl --sysroot "$work/server" db list
