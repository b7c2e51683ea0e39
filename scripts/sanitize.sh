#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The sanitizer run (DESIGN.md, Decisions 24; STYLE.md): builds build-asan
# with AddressSanitizer and UndefinedBehaviorSanitizer, warnings as errors,
# and runs the unit, cli, mock and fuzz-corpus suites with the 'asan' test
# setup, where any report stops the program and fails its test.
# usage: scripts/sanitize.sh [extra meson test arguments]
# VFMIG_ASAN_BUILDDIR overrides the build directory (default build-asan).
set -euo pipefail
cd "$(dirname "$0")/.."

builddir=${VFMIG_ASAN_BUILDDIR:-build-asan}
if [ ! -d "$builddir" ]; then
  # b_lundef=false: the mock and the sanitizer runtime resolve symbols at
  # load time, which -Wl,--no-undefined would refuse for the shared mock
  meson setup "$builddir" -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true \
    -Dc_args=-fno-omit-frame-pointer >/dev/null
fi
ninja -C "$builddir"

# ASAN_OPTIONS, UBSAN_OPTIONS and VFMIG_ASAN_RUNTIME come from the 'asan'
# setup (top-level meson.build).
rc=0
meson test -C "$builddir" --setup asan --print-errorlogs \
  --suite unit --suite cli --suite mock --suite fuzz "$@" || rc=$?
echo "sanitize: log in $builddir/meson-logs/testlog-asan.txt"
exit $rc
