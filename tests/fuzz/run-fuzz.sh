#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# usage: tests/fuzz/run-fuzz.sh TARGET SECONDS [libFuzzer options...]
#        tests/fuzz/run-fuzz.sh all SECONDS
#
# Builds the libFuzzer targets with clang, ASan and UBSan in their own build
# directory (build-fuzz, or $VFMIG_FUZZ_BUILDDIR) and fuzzes TARGET for
# SECONDS. The seed corpus tests/fuzz/corpus/TARGET is read, never written:
# new inputs go to BUILDDIR/fuzz-corpus/TARGET. Crashes, leaks and timeouts
# land in tests/fuzz/crashes/TARGET/ (replay one with
# BUILDDIR/tests/fuzz/fuzz-TARGET FILE, or with the gcc replayer; add
# ASAN_OPTIONS=fast_unwind_on_malloc=0 for whole stacks through GLib).
# VFMIG_FUZZ_SKIP_KNOWN=1: targets that know an open finding step around it.
# Needs clang and libFuzzer: apt-get install clang libclang-rt-14-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGETS="alias driver policy bdf journal varlink domainxml profile"
[ $# -ge 2 ] || { sed -n '4,5p' "$0" | sed 's/^# //'; exit 2; }
target=$1
seconds=$2
shift 2
if [ "$target" = all ]; then
  for t in $TARGETS; do "$0" "$t" "$seconds" "$@"; done
  exit 0
fi
case " $TARGETS " in
  *" $target "*) ;;
  *) echo "unknown target $target (one of: $TARGETS)" >&2; exit 2 ;;
esac

builddir=${VFMIG_FUZZ_BUILDDIR:-build-fuzz}
if [ ! -d "$builddir" ]; then
  # fuzzer-no-link: coverage feedback from the library code, not only the
  # target; no recovery, so UBSan findings stop the run like ASan's
  CC=clang meson setup "$builddir" \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dc_args='-fsanitize=fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer' \
    -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$builddir" "tests/fuzz/fuzz-$target" >/dev/null

work="$builddir/fuzz-corpus/$target"
crashes="tests/fuzz/crashes/$target"
mkdir -p "$work" "$crashes"
# the journal target writes its records into a temporary sysroot: keep the
# fsyncs of its round trip in memory
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=1:print_stacktrace=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export G_DEBUG=fatal-criticals
case $target in
  driver|policy) dict=tests/fuzz/keyfile.dict ;;
  *) dict=tests/fuzz/$target.dict ;;
esac
dictarg=()
[ -f "$dict" ] && dictarg=(-dict="$dict")
exec "$builddir/tests/fuzz/fuzz-$target" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -print_final_stats=1 -artifact_prefix="$crashes/" "${dictarg[@]}" "$@" \
  "$work" "tests/fuzz/corpus/$target"
