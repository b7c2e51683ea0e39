#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The CLI, its man page and its bash completion agree (STYLE.md, fwupd's rule):
#  - every command of "vfmigctl list-commands" has an entry in vfmigctl(8)'s
#    COMMANDS, and the completion offers it, word by word;
#  - every long option of "vfmigctl CMD --help" is named in CMD's entry and
#    the completion offers it after CMD; the global options likewise, under
#    GLOBAL OPTIONS;
#  - COMMANDS documents no command the CLI lacks;
#  - on a synthetic host the completion offers the devices "list --all" shows.
# The completion is driven as bash drives it (COMP_LINE/COMP_POINT).
# shellcheck disable=SC2317 # functions run through check()
set -u
src=${VFMIG_SOURCE_ROOT:?}
ctl=${VFMIGCTL:?}
man="$src/man/vfmigctl.8.scd"
completion="$src/data/completion/vfmigctl"
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; fail=1; }
check() { # description, then a command that succeeds when the check holds
  local what=$1
  shift
  if "$@"; then ok "$what"; else notok "$what"; fi
}

# The text of a section of the man page ("# NAME" up to the next "# ").
section() {
  awk -v s="# $1" '$0 == s { on = 1; next } /^# / { on = 0 } on' "$man"
}
# The command entries of COMMANDS: headers start in column 0 ("*vf create* _PF_ ...").
man_commands() {
  section COMMANDS | sed -nE 's/^\*([a-z][a-z0-9 -]*)\*.*/\1/p'
}
# One command's entry: its header line and the indented text up to the next header.
man_entry() {
  section COMMANDS | awk -v c="*$1*" 'index($0, c) == 1 { on = 1; print; next } /^[^\t ]/ && NF { on = 0 } on'
}
# The long options a --help lists (GOption's option lines), --help aside.
help_options() {
  "$@" --help 2>/dev/null | sed -nE 's/^ +(-[A-Za-z0-9], )?(--[A-Za-z0-9][-A-Za-z0-9]*).*/\2/p' | grep -vx -- --help
}
in_text() { # needle, text
  [[ $2 == *"$1"* ]]
}

# shellcheck source=data/completion/vfmigctl
source "$completion"
COMP_WORDBREAKS=$' \t\n"\'><=;|&(:'
offers() { # line (completed at its end), word expected among the replies
  local r
  COMP_LINE="$ctl $1"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _vfmigctl
  for r in "${COMPREPLY[@]}"; do
    [[ $r == "$2" ]] && return 0
  done
  echo "# completing \"vfmigctl $1\" gave: ${COMPREPLY[*]:-nothing}"
  return 1
}

mapfile -t commands < <("$ctl" list-commands)
if [ ${#commands[@]} -eq 0 ]; then
  notok "vfmigctl list-commands lists commands"
  echo "1..$n"
  exit 1
fi

for cmd in "${commands[@]}"; do
  entry=$(man_entry "$cmd")
  check "vfmigctl(8) COMMANDS has an entry for \"$cmd\"" test -n "$entry"
  read -ra words <<<"$cmd"
  prefix=''
  for w in "${words[@]}"; do
    check "completion offers \"$w\" after \"vfmigctl $prefix\"" offers "$prefix" "$w"
    prefix+="$w "
  done
  # shellcheck disable=SC2086 # a two-word command is two arguments
  for opt in $(help_options "$ctl" $cmd); do
    check "vfmigctl(8) names $opt under \"$cmd\"" in_text "*$opt*" "$entry"
    check "completion offers $opt after \"$cmd\"" offers "$cmd --" "$opt"
  done
done

globals=$(section "GLOBAL OPTIONS")
for opt in $("$ctl" --help | sed -n '/^Global options/,$p' |
  sed -nE 's/^ +(-[A-Za-z0-9], )?(--[A-Za-z0-9][-A-Za-z0-9]*).*/\2/p' | grep -vx -- --help); do
  check "vfmigctl(8) GLOBAL OPTIONS names $opt" in_text "*$opt*" "$globals"
  check "completion offers global $opt" offers "--" "$opt"
done

extra=''
while read -r documented; do
  printf '%s\n' "${commands[@]}" | grep -qxF -- "$documented" || extra="$extra \"$documented\""
done < <(man_commands)
if [ -z "$extra" ]; then
  ok "vfmigctl(8) COMMANDS documents only commands vfmigctl has"
else
  notok "vfmigctl(8) COMMANDS documents commands vfmigctl lacks:$extra"
fi

# Devices come from "list --all --json" on the --sysroot of the line.
gen="$src/tests/hosts/gen-host.py"
if command -v python3 >/dev/null && [ -f "$gen" ]; then
  host=$(mktemp -d)
  trap 'rm -rf "$host"' EXIT
  if python3 "$gen" --profile laptop "$host/laptop" >/dev/null 2>&1; then
    bdfs=$("$ctl" --sysroot "$host/laptop" list --all --json | grep -oE '"bdf":"[^"]+"' | cut -d'"' -f4)
    first=$(head -n1 <<<"$bdfs")
    check "completion offers the synthetic host's device $first" offers "--sysroot $host/laptop explain " "$first"
    missing=''
    COMP_LINE="$ctl --sysroot $host/laptop bind --dry-run "
    COMP_POINT=${#COMP_LINE}
    _vfmigctl
    for b in $bdfs; do
      printf '%s\n' "${COMPREPLY[@]}" | grep -qxF "$b" || missing="$missing $b"
    done
    check "completion offers every device of \"list --all\"${missing:+ (missing:$missing)}" test -z "$missing"
  else
    ok "# SKIP cannot generate a synthetic host"
  fi
else
  ok "# SKIP no python3 or tests/hosts/gen-host.py"
fi

echo "1..$n"
exit $fail
