#!/bin/bash
# run-package.sh — host side of the lab package test (meson test 'lab-package').
# Builds the Debian package of this tree with scripts/build-deb.sh into a
# temporary directory (or takes VFMIG_DEB, a vfmig_*.deb built before), lists
# what meson installs for a /usr build of this tree (meson introspect
# --installed, the paths debian/rules' dh_auto_configure gives), then boots
# the lab VM and runs package.sh in it: dpkg -i, the installed vfmigctl on
# the real kernel, dpkg --purge / -r giving the devices back and leaving
# nothing behind.  The .deb is never installed on this machine: the VM's root
# is this machine's root under an overlay whose upper layer is a tmpfs.
# Options go to vm-run.sh (--results DIR keeps package-dpkg.log and
# package-vfmigd.log).
# Exits 77 (skip) when the lab's prerequisites are missing, or (without
# VFMIG_DEB) dpkg-buildpackage or the build dependencies are
# (scripts/deps.sh --with-lab installs them).
# Environment: VFMIG_DEB (test this .deb, build none), DEB_BUILD_OPTIONS
# (default "nocheck": the unit, cli, mock and lint suites that debian/rules
# runs are run by meson test anyway; set it empty to run them in the package
# build too), LAB_PACKAGE_TIMEOUT (seconds for the VM, default 1000).
set -euo pipefail

here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
srcroot=$(realpath -- "$here/../..")

# fail DESC DIAG: the test fails before the VM starts (one TAP point)
fail() {
    printf 'not ok 1 - %s\n' "$1"
    printf '%s\n' "$2" | sed 's/^/# /'
    printf '1..1\n'
    exit 1
}

# shellcheck source=run-lib.sh
source "$here/run-lib.sh"
lab_vm_check
[[ -x /usr/bin/python3 ]] || lab_skip "no /usr/bin/python3 (reads meson's install list)"

# The .deb and the list must exist before the VM boots (its root is a
# cache=loose view of this machine's); /tmp is fine, /run is not.
work=$(mktemp -d "${TMPDIR:-/tmp}/vfmig-lab-package.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

if [[ -n ${VFMIG_DEB:-} ]]; then
    deb=$(realpath -e -- "$VFMIG_DEB") || fail "VFMIG_DEB names a .deb" "no such file: $VFMIG_DEB"
else
    command -v dpkg-buildpackage >/dev/null ||
        lab_skip "no dpkg-buildpackage (apt-get install dpkg-dev debhelper, or scripts/deps.sh --with-lab)"
    # read-only: debian/control of the tree, against what is installed
    if ! why=$(cd "$srcroot" && dpkg-checkbuilddeps 2>&1); then
        lab_skip "${why#dpkg-checkbuilddeps: error: } (scripts/deps.sh --with-lab installs them)"
    fi
    t0=${EPOCHREALTIME/./}
    rc=0
    DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS-nocheck} \
        bash "$srcroot/scripts/build-deb.sh" "$work/deb" >"$work/build-deb.log" 2>&1 || rc=$?
    build_s=$(((${EPOCHREALTIME/./} - t0) / 1000000))
    ((rc == 0)) || fail "scripts/build-deb.sh builds the .deb (exit $rc after $build_s s)" "$(tail -n 40 -- "$work/build-deb.log")"
    debs=("$work"/deb/vfmig_*.deb)
    if ((${#debs[@]} != 1)) || [[ ! -f ${debs[0]} ]]; then
        fail "scripts/build-deb.sh builds one vfmig_*.deb" "$(ls -l -- "$work/deb" 2>&1)"
    fi
    deb=${debs[0]}
    export LAB_PACKAGE_BUILD_S=$build_s
    printf 'run-package.sh: %s built in %d s (DEB_BUILD_OPTIONS=%s)\n' "${deb##*/}" "$build_s" \
        "${DEB_BUILD_OPTIONS-nocheck}" >&2
fi
export VFMIG_DEB=$deb

# What meson installs, where, with the directories dh_auto_configure passes
# (debian/rules adds -Dman=enabled): one line "SOURCE<TAB>PATH" per file,
# install_subdir directories expanded; SOURCE is the file meson has after
# setup (data copied or configured), "-" when it is built (programs, man
# pages: dh_compress gzips those).
if ! meson setup --prefix=/usr --sysconfdir=/etc --localstatedir=/var -Dman=enabled \
    "$work/meson" "$srcroot" >"$work/meson.log" 2>&1; then
    fail "meson setup of a /usr build (meson's install list)" "$(tail -n 20 -- "$work/meson.log")"
fi
meson introspect "$work/meson" --installed >"$work/installed.json"
/usr/bin/python3 - "$work/installed.json" >"$work/expected" <<'PY'
import json, os, sys
for src, dst in sorted(json.load(open(sys.argv[1])).items()):
    if os.path.isdir(src):
        for d, _, files in os.walk(src):
            for f in sorted(files):
                s = os.path.join(d, f)
                print(f"{s}\t{os.path.join(dst, os.path.relpath(s, src))}")
    elif dst.startswith("/usr/share/man/"):
        print(f"-\t{dst}.gz")
    else:
        print(f"{src if os.path.isfile(src) else '-'}\t{dst}")
PY
export LAB_PACKAGE_EXPECTED=$work/expected

rc=0
"$here/vm-run.sh" --timeout "${LAB_PACKAGE_TIMEOUT:-1000}" "$@" "$here/package.sh" || rc=$?
exit "$rc"
