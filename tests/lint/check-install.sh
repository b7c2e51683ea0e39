#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# "meson install" produces the whole tree a package ships: vfmigctl (and
# vfmigd), the database, man pages, bash completion, the udev rule, the libvirt
# hook and the systemd units, each where its consumer looks for it, with
# @SBINDIR@ filled in, and a vfmigctl compiled to read the database from where
# it was installed. Expected paths come from the build's options and the
# pkg-config files, not from meson's own install plan.
# shellcheck disable=SC2317 # functions run through check()
set -u
src=${VFMIG_SOURCE_ROOT:?}
build=${VFMIG_BUILD_ROOT:?}
meson=${MESON:-meson}
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else notok "$what"; fi
}

dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
if ! out=$("$meson" install -C "$build" --destdir "$dest" 2>&1); then
  notok "meson install --destdir"
  echo "$out" | tail -n 20 | sed 's/^/# /'
  echo "1..$n"
  exit 1
fi
ok "meson install --destdir"

prefix='' sbindir='' datadir='' mandir='' sysconfdir='' libexecdir=''
eval "$("$meson" introspect "$build" --buildoptions | python3 -c '
import json, os, shlex, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = o["prefix"]
print("prefix=" + shlex.quote(p))
for k in ("sbindir", "datadir", "mandir", "sysconfdir", "libexecdir"):
    print(k + "=" + shlex.quote(os.path.join(p, o[k])))
')"

pcvar() { # package variable define-name define-value fallback
  if pkg-config --exists "$1" 2>/dev/null; then
    pkg-config --define-variable="$3=$4" --variable="$2" "$1"
  else
    echo "$5"
  fi
}
completionsdir=$(pcvar bash-completion completionsdir datadir "$datadir" "$datadir/bash-completion/completions")
udevdir=$(pcvar udev udevdir prefix "$prefix" "$prefix/lib/udev")
unitdir=$(pcvar systemd systemdsystemunitdir prefix "$prefix" "$prefix/lib/systemd/system")
echo "# prefix $prefix: sbin $sbindir, data $datadir, man $mandir, etc $sysconfdir"
echo "# completions $completionsdir, udev $udevdir, units $unitdir"

is_file() { [ -f "$dest$1" ]; }
exe() { [ -f "$dest$1" ] && [ -x "$dest$1" ]; }
has() { grep -qF -- "$2" "$dest$1"; }
configured() { ! grep -qE -- "@[A-Z_]+@" "$dest$1"; }

check "vfmigctl in $sbindir" exe "$sbindir/vfmigctl"
if [ -e "$build/src/daemon/vfmigd" ]; then
  check "vfmigd in $sbindir" exe "$sbindir/vfmigd"
fi
for f in "$src"/data/drivers/*.conf "$src"/data/policies/*.conf; do
  rel=${f#"$src/data/"}
  check "$rel in $datadir/vfmig" is_file "$datadir/vfmig/$rel"
done
check "vfmigctl reads the database from $datadir/vfmig" grep -qaF "$datadir/vfmig" "$dest$sbindir/vfmigctl"

if command -v scdoc >/dev/null; then
  for page in "$src"/man/*.scd; do
    page=$(basename "$page" .scd)
    check "man page $page" is_file "$mandir/man${page##*.}/$page"
  done
else
  ok "# SKIP man pages: no scdoc"
fi

check "bash completion in $completionsdir" is_file "$completionsdir/vfmigctl"

rules="$udevdir/rules.d/70-vfmig.rules"
check "udev rule $rules" is_file "$rules"
check "udev rule runs $sbindir/vfmigctl udev-query" has "$rules" "IMPORT{program}=\"$sbindir/vfmigctl udev-query %k\""
check "udev rule has no @VARIABLE@ left" configured "$rules"

hook="$sysconfdir/libvirt/hooks/qemu.d/vfmig"
check "libvirt hook $hook, executable" exe "$hook"
check "libvirt hook runs $libexecdir/vfmig-hook qemu" has "$hook" "exec $libexecdir/vfmig-hook qemu \"\$@\""
check "$libexecdir/vfmig-hook, executable" exe "$libexecdir/vfmig-hook"
check "vfmig-hook hands the rest to $sbindir/vfmigctl" has "$libexecdir/vfmig-hook" "$sbindir/vfmigctl"
check "libvirt hook has no @VARIABLE@ left" configured "$hook"

if [ -f "$src/data/systemd/meson.build" ]; then
  for unit in "$src"/data/systemd/vfmig*.*; do
    unit=$(basename "$unit" .in)
    check "systemd unit $unitdir/$unit" is_file "$unitdir/$unit"
  done
fi

# early-boot refresh: its generators, and the path unit that runs it when the
# policies change
check "initramfs generators in $datadir/vfmig/initramfs" is_file "$datadir/vfmig/initramfs/generators.conf"
eb=$unitdir/vfmig-early-boot
check "vfmig-early-boot.service runs $sbindir/vfmigctl --no-daemon early-boot refresh --all" \
  has "$eb.service" "ExecStart=$sbindir/vfmigctl --no-daemon early-boot refresh --all"
check "vfmig-early-boot.path watches /etc/vfmig/policies.d" has "$eb.path" "PathChanged=/etc/vfmig/policies.d"
# systemd's own parser on the installed units (it reads files only). It
# wants ExecStart's program to exist on this host: a copy of the units
# names the installed one under DESTDIR.
if command -v systemd-analyze >/dev/null; then
  units=$(mktemp -d "${TMPDIR:-/tmp}/vfmig-units.XXXXXX")
  cp "$dest$eb.path" "$units/"
  sed "s|^ExecStart=$sbindir/|ExecStart=$dest$sbindir/|" "$dest$eb.service" >"$units/vfmig-early-boot.service"
  verify() { out=$(cd "$units" && systemd-analyze verify --man=no ./vfmig-early-boot.path ./vfmig-early-boot.service 2>&1) && [ -z "$out" ] || { printf '%s\n' "$out" | sed 's/^/# /'; return 1; }; }
  check "systemd-analyze verify: vfmig-early-boot.path and .service, no warning" verify
  rm -rf "$units"
else
  ok "# SKIP systemd-analyze verify: no systemd-analyze"
fi

echo "1..$n"
exit $fail
