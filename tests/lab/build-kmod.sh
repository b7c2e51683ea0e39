#!/bin/bash
# build-kmod.sh — a kernel module Debian does not build, from the kernel's own
# source, built for the lab kernel:
#   mtty       samples/vfio-mdev/mtty.c, a mediated serial card with VFIO
#              migration since 6.7 (tests/lab/native, LAB-NOTES "Native
#              migration lab");
#   netdevsim  drivers/net/netdevsim, the kernel's devlink/netdev test driver
#              (devlink info versions, eswitch modes, VF ports: lab-devlink).
#
#   tests/lab/build-kmod.sh NAME [KVER]       prints the path of NAME.ko
#
# KVER defaults to the kernel vm-run.sh boots (the newest /boot/vmlinuz-*
# with modules, or VFMIG_LAB_KERNEL).  The source:
#  1. Debian trixie's linux-source-6.12 .deb is downloaded with a private apt
#     configuration (its own source list, lists and archives under the cache;
#     the machine's sources and apt state are not touched): trixie is never
#     added to this machine's sources;
#  2. only the module's files are taken from the tarball in it;
#  3. they are built with a Kbuild against /lib/modules/KVER/build.
# Cache: ${VFMIG_CACHE:-/var/cache/vfmig}/ holds the .deb (debs/), the
# extracted files (per .deb and module, a tar beside the .deb) and the module
# (NAME/KVER/NAME.ko); a second run downloads and builds nothing.  Kernel code
# never enters the repository.
#
# Exit status: 0 (path on stdout), 77 when it cannot be built here (the
# reason on stderr: no headers for KVER, no compiler, no mirror...), 1 on
# other errors.  Needs root for the default cache (apt runs as root).
set -euo pipefail

readonly PROG=${0##*/}
here=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
top=$(realpath -- "$here/../..")
cache=${VFMIG_CACHE:-/var/cache/vfmig}
readonly SRC_PKG=linux-source-6.12 SUITE=${VFMIG_MTTY_SUITE:-trixie}

name=${1:-}
shift || true
# NAME -> the files it needs from the source tree, and its Kbuild
case $name in
mtty)
    members=(samples/vfio-mdev/mtty.c)
    kbuild_of() { printf '# mtty, the kernel sample (samples/vfio-mdev), out of tree\nobj-m := mtty.o\n'; }
    ;;
netdevsim)
    members=(drivers/net/netdevsim)
    # its own Makefile, with the module always built (the lab kernel's
    # CONFIG_NETDEVSIM is off; the other CONFIG_ tests come from its config)
    kbuild_of() { sed 's/^obj-\$(CONFIG_NETDEVSIM)/obj-m/' "$1/Makefile"; }
    ;;
*)
    printf '%s: usage: %s mtty|netdevsim [KVER]\n' "$PROG" "$PROG" >&2
    exit 2
    ;;
esac

msg() { printf '%s: %s\n' "$PROG" "$*" >&2; }
skip() { msg "cannot build $name: $*"; exit 77; }

kver=${1:-}
if [[ -z $kver ]]; then
    if [[ -n ${VFMIG_LAB_KERNEL:-} ]]; then
        kver=${VFMIG_LAB_KERNEL##*/vmlinuz-}
    else
        for k in /boot/vmlinuz-*; do # the same choice as vm-run.sh
            v=${k##*/vmlinuz-}
            [[ -e $k && -f /lib/modules/$v/modules.dep ]] || continue
            if [[ -z $kver ]] || [[ $(printf '%s\n%s\n' "$kver" "$v" | sort -V | tail -n1) == "$v" ]]; then
                kver=$v
            fi
        done
    fi
fi
[[ -n $kver ]] || skip "no kernel with modules in /boot"
kbuild=/lib/modules/$kver/build
ko=$cache/$name/$kver/$name.ko

# The cached module, if it was built for this kernel's headers.
headers_key() { stat -L -c '%s %Y' -- "$kbuild/Module.symvers" 2>/dev/null || echo none; }
if [[ -f $ko && -f $ko.key && $(<"$ko.key") == "$kver $(headers_key)" ]]; then
    printf '%s\n' "$ko"
    exit 0
fi

[[ -f $kbuild/Makefile && -f $kbuild/Module.symvers ]] ||
    skip "no headers for $kver in $kbuild (scripts/deps.sh --current-stack installs linux-headers-amd64)"
for t in make gcc dpkg-deb tar xz apt-get flock; do
    command -v "$t" >/dev/null || skip "$t not found"
done
mkdir -p -- "$cache/debs" "$cache/$name/$kver" || skip "cannot create $cache (run as root)"
exec {lockfd}>"$cache/.kmod.lock"
flock "$lockfd"

# ------------------------------------------------------------ the .deb
# newest cached linux-source-6.12_*.deb, or one downloaded now
deb=''
for f in "$cache/debs/${SRC_PKG}_"*.deb; do
    [[ -f $f ]] || continue
    if [[ -z $deb ]] || [[ $(printf '%s\n%s\n' "$deb" "$f" | sort -V | tail -n1) == "$f" ]]; then deb=$f; fi
done
if [[ -z $deb ]]; then
    # shellcheck source=scripts/apt-source.sh
    source "$top/scripts/apt-source.sh"
    src=$(distribution_source) || skip "no Debian source in /etc/apt/sources.list* to find a mirror"
    uris=${src%%|*} signed=${src#*|}
    uri=${VFMIG_MTTY_MIRROR:-${uris%% *}}
    # trixie's Release is signed with the trixie keys: the archive keyring
    # holds them (bookworm's debian-archive-keyring 2023.3+deb12u2 and later),
    # else the trixie keyrings themselves, else what the bookworm source uses
    keys=/usr/share/keyrings
    if [[ -r $keys/debian-archive-keyring.gpg ]]; then
        signed=$keys/debian-archive-keyring.gpg
    elif [[ -r $keys/debian-archive-trixie-stable.gpg && -r $keys/debian-archive-trixie-automatic.gpg ]]; then
        signed=$keys/debian-archive-trixie-stable.gpg,$keys/debian-archive-trixie-automatic.gpg
    fi
    apt_dir=$cache/apt-$SUITE
    mkdir -p -- "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    printf 'deb %s%s %s main\n' "${signed:+[signed-by=$signed] }" "$uri" "$SUITE" >"$apt_dir/sources.list"
    # Everything apt writes stays under $apt_dir; sourceparts=- reads no
    # other list; the machine's status file is only read.
    apt=(apt-get -q -o Dir::Etc::sourcelist="$apt_dir/sources.list" -o Dir::Etc::sourceparts=-
        -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
        -o Dir::Cache::archives="$apt_dir/cache/archives" -o Acquire::Languages=none
        -o APT::Get::List-Cleanup=false)
    # apt downloads as user _apt when it can write there
    getent passwd _apt >/dev/null && { chown -R _apt:root -- "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" 2>/dev/null || true; }
    t0=$EPOCHREALTIME
    msg "downloading $SUITE's $SRC_PKG from $uri (private apt configuration in $apt_dir)"
    "${apt[@]}" update >"$apt_dir/update.log" 2>&1 ||
        { tail -n 5 "$apt_dir/update.log" >&2; skip "apt-get update of $SUITE failed (log: $apt_dir/update.log)"; }
    tmpd=$(mktemp -d "$cache/debs/.download.XXXXXX")
    (cd "$tmpd" && "${apt[@]}" download "$SRC_PKG") >"$apt_dir/download.log" 2>&1 ||
        { rm -rf -- "$tmpd"; tail -n 5 "$apt_dir/download.log" >&2; skip "apt-get download $SRC_PKG failed (log: $apt_dir/download.log)"; }
    for f in "$tmpd/${SRC_PKG}_"*.deb; do
        [[ -f $f ]] || continue
        deb=$cache/debs/$(basename -- "$f" | sed 's/%3a/:/g')
        mv -f -- "$f" "$deb"
    done
    rm -rf -- "$tmpd"
    [[ -n $deb ]] || skip "apt-get download gave no ${SRC_PKG}_*.deb"
    msg "got ${deb##*/} ($(($(stat -c %s -- "$deb") / 1048576)) MiB) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"
fi

# ------------------------------------------------------------ the files
# Kept beside the .deb they came from, as a tar: the tarball is ~150 MB of xz.
src_tar=$deb.$name.tar
if [[ ! -s $src_tar ]]; then
    t0=$EPOCHREALTIME
    tarball=$(dpkg-deb -c "$deb" | awk -v re="^\\./usr/src/$SRC_PKG\\.tar\\.(xz|bz2|gz|zst)$" \
        '$NF ~ re && !found { found = $NF } END { print found }') || tarball=''
    [[ -n $tarball ]] || skip "${deb##*/} has no /usr/src/$SRC_PKG.tar.*"
    case $tarball in
    *.xz) unpack=(xz -dc) ;; *.bz2) unpack=(bzip2 -dc) ;; *.gz) unpack=(gzip -dc) ;; *.zst) unpack=(zstd -dcq) ;;
    esac
    xdir=$(mktemp -d "$cache/debs/.extract.XXXXXX")
    # a single file: tar stops reading once it is out (--occurrence)
    one=()
    ((${#members[@]} == 1)) && [[ ${members[0]} == *.c ]] && one=(--occurrence=1)
    dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -xO -f - "$tarball" 2>/dev/null | "${unpack[@]}" |
        tar -x -C "$xdir" "${one[@]}" -f - "${members[@]/#/$SRC_PKG/}" 2>/dev/null || true
    for m in "${members[@]}"; do
        [[ -e $xdir/$SRC_PKG/$m ]] || { rm -rf -- "$xdir"; skip "$m not found in ${deb##*/}"; }
    done
    tar -C "$xdir/$SRC_PKG" -cf "$src_tar.tmp" "${members[@]}" && mv -f -- "$src_tar.tmp" "$src_tar"
    rm -rf -- "$xdir"
    msg "extracted ${members[*]} from ${deb##*/} in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }') s"
fi

# ------------------------------------------------------------ build
tdir=$(mktemp -d "${TMPDIR:-/tmp}/vfmig-$name.XXXXXX")
trap 'rm -rf -- "$tdir"' EXIT
tar -C "$tdir" -xf "$src_tar"
bdir=$tdir/${members[0]}
[[ -d $bdir ]] || bdir=$(dirname -- "$bdir")
kbuild_of "$bdir" >"$bdir/Kbuild.vfmig" && mv -f -- "$bdir/Kbuild.vfmig" "$bdir/Kbuild"
rm -f -- "$bdir/Makefile" # Kbuild is read first; no Makefile is left to confuse it
if ! make -C "$kbuild" M="$bdir" modules >"$tdir/build.log" 2>&1; then
    tail -n 20 "$tdir/build.log" >&2
    msg "building $name against $kbuild failed"
    exit 1
fi
vermagic=$(modinfo -F vermagic "$bdir/$name.ko" 2>/dev/null) || vermagic=''
[[ $vermagic == "$kver "* ]] || { msg "$name.ko has vermagic '$vermagic', not $kver"; exit 1; }
cp -- "$bdir/$name.ko" "$ko.tmp" && mv -f -- "$ko.tmp" "$ko"
printf '%s\n' "$kver $(headers_key)" >"$ko.key"
printf '%s\n' "${deb##*/}" >"$ko.source"
msg "built $ko from ${deb##*/}"
printf '%s\n' "$ko"
