# shellcheck shell=bash
# twohost-lib.sh — two root libvirtd "hosts" (a and b) on one machine, for
# test tier 3 of DESIGN.md ("Two hosts").  Source it; see README.md.
#
#   source tests/lab/twohost/twohost-lib.sh
#   th_install || exit 77            # packages/users; prints why on failure
#   th_up "$wd" [--hook FILE]...     # sets TH_WORKDIR TH_A_URI TH_B_URI
#   th_define_guest a g1 && th_start_guest a g1
#   th_counter a g1                  # the guest's 64-bit loop counter (decimal)
#   th_migrate a b g1 [virsh migrate options]
#   th_wait_state b g1 running 10
#   th_down "$wd"
#
# Knobs (environment, read when a function runs):
#   TH_ADDR_A, TH_ADDR_B   migration addresses of a and b (127.0.0.2, 127.0.0.3);
#                          two labs running at once need different pairs
#   TH_PORT_MIN            first migration port (49152; 64 ports are used)
#   TH_PATH_PREPEND        dirs put in front of the daemons' PATH (hooks inherit
#                          PATH: put the directory of vfmigctl here)
#   TH_DAEMON_ENV          array of extra VAR=value for the daemons (LD_PRELOAD
#                          and LD_LIBRARY_PATH reach hooks, other vars do not)
#   TH_GUEST_MEM_MIB       guest RAM (32)
#   TH_GUEST_FILL_MIB      RAM the guest fills with non-zero data at start (0);
#                          migration time grows with it (decision 27)
#   TH_GUEST_ACK_UNPLUG    1: the guest ROM acknowledges PCI hot-unplug (ACPI
#                          PIIX4 eject), so a <hostdev> can be detached (0)
#   TH_GUEST_ACK_POWERDOWN 1: the guest ROM powers off on the ACPI power button
#                          (virsh shutdown), as an ACPI OS would (0; not with
#                          TH_GUEST_ACK_UNPLUG=1)
#   TH_GUEST_DEVICES       XML added inside the guest's <devices> ("")
#   TH_CAPS_CACHE          where QEMU capabilities are kept between runs
#                          (/var/tmp/vfmig-th-caps-$UID; "" for none)
#   TH_UP_TIMEOUT          seconds to wait for each daemon (150: a loaded 2-core machine)
#   TH_DOWN_TIMEOUT        seconds for a daemon to stop before SIGKILL (20)

TH_DIR=$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")
TH_HOSTS=(a b)
TH_COUNTER_ADDR=0x1000 # guest-physical address of the counter (8 bytes)
TH_PACKAGES=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86)
# mounted inside host H over the same path under WORKDIR/H
TH_MOUNTS=(/etc/libvirt /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt)

_th_err() { printf 'twohost: %s\n' "$*" >&2; }

# ---------------------------------------------------------------- install
# th_missing: print what is missing (one line each); status 0 if nothing is.
th_missing() {
    local p rc=0 st
    for p in "${TH_PACKAGES[@]}"; do
        st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || st=''
        [[ $st == *' installed' ]] || { printf 'package %s\n' "$p"; rc=1; }
    done
    for p in /usr/sbin/libvirtd /usr/bin/virsh /usr/bin/qemu-system-x86_64 unshare mount; do
        command -v "$p" >/dev/null || { printf 'program %s\n' "$p"; rc=1; }
    done
    getent group kvm >/dev/null || { printf 'group kvm\n'; rc=1; }
    getent group libvirt-qemu >/dev/null || { printf 'group libvirt-qemu\n'; rc=1; }
    getent passwd libvirt-qemu >/dev/null || { printf 'user libvirt-qemu\n'; rc=1; }
    return "$rc"
}

# th_install: install the packages (apt-get --no-install-recommends) and create
# the users/groups Debian's libvirt-daemon-system would.  Returns 0 when all is
# there, 77 with the reason on stderr when it cannot be (not root, no apt...).
th_install() {
    local missing pkgs=() l
    missing=$(th_missing) && return 0
    if ((EUID != 0)); then
        _th_err "needs root; missing: ${missing//$'\n'/, }"
        return 77
    fi
    while IFS= read -r l; do
        [[ $l == package\ * ]] && pkgs+=("${l#package }")
    done <<<"$missing"
    if ((${#pkgs[@]})); then
        command -v apt-get >/dev/null || { _th_err "no apt-get to install ${pkgs[*]}"; return 77; }
        export DEBIAN_FRONTEND=noninteractive
        if ! apt-get install -y -q --no-install-recommends "${pkgs[@]}" >&2; then
            apt-get update -q >&2 || true
            apt-get install -y -q --no-install-recommends "${pkgs[@]}" >&2 || {
                _th_err "apt-get install ${pkgs[*]} failed"
                return 77
            }
        fi
    fi
    getent group kvm >/dev/null || groupadd --system kvm || return 77
    getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu || return 77
    getent passwd libvirt-qemu >/dev/null ||
        useradd --system --gid kvm --groups libvirt-qemu --no-create-home \
            --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu || return 77
    missing=$(th_missing) || { _th_err "still missing: ${missing//$'\n'/, }"; return 77; }
}

# ---------------------------------------------------------------- hosts
# th_uri HOST [WORKDIR]: the client URI of host a or b.
th_uri() {
    printf 'qemu+unix:///system?socket=%s/%s/run/libvirt/libvirt-sock\n' \
        "${2:-${TH_WORKDIR:?th_up or th_use first}}" "$1"
}

# th_use WORKDIR: point the th_* functions at hosts already started there.
th_use() {
    TH_WORKDIR=$(realpath -m -- "$1")
    TH_A_URI=$(th_uri a) TH_B_URI=$(th_uri b)
    export TH_WORKDIR TH_A_URI TH_B_URI
}

# th_virsh HOST ARGS...: virsh on host a or b.
th_virsh() {
    local h=$1
    shift
    virsh -q -c "$(th_uri "$h")" "$@"
}

_th_addr() { if [[ $1 == a ]]; then printf '%s' "${TH_ADDR_A:-127.0.0.2}"; else printf '%s' "${TH_ADDR_B:-127.0.0.3}"; fi; }

# Write HOSTDIR's private /etc/libvirt (only files we own are rewritten).
_th_configure() { # WORKDIR HOST
    local hd=$1/$2 m uuid addr port=${TH_PORT_MIN:-49152}
    for m in "${TH_MOUNTS[@]}"; do mkdir -p -- "$hd$m"; done
    mkdir -p -- "$hd/etc/libvirt/hooks/qemu.d"
    [[ -s $hd/host_uuid ]] || cat /proc/sys/kernel/random/uuid >"$hd/host_uuid"
    read -r uuid <"$hd/host_uuid"
    addr=$(_th_addr "$2")
    cat >"$hd/etc/libvirt/libvirtd.conf" <<EOF
# written by tests/lab/twohost/twohost-lib.sh
host_uuid = "$uuid"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
EOF
    cat >"$hd/etc/libvirt/qemu.conf" <<EOF
# written by tests/lab/twohost/twohost-lib.sh
user = "root"
group = "root"
security_driver = "none"
remember_owner = 0
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
migration_address = "$addr"
migration_host = "$addr"
migration_port_min = $port
migration_port_max = $((port + 63))
EOF
    : >"$hd/etc/libvirt/libvirt.conf"
    _th_caps_seed "$hd"
    # The daemon hook logs its calls ("- reload begin SIGHUP" after a SIGHUP
    # proves the hooks were looked up again: th_hook waits for it).
    printf '#!/bin/sh\nprintf "%%s\\n" "$*" >>/run/libvirt/th-daemon-hook.log\n' \
        >"$hd/etc/libvirt/hooks/daemon"
    chmod 0755 "$hd/etc/libvirt/hooks/daemon"
}

# Runs as PID 1 of host HOST's pid namespace (see th_up): private mounts,
# hostname, libvirtd in the foreground; forwards TERM/INT/HUP to it and reaps
# the QEMU processes that get reparented to it.  When it exits, the kernel
# kills everything left in the namespace.
_th_ns_init() { # HOSTDIR HOSTNAME
    local hd=$1 m pid rc=0
    cd / && printf '%s\n' "$2" >/proc/sys/kernel/hostname || return 1
    for m in "${TH_MOUNTS[@]}"; do
        mkdir -p -- "$m" && mount --bind -- "$hd$m" "$m" || return 1
    done
    /usr/sbin/libvirtd -f /etc/libvirt/libvirtd.conf -p /run/libvirt/libvirtd.pid &
    pid=$!
    trap 'kill -TERM $pid' TERM INT
    trap 'kill -HUP $pid' HUP
    while kill -0 "$pid" 2>/dev/null; do
        wait "$pid" && rc=0 || rc=$?
    done
    printf 'libvirtd exited: %s\n' "$rc"
    return "$rc"
}

_th_daemon_path() {
    printf '%s/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        "${TH_PATH_PREPEND:+$TH_PATH_PREPEND:}"
}

# _th_start WORKDIR HOST: start the namespace (background job of this shell).
_th_start() {
    local hd=$1/$2
    # shellcheck disable=SC2016 # expanded by the inner bash
    env -i PATH="$(_th_daemon_path)" HOME=/root LANG=C.UTF-8 "${TH_DAEMON_ENV[@]}" \
        unshare --pid --fork --kill-child --mount-proc --mount --uts --propagation private \
        /bin/bash -c 'source "$0" && _th_ns_init "$1" "$2"' \
        "$TH_DIR/twohost-lib.sh" "$hd" "vfmig-th-$2" \
        </dev/null >"$hd/daemon.log" 2>&1 &
    local pid=$!
    printf "%s\n" "$pid" >"$hd/unshare.pid"
    disown "$pid" # no "Killed" job notices; stopped by PID, never by wait
    # Until the child has exec'd env and then unshare, /proc shows the forking
    # shell's command line, which _th_alive rightly does not take for the host:
    # a caller asking at once read "not running" (lab-twohost's "host b starts
    # again" failed so on a loaded machine). Return once it is unshare or gone.
    _th_poll "_th_alive '$1' '$2' >/dev/null || ! _th_pid_running $pid" 30
}

# _th_pid_running PID: the process exists and is not a zombie.
_th_pid_running() {
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [[ ${st%% *} != Z ]]
}

# _th_alive WORKDIR HOST: print the unshare PID if that host still runs.
# (Checks comm and command line, so a recycled PID is never taken for it.)
_th_alive() {
    local hd=$1/$2 pid st cmd
    [[ -s $hd/unshare.pid ]] || return 1
    read -r pid <"$hd/unshare.pid"
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    st=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [[ ${st%% *} != Z ]] || return 1
    cmd=$(tr "\0" " " 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ $cmd == unshare\ * && $cmd == *" $hd "* ]] || return 1
    printf '%s\n' "$pid"
}

# _th_init_pid WORKDIR HOST: the host-side PID of the namespace's PID 1.
_th_init_pid() {
    local upid c
    upid=$(_th_alive "$1" "$2") || return 1
    read -r c _ <"/proc/$upid/task/$upid/children" || [[ -n $c ]] || return 1
    printf '%s\n' "$c"
}

_th_now_ms() { printf '%s' "$((${EPOCHREALTIME/./} / 1000))"; }

# _th_poll COND TIMEOUT_S: eval COND every 50 ms until true (0) or timeout (1).
_th_poll() {
    local deadline=$(($(_th_now_ms) + ${2%.*} * 1000))
    while :; do
        eval "$1" && return 0
        (($(_th_now_ms) < deadline)) || return 1
        sleep 0.05
    done
}

# th_up WORKDIR [--hook FILE]...: configure and start hosts a and b under
# WORKDIR (created if needed; keep its path short: socket paths are limited
# to 107 bytes), install the hooks as /etc/libvirt/hooks/qemu.d/BASENAME on
# both, wait until both answer.  Sets and exports TH_WORKDIR TH_A_URI
# TH_B_URI, and TH_UP_MS.  On failure both hosts are stopped again.
th_up() {
    local wd h hooks=() sock t0
    wd=$(realpath -m -- "${1:?th_up WORKDIR}")
    shift
    while (($#)); do
        case $1 in
        --hook) hooks+=("${2:?--hook FILE}"); shift 2 ;;
        *) _th_err "th_up: unknown option $1"; return 2 ;;
        esac
    done
    sock="$wd/a/run/libvirt/libvirt-admin-sock"
    ((${#sock} <= 107)) || { _th_err "WORKDIR path too long for a socket: $sock"; return 2; }
    # libvirtd refuses to start when user libvirt-qemu is missing, even with
    # user = "root" (its built-in default is parsed first); seen disappear
    # from /etc/passwd while other work ran on the machine: check every time.
    th_install || return 1
    t0=$(_th_now_ms)
    for h in "${TH_HOSTS[@]}"; do
        if _th_alive "$wd" "$h" >/dev/null; then
            _th_err "host $h already running in $wd"
            return 1
        fi
        _th_configure "$wd" "$h" || return 1
    done
    for h in "${hooks[@]}"; do th_hook "$wd" "$h" || return 1; done
    th_use "$wd"
    for h in "${TH_HOSTS[@]}"; do _th_start "$wd" "$h"; done
    for h in "${TH_HOSTS[@]}"; do
        _th_wait_up "$wd" "$h" || { th_down "$wd"; return 1; }
    done
    # shellcheck disable=SC2034 # for the caller
    TH_UP_MS=$(($(_th_now_ms) - t0))
    _th_caps_save "$wd/a"
}

# QEMU capabilities cache (TH_CAPS_CACHE; "" turns it off): a fresh libvirtd
# probes every QEMU binary (~8 s of the ~10 s start-up on a busy 2-core
# machine); a seeded cache brings th_up to ~2 s.  libvirtd checks each cached
# file (QEMU and libvirtd ctime, kernel, CPU) and probes again when stale.
_th_caps_dir() { printf '%s' "${TH_CAPS_CACHE-/var/tmp/vfmig-th-caps-$UID}"; }
_th_caps_seed() { # HOSTDIR
    local c d=$1/var/cache/libvirt/qemu/capabilities f
    c=$(_th_caps_dir)
    [[ -n $c && -d $c ]] || return 0
    mkdir -p -- "$d"
    for f in "$c"/*.xml; do
        [[ -e $f && ! -e $d/${f##*/} ]] && cp -p -- "$f" "$d/"
    done
    return 0
}
_th_caps_save() { # HOSTDIR
    local c f
    c=$(_th_caps_dir)
    [[ -n $c ]] || return 0
    mkdir -p -- "$c" || return 0
    for f in "$1"/var/cache/libvirt/qemu/capabilities/*.xml; do
        [[ -e $f ]] || continue
        cmp -s -- "$f" "$c/${f##*/}" && continue
        cp -p -- "$f" "$c/.${f##*/}.$$" && mv -f -- "$c/.${f##*/}.$$" "$c/${f##*/}"
    done
    return 0
}

# _th_wait_up WORKDIR HOST: until the daemon answers (0) or died/timed out (1).
_th_wait_up() {
    local wd=$1 h=$2
    if _th_poll "_th_alive '$wd' $h >/dev/null && virsh -c '$(th_uri "$h" "$wd")' version >/dev/null 2>&1 ||
            { ! _th_alive '$wd' $h >/dev/null; }" "${TH_UP_TIMEOUT:-150}" &&
        _th_alive "$wd" "$h" >/dev/null; then
        _th_record_pidns "$wd" "$h"
        return 0
    fi
    _th_err "host $h did not come up; $wd/$h/daemon.log and var/log/libvirt/libvirtd.log say:"
    tail -n 20 "$wd/$h/daemon.log" "$wd/$h/var/log/libvirt/libvirtd.log" >&2 2>/dev/null
    return 1
}

# th_host_start HOST: start one host again (after th_host_stop) in TH_WORKDIR;
# its configuration, defined domains and hooks are kept.
th_host_start() {
    ! _th_alive "$TH_WORKDIR" "$1" >/dev/null || { _th_err "host $1 is running"; return 1; }
    _th_start "$TH_WORKDIR" "$1"
    _th_wait_up "$TH_WORKDIR" "$1"
}

# th_host_stop HOST [--kill] [WORKDIR]: stop one host: SIGTERM to libvirtd
# through the namespace's init (SIGKILL to unshare after TH_DOWN_TIMEOUT s);
# with --kill, SIGKILL at once (a host "crash": libvirtd and its QEMUs die
# together, nothing is cleaned up).  QEMU processes die with the namespace.
th_host_stop() {
    local h=$1 kill=0 wd pid ipid
    [[ ${2:-} != --kill ]] || { kill=1; shift; }
    wd=${2:-${TH_WORKDIR:?}}
    pid=$(_th_alive "$wd" "$h") || return 0
    if ((kill)); then
        kill -KILL "$pid" 2>/dev/null
    elif ipid=$(_th_init_pid "$wd" "$h"); then
        kill -TERM "$ipid" 2>/dev/null
    fi
    if ! _th_poll "! _th_alive '$wd' $h >/dev/null" "${TH_DOWN_TIMEOUT:-20}"; then
        _th_err "host $h did not stop; SIGKILL to unshare $pid"
        kill -KILL "$pid" 2>/dev/null
        _th_poll "! _th_alive '$wd' $h >/dev/null" 5 || return 1
    fi
    wait "$pid" 2>/dev/null || true # reap it if it is our child
    # A crashed host reboots with an empty /run (a tmpfs). Left behind, the
    # running domains' status files make the next libvirtd "reconnect" to
    # QEMUs that died with the namespace and kill the PIDs they name - in a
    # new PID namespace, maybe libvirtd's own (seen: lab-evacuate's host b
    # killed itself on restart).
    if ((kill)); then rm -rf -- "$wd/$h/run/libvirt/qemu"; fi
}

# _th_record_pidns WORKDIR HOST: remember the pid namespace of HOST's
# current run (appended: a host started again gets a new one); th_leftovers
# looks for processes still in it.
_th_record_pidns() {
    local ipid ns
    ipid=$(_th_init_pid "$1" "$2") || return 0
    ns=$(readlink "/proc/$ipid/ns/pid" 2>/dev/null) || return 0
    printf '%s\n' "$ns" >>"$1/$2/pidns"
}

# th_leftovers [WORKDIR]: the processes still in a pid namespace the lab's
# hosts ran in (libvirtd, QEMU, hooks), one "PID COMM" line each; returns 1
# when there is any. Matched by namespace, never by name: other labs' and
# other users' libvirtd and QEMU are not this lab's.
th_leftovers() {
    local wd h ns p n st found=0
    local -A want=()
    wd=$(realpath -m -- "${1:-${TH_WORKDIR:?th_leftovers WORKDIR}}")
    for h in "${TH_HOSTS[@]}"; do
        [[ -s $wd/$h/pidns ]] || continue
        while read -r ns; do want[$ns]=1; done <"$wd/$h/pidns"
    done
    ((${#want[@]})) || return 0
    for p in /proc/[0-9]*; do
        ns=$(readlink "$p/ns/pid" 2>/dev/null) || continue
        [[ -n ${want[$ns]:-} ]] || continue
        # a zombie runs nothing: the init of a host killed with --kill is
        # one until the system's init reaps it (seen: "9694 bash", State Z,
        # PPid 1, gone a second later)
        st=$(cat "$p/stat" 2>/dev/null) || continue
        st=${st##*) }
        [[ ${st%% *} != Z ]] || continue
        n='?'
        read -r n 2>/dev/null <"$p/comm" || true
        printf '%s %s\n' "${p#/proc/}" "$n"
        found=1
    done
    return "$found"
}

# th_down [WORKDIR]: stop both hosts (th_host_stop).  Removes nothing.
# Returns 0 when both are gone.
th_down() {
    local wd h rc=0
    wd=$(realpath -m -- "${1:-${TH_WORKDIR:?th_down WORKDIR}}")
    for h in "${TH_HOSTS[@]}"; do
        th_host_stop "$h" "$wd" || rc=1
    done
    return "$rc"
}

# th_hook WORKDIR FILE [NAME]: install FILE as the qemu hook
# /etc/libvirt/hooks/qemu.d/NAME (default: FILE's basename) on both hosts.
# Running hosts get SIGHUP, which makes libvirtd 9.0 look for hooks again;
# th_hook returns when both have done so (their daemon hook saw "reload").
th_hook() {
    local wd src=$2 name=${3:-${2##*/}} h ipid n
    wd=$(realpath -m -- "$1")
    for h in "${TH_HOSTS[@]}"; do
        mkdir -p -- "$wd/$h/etc/libvirt/hooks/qemu.d"
        install -m 0755 -- "$src" "$wd/$h/etc/libvirt/hooks/qemu.d/$name" || return 1
        ipid=$(_th_init_pid "$wd" "$h") || continue
        n=$(_th_reloads "$wd" "$h")
        kill -HUP "$ipid" || return 1
        _th_poll "(( \$(_th_reloads '$wd' $h) > $n ))" 20 || {
            _th_err "host $h did not reload its hooks"
            return 1
        }
    done
}

_th_reloads() { # WORKDIR HOST: how many SIGHUP reloads the daemon hook saw
    local n
    n=$(grep -c '^- reload begin' "$1/$2/run/libvirt/th-daemon-hook.log" 2>/dev/null) || true
    printf '%s' "${n:-0}"
}

# ---------------------------------------------------------------- guest
# th_make_rom FILE [FILL_MIB]: write the 64 KiB firmware of the tiny guest.
# It enables A20, enters 32-bit protected mode (flat GDT), zeroes the
# counter, fills FILL_MIB (default 0) of guest RAM from 1 MiB up with a
# non-zero pattern (QEMU migrates zero pages nearly for free; filled RAM makes
# migration time grow with it, DESIGN.md decision 27; RAM must be at least
# FILL_MIB + 1 MiB), then increments the 64-bit little-endian counter at
# TH_COUNTER_ADDR forever with interrupts off.
# With TH_GUEST_ACK_UNPLUG=1 the loop also acknowledges PCI hot-unplug the way
# ACPI's _EJ0 does on an i440fx "pc" machine with <acpi/> (PIIX4 PCI hotplug,
# I/O base 0xae00): write 0 to the bus select (0xae10, the root bus), read the
# slots pending removal (0xae04), write that mask to the eject register
# (0xae08).  Without it a detach is never acknowledged (the device stays).
th_make_rom() {
    local file=$1 fill=${2:-0} hex
    fill=$((fill * 262144)) # dwords
    # 16-bit part at F000:0000 (phys 0xF0000)
    hex='FA FC 31C0 8ED8 8ED0'          # cli; cld; xor ax,ax; mov ds,ax; mov ss,ax
    hex+=' E492 0C02 24FE E692'         # port 0x92: A20 on, no reset
    hex+=' 2E0F01162001'                # lgdt cs:[0x0120]
    hex+=' 0F20C0 0C01 0F22C0'          # cr0.PE = 1
    hex+=' 66EA 40000F00 0800'          # jmp dword 0x08:0x000F0040
    _th_rom_put "$file" 0 "$hex" 65536 || return 1
    # 32-bit part at 0xF0040
    hex='66B81000 8ED8 8EC0 8ED0'       # ds = es = ss = 0x10
    hex+=' 31C0 A300100000 A304100000'  # counter = 0
    hex+=" BF00001000 B9$(_th_le32 "$fill")" # edi = 1 MiB; ecx = dwords
    hex+=' B8A55AC33C F3AB'             # eax = 0x3CC35AA5; rep stosd
    if [[ ${TH_GUEST_ACK_UNPLUG:-0} == 1 ]]; then
        # Every 65536 counts: "pause", which makes TCG leave its execution
        # loop (QEMU 7.2 helper_pause: EXCP_INTERRUPT).  Without such an exit
        # an interrupt-less busy loop blocks QEMU's RCU grace periods forever:
        # the ejected device is unrealized but never finalized, so QEMU never
        # sends DEVICE_DELETED (libvirt keeps the hostdev) and never closes
        # /dev/vfio/N.  Then the unplug acknowledgment.
        hex+=' FF0500100000 7506'       # 1: inc dword [0x1000]; jnz 2f
        hex+=' FF0504100000'            #    inc dword [0x1004]
        hex+=' F70500100000FFFF0000'    # 2: test dword [0x1000],0xffff
        hex+=' 75E6 F390'               #    jnz 1b; pause
        hex+=' 31C0 66BA10AE EF'        #    xor eax,eax; mov dx,0xae10; out dx,eax (bus 0)
        hex+=' B204 ED 85C0 74D6'       #    mov dl,0x04; in eax,dx (pending); test; jz 1b
        hex+=' B208 EF EBD1'            #    mov dl,0x08; out dx,eax (eject them); jmp 1b
    elif [[ ${TH_GUEST_ACK_POWERDOWN:-0} == 1 ]]; then
        # ACPI power button → soft off, as an ACPI OS answers it: map the
        # PIIX4 PM registers (00:01.3: PMBA 0x40 = 0xb000, PMREGMISC 0x80
        # bit 0, as SeaBIOS does), set PWRBTN_EN in PM1_EN; every 65536
        # counts ("pause", see above) read PM1_STS and on PWRBTN_STS write
        # SLP_EN with SLP_TYP 0 (S5) to PM1_CNT: QEMU powers off.
        hex+=' B8400B0080 66BAF80C EF'  # cf8 = 00:01.3 reg 0x40
        hex+=' B801B00000 B2FC EF'      # PMBA = 0xb000 | 1
        hex+=' B8800B0080 B2F8 EF'      # cf8 = 00:01.3 reg 0x80
        hex+=' B001 B2FC EE'            # PMREGMISC = 1 (PM I/O on)
        hex+=' 66B80001 66BA02B0 66EF'  # PM1_EN = PWRBTN_EN
        hex+=' FF0500100000 7506'       # 1: inc dword [0x1000]; jnz 2f
        hex+=' FF0504100000'            #    inc dword [0x1004]
        hex+=' F70500100000FFFF0000'    # 2: test dword [0x1000],0xffff
        hex+=' 75E6 F390'               #    jnz 1b; pause
        hex+=' 66BA00B0 66ED'           #    mov dx,0xb000; in ax,dx (PM1_STS)
        hex+=' F6C401 74D9'             #    test ah,1 (PWRBTN_STS); jz 1b
        hex+=' 66B80020 B204 66EF'      #    PM1_CNT (0xb004) = SLP_EN, S5
        hex+=' F4 EBFD'                 #    hlt; jmp hlt
    else
        hex+=' FF0500100000 75F8'       # 1: inc dword [0x1000]; jnz 1b
        hex+=' FF0504100000 EBF0'       #    inc dword [0x1004]; jmp 1b
    fi
    _th_rom_put "$file" $((0x40)) "$hex" || return 1
    # GDT at 0xF0100: null, code 0x08, data 0x10 (flat 4 GiB); GDTR at 0xF0120
    hex='0000000000000000 FFFF0000009ACF00 FFFF00000092CF00'
    _th_rom_put "$file" $((0x100)) "$hex" || return 1
    _th_rom_put "$file" $((0x120)) '1700 00010F00' || return 1
    _th_rom_put "$file" $((0xFFF0)) 'EA 0000 00F0' # reset vector: jmp F000:0000
}

_th_le32() { printf '%02X%02X%02X%02X' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }

# _th_rom_put FILE OFFSET HEX [SIZE]: write HEX bytes at OFFSET; with SIZE,
# first (re)create FILE as SIZE zero bytes.
_th_rom_put() {
    local file=$1 off=$2 hex=${3// /} esc='' i
    [[ -z ${4:-} ]] || { rm -f -- "$file" && truncate -s "$4" -- "$file"; } || return 1
    for ((i = 0; i < ${#hex}; i += 2)); do esc+="\\x${hex:i:2}"; done
    # shellcheck disable=SC2059 # the format is the escaped bytes
    printf "$esc" | dd of="$file" bs=1 seek="$off" conv=notrunc status=none
}

# th_guest_xml NAME MEM_MIB ROM: print the domain XML (guest.xml filled in).
th_guest_xml() {
    local name=$1 mem=$2 rom=$3 line
    while IFS= read -r line; do
        line=${line//@NAME@/"$name"} line=${line//@MEM_MIB@/"$mem"} line=${line//@ROM@/"$rom"}
        if [[ $line == *'</devices>'* && -n ${TH_GUEST_DEVICES:-} ]]; then
            printf '%s\n' "$TH_GUEST_DEVICES"
        fi
        printf '%s\n' "$line"
    done <"$TH_DIR/guest.xml"
}

# th_define_guest HOST NAME [MEM_MIB [FILL_MIB]]: make the ROM
# (WORKDIR/rom-fillN.bin, or rom-fillN-ack.bin with TH_GUEST_ACK_UNPLUG=1;
# shared by both hosts) and define the guest persistently on HOST.
# Defaults: TH_GUEST_MEM_MIB (32), TH_GUEST_FILL_MIB (0: nothing to copy,
# migration is quick; MEM_MIB - 1 fills all RAM).  TH_GUEST_DEVICES: XML
# put inside <devices> (e.g. a <hostdev>; default none).
th_define_guest() {
    local h=$1 name=$2 mem=${3:-${TH_GUEST_MEM_MIB:-32}} fill=${4:-${TH_GUEST_FILL_MIB:-0}} rom xml
    ((fill < mem)) || { _th_err "th_define_guest: FILL_MIB must be < MEM_MIB"; return 2; }
    rom=$TH_WORKDIR/rom-fill$fill.bin xml=$TH_WORKDIR/$name.xml
    [[ ${TH_GUEST_ACK_UNPLUG:-0} == 1 ]] && rom=${rom%.bin}-ack.bin
    [[ ${TH_GUEST_ACK_UNPLUG:-0} != 1 && ${TH_GUEST_ACK_POWERDOWN:-0} == 1 ]] && rom=${rom%.bin}-pwr.bin
    [[ -s $rom ]] || th_make_rom "$rom" "$fill" || return 1
    th_guest_xml "$name" "$mem" "$rom" >"$xml" || return 1
    th_virsh "$h" define "$xml" >/dev/null
}

th_start_guest() { th_virsh "$1" start "$2" >/dev/null; }

# th_counter HOST NAME: print the guest's counter in decimal.
th_counter() {
    local out v
    out=$(th_virsh "$1" qemu-monitor-command --hmp "$2" "xp /1gx $TH_COUNTER_ADDR") || return 1
    v=${out##*: } v=${v%%[[:space:]]*}
    [[ $v == 0x* ]] || { _th_err "th_counter: unexpected '$out'"; return 1; }
    printf '%u\n' "$v"
}

# th_state HOST NAME: virsh domstate, or "absent" when HOST has no such domain.
th_state() {
    local s
    s=$(th_virsh "$1" domstate "$2" 2>/dev/null) || { printf 'absent\n'; return 0; }
    printf '%s\n' "$s"
}

# th_wait_state HOST NAME STATE TIMEOUT_S  ("running", "shut off", "absent"...)
th_wait_state() {
    _th_poll "[[ \$(th_state '$1' '$2') == '$3' ]]" "$4"
}

# th_wait_counter_above HOST NAME VALUE TIMEOUT_S: until the counter > VALUE.
th_wait_counter_above() {
    _th_poll "v=\$(th_counter '$1' '$2') && ((v > $3))" "$4"
}

# th_migrate SRC DST NAME [virsh migrate options...]: live, peer-to-peer
# (SRC's libvirtd opens DST's socket itself).  E.g. --bandwidth MiB/s,
# --tunnelled, --persistent --undefinesource.  Sets TH_MIGRATE_MS.
th_migrate() {
    local src=$1 dst=$2 name=$3 t0 rc=0
    shift 3
    t0=$(_th_now_ms)
    th_virsh "$src" migrate --live --p2p "$@" "$name" "$(th_uri "$dst")" || rc=$?
    # shellcheck disable=SC2034 # for the caller
    TH_MIGRATE_MS=$(($(_th_now_ms) - t0))
    return "$rc"
}

# ---------------------------------------------------------------- test scripts
# What the TAP scripts here (smoke.sh, migrate.sh, evacuate.sh) begin with;
# they source ../lab-lib.sh (tap_*) first.

# th_test_init PREFIX: when th_install cannot provide the packages, a TAP
# skip with the reason (exit 77); else the work directory wd=/tmp/PREFIX.XXXXXX
# and, on exit, the clean-up: a vfmigctl left running in the background
# (bg_pid) killed, both hosts down, wd removed unless a test point failed.
th_test_init() {
    local why
    if ! why=$(th_install 2>&1); then
        printf '%s\n' "$why" >&2
        printf '1..0 # SKIP %s\n' "${why//$'\n'/; }"
        exit 77
    fi
    wd=$(mktemp -d "/tmp/$1.XXXXXX")
    bg_pid=
    tap_init _th_test_cleanup
}
_th_test_cleanup() {
    if [ -n "$bg_pid" ]; then kill "$bg_pid" 2>/dev/null; wait "$bg_pid" 2>/dev/null; fi
    th_down "$wd"
    # shellcheck disable=SC2154 # lab-lib.sh's count of failed points
    if ((_tap_failed == 0)); then rm -rf -- "$wd"; else echo "kept $wd"; fi
}

# th_check DESC CMD...: like tap_check, but CMD runs in this shell (th_up and
# th_migrate set variables); its output becomes diagnostics on failure.
th_check() {
    local desc=$1 rc=0
    shift
    "$@" >"$wd/check.out" 2>&1 || rc=$?
    if ((rc == 0)); then tap_ok "$desc"; else tap_fail "$desc" "command: $* (exit $rc)" "$(cat "$wd/check.out")"; fi
    return "$rc"
}

# th_vfmig_hosts: for the scripts that run vfmigctl (VFMIGCTL, GEN_HOST:
# tests/hosts/gen-host.py): VFMIG_DATADIR exported (the source tree's data),
# and the synthetic hosts (sysroots) $wd/sa and $wd/sb that each host's
# vfmig reads (1 PF with 2 VFs; hostnames vfmig-th-a and -b).
th_vfmig_hosts() {
    : "${VFMIGCTL:?}" "${GEN_HOST:?}"
    VFMIG_DATADIR=$(realpath -- "$TH_DIR/../../..")/data
    export VFMIG_DATADIR
    python3 "$GEN_HOST" --profile server --pfs 1 --vfs-per-pf 2 --hostname vfmig-th-a "$wd/sa" >/dev/null || tap_bail "host a"
    python3 "$GEN_HOST" --profile server --pfs 1 --vfs-per-pf 2 --hostname vfmig-th-b "$wd/sb" >/dev/null || tap_bail "host b"
}
