#!/bin/bash
# package.sh — the Debian package on the real kernel, run INSIDE the lab VM:
#   tests/lab/run-package.sh      (builds the .deb with scripts/build-deb.sh,
#                                  lists what meson installs, boots the VM)
#   VFMIG_DEB=/tmp/vfmig_0.1.0-1_amd64.deb tests/lab/vm-run.sh --timeout 900 tests/lab/package.sh
#
# The guest's root is the host's under an overlay with a tmpfs upper layer:
# dpkg -i here changes nothing on the host.  Proves:
#   A  the package's Depends are installed on this root (the host's); vfmig
#      is not
#   B  dpkg -i installs it, silently, without systemd as init (maintainer
#      scripts); dpkg -s says installed; every file meson installs is there
#      at the path meson gives it (same content where meson has it at setup),
#      nothing else but the docs; install adds no file outside the package
#      but deb-systemd-helper's state; vfmigd is neither enabled nor started
#   C  the installed vfmigctl from /usr/sbin, without VFMIG_DATADIR: the
#      database of /usr/share/vfmig, db lint, list --json of the real devices;
#      man finds the pages, bash loads the completion
#   D  vfmigd started by hand (no systemd), the e1000e (host driver e1000e)
#      and an NVMe VF (no driver) bound to vfio-pci while it runs: dpkg -r
#      stops vfmigd (SIGTERM, it logs "stopping", exits 0) and gives both
#      back (prerm: vfmigctl restore), keeps the
#      conffile (the libvirt hook), no owned record; state config-files
#   E  dpkg -i over config-files keeps the conffile; both bound again by the
#      installed vfmigctl itself; dpkg --purge gives them back and leaves
#      nothing: the file lists of /etc and /var/lib (whole trees) and of
#      everything the guest changed under /etc /usr /var/lib /lib (the
#      overlay's upper layer) are those of before the install, outside the
#      dpkg database; no /var/lib/vfmig, no /run/vfmig; dpkg forgot vfmig
# man-db's trigger is switched off in the guest (/var/lib/man-db/auto-update).
# Prints TAP.
#
# Environment: VFMIG_DEB (the vfmig_*.deb to test; required),
# LAB_PACKAGE_EXPECTED (from run-package.sh: "SOURCE<TAB>INSTALLED-PATH" per
# file of `meson introspect --installed` for a /usr build, SOURCE "-" when
# it is built), LAB_PACKAGE_BUILD_S (how long the .deb took to build).
# Logs (dpkg output, vfmigd) go to $LAB_RESULTS/package-*.log.
# shellcheck disable=SC2016 # conditions given to eval are single-quoted on purpose
set -euo pipefail

here=${LAB_DIR:-$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")}
# shellcheck source=lab-lib.sh source-path=SCRIPTDIR
source "$here/lab-lib.sh"
lab_require_vm

# dpkg and the maintainer scripts need the sbin directories; the caller's
# PATH (pyenv, ~/bin) has no business here.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# The installed vfmigctl must find its database by itself.
unset VFMIG_DATADIR VFMIG_SOCKET VFMIG_SYSROOT

readonly PCI=/sys/bus/pci
readonly STATE=/var/lib/vfmig
readonly RUNDIR=/run/vfmig
readonly SOCK=/run/vfmig/vfmigd.sock
readonly CTL=/usr/sbin/vfmigctl DAEMON=/usr/sbin/vfmigd
readonly HOOK=/etc/libvirt/hooks/qemu.d/vfmig
# vm-run.sh's overlay: the host's root (lower) and what the guest changed (upper)
readonly LOWER=/run/vfmig-lab/lower UPPER=/run/vfmig-lab/rw/upper
readonly T=/run/vfmig-lab-package
LOGS=${LAB_RESULTS:-$T}
DLOG=$LOGS/package-dpkg.log
deb=${VFMIG_DEB:-}
expected=${LAB_PACKAGE_EXPECTED:-}
pf='' nic='' vf='' ifname='' dpid=''
t_start=${EPOCHREALTIME/./}

# ------------------------------------------------------------------ helpers
has() { # STR FRAG...: STR contains each FRAG literally, in this order
    local s=$1 f
    shift
    for f; do
        [[ $s == *"$f"* ]] || return 1
        s=${s#*"$f"}
    done
}
is() { [[ $1 == "$2" ]]; }
check() { # DESC CMD [ARGS...]: ok if CMD succeeds
    local desc=$1
    shift
    if "$@"; then tap_ok "$desc"; return 0; fi
    tap_fail "$desc"
    return 1
}
rd() { _lab_read "$1"; }
slurp() { # FILE -> $text (no fork)
    text=''
    IFS= read -r -d '' text <"$1" 2>/dev/null || true
}
override() { rd "$PCI/devices/$1/driver_override"; }
netdev_of() { # first interface of a PCI device, or ""
    local n
    for n in "$PCI/devices/$1"/net/*; do
        [[ -e $n ]] && { printf '%s' "${n##*/}"; return 0; }
    done
}
ms_since() { printf '%d' $(((${EPOCHREALTIME/./} - $1) / 1000)); }
# dev_state BDF: "DRIVER|OVERRIDE", what "given back" compares
dev_state() { printf '%s|%s' "$(lab_driver "$1")" "$(override "$1")"; }

# vfm ARGS...: the installed vfmigctl; $out, $err, $rc
out='' err='' rc=0
vfm() {
    rc=0
    "$CTL" "$@" >"$T/out" 2>"$T/err" || rc=$?
    slurp "$T/out"; out=${text%$'\n'}
    slurp "$T/err"; err=${text%$'\n'}
}
show() { tap_diag "$1 -> exit $rc" "stdout: ${out:-(empty)}" "stderr: ${err:-(empty)}"; }

# pkg ARGS...: dpkg ARGS; $out, $err, $rc, $pkg_ms; the output also goes to $DLOG
pkg_ms=0
pkg() {
    local t0=${EPOCHREALTIME/./}
    rc=0
    dpkg "$@" </dev/null >"$T/out" 2>"$T/err" || rc=$?
    pkg_ms=$(ms_since "$t0")
    slurp "$T/out"; out=${text%$'\n'}
    slurp "$T/err"; err=${text%$'\n'}
    printf '$ dpkg %s   (exit %d, %d ms)\n%s\n%s\n' "$*" "$rc" "$pkg_ms" "$out" "${err:+stderr: $err}" >>"$DLOG"
    # man-db's trigger says it is off (see below): not the package's output
    err=${err//"Not building database; man-db/auto-update is not 'true'."/}
    # deb-systemd-helper enabling vfmig-early-boot.path (debian/rules enables
    # it) says so on stderr, as for any package's enabled unit
    err=${err//"Created symlink /etc/systemd/system/paths.target.wants/vfmig-early-boot.path → /lib/systemd/system/vfmig-early-boot.path."/}
    err=${err//$'\n\n'/$'\n'}
    err=${err#$'\n'} err=${err%$'\n'}
    tap_diag "dpkg $* -> exit $rc in $pkg_ms ms"
}
pkg_status() { dpkg-query -W -f='${Status}' vfmig 2>/dev/null || printf 'none'; }
# not installed: dpkg forgot it, or remembers it as not-installed
pkg_gone() { local s; s=$(pkg_status); [[ $s == none || $s == *' not-installed' ]]; }

# Snapshots of the file system, compared before the install and after the
# purge; the dpkg database (/var/lib/dpkg) is the one thing allowed to differ.
# merged_state: the whole of /etc and /var/lib as the guest sees them (type,
# mode, size, mtime, link target of every entry but directories).  /usr has
# 166k entries: a find over it takes 2-3 min under TCG, so /usr (and /lib,
# a link to usr/lib on a merged-/usr system) is covered by upper_state.
merged_state() {
    local roots=(/etc /var/lib)
    [[ -L /lib ]] || roots+=(/lib)
    find "${roots[@]}" -xdev -path /var/lib/dpkg -prune -o \
        \( -type d -printf 'd %p\n' \) -o -printf '%y %m %s %T@ %p -> %l\n' | LC_ALL=C sort
}
# upper_state: every change the guest made under /etc /usr /var/lib /lib,
# read from the overlay's upper layer (exhaustive and fast): files, links and
# whiteouts (a deleted host file: type c) with mode, size, mtime; directories
# only where the host has none (a host directory is copied up when an entry
# is created in it; that is no change of its own).
upper_state() {
    local roots=() r line
    for r in etc usr var/lib lib; do
        [[ -e $UPPER/$r || -L $UPPER/$r ]] && roots+=("$r")
    done
    ((${#roots[@]})) || return 0
    (cd "$UPPER" && find "${roots[@]}" -path var/lib/dpkg -prune -o \
        \( -type d -printf 'd /%p\n' \) -o -printf '%y %m %s %T@ /%p -> %l\n') | LC_ALL=C sort |
        while IFS= read -r line; do
            [[ $line == 'd '* && -d $LOWER${line#d } ]] && continue
            printf '%s\n' "$line"
        done
}
# same_state DESC BEFORE-FILE NOW-FILE: one test point, the diff as diagnostics
same_state() {
    local d
    if d=$(diff -- "$2" "$3" 2>&1); then
        tap_ok "$1"
        return 0
    fi
    tap_fail "$1" "diff before now:" "$(head -n 40 <<<"$d")"
    return 1
}
# path_of LINE: the path of a state line ("d PATH" or "TYPE MODE SIZE MTIME PATH -> LINK")
path_of() {
    local l=$1
    if [[ $l == 'd '* ]]; then l=${l#d }; else l=${l#* * * * }; l=${l% -> *}; fi
    printf '%s' "$l"
}

# vfmigd started by hand, as without systemd; its log in $LOGS
vfmigd_alive() { [[ -n $dpid ]] && readlink "/proc/$dpid/exe" >/dev/null 2>&1; }
no_vfmigd() { # no process runs /usr/sbin/vfmigd
    local e
    for e in /proc/[0-9]*/exe; do
        [[ $(readlink "$e" 2>/dev/null) == "$DAEMON" ]] && return 1
    done
    return 0
}

# The devices back on their host drivers with raw writes, the package gone,
# whatever failed (the VM is thrown away, but the PF ends with numvfs 0).
cleanup() {
    if vfmigd_alive; then kill -KILL "$dpid" 2>/dev/null || true; fi
    if ! pkg_gone; then
        echo "vfmig still installed ($(pkg_status)): purging it"
        dpkg --purge --force-all vfmig </dev/null >/dev/null 2>&1 || true
    fi
    if [[ -n $nic && -e $PCI/devices/$nic && $(lab_driver "$nic") != e1000e ]]; then
        [[ -n $(lab_driver "$nic") ]] && { lab_sysfs_write "$PCI/devices/$nic/driver/unbind" "$nic" || true; }
        lab_sysfs_write "$PCI/devices/$nic/driver_override" '' || true
        lab_sysfs_write "$PCI/drivers_probe" "$nic" || true
    fi
    if [[ -n $vf && -e $PCI/devices/$vf ]]; then
        [[ -n $(lab_driver "$vf") ]] && { lab_sysfs_write "$PCI/devices/$vf/driver/unbind" "$vf" || true; }
        lab_sysfs_write "$PCI/devices/$vf/driver_override" '' || true
    fi
    if [[ -n $pf ]]; then
        [[ $(rd "$PCI/devices/$pf/sriov_numvfs") == 0 ]] || { lab_sysfs_write "$PCI/devices/$pf/sriov_numvfs" 0 || true; }
        lab_sysfs_write "$PCI/devices/$pf/sriov_drivers_autoprobe" 1 || true
    fi
    echo "VM time in script $(ms_since "$t_start") ms"
}
tap_init cleanup

mkdir -p -- "$T" "$LOGS"
: >"$DLOG"
[[ -n $deb && -r $deb ]] || tap_bail "no .deb to test (VFMIG_DEB='$deb'; tests/lab/run-package.sh builds one)"
[[ -d $UPPER && -d $LOWER ]] || tap_bail "no overlay layers at $UPPER and $LOWER (vm-run.sh changed?)"
pf=$(lab_nvme_pf) || tap_bail "no SR-IOV NVMe PF"
nic=$(lab_e1000e) || tap_bail "no e1000e"
[[ $(lab_driver "$nic") == e1000e ]] || tap_bail "the e1000e $nic is on '$(lab_driver "$nic")', not e1000e"
ifname=$(netdev_of "$nic")
deb_version=$(dpkg-deb -f "$deb" Version)
tap_diag "package $deb (version $deb_version${LAB_PACKAGE_BUILD_S:+, built in ${LAB_PACKAGE_BUILD_S} s}), PF $pf, e1000e $nic ($ifname)"
set +e

# ====================================================== A  prerequisites
assert_eq "the .deb is package vfmig" vfmig "$(dpkg-deb -f "$deb" Package)"
check "vfmig is not installed on this root (the host's) before the test" pkg_gone ||
    tap_bail "vfmig is installed on the host ($(pkg_status)): this test needs a root without it"
depends=$(dpkg-deb -f "$deb" Depends)
tap_check "its Depends are installed on this root ($depends)" dpkg-checkbuilddeps -I -d "$depends" /dev/null
# man-db's dpkg trigger (mandb over /usr/share/man) costs ~11 s per dpkg run
# under TCG and is not vfmig's: off in the guest, as on buildds (before the
# snapshots: its file's whiteout is in both).
rm -f /var/lib/man-db/auto-update
# The package ships an initramfs-tools hook (early-boot binding), so
# dh_installinitramfs gives it the update-initramfs trigger: a real install
# regenerates the host's images, as it should. Under TCG that is many minutes
# per kernel in /boot (lab-package once ran out of time there), so the
# guest's overlay turns the regeneration off, as for man-db above.
tap_check "the package activates update-initramfs (it ships an initramfs-tools hook)" \
    eval 'dpkg-deb -I "$deb" triggers 2>/dev/null | grep -q "update-initramfs"'
if [[ -f /etc/initramfs-tools/update-initramfs.conf ]]; then
    sed -i 's/^update_initramfs=.*/update_initramfs=no/' /etc/initramfs-tools/update-initramfs.conf
fi
# dpkg reads /var/lib/dpkg/info/*.list (~900 files here) over 9p: start
# reading them now, while the snapshots are taken (~30 s less for dpkg -i)
cat /var/lib/dpkg/info/*.list >/dev/null 2>&1 &
warm_pid=$!
before_merged=$T/merged.before before_upper=$T/upper.before
t0=${EPOCHREALTIME/./}
merged_state >"$before_merged"
upper_state >"$before_upper"
tap_diag "snapshots: $(wc -l <"$before_merged") entries in /etc /var/lib, $(wc -l <"$before_upper") changed by the guest so far; $(ms_since "$t0") ms"
etc_vfmig_before=0
[[ -e /etc/vfmig ]] && etc_vfmig_before=1

# ====================================================== B  dpkg -i
t0=${EPOCHREALTIME/./}
wait "$warm_pid" 2>/dev/null
tap_diag "dpkg database read ahead; waited $(ms_since "$t0") ms more for it"
pkg -i "$deb"
check "dpkg -i: exit 0" is "$rc" 0 || tap_diag "$out" "$err"
check "dpkg -i: nothing on stderr (maintainer scripts without systemd as init)" is "$err" ''
[[ -z $err ]] || tap_diag "stderr: $err"
has_systemd=no
[[ -d /run/systemd/system ]] && has_systemd=yes
tap_diag "systemd as init (/run/systemd/system): $has_systemd; PID 1 is $(rd /proc/1/comm)"
s=$(dpkg -s vfmig 2>&1)
check "dpkg -s vfmig: Status: install ok installed, Version $deb_version" \
    has "$s" $'\nStatus: install ok installed\n' $'\nVersion: '"$deb_version"$'\n'
mapfile -t listed < <(dpkg -L vfmig)
declare -A in_pkg=()
for p in "${listed[@]}"; do in_pkg[$p]=1; done
missing=()
for p in "${listed[@]}"; do [[ -e $p ]] || missing+=("$p"); done
check "each of the ${#listed[@]} paths dpkg -L lists exists" is "${#missing[@]}" 0 || tap_diag "missing: ${missing[*]}"

# What meson installs (run-package.sh: meson introspect --installed of a /usr
# build of this tree), each at its path, the same content where meson has it
# at setup time (copied data, configured files); man pages gzipped by dh.
if [[ -n $expected && -r $expected ]]; then
    declare -A meson_wants=()
    absent=() differ=() n_cmp=0
    while IFS=$'\t' read -r src dst; do
        [[ -n $dst ]] || continue
        meson_wants[$dst]=1
        if [[ -z ${in_pkg[$dst]:-} || ! -f $dst ]]; then
            absent+=("$dst")
        elif [[ $src != - ]]; then
            n_cmp=$((n_cmp + 1))
            cmp -s -- "$src" "$dst" || differ+=("$dst")
        fi
    done <"$expected"
    check "every one of the ${#meson_wants[@]} files meson installs is in the package, at meson's path" \
        is "${#absent[@]}" 0 || tap_diag "not in the package: ${absent[*]}"
    check "the $n_cmp of them meson has at setup (data, udev rule, hook, units) have meson's content" \
        is "${#differ[@]}" 0 || tap_diag "differ: ${differ[*]}"
    extra=()
    for p in "${listed[@]}"; do
        [[ -f $p && ! -L $p ]] || continue
        [[ -n ${meson_wants[$p]:-} || $p == /usr/share/doc/vfmig/* ]] || extra+=("$p")
    done
    check "the package has no other file than those and its /usr/share/doc/vfmig" \
        is "${#extra[@]}" 0 || tap_diag "extra: ${extra[*]}"
else
    tap_skip "the files meson installs are in the package" "no list from run-package.sh (LAB_PACKAGE_EXPECTED)"
fi

# The places, by name (whatever meson says).
check "vfmigctl and vfmigd: /usr/sbin, executable" test -x "$CTL" -a -x "$DAEMON"
check "driver database: /usr/share/vfmig/drivers/vfio-pci.conf, policies/50-default.conf" \
    test -f /usr/share/vfmig/drivers/vfio-pci.conf -a -f /usr/share/vfmig/policies/50-default.conf
rule=''
for d in /lib/udev/rules.d /usr/lib/udev/rules.d; do
    [[ -n ${in_pkg[$d/70-vfmig.rules]:-} ]] && rule=$d/70-vfmig.rules
done
slurp "${rule:-/dev/null}"
check "udev rule ${rule:-(none)} in /lib/udev/rules.d or /usr/lib/udev/rules.d, naming $CTL" \
    has "$text" "TEST!=\"$CTL\"" "IMPORT{program}=\"$CTL udev-query %k\""
units=0 unitdir=''
for d in /lib/systemd/system /usr/lib/systemd/system; do
    if [[ -n ${in_pkg[$d/vfmigd.service]:-} && -n ${in_pkg[$d/vfmigd.socket]:-} ]]; then
        units=1 unitdir=$d
    fi
done
slurp "${unitdir:-/dev}/vfmigd.service"
svc=$text
slurp "${unitdir:-/dev}/vfmigd.socket"
ok=0
((units)) && has "$svc" $'\nExecStart='"$DAEMON"$'\n' && has "$text" "ListenStream=$SOCK" && ok=1
check "systemd units ${unitdir:-(none)}/vfmigd.{service,socket}: ExecStart=$DAEMON, ListenStream=$SOCK" is "$ok" 1
slurp "$HOOK"
ok=0 hookprog=''
# the hook runs the package's vfmig-hook (libc only), which answers the
# domains vfmig has nothing to do for and hands the others to vfmigctl hook
[[ $text =~ exec\ ([^[:space:]]+/vfmig-hook)\ qemu ]] && hookprog=${BASH_REMATCH[1]}
[[ -x $HOOK && -n $hookprog && -x $hookprog ]] &&
    has "$(dpkg-query -W -f='${Conffiles}' vfmig)" " $HOOK " && ok=1
check "libvirt hook $HOOK: executable, a conffile, runs ${hookprog:-vfmig-hook} qemu (installed, executable)" is "$ok" 1 ||
    tap_diag "$text"
ok=0
printf '%s\n' "<domain><name>plain</name></domain>" | "$HOOK" plain migrate begin - >"$T/hookout" 2>&1 &&
    grep -q "<name>plain</name>" "$T/hookout" && ok=1
check "the installed hook answers a domain without hostdevs itself (its XML back)" is "$ok" 1 || tap_diag "$(<"$T/hookout")"
ok=0
[[ -f $rule && -f $unitdir/vfmigd.service ]] && ! grep -q '@[A-Za-z_]*@' -- "$rule" "$HOOK" "$unitdir/vfmigd.service" && ok=1
check "no @VARIABLE@ left in the udev rule, the hook and the service" is "$ok" 1
manpaths=''
for m in '8 vfmigctl' '8 vfmigd' '5 vfmig-drivers' '5 vfmig-policy'; do
    if command -v man >/dev/null; then
        # shellcheck disable=SC2086 # section and name
        manpaths+=$(man -w $m 2>&1)' '
    else # no man-db on this root: the gzipped page where man looks
        p=/usr/share/man/man${m% *}/${m#* }.${m% *}.gz
        gzip -t "$p" 2>/dev/null && manpaths+="$p "
    fi
done
check "man finds vfmigctl(8) vfmigd(8) vfmig-drivers(5) vfmig-policy(5) in /usr/share/man" \
    has "$manpaths" /usr/share/man/man8/vfmigctl.8.gz /usr/share/man/man8/vfmigd.8.gz \
    /usr/share/man/man5/vfmig-drivers.5.gz /usr/share/man/man5/vfmig-policy.5.gz || tap_diag "$manpaths"
c=$(bash -c 'source /usr/share/bash-completion/completions/vfmigctl && complete -p vfmigctl' 2>&1)
check "bash completion /usr/share/bash-completion/completions/vfmigctl registers a function" \
    has "$c" "complete -F " " vfmigctl" || tap_diag "$c"
# Install adds the package's files and deb-systemd-helper's state, nothing else.
upper_state >"$T/upper.installed"
allowed=()
mapfile -t allowed < <(for p in "${listed[@]}"; do [[ -d $p ]] || printf '%s\n' "$p"; done | xargs -r realpath -m --)
declare -A ok_path=()
for p in "${allowed[@]}"; do ok_path[$p]=1; done
stray=()
while IFS= read -r l; do
    p=$(path_of "$l")
    [[ $l == 'd '* || -n ${ok_path[$p]:-} || $p == /var/lib/systemd/deb-systemd-helper-enabled/vfmigd.* ]] && continue
    # vfmig-early-boot.path is enabled (debian/rules): its wants link and
    # deb-systemd-helper's record of it
    [[ $p == /etc/systemd/system/paths.target.wants/vfmig-early-boot.path ||
        $p == /var/lib/systemd/deb-systemd-helper-enabled/*vfmig-early-boot.path* ]] && continue
    stray+=("$l")
done < <(LC_ALL=C comm -13 "$before_upper" "$T/upper.installed")
check "dpkg -i changed no file outside the package but deb-systemd-helper's state (upper layer)" \
    is "${#stray[@]}" 0 || tap_diag "${stray[@]}"
check "vfmig-early-boot.path enabled (paths.target.wants), so a policy change refreshes the initramfs" \
    test -L /etc/systemd/system/paths.target.wants/vfmig-early-boot.path
links=$(find /etc/systemd/system -name 'vfmigd*' 2>/dev/null)
check "vfmigd neither enabled (no link in /etc/systemd/system) nor started (no process, no socket)" \
    eval '[[ -z $links && ! -e $SOCK ]] && no_vfmigd' || tap_diag "$links"

# ====================================================== C  the installed vfmigctl
vfm --version
check "$CTL --version: vfmigctl ${deb_version%-*}" is "$out" "vfmigctl ${deb_version%-*}" || show "vfmigctl --version"
vfm --json db list
check "db list --json (no VFMIG_DATADIR): the curated entries from /usr/share/vfmig/drivers" \
    has "$out" '"id":"vfio-pci"' '"source":"/usr/share/vfmig/drivers/vfio-pci.conf"' || show "vfmigctl db list"
vfm db lint
check "db lint: the installed database is clean" is "$rc" 0 || show "vfmigctl db lint"
vfm --json list
check "list --json: exit 0, the real NVMe PF $pf (nvme, SR-IOV)" \
    eval '((rc == 0)) && has "$out" "{\"bdf\":\"$pf\",\"vendor\":\"1b36\",\"device\":\"0010\"" "\"driver\":\"nvme\""' || show "vfmigctl list --json"
vfm --json list --all
obj=${out#*"{\"bdf\":\"$nic\","}
[[ $obj == "$out" ]] && obj=''
obj=${obj%%\}*}
check "list --all --json: exit 0, the real e1000e $nic (8086:10d3) on e1000e, selected vfio-pci" \
    eval '((rc == 0)) && has "$obj" "\"vendor\":\"8086\",\"device\":\"10d3\"" "\"driver\":\"e1000e\"" "\"selected_driver\":\"vfio-pci\""' ||
    show "vfmigctl list --all --json"

# ====================================================== helpers of D and E
# bind_two: an NVMe VF (autoprobe off: no driver) and the e1000e (its
# interface down, no address: not in use) to vfio-pci with the installed
# vfmigctl; $1 says how (a test point prefix).
bind_two() {
    local how=$1 v
    if [[ -z $vf || ! -e $PCI/devices/$vf ]]; then
        lab_sysfs_write "$PCI/devices/$pf/sriov_drivers_autoprobe" 0
        lab_sysfs_write "$PCI/devices/$pf/sriov_numvfs" 1
        wait_for '[[ -n $(lab_vfs "$pf") ]]' 10
        vf=$(lab_vfs "$pf")
        wait_for '[[ -e $PCI/devices/$vf/iommu_group ]]' 10
    fi
    assert_eq "$how: before, $vf has no driver and e1000e $nic is on e1000e" "|(null) e1000e|(null)" \
        "$(dev_state "$vf") $(dev_state "$nic")"
    vfm --json bind "$vf" "$nic"
    check "$how: vfmigctl bind $vf $nic: exit 0" is "$rc" 0 || show "vfmigctl bind"
    assert_eq "$how: both on vfio-pci (driver link and override)" "vfio-pci|vfio-pci vfio-pci|vfio-pci" \
        "$(dev_state "$vf") $(dev_state "$nic")"
    vfm --json status
    check "$how: status --json: both owned, $nic with original driver e1000e" \
        has "$out" "{\"bdf\":\"$nic\",\"driver\":\"vfio-pci\",\"current_driver\":\"vfio-pci\",\"in_place\":true,\"original_driver\":\"e1000e\"" ||
        show "vfmigctl status --json"
    check "$how: the journal in $STATE has an owned record of each" \
        test -e "$STATE/owned/$vf.json" -a -e "$STATE/owned/$nic.json"
}
# given_back WHEN: the two devices are on their original drivers
given_back() {
    local when=$1
    wait_for '[[ $(lab_driver "$nic") == e1000e && -n $(netdev_of "$nic") ]]' 5
    assert_eq "$when: e1000e $nic is back on e1000e, override (null)" "e1000e|(null)" "$(dev_state "$nic")"
    assert_eq "$when: $nic has its interface again ($ifname)" "$ifname" "$(netdev_of "$nic")"
    assert_eq "$when: VF $vf has no driver again, override (null)" "|(null)" "$(dev_state "$vf")"
}
# restored_both: dpkg's output ($out) has vfmigctl restore's line for each
restored_both() { has "$out" "returned $vf to no driver" && has "$out" "returned $nic to e1000e"; }
# clean_again WHEN: nothing of vfmig left
clean_again() {
    local when=$1
    check "$when: dpkg knows no vfmig (status: $(pkg_status))" pkg_gone
    check "$when: no /var/lib/vfmig, no /run/vfmig" test ! -e "$STATE" -a ! -e "$RUNDIR"
    ((etc_vfmig_before)) || check "$when: no /etc/vfmig" test ! -e /etc/vfmig
    merged_state >"$T/merged.now"
    same_state "$when: /etc and /var/lib list the same files as before the install (outside /var/lib/dpkg)" \
        "$before_merged" "$T/merged.now"
    upper_state >"$T/upper.now"
    same_state "$when: under /etc /usr /var/lib /lib the guest changed nothing more than before the install (upper layer)" \
        "$before_upper" "$T/upper.now"
}

# ====================================================== D  vfmigd running, dpkg -r
hook_md5=$(md5sum <"$HOOK")
"$DAEMON" >"$LOGS/package-vfmigd.log" 2>&1 &
dpid=$!
t0=${EPOCHREALTIME/./}
wait_for '[[ -S $SOCK ]] && { slurp "$LOGS/package-vfmigd.log"; [[ $text == *" listening on "* ]]; } || ! vfmigd_alive' 60
slurp "$LOGS/package-vfmigd.log"
check "$DAEMON started by hand (no systemd) listens on $SOCK" eval 'vfmigd_alive && [[ -S $SOCK ]]' ||
    tap_diag "vfmigd log: $text"
tap_diag "vfmigd (pid $dpid) up after $(ms_since "$t0") ms"
bind_two "with vfmigd"
slurp "$LOGS/package-vfmigd.log"
check "with vfmigd: the binds went through it (its log: bound $vf, bound $nic, was e1000e)" \
    has "$text" "bound $vf to vfio-pci" "bound $nic to vfio-pci (was e1000e)" || tap_diag "vfmigd log: $text"
pkg -r vfmig
check "dpkg -r vfmig (vfmigd running): exit 0, nothing on stderr" eval '((rc == 0)) && [[ -z $err ]]' ||
    tap_diag "$out" "$err"
check "dpkg -r: prerm stopped vfmigd" eval '! vfmigd_alive'
drc=''
if [[ -n $dpid ]]; then
    vfmigd_alive && kill -KILL "$dpid"
    drc=0
    wait "$dpid" 2>/dev/null || drc=$?
    dpid=''
fi
slurp "$LOGS/package-vfmigd.log"
check "dpkg -r: vfmigd was asked to stop (SIGTERM: its log says \"stopping\") and exited 0" \
    eval '[[ $text == *"stopping"* && $drc == 0 ]]' || tap_diag "exit status $drc, log: $text"
check "dpkg -r: prerm gave both devices back (vfmigctl restore says so)" restored_both || tap_diag "stdout: $out"
given_back "after dpkg -r"
assert_eq "dpkg -r: status deinstall ok config-files" "deinstall ok config-files" "$(pkg_status)"
check "dpkg -r: the conffile $HOOK stays, the programs are gone" test -f "$HOOK" -a ! -e "$CTL" -a ! -e "$DAEMON"
owned=("$STATE"/owned/*.json)
check "dpkg -r: the journal keeps no owned record" test ! -e "${owned[0]}"

# ====================================================== E  reinstall, dpkg --purge
pkg -i "$deb"
check "dpkg -i over config-files: exit 0, install ok installed, nothing on stderr" \
    eval '((rc == 0)) && [[ $(pkg_status) == "install ok installed" && -z $err ]]' || tap_diag "$out" "$err"
assert_eq "dpkg -i over config-files: the conffile is unchanged" "$hook_md5" "$(md5sum <"$HOOK")"
bind_two "installed again"
pkg --purge vfmig
check "dpkg --purge vfmig: exit 0, nothing on stderr" eval '((rc == 0)) && [[ -z $err ]]' ||
    tap_diag "$out" "$err"
check "dpkg --purge: prerm gave both devices back (vfmigctl restore says so)" restored_both || tap_diag "stdout: $out"
given_back "after dpkg --purge"
clean_again "after dpkg --purge"

tap_diag "VM time in script $(ms_since "$t_start") ms"
tap_done
