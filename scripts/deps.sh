#!/bin/bash
# Installs the Debian 12 packages vfmig builds and tests with (DESIGN.md,
# "Dependencies", Decisions 29). Quick when everything is already there.
#
#   scripts/deps.sh                    build dependencies (the distribution's)
#   scripts/deps.sh --with-lab         + what the lab tests need (tests/lab)
#   scripts/deps.sh --current-stack    + the current stack from bookworm-backports:
#                                      QEMU 10.0, libvirt 11.3 (+ -dev), kernel 6.12
#                                      (image and headers); combinable with --with-lab
#
# --current-stack adds the apt source /etc/apt/sources.list.d/vfmig-backports.sources
# (deb822, Suites: bookworm-backports, the URIs and Signed-By of the machine's
# own bookworm source) and installs from it explicitly (-t bookworm-backports).
# Nothing else does: building never installs the current stack.
# apt waits up to 10 minutes for the dpkg lock (someone else's apt-get).
set -euo pipefail

with_lab=0 current=0
for a in "$@"; do
  case $a in
  --with-lab) with_lab=1 ;;
  --current-stack) current=1 ;;
  -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "deps.sh: unknown option $a (--with-lab, --current-stack)" >&2; exit 2 ;;
  esac
done

build_pkgs=(meson ninja-build pkg-config gcc python3 libglib2.0-dev libjson-glib-dev libudev-dev
  libvirt-dev libnl-3-dev libnl-genl-3-dev libnl-route-3-dev libxml2-dev libkmod-dev scdoc)
lab_pkgs=(qemu-system-x86 linux-image-amd64 busybox-static kmod udev cpio xz-utils zstd
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)
# lab-package builds the .deb (scripts/build-deb.sh): dpkg-buildpackage, and
# the Build-Depends of debian/control that the build above does not need
# (dpkg-checkbuilddeps in the tree says what is missing; Rules-Requires-Root:
# no, so no fakeroot)
lab_pkgs+=(dpkg-dev debhelper build-essential bash-completion systemd)
# lab-earlyboot builds an initramfs-tools image for the lab kernel
# (mkinitramfs, lsinitramfs, unmkinitramfs; also what linux-image pulls in)
lab_pkgs+=(initramfs-tools)
# lab-dracut builds a dracut image with vfmig's module (dracut-core installs
# beside initramfs-tools; the "dracut" package would replace it)
lab_pkgs+=(dracut-core)
# The current stack: PACKAGE:MIN_VERSION, installed from bookworm-backports.
# libudev-dev must match libudev1, which backports' systemd 254 replaces;
# linux-headers and make build the mtty sample (tests/lab/build-kmod.sh).
current_pkgs=(qemu-system-x86:1:10.0 libvirt-daemon:11.3 libvirt-daemon-driver-qemu:11.3
  libvirt-clients:11.3 libvirt-dev:11.3 libudev-dev:0 linux-image-amd64:6.12 linux-headers-amd64:6.12)
current_other=(make zstd xz-utils gcc)

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
# shellcheck source=scripts/apt-source.sh
source "$here/apt-source.sh" # distribution_source, VFMIG_BPO_SOURCES
readonly BPO_SOURCES=$VFMIG_BPO_SOURCES
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -o APT::Get::Assume-Yes=true -qq)

installed_version() { # PACKAGE: its installed version, or nothing
  local st
  st=$(dpkg-query -W -f='${Status}|${Version}' "$1" 2>/dev/null) || return 0
  [[ ${st%%|*} == *"install ok installed" ]] && printf '%s' "${st#*|}"
  return 0
}

want=("${build_pkgs[@]}")
((with_lab)) && want+=("${lab_pkgs[@]}")
((current)) && want+=("${current_other[@]}")
missing=() bpo_missing=()
for p in "${want[@]}"; do
  [[ -n $(installed_version "$p") ]] || missing+=("$p")
done
if ((current)); then
  for pv in "${current_pkgs[@]}"; do
    p=${pv%%:*} min=${pv#*:} v=$(installed_version "${pv%%:*}")
    if [[ -z $v ]] || ! dpkg --compare-versions "$v" ge "$min"; then
      bpo_missing+=("$p")
    fi
  done
  # libudev-dev follows libudev1 (an older -dev cannot be installed beside it)
  if [[ -n $(installed_version libudev-dev) && $(installed_version libudev-dev) != "$(installed_version libudev1)" ]]; then
    bpo_missing+=(libudev-dev)
  fi
  # the distribution's packages the current stack replaces are not asked for
  # from bookworm: backports' versions satisfy them
  keep=()
  for p in "${missing[@]}"; do
    [[ " ${current_pkgs[*]%%:*} " == *" $p "* ]] || keep+=("$p")
  done
  missing=("${keep[@]}")
  [[ -f $BPO_SOURCES ]] || bpo_missing+=("(apt source)")
fi
if ((${#missing[@]} == 0 && ${#bpo_missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "vfmig: missing packages: ${missing[*]} ${bpo_missing[*]} (run as root: scripts/deps.sh $*)" >&2
  exit 1
fi


if ((current)); then
  src=$(distribution_source) || { echo "vfmig: no bookworm source in /etc/apt/sources.list* to base bookworm-backports on" >&2; exit 1; }
  uris=${src%%|*} signed=${src#*|}
  text="# Written by vfmig's scripts/deps.sh --current-stack: the current stack
# (QEMU 10, libvirt 11, kernel 6.12) from bookworm-backports, same mirror and
# key as this machine's bookworm source. Remove this file to stop using it.
Types: deb
URIs: $uris
Suites: bookworm-backports
Components: main
${signed:+Signed-By: $signed
}"
  if [[ ! -f $BPO_SOURCES || $(<"$BPO_SOURCES")$'\n' != "$text" ]]; then
    printf '%s' "$text" >"$BPO_SOURCES.tmp" && mv -f "$BPO_SOURCES.tmp" "$BPO_SOURCES"
    echo "vfmig: wrote $BPO_SOURCES (bookworm-backports from $uris)" >&2
  fi
fi

((${#missing[@]})) && echo "vfmig: installing ${missing[*]}" >&2
((${#bpo_missing[@]})) && echo "vfmig: installing from bookworm-backports: ${bpo_missing[*]}" >&2
apt-get "${apt_opts[@]}" update >/dev/null
if ((${#missing[@]})); then
  apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}" >/dev/null
fi
if ((current)); then
  bpo=()
  for pv in "${current_pkgs[@]}"; do bpo+=("${pv%%:*}"); done
  apt-get "${apt_opts[@]}" -t bookworm-backports install --no-install-recommends "${bpo[@]}" >/dev/null
  # linux-image-amd64 names the newest 6.12 image; its headers are there too
  v=$(installed_version linux-image-amd64)
  dpkg --compare-versions "$v" ge 6.12 || { echo "vfmig: linux-image-amd64 is $v after the install, not 6.12" >&2; exit 1; }
fi
echo "vfmig: packages installed" >&2
