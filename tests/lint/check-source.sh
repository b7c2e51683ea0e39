#!/bin/bash
# House rules that a compiler does not check (STYLE.md):
#  - only src/lib/base/vfm-sysroot.c names host paths (/sys, /dev, /etc, /var, /run, /lib/modules);
#  - every command vfmigctl knows is documented in vfmigctl(8);
#  - the shipped database lints clean.
set -u
src=${VFMIG_SOURCE_ROOT:?}
fail=0
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }

hits=$(grep -rnE '"/(sys|dev|etc|var|run|proc)(/|")|"/lib/modules' "$src/src" --include='*.c' --include='*.h' |
  grep -v 'src/lib/base/vfm-sysroot.c' || true)
if [ -z "$hits" ]; then ok "host paths only in vfm-sysroot.c"; else notok "host paths outside vfm-sysroot.c"; echo "$hits" | sed 's/^/# /'; fi

missing=""
while read -r cmd; do
  grep -qF "*$cmd*" "$src/man/vfmigctl.8.scd" || missing="$missing $cmd"
done < <("${VFMIGCTL:?}" list-commands)
if [ -z "$missing" ]; then ok "every command is in vfmigctl(8)"; else notok "commands missing from vfmigctl(8):$missing"; fi

if out=$("$VFMIGCTL" db lint "$src"/data/drivers/*.conf "$src"/data/policies/*.conf 2>&1); then
  ok "shipped database lints clean"
else
  notok "shipped database lint"; echo "$out" | sed 's/^/# /'
fi
echo "1..$n"
exit $fail
