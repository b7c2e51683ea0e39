#!/bin/bash
# The test command: installs what the tests need (the current stack:
# scripts/deps.sh --with-lab --current-stack), builds with warnings as
# errors, runs every meson suite (unit, cli, mock, daemon, lint, fuzz, lab),
# then the sanitizer build (scripts/sanitize.sh: ASan+UBSan over unit, cli,
# mock, fuzz), and prints one line "N passed, N failed, N skipped" counted
# from both meson test logs. VFMIG_NO_SANITIZE=1 skips the sanitizer run.
set -euo pipefail
cd "$(dirname "$0")/.."

# The labs run on the current stack (DESIGN.md, Decisions 29): QEMU 10,
# libvirt 11.3 and kernel 6.12 from bookworm-backports, installed here
# explicitly (never by a build); lab-native builds and caches the mtty sample
# itself (tests/lab/build-kmod.sh).  VFMIG_STACK=distribution installs
# only Debian 12's own packages (QEMU 7.2, libvirt 9.0, kernel 6.1) and does
# not remove a current stack already installed.
if [ "${VFMIG_STACK:-current}" = distribution ]; then
  bash scripts/deps.sh --with-lab
else
  bash scripts/deps.sh --with-lab --current-stack
fi
builddir=${VFMIG_BUILDDIR:-build}
# configured again when the packages above changed what meson finds (the
# demo may have configured it before they were installed)
bash scripts/configure.sh "$builddir"
ninja -C "$builddir" >/dev/null

rc=0
meson test -C "$builddir" --print-errorlogs "$@" || rc=$?
logs=("$builddir/meson-logs/testlog.json")

if [ -z "${VFMIG_NO_SANITIZE:-}" ]; then
  asan=${VFMIG_ASAN_BUILDDIR:-build-asan}
  VFMIG_ASAN_BUILDDIR=$asan bash scripts/sanitize.sh || rc=$?
  logs+=("$asan/meson-logs/testlog-asan.json")
fi

python3 - "${logs[@]}" <<'PY' || rc=1
import json, os, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    if not os.path.exists(path):
        print(f"missing test log {path}", file=sys.stderr)
        failed += 1
        continue
    for line in open(path):
        t = json.loads(line)
        r = t["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            # in CI the lab suites must not skip (DESIGN.md, Decisions 16)
            if "lab" in t.get("suite", []) and os.environ.get("CI"):
                failed += 1
            else:
                skipped += 1
        else:
            failed += 1
# .ci/run runs the demo first (the README's order): one more test
demo = os.environ.get("VFMIG_DEMO_RC")
if demo is not None:
    if demo == "0":
        passed += 1
    else:
        print(f"the demo (scripts/demo.sh) failed: exit {demo}", file=sys.stderr)
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
exit $rc
