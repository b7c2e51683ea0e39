#!/bin/bash
# Builds the Debian package (debian/) from a copy of this tree, so that the
# source tree gets no obj-*/ or debian/vfmig/ litter, and puts the .deb files
# in OUTDIR (default: build-deb/ at the top of the tree).
#   scripts/build-deb.sh [OUTDIR]
# As root it installs missing build dependencies with apt-get build-dep.
# DEB_BUILD_OPTIONS is dpkg-buildpackage's: "nocheck" skips the unit, cli,
# mock and lint suites debian/rules runs (74 s -> 24 s on 2 idle cores;
# tests/lab/run-package.sh builds that way: meson test runs those suites
# anyway). dpkg-buildpackage already runs ninja with one job per core.
# The package is tested by meson test lab-package (tests/lab/package.sh).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build-deb}
work=$(mktemp -d /tmp/vfmig-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
out=$(cd "$out" && pwd)

# tracked files plus new ones not ignored (the build directories are)
mkdir "$work/vfmig"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$top" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do
      [ -e "$f" ] || [ -L "$f" ] || continue # deleted in the work tree
      cp --parents -a -t "$work/vfmig" -- "$f"
    done)
else
  tar -C "$top" --exclude='./build*' --exclude='./obj-*' -cf - . | tar -C "$work/vfmig" -xf -
fi

cd "$work/vfmig"
if ! dpkg-checkbuilddeps >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "vfmig: installing build dependencies" >&2
    DEBIAN_FRONTEND=noninteractive apt-get build-dep -y -qq "$work/vfmig" >/dev/null
  else
    dpkg-checkbuilddeps
  fi
fi
dpkg-buildpackage -us -uc -b
cp -v "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes "$out"/
