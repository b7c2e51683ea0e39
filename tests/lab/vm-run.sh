#!/bin/bash
# vm-run.sh — run one script inside a throw-away real-kernel VM (test tier 2).
#
# Boots the newest Debian kernel in /boot (6.12 from bookworm-backports when
# scripts/deps.sh --current-stack installed it, else the distribution's 6.1)
# under QEMU TCG (q35 + intel-iommu) with an emulated SR-IOV NVMe controller
# and an e1000e.  The host's root file system
# is the guest's root (9p, read-only, under an overlayfs with a tmpfs upper
# layer), so host-built binaries run unchanged; nothing the guest writes
# reaches the host except through the results share.  SCRIPT's stdout and
# stderr come back byte-exact, its exit status becomes ours.
#
# See tests/lab/README.md.  Exit status: SCRIPT's, or
#   77  prerequisites missing (message on stderr; also what --check reports)
#  124  the VM did not finish within --timeout
#  125  the VM failed before reporting a status (console tail on stderr)
#    2  usage error
set -euo pipefail

readonly PROG=${0##*/}
readonly EXIT_SKIP=77 EXIT_TIMEOUT=124 EXIT_VMFAIL=125 EXIT_USAGE=2
# Bump when the initramfs layout or the init scripts change incompatibly
# (the init script text is hashed too, so this is only belt and braces).
readonly INITRAMFS_FORMAT=1
# Modules the initramfs carries; modprobe adds their dependencies.
readonly -a INITRD_BOOT_MODULES=(virtio_pci 9pnet_virtio 9p overlay nvme e1000e)
# (mdev: mediated devices such as the mtty sample of tests/lab/native)
readonly -a INITRD_VFIO_MODULES=(vfio vfio_iommu_type1 vfio_pci mdev)

usage() {
    cat <<EOF
usage: $PROG [options] SCRIPT [ARGS...]
       $PROG --check

Run SCRIPT with ARGS as root inside a QEMU/TCG VM with a real kernel,
intel-iommu and an SR-IOV NVMe controller.  SCRIPT (an absolute or relative
host path) and its inputs must exist before the VM starts and must not live
under /run, /proc, /sys or /dev (the guest mounts its own there).

options:
  --timeout S        kill the VM after S seconds (default 240)
  --nvme-vfs N       sriov_max_vfs of the NVMe controller, 0..32 (default 4)
  --mem MiB          guest RAM (default 2048)
  --smp N            guest CPUs (default 2)
  --results DIR      share DIR read-write with the guest as \$LAB_RESULTS
                     (default: a temporary directory, removed afterwards)
  --console FILE     keep the guest console log in FILE
  --preload-vfio     insmod vfio, vfio_iommu_type1, vfio_pci, mdev at boot
                     (default: left to the script: modprobe vfio-pci)
  --qemu-arg ARG     append ARG to the QEMU command line (repeatable)
  --append STR       append STR to the kernel command line
  --initrd IMAGE     boot IMAGE, an initramfs-tools image (mkinitramfs), instead
                     of the lab's own: its /init runs (init-top, udev, modules),
                     and the lab's root comes from a boot script appended to it
                     (boot=vfmiglab); the job runs as usual
  --check            only check the prerequisites (exit 0 or 77)
  -h, --help         this text

environment:
  VFMIG_LAB_STALL_RETRIES  how often a VM whose CPU stalled (an RCU stall on
                     the guest console) is run again (default 1)
  VFMIG_LAB_CACHE    cache for vmlinux/initramfs (default /var/tmp/vfmig-lab-UID)
  VFMIG_LAB_KERNEL   kernel image (default: the newest /boot/vmlinuz-* whose
                     modules are in /lib/modules)
  VFMIG_LAB_QEMU     QEMU binary (default qemu-system-x86_64)
  VFMIG_LAB_VERBOSE  if set, report the VM's run time on stderr

In the guest SCRIPT runs as root with the caller's exported environment and
working directory, stdin /dev/null, and LAB_RESULTS=/run/lab (the results
share), LAB_DIR (this directory), LAB_NVME_VFS, VFMIG_LAB=1.
EOF
}

msg() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { local rc=$1; shift; msg "$*"; exit "$rc"; }
skip() { die "$EXIT_SKIP" "SKIP: $*"; }

# need_uint OPTION VALUE MIN MAX
need_uint() {
    if ! [[ $2 =~ ^[0-9]+$ ]] || (($2 < $3 || $2 > $4)); then
        die $EXIT_USAGE "$1: integer $3..$4 expected, got '$2'"
    fi
}

# QEMU option values: a comma is written as two commas.
qemu_escape() { printf '%s' "${1//,/,,}"; }

# ---------------------------------------------------------------- arguments
timeout_s=240 nvme_vfs=4 mem_mib=2048 smp=2 results_dir='' console_keep=''
preload_vfio=0 check_only=0 append='' itools_image=''
qemu_extra=()
while (($#)); do
    case $1 in
    --timeout) (($# >= 2)) || die $EXIT_USAGE "$1 needs a value"; timeout_s=$2; shift 2 ;;
    --nvme-vfs) (($# >= 2)) || die $EXIT_USAGE "$1 needs a value"; nvme_vfs=$2; shift 2 ;;
    --mem) (($# >= 2)) || die $EXIT_USAGE "$1 needs a value"; mem_mib=$2; shift 2 ;;
    --smp) (($# >= 2)) || die $EXIT_USAGE "$1 needs a value"; smp=$2; shift 2 ;;
    --results) (($# >= 2)) || die $EXIT_USAGE "$1 needs a value"; results_dir=$2; shift 2 ;;
    --console) (($# >= 2)) || die $EXIT_USAGE "$1 needs a value"; console_keep=$2; shift 2 ;;
    --qemu-arg) (($# >= 2)) || die $EXIT_USAGE "$1 needs a value"; qemu_extra+=("$2"); shift 2 ;;
    --append) (($# >= 2)) || die $EXIT_USAGE "$1 needs a value"; append+=" $2"; shift 2 ;;
    --initrd) (($# >= 2)) || die $EXIT_USAGE "$1 needs a value"; itools_image=$2; shift 2 ;;
    --preload-vfio) preload_vfio=1; shift ;;
    --check) check_only=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die $EXIT_USAGE "unknown option $1 (try --help)" ;;
    *) break ;;
    esac
done
need_uint --timeout "$timeout_s" 1 86400
need_uint --nvme-vfs "$nvme_vfs" 0 32
need_uint --mem "$mem_mib" 256 65536
need_uint --smp "$smp" 1 64
if ((!check_only)); then
    (($# >= 1)) || { usage >&2; exit $EXIT_USAGE; }
fi

# ------------------------------------------------------------ prerequisites
qemu=${VFMIG_LAB_QEMU:-qemu-system-x86_64}
kernel='' kver=''

find_kernel() {
    local k
    if [[ -n ${VFMIG_LAB_KERNEL:-} ]]; then
        kernel=$VFMIG_LAB_KERNEL
    else
        # The newest Debian kernel installed in /boot (6.12 of the current
        # stack, else 6.1 of linux-image-amd64), not whatever runs the host
        # (which may be a custom kernel without modules).  Only kernels whose
        # modules are installed count.
        for k in /boot/vmlinuz-*; do
            [[ -e $k && -f /lib/modules/${k##*/vmlinuz-}/modules.dep ]] || continue
            if [[ -z $kernel ]] || [[ $(printf '%s\n%s\n' "$kernel" "$k" | sort -V | tail -n1) == "$k" ]]; then
                kernel=$k
            fi
        done
        [[ -n $kernel ]] || skip "no /boot/vmlinuz-* with modules in /lib/modules (apt-get install linux-image-amd64)"
    fi
    [[ -f $kernel ]] || skip "kernel image $kernel does not exist"
    [[ -r $kernel ]] || skip "kernel image $kernel is not readable (run as root)"
    kver=${kernel##*/vmlinuz-}
    [[ -f /lib/modules/$kver/modules.dep ]] || skip "no modules for $kver in /lib/modules/$kver"
}

check_prereqs() {
    local t
    command -v "$qemu" >/dev/null || skip "$qemu not found (apt-get install qemu-system-x86)"
    for t in busybox modprobe cpio xz zstd timeout flock sha256sum od; do
        command -v "$t" >/dev/null || skip "$t not found (packages: busybox-static kmod cpio xz-utils zstd coreutils util-linux)"
    done
    # The initramfs needs a static busybox: it runs before any library
    # exists.  A dynamic one names its loader in .interp, near the start.
    if head -c 8192 -- "$(command -v busybox)" | grep -qa 'ld-linux'; then
        skip "busybox is dynamically linked (apt-get install busybox-static)"
    fi
    find_kernel
}
check_prereqs
if ((check_only)); then
    msg "prerequisites present: $qemu, $kernel, busybox"
    exit 0
fi

# -------------------------------------------------------------------- cache
cache=${VFMIG_LAB_CACHE:-/var/tmp/vfmig-lab-$(id -u)}
mkdir -p -- "${cache%/*}"
mkdir -m 0700 -- "$cache" 2>/dev/null || true
[[ -O $cache && ! -L $cache ]] || die $EXIT_VMFAIL "cache $cache is not a directory owned by us"

# Runs "$@" (which builds into "$tmp") under the cache lock unless the cached
# file already matches key; then renames it into place atomically.
#   cached_build NAME KEY BUILDER...
cached_build() {
    local name=$1 key=$2; shift 2
    local out=$cache/$name lockfd
    exec {lockfd}>"$cache/.lock"
    flock "$lockfd"
    if [[ ! -f $out || ! -f $out.key || $(<"$out.key") != "$key" ]]; then
        local tmp=$out.tmp.$$
        rm -f -- "$tmp"
        if ! "$@" "$tmp"; then
            rm -f -- "$tmp"
            exec {lockfd}>&-
            return 1
        fi
        mv -f -- "$tmp" "$out"
        printf '%s\n' "$key" >"$out.key"
    fi
    exec {lockfd}>&-
}

# Extract the uncompressed ELF vmlinux from a bzImage: booted through QEMU's
# PVH entry it saves the ~2 s TCG needs to decompress the kernel.  The x86
# boot header gives the payload's place (setup_sects at 0x1f1, payload_offset
# and payload_length at 0x248); its magic says the compression: Debian's 6.1
# uses XZ (fd 37 7a 58 5a 00), 6.12 zstd (28 b5 2f fd).  The kernel build
# appends the uncompressed size (4 bytes, little endian) to the stream, and
# payload_length counts it: xz stops after its stream (--single-stream), zstd
# is given the payload without those 4 bytes, which then check the result.
# shellcheck disable=SC2317 # called through cached_build
build_vmlinux() {
    local out=$1 setup_sects off len magic size
    # Called where set -e does not apply: every step is checked.
    setup_sects=$(od -An -tu1 -j $((0x1f1)) -N1 -- "$kernel") || return 1
    read -r off len < <(od -An -tu4 -j $((0x248)) -N8 -- "$kernel") || return 1
    [[ $setup_sects =~ ^\ *[0-9]+$ && $off =~ ^[0-9]+$ && $len =~ ^[0-9]+$ ]] ||
        { msg "$kernel: not a bzImage"; return 1; }
    ((setup_sects)) || setup_sects=4
    off=$(((setup_sects + 1) * 512 + off))
    magic=$(od -An -tx1 -j "$off" -N6 -- "$kernel" | tr -d ' \n') || return 1
    case $magic in
    fd377a585a00)
        dd if="$kernel" iflag=skip_bytes,count_bytes skip="$off" count="$len" bs=1M status=none |
            xz -dc --single-stream >"$out" ||
            { msg "$kernel: cannot decompress the XZ payload"; return 1; }
        ;;
    28b52ffd*)
        ((len > 4)) || { msg "$kernel: payload too short"; return 1; }
        dd if="$kernel" iflag=skip_bytes,count_bytes skip="$off" count=$((len - 4)) bs=1M status=none |
            zstd -qdc >"$out" ||
            { msg "$kernel: cannot decompress the zstd payload"; return 1; }
        size=$(od -An -tu4 -j $((off + len - 4)) -N4 -- "$kernel" | tr -d ' ') || return 1
        [[ $(stat -c %s -- "$out") == "$size" ]] ||
            { msg "$kernel: zstd payload gave $(stat -c %s -- "$out") bytes, the kernel says $size"; return 1; }
        ;;
    *)
        msg "$kernel: payload is neither XZ nor zstd (magic $magic)"
        return 1
        ;;
    esac
    [[ $(od -An -tx1 -N4 -- "$out" | tr -d ' \n') == 7f454c46 ]] || { msg "$kernel: payload is not an ELF vmlinux"; return 1; }
}

# Module files to load, dependencies first, one path per line.
module_paths() {
    local m deps verb path seen=' '
    for m in "$@"; do
        deps=$(modprobe -S "$kver" --show-depends "$m") || return 1
        while read -r verb path _; do # "insmod PATH [OPTS]" or "builtin NAME"
            [[ $verb == insmod && $seen != *" $path "* ]] || continue
            seen+="$path "
            printf '%s\n' "$path"
        done <<<"$deps"
    done
}

# /init of the initramfs (busybox sh): load modules, build the root, switch.
read -r -d '' STAGE1 <<'EOF_STAGE1' || true
#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
exec </dev/console >/dev/console 2>&1
read -r u _ </proc/uptime; echo "VFMIG-LAB-INIT uptime $u"
fatal() {
	echo "vfmig-lab init: FATAL: $*"
	echo "VFMIG-LAB-FAILED"
	poweroff -f
}
load() {
	while read -r ko; do
		insmod "$ko" || fatal "insmod $ko"
	done <"/etc/vfmig-lab/$1"
}
load modules.boot
case " $(cat /proc/cmdline) " in
*" vfmig_lab.preload_vfio=1 "*) load modules.vfio ;;
esac
read -r u _ </proc/uptime; echo "VFMIG-LAB-MODULES-LOADED uptime $u"
mkdir -p /lower /rw /newroot
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /lower ||
	fatal "mount host root over 9p"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work vfmig-lab-root /newroot ||
	fatal "mount overlay"
# What earlier runs left of vfmig on the host (a root run's /var/lib/vfmig,
# an install's /etc/vfmig) must not reach the tests: rm in the overlay puts
# whiteouts in the tmpfs upper layer, the host's tree stays as it is.
for d in var/lib/vfmig etc/vfmig; do
	if [ -e "/newroot/$d" ]; then
		rm -rf "/newroot/$d" || fatal "hide the host's /$d"
		echo "VFMIG-LAB-HIDDEN /$d (left on the host by an earlier run)"
	fi
done
mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /newroot/run || fatal "mount /run"
mkdir -p /newroot/run/vfmig-lab/lower /newroot/run/vfmig-lab/rw
mount --move /lower /newroot/run/vfmig-lab/lower
mount --move /rw /newroot/run/vfmig-lab/rw
cp /bin/busybox /etc/vfmig-lab/stage2 /newroot/run/vfmig-lab/
read -r u _ </proc/uptime; echo "VFMIG-LAB-SWITCH-ROOT uptime $u"
for fs in proc sys dev; do
	mount --move "/$fs" "/newroot/$fs" || fatal "move /$fs"
done
exec switch_root /newroot /run/vfmig-lab/busybox sh /run/vfmig-lab/stage2
fatal "switch_root"
EOF_STAGE1

# PID 1 after switch_root (busybox sh from /run/vfmig-lab): finish the
# mounts, run the job with stdout/stderr through pipes into the results share
# (9p without cache: every write reaches the host at once), reap what the job
# left behind, report the status and power off.
read -r -d '' STAGE2 <<'EOF_STAGE2' || true
L=/run/vfmig-lab
bb=$L/busybox
R=/run/lab
J=$R/.vm-run
up() { read -r u _ </proc/uptime; echo "$u"; }
fatal() {
	echo "vfmig-lab init: FATAL: $*" >/dev/console
	echo "VFMIG-LAB-FAILED" >/dev/console
	$bb poweroff -f
}
$bb mkdir -p /dev/shm /dev/pts /dev/mqueue "$R"
$bb mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
$bb mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=000 devpts /dev/pts
$bb mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup 2>/dev/null
$bb mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue 2>/dev/null
$bb mount -t securityfs -o nosuid,nodev,noexec securityfs /sys/kernel/security 2>/dev/null
$bb mount -t debugfs -o nosuid,nodev,noexec debugfs /sys/kernel/debug 2>/dev/null
$bb mkdir -p /run/lock /run/user && $bb chmod 1777 /run/lock
$bb ln -sfn /proc/self/fd /dev/fd
$bb ln -sfn /proc/self/fd/0 /dev/stdin
$bb ln -sfn /proc/self/fd/1 /dev/stdout
$bb ln -sfn /proc/self/fd/2 /dev/stderr
echo "VFMIG-LAB-STAGE2 uptime $(up)" >/dev/console
$bb ip link set lo up || fatal "ip link set lo up"
$bb hostname vfmig-lab
$bb mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results "$R" || fatal "mount results share"
[ -r "$J/job.sh" ] || fatal "no $J/job.sh"
$bb mkfifo "$L/stdout" "$L/stderr" || fatal mkfifo
$bb cat <"$L/stdout" >"$J/stdout" &
r1=$!
$bb cat <"$L/stderr" >"$J/stderr" &
r2=$!
echo "VFMIG-LAB-START uptime $(up)" >/dev/console
$bb env -i /bin/bash --noprofile --norc "$J/job.sh" </dev/null >"$L/stdout" 2>"$L/stderr" &
wait $!
st=$?
echo "VFMIG-LAB-JOB-EXIT $st uptime $(up)" >/dev/console

# Whatever the job left running may hold the pipes open: terminate it.
# Kernel threads (pid 2 and its children) and zombies are left alone.
# others [SIGNAL]: signal the leftovers; true if there were any.
others() {
	n=0
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		case " 1 2 $$ $r1 $r2 " in *" $p "*) continue ;; esac
		read -r s 2>/dev/null <"$d/stat" || continue
		set -- ${s##*) } # state ppid ...
		case "$1:$2" in Z:* | X:* | *:2) continue ;; esac
		n=$((n + 1))
		[ -z "${sig:-}" ] || kill -"$sig" "$p" 2>/dev/null
	done
	[ "$n" -gt 0 ]
}
centis() {
	read -r u _ </proc/uptime
	u=${u%.*}${u#*.}
	while [ "${u#0}" != "$u" ]; do u=${u#0}; done
	echo "${u:-0}"
}
for signal in TERM KILL; do
	sig=$signal others || break
	end=$(($(centis) + 100)) # give them a second to exit
	while sig='' others && [ "$(centis)" -lt "$end" ]; do
		$bb usleep 20000
	done
done
wait "$r1" "$r2"
echo "$st" >"$J/status.tmp" && $bb mv "$J/status.tmp" "$J/status"
$bb sync
$bb umount "$R"
echo "VFMIG-LAB-EXIT $st uptime $(up)" >/dev/console
$bb poweroff -f
EOF_STAGE2

# --initrd: the boot script an initramfs-tools /init sources for boot=vfmiglab
# (its mountroot()): the same root as STAGE1 builds, then PID 1 is STAGE2
# through init=/run/vfmig-lab/init (/init moves /run, and with it these
# mounts and files, into the root before it runs init).
read -r -d '' ITOOLS_BOOT <<'EOF_ITOOLS_BOOT' || true
# vfmig lab root for an initramfs-tools image (tests/lab/vm-run.sh --initrd)
mountroot() {
	read -r u _ </proc/uptime; echo "VFMIG-LAB-MOUNTROOT uptime $u" >/dev/console
	for m in virtio_pci 9pnet_virtio 9p overlay; do
		modprobe "$m" || panic "vfmig-lab: modprobe $m"
	done
	mkdir -p /vfmig-lab/lower /vfmig-lab/rw
	mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /vfmig-lab/lower ||
		panic "vfmig-lab: mount host root over 9p"
	mount -t tmpfs -o mode=0755 tmpfs /vfmig-lab/rw
	mkdir -p /vfmig-lab/rw/upper /vfmig-lab/rw/work
	mount -t overlay -o lowerdir=/vfmig-lab/lower,upperdir=/vfmig-lab/rw/upper,workdir=/vfmig-lab/rw/work \
		vfmig-lab-root "${rootmnt}" || panic "vfmig-lab: mount overlay"
	# as STAGE1: what earlier runs left of vfmig on the host is hidden (whiteouts)
	for d in var/lib/vfmig etc/vfmig; do
		if [ -e "${rootmnt}/$d" ]; then
			rm -rf "${rootmnt:?}/$d" || panic "vfmig-lab: hide the host's /$d"
			echo "VFMIG-LAB-HIDDEN /$d (left on the host by an earlier run)" >/dev/console
		fi
	done
	mount -o remount,exec /run || panic "vfmig-lab: remount /run exec"
	mkdir -p /run/vfmig-lab/lower /run/vfmig-lab/rw
	mount -n -o move /vfmig-lab/lower /run/vfmig-lab/lower
	mount -n -o move /vfmig-lab/rw /run/vfmig-lab/rw
	cp /etc/vfmig-lab/busybox /etc/vfmig-lab/stage2 /run/vfmig-lab/ || panic "vfmig-lab: copy stage2"
	printf '#!/run/vfmig-lab/busybox sh\nexec /run/vfmig-lab/busybox sh /run/vfmig-lab/stage2\n' >/run/vfmig-lab/init
	chmod 0755 /run/vfmig-lab/init
	read -r u _ </proc/uptime; echo "VFMIG-LAB-SWITCH-ROOT uptime $u" >/dev/console
}
EOF_ITOOLS_BOOT

# --initrd: IMAGE followed by a small uncompressed cpio with the boot script,
# STAGE2 and busybox (the kernel unpacks concatenated archives in order).
# The cpio must start on a 4-byte boundary: the kernel takes an uncompressed
# archive only there and reads anything else as compressed ("invalid magic at
# start of compressed archive", seen when mkinitramfs's zstd image was
# 7227754 bytes), so IMAGE is padded with zeros first, which it skips.
build_itools_initrd() {
    local out=$1 stage rc=0
    stage=$(mktemp -d "$jobdir/itools.XXXXXX")
    mkdir -p "$stage/scripts" "$stage/etc/vfmig-lab" &&
        printf '%s\n' "$ITOOLS_BOOT" >"$stage/scripts/vfmiglab" &&
        printf '%s\n' "$STAGE2" >"$stage/etc/vfmig-lab/stage2" &&
        cp -- "$(command -v busybox)" "$stage/etc/vfmig-lab/busybox" &&
        cp -- "$itools_image" "$out" &&
        truncate -s %4 -- "$out" &&
        (cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
            cpio --null --create --format=newc --reproducible --quiet) >>"$out" || rc=$?
    rm -rf -- "$stage"
    return "$rc"
}

# Fill directory $1 with the initramfs tree.  Called where set -e does not
# apply (cached_build tests the builder's status): every step is checked.
# shellcheck disable=SC2317 # called through build_initramfs
fill_initramfs() {
    local stage=$1 ko dst list
    mkdir -p "$stage"/{bin,etc/vfmig-lab,lib/modules,proc,sys,dev} || return 1
    cp -- "$(command -v busybox)" "$stage/bin/busybox" || return 1
    printf '%s\n' "$STAGE1" >"$stage/init" || return 1
    printf '%s\n' "$STAGE2" >"$stage/etc/vfmig-lab/stage2" || return 1
    chmod 0755 "$stage/init" "$stage/bin/busybox" || return 1
    : >"$stage/etc/vfmig-lab/modules.boot" || return 1
    : >"$stage/etc/vfmig-lab/modules.vfio" || return 1
    for ko in "${module_list[@]}"; do
        list=modules.boot
        [[ " ${vfio_modules[*]} " == *" $ko "* ]] && list=modules.vfio
        dst=/lib/modules/${ko##*/}
        case $ko in
        *.ko) cp -- "$ko" "$stage$dst" ;;
        *.ko.xz) dst=${dst%.xz}; xz -dc -- "$ko" >"$stage$dst" ;;
        *.ko.zst) dst=${dst%.zst}; zstd -qdc -- "$ko" >"$stage$dst" ;;
        *) msg "unsupported module format: $ko"; false ;;
        esac || return 1
        printf '%s\n' "$dst" >>"$stage/etc/vfmig-lab/$list" || return 1
    done
}

# Uncompressed newc cpio: the kernel unpacks it faster than TCG decompresses.
# shellcheck disable=SC2317 # called through cached_build
build_initramfs() {
    local out=$1 stage rc=0
    stage=$(mktemp -d "$cache/initramfs.XXXXXX")
    fill_initramfs "$stage" &&
        (cd "$stage" && find . -print0 | LC_ALL=C sort -z |
            cpio --null --create --format=newc --reproducible --quiet) >"$out" || rc=$?
    rm -rf -- "$stage"
    return "$rc"
}

# Boot modules are loaded by init; the vfio ones are in the image but loaded
# only with --preload-vfio (by default the script decides, as on a real host;
# modprobe inside the VM finds /lib/modules through the host root).
mapfile -t boot_modules < <(module_paths "${INITRD_BOOT_MODULES[@]}")
mapfile -t vfio_modules < <(module_paths "${INITRD_BOOT_MODULES[@]}" "${INITRD_VFIO_MODULES[@]}" |
    tail -n +$((${#boot_modules[@]} + 1)))
((${#boot_modules[@]} && ${#vfio_modules[@]})) ||
    die $EXIT_VMFAIL "modprobe -S $kver --show-depends found no modules"
module_list=("${boot_modules[@]}" "${vfio_modules[@]}")
kernel_key=$(stat -L -c '%n %s %Y %i' -- "$kernel" | sha256sum)
initrd_key=$( {
    printf 'format %s\n%s\n%s\n' "$INITRAMFS_FORMAT" "$STAGE1" "$STAGE2"
    stat -L -c '%n %s %Y %i' -- "$(command -v busybox)" "${module_list[@]}"
} | sha256sum)
cached_build "vmlinux-$kver" "$kernel_key" build_vmlinux ||
    die $EXIT_VMFAIL "cannot extract vmlinux from $kernel"
cached_build "initramfs-$kver.cpio" "$initrd_key" build_initramfs ||
    die $EXIT_VMFAIL "cannot build the initramfs"
vmlinux=$cache/vmlinux-$kver
initrd=$cache/initramfs-$kver.cpio

# ---------------------------------------------------------------- the job
script=$1; shift
[[ -f $script ]] || die $EXIT_USAGE "$script: no such file"
script=$(realpath -e -- "$script")
cwd=$(pwd -P)
for p in "$script" "$cwd"; do
    case $p/ in
    /run/* | /proc/* | /sys/* | /dev/*) die $EXIT_USAGE "$p: paths under /run, /proc, /sys, /dev are not visible in the VM" ;;
    esac
done

qemu_pid='' results_tmp=''
# shellcheck disable=SC2317 # called by trap
cleanup() {
    local rc=$?
    if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill -TERM "$qemu_pid" 2>/dev/null || true # timeout(1) passes it on to QEMU
        wait "$qemu_pid" 2>/dev/null || true
    fi
    [[ -n $results_tmp ]] && rm -rf -- "$results_tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n $results_dir ]]; then
    mkdir -p -- "$results_dir"
    results_dir=$(realpath -e -- "$results_dir")
else
    results_tmp=$(mktemp -d "${TMPDIR:-/tmp}/vfmig-lab.XXXXXX")
    results_dir=$results_tmp
fi
jobdir=$results_dir/.vm-run
rm -rf -- "$jobdir"
mkdir -m 0700 -- "$jobdir" # job.sh holds the caller's environment
console=${console_keep:-$jobdir/console.log}
: >"$console"

# job.sh: the host's exported environment, the working directory, the script.
{
    printf '# generated by %s\n' "$PROG"
    while read -r name; do
        case $name in
        PWD | OLDPWD | SHLVL | _ | TERM | BASH_FUNC_*) continue ;;
        esac
        printf 'export %s=%q\n' "$name" "${!name}"
    done < <(compgen -e)
    printf 'export VFMIG_LAB=1 LAB_RESULTS=/run/lab LAB_NVME_VFS=%q\n' "$nvme_vfs"
    printf 'export LAB_DIR=%q\n' "$(dirname -- "$(realpath -e -- "${BASH_SOURCE[0]}")")"
    # shellcheck disable=SC2016 # expanded in the guest
    printf '[[ -d ${TMPDIR:-/tmp} ]] || unset TMPDIR\n'
    printf 'cd -- %q || exit 125\n' "$cwd"
    if [[ -x $script ]]; then
        printf 'exec %q' "$script"
    else
        printf 'exec /bin/bash %q' "$script"
    fi
    (($#)) && printf ' %q' "$@"
    printf '\n'
} >"$jobdir/job.sh"

# no_timer_check: on a loaded host, 6.1's IO-APIC timer check can fail under
# TCG ("timer doesn't work through Interrupt-remapped IO-APIC": a panic at boot)
cmdline="console=ttyS0 quiet panic=-1 intel_iommu=on iommu=pt no_timer_check vfmig_lab.guest=1"
((preload_vfio)) && cmdline+=" vfmig_lab.preload_vfio=1"
if [[ -n $itools_image ]]; then
    [[ -f $itools_image ]] || die $EXIT_USAGE "--initrd $itools_image: no such file"
    build_itools_initrd "$jobdir/initrd.img" || die $EXIT_VMFAIL "cannot append the lab's boot script to $itools_image"
    initrd=$jobdir/initrd.img
    cmdline+=" boot=vfmiglab init=/run/vfmig-lab/init"
fi
cmdline+=$append

nvme_dev="nvme,id=nvme0,serial=vfmiglab0,subsys=nvmesubsys0,bus=rp0"
if ((nvme_vfs > 0)); then
    # QEMU checks: vq_flexible >= 2*VFs, vi_flexible >= VFs, the PF keeps at
    # least 2 queue pairs and 1 interrupt vector of its own.
    nvme_dev+=",sriov_max_vfs=$nvme_vfs,sriov_vq_flexible=$((2 * nvme_vfs))"
    nvme_dev+=",sriov_vi_flexible=$nvme_vfs,max_ioqpairs=$((2 * nvme_vfs + 4))"
    nvme_dev+=",msix_qsize=$((nvme_vfs + 1))"
fi

# shellcheck disable=SC2054 # commas belong to QEMU's option syntax
qemu_cmd=(
    "$qemu" -nodefaults -no-user-config -display none -monitor none -no-reboot
    -machine q35,kernel-irqchip=split -accel tcg -cpu max -smp "$smp" -m "$mem_mib"
    -device intel-iommu,intremap=on,caching-mode=on
    -kernel "$vmlinux" -initrd "$initrd" -append "$cmdline"
    -chardev "file,id=con,path=$(qemu_escape "$console")" -serial chardev:con
    -device pcie-root-port,id=rp0,chassis=1,slot=1
    -device nvme-subsys,id=nvmesubsys0,nqn=vfmig-lab
    -device "$nvme_dev"
    -blockdev null-co,node-name=nvmens0,size=1073741824,read-zeroes=on
    -device nvme-ns,drive=nvmens0,bus=nvme0,nsid=1
    -netdev user,id=net0,restrict=on
    -device e1000e,netdev=net0,id=nic0
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
    -virtfs "local,path=$(qemu_escape "$results_dir"),mount_tag=results,security_model=none,multidevs=remap"
    "${qemu_extra[@]}"
)
printf '%q ' "${qemu_cmd[@]}" >"$jobdir/qemu.cmd"

# A vCPU the emulator stops scheduling shows in the guest as an RCU stall
# ("rcu_preempt detected stalls on CPUs/tasks"), after which the guest rarely
# moves again (seen once in a fullstack run on a 6.12 guest under TCG): that
# is the emulator's failure, not the script's. The VM is then run again from
# the start, VFMIG_LAB_STALL_RETRIES times (default 1), and stderr says so.
stall_retries=${VFMIG_LAB_STALL_RETRIES:-1}
stall_pattern=${VFMIG_LAB_STALL_PATTERN:-rcu_preempt detected stalls}
while :; do
    start=$EPOCHREALTIME
    rm -f -- "$jobdir/stdout" "$jobdir/stderr" "$jobdir/status"
    : >"$console"
    set +e
    timeout -k 10 "$timeout_s" "${qemu_cmd[@]}" </dev/null >"$jobdir/qemu.log" 2>&1 &
    qemu_pid=$!
    stalled=0
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if grep -q -- "$stall_pattern" "$console" 2>/dev/null && [[ ! -f $jobdir/status ]]; then
            stalled=1
            kill -TERM "$qemu_pid" 2>/dev/null
            break
        fi
        sleep 1
    done
    wait "$qemu_pid"
    qrc=$?
    set -e
    qemu_pid=
    ((stalled && stall_retries > 0)) || break
    stall_retries=$((stall_retries - 1))
    msg "the guest's CPU stalled (RCU stall on its console after $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')s): the emulator's failure; running the VM again"
    grep -m 3 -- "$stall_pattern" "$console" | sed 's/^/  | /' >&2 || true
done
elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

[[ -f $jobdir/stdout ]] && cat -- "$jobdir/stdout"
[[ -f $jobdir/stderr ]] && cat -- "$jobdir/stderr" >&2

if [[ -f $jobdir/status && $(<"$jobdir/status") =~ ^[0-9]+$ ]]; then
    rc=$(<"$jobdir/status")
    [[ -n ${VFMIG_LAB_VERBOSE:-} ]] && msg "VM ran ${elapsed}s, script exited $rc"
    exit "$rc"
fi
if ((qrc == 124 || qrc == 137)); then
    msg "timeout: the VM did not finish within ${timeout_s}s; console tail:"
    rc=$EXIT_TIMEOUT
else
    msg "the VM stopped (QEMU exit $qrc after ${elapsed}s) without a status; QEMU said:"
    sed 's/^/  | /' -- "$jobdir/qemu.log" >&2
    msg "console tail:"
    rc=$EXIT_VMFAIL
fi
tail -n 40 -- "$console" | sed 's/^/  | /' >&2
exit "$rc"
