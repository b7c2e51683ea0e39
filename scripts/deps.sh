#!/bin/bash
# Installs the Debian 12 packages vfmig builds and tests with (DESIGN.md,
# "Dependencies"). Quick when everything is already there.
set -euo pipefail

build_pkgs=(meson ninja-build pkg-config gcc python3 libglib2.0-dev libjson-glib-dev libudev-dev
  libvirt-dev libnl-3-dev libnl-genl-3-dev libnl-route-3-dev libxml2-dev libkmod-dev scdoc)
lab_pkgs=(qemu-system-x86 linux-image-amd64 busybox-static kmod udev cpio xz-utils
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients)
# lab-package builds the .deb (scripts/build-deb.sh): dpkg-buildpackage, and
# the Build-Depends of debian/control that the build above does not need
# (dpkg-checkbuilddeps in the tree says what is missing; Rules-Requires-Root:
# no, so no fakeroot)
lab_pkgs+=(dpkg-dev debhelper build-essential bash-completion systemd)

want=("${build_pkgs[@]}")
if [ "${1:-}" = "--with-lab" ]; then
  want+=("${lab_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "vfmig: missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "vfmig: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
