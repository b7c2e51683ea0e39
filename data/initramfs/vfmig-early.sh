#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# vfmig's early-boot step, run in the initramfs before udev loads any
# driver (initramfs-tools: init-top/early_vfmig; dracut: a pre-udev hook).
#
# For each device of the plan (/etc/vfmig/early-boot.plan in the image,
# written by `vfmigctl early-boot plan` when the image was built) whose PCI
# path and ids match, it writes the planned VFIO driver to driver_override,
# then loads the drivers' modules: they bind the devices at once, and the
# host driver udev loads next finds them taken. A device a driver already
# has (one built into the kernel) is left alone. What it did goes to
# /run/vfmig/early-boot.json (one JSON object a line), which the real root
# keeps (/run is moved there); vfmigd adopts those binds so that status
# shows them and restore undoes them. Boot with vfmig.early=0 to skip it.
#
# Plain POSIX sh and few tools (busybox, klibc or bash): it runs in any of
# the three initramfs shells. The plan's words need no quoting (vfmigctl
# writes only [A-Za-z0-9._:/+-]).

plan=${VFMIG_EARLY_PLAN:-/etc/vfmig/early-boot.plan}
out=${VFMIG_EARLY_RECORD:-/run/vfmig/early-boot.json}
sys=${VFMIG_EARLY_SYSFS:-/sys}
cmdline_file=${VFMIG_EARLY_CMDLINE:-/proc/cmdline}

log() {
	echo "vfmig-early: $*" >/dev/kmsg 2>/dev/null || echo "vfmig-early: $*" >&2
}

# same FILE VALUE: FILE's first line is VALUE
same() {
	v=
	read -r v <"$1" 2>/dev/null && [ "$v" = "$2" ]
}

# driver_of DEVICE_DIR: the name of the driver bound to it, or nothing
driver_of() {
	l=$(readlink "$1/driver" 2>/dev/null) || l=
	echo "${l##*/}"
}

cmdline=
read -r cmdline <"$cmdline_file" 2>/dev/null
case " $cmdline " in
*" vfmig.early=0 "*)
	log "skipped: vfmig.early=0 on the kernel command line"
	exit 0
	;;
esac
[ -r "$plan" ] || exit 0
mkdir -p "${out%/*}" || exit 0
work=${out%/*}/.early-boot.work
: >"$work" || exit 0

# 1. the overrides, before any driver of these devices loads
plan_id=- mods= n=0
while read -r kind path ven dev sven sdev drv mod host policy; do
	case $kind in
	plan) plan_id=$path; continue ;;
	device) ;;
	*) continue ;;
	esac
	n=$((n + 1))
	d=$sys/devices/$path
	result= held=
	if [ ! -d "$d" ] || ! same "$d/vendor" "$ven" || ! same "$d/device" "$dev" ||
		! same "$d/subsystem_vendor" "$sven" || ! same "$d/subsystem_device" "$sdev"; then
		result=absent
		log "${path##*/}: no $ven:$dev at $path; left alone"
	elif [ -e "$d/driver" ]; then
		held=$(driver_of "$d")
		if [ "$held" = "$drv" ]; then result=bound; else result=held; fi
		[ "$result" = held ] && log "${path##*/}: $held already has it (built in?); left alone"
	elif echo "$drv" >"$d/driver_override" 2>/dev/null; then
		result=pending
		case " $mods " in *" $mod "*) ;; *) mods="$mods $mod" ;; esac
	else
		result=failed
		log "${path##*/}: cannot write driver_override"
	fi
	echo "$path $ven $dev $drv $mod $host $policy $result $held" >>"$work"
done <"$plan"

# 2. the VFIO drivers: registering binds every device whose override names
# them (a device they miss is probed once more)
for m in $mods; do
	modprobe "$m" || log "modprobe $m failed"
done
{
	echo "{\"step\":\"vfmig-early\",\"plan\":\"$plan_id\",\"devices\":$n}"
	while read -r path ven dev drv mod host policy result held; do
		bdf=${path##*/}
		if [ "$result" = pending ]; then
			[ -e "$sys/bus/pci/drivers/$drv/$bdf" ] || echo "$bdf" >"$sys/bus/pci/drivers_probe" 2>/dev/null
			if [ -e "$sys/bus/pci/drivers/$drv/$bdf" ]; then
				result=bound
				log "$bdf: bound to $drv before any host driver (policy $policy)"
			else
				# not left without any driver: its host driver may take it
				result=failed
				echo >"$sys/devices/$path/driver_override" 2>/dev/null
				log "$bdf: $drv did not bind it; override cleared"
			fi
		fi
		[ "$host" = - ] && host=
		echo "{\"bdf\":\"$bdf\",\"pci_path\":\"$path\",\"vendor\":\"${ven#0x}\",\"device\":\"${dev#0x}\",\"driver\":\"$drv\",\"module\":\"$mod\",\"host_driver\":\"$host\",\"policy\":\"$policy\",\"result\":\"$result\",\"held_by\":\"$held\"}"
	done <"$work"
} >"$out.tmp" && mv "$out.tmp" "$out"
rm -f "$work"
exit 0
