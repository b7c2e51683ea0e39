#!/bin/bash
# twohost.sh — command-line face of twohost-lib.sh (two libvirtd "hosts").
#
#   twohost.sh install                       packages, users; exit 77 if impossible
#   twohost.sh up WORKDIR [--hook FILE]...   start hosts a and b, print A_URI=, B_URI=
#   twohost.sh down WORKDIR                  stop both (by PID); removes nothing
#   twohost.sh hook WORKDIR FILE [NAME]      install a qemu hook on both (SIGHUP if up)
#   twohost.sh uri WORKDIR a|b               print one URI
#   twohost.sh rom FILE [FILL_MIB]           write the tiny guest's firmware
#   twohost.sh xml NAME MEM_MIB ROM          print the tiny guest's domain XML
#
# Knobs are environment variables, listed at the top of twohost-lib.sh.
set -euo pipefail
source "$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")/twohost-lib.sh"

usage() { sed -n '3,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; exit 2; }

cmd=${1:-}
shift || true
case $cmd in
install) th_install ;;
up)
    (($# >= 1)) || usage
    th_up "$@"
    printf 'A_URI=%s\nB_URI=%s\n' "$TH_A_URI" "$TH_B_URI"
    printf 'twohost: both hosts up in %d ms\n' "$TH_UP_MS" >&2
    ;;
down) (($# == 1)) || usage; th_down "$1" ;;
hook) (($# == 2 || $# == 3)) || usage; th_hook "$@" ;;
uri) (($# == 2)) || usage; th_uri "$2" "$(realpath -m -- "$1")" ;;
rom) (($# == 1 || $# == 2)) || usage; th_make_rom "$@" ;;
xml) (($# == 3)) || usage; th_guest_xml "$@" ;;
-h | --help) usage ;;
*) usage ;;
esac
