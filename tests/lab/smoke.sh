#!/bin/bash
# smoke.sh — lab smoke test, run INSIDE the VM: tests/lab/vm-run.sh tests/lab/smoke.sh
#
# Walks the real kernel's SR-IOV and vfio-pci sysfs interface with plain shell,
# the ground truth vfmig's binder will be measured against:
# create two VFs on the emulated NVMe PF, check their physfn links and IOMMU
# groups, bind VF0 to vfio-pci through driver_override + drivers_probe, show
# that drivers_probe "succeeds" for an override naming no driver, unbind,
# clear the overrides and remove the VFs.  Prints TAP; exits non-zero on failure.
set -euo pipefail

here=${LAB_DIR:-$(dirname -- "$(realpath -- "${BASH_SOURCE[0]}")")}
# shellcheck source=lab-lib.sh source-path=SCRIPTDIR
source "$here/lab-lib.sh"
lab_require_vm

readonly PCI=/sys/bus/pci
readonly BOGUS_DRIVER=vfmig-no-such-driver
pf='' vf0='' vf1=''

# Leave the device as we found it even when a test point fails half-way.
cleanup() {
    local vf
    for vf in "$vf0" "$vf1"; do
        [[ -n $vf && -e $PCI/devices/$vf ]] || continue
        if [[ -n $(lab_driver "$vf") ]]; then
            lab_sysfs_write "$PCI/devices/$vf/driver/unbind" "$vf" || true
        fi
        lab_sysfs_write "$PCI/devices/$vf/driver_override" '' || true
    done
    if [[ -n $pf && $(<"$PCI/devices/$pf/sriov_numvfs") != 0 ]]; then
        lab_sysfs_write "$PCI/devices/$pf/sriov_numvfs" 0 || true
    fi
}
tap_init cleanup

# --- the PF --------------------------------------------------------------
pf=$(lab_nvme_pf) || tap_bail "no SR-IOV NVMe PF (1b36:0010 with sriov_totalvfs > 0)"
tap_ok "SR-IOV NVMe PF found at $pf"
P=$PCI/devices/$pf
assert_eq "PF is driven by nvme" nvme "$(lab_driver "$pf")"
assert_eq "sriov_totalvfs is the VM's sriov_max_vfs" "${LAB_NVME_VFS:-4}" "$(<"$P/sriov_totalvfs")"
assert_eq "no VFs yet" 0 "$(<"$P/sriov_numvfs")"
pf_group=$(lab_iommu_group "$pf")
tap_ok "PF is in IOMMU group $pf_group"

# --- create two VFs without letting nvme probe them -------------------------
tap_check "write sriov_drivers_autoprobe=0" lab_sysfs_write "$P/sriov_drivers_autoprobe" 0
assert_eq "sriov_drivers_autoprobe reads 0" 0 "$(<"$P/sriov_drivers_autoprobe")"
tap_check "write sriov_numvfs=2" lab_sysfs_write "$P/sriov_numvfs" 2
assert_eq "sriov_numvfs reads 2" 2 "$(<"$P/sriov_numvfs")"
mapfile -t vfs < <(lab_vfs "$pf")
assert_eq "PF has virtfn0 and virtfn1" 2 "${#vfs[@]}"
vf0=${vfs[0]} vf1=${vfs[1]}

declare -A group=()
for i in 0 1; do
    vf=${vfs[i]}
    if wait_for "[[ -e $PCI/devices/$vf/iommu_group ]]" 10; then
        tap_ok "VF$i $vf appears on the PCI bus"
    else
        tap_fail "VF$i $vf appears on the PCI bus"
    fi
    physfn=$(readlink "$PCI/devices/$vf/physfn")
    assert_eq "VF$i physfn link points to the PF" "$pf" "${physfn##*/}"
    group[$i]=$(lab_iommu_group "$vf")
    assert_ne "VF$i has its own IOMMU group (${group[$i]}), not the PF's" "$pf_group" "${group[$i]}"
    assert_eq "VF$i has no driver (autoprobe off)" "" "$(lab_driver "$vf")"
done
assert_ne "VF0 and VF1 are in different IOMMU groups" "${group[0]}" "${group[1]}"

# --- bind VF0 to vfio-pci ---------------------------------------------------
tap_check "modprobe vfio-pci" modprobe vfio-pci
V0=$PCI/devices/$vf0
tap_check "VF0: write driver_override=vfio-pci" lab_sysfs_write "$V0/driver_override" vfio-pci
assert_eq "VF0: driver_override reads vfio-pci" vfio-pci "$(<"$V0/driver_override")"
tap_check "VF0: write drivers_probe" lab_sysfs_write "$PCI/drivers_probe" "$vf0"
assert_eq "VF0: driver link is vfio-pci" vfio-pci "$(lab_driver "$vf0")"
if wait_for "[[ -c /dev/vfio/${group[0]} ]]" 10; then
    tap_ok "/dev/vfio/${group[0]} exists"
else
    tap_fail "/dev/vfio/${group[0]} exists" "$(ls -l /dev/vfio 2>&1)"
fi

# --- a successful drivers_probe write proves nothing ---------------------
V1=$PCI/devices/$vf1
tap_check "VF1: write driver_override=$BOGUS_DRIVER" lab_sysfs_write "$V1/driver_override" "$BOGUS_DRIVER"
tap_check "VF1: drivers_probe write succeeds although no such driver exists" \
    lab_sysfs_write "$PCI/drivers_probe" "$vf1"
assert_eq "VF1: ... and nothing is bound" "" "$(lab_driver "$vf1")"
if [[ -e /dev/vfio/${group[1]} ]]; then
    tap_fail "VF1: no /dev/vfio/${group[1]}"
else
    tap_ok "VF1: no /dev/vfio/${group[1]}"
fi

# --- unbind, clear overrides, remove the VFs --------------------------------
tap_check "VF0: write driver/unbind" lab_sysfs_write "$V0/driver/unbind" "$vf0"
assert_eq "VF0: no driver link" "" "$(lab_driver "$vf0")"
if wait_for "[[ ! -e /dev/vfio/${group[0]} ]]" 10; then
    tap_ok "/dev/vfio/${group[0]} is gone"
else
    tap_fail "/dev/vfio/${group[0]} is gone"
fi
for i in 0 1; do
    vf=${vfs[i]}
    tap_check "VF$i: clear driver_override (a newline)" lab_sysfs_write "$PCI/devices/$vf/driver_override" ''
    assert_eq "VF$i: driver_override reads (null)" "(null)" "$(<"$PCI/devices/$vf/driver_override")"
done
tap_check "write sriov_numvfs=0" lab_sysfs_write "$P/sriov_numvfs" 0
assert_eq "sriov_numvfs reads 0" 0 "$(<"$P/sriov_numvfs")"
if wait_for "[[ ! -e $PCI/devices/$vf0 && ! -e $PCI/devices/$vf1 ]]" 10; then
    tap_ok "both VFs are gone from the PCI bus"
else
    tap_fail "both VFs are gone from the PCI bus"
fi
assert_eq "PF still driven by nvme" nvme "$(lab_driver "$pf")"

# --- the rest of the lab ------------------------------------------------------
if nic=$(lab_e1000e); then
    tap_ok "e1000e present at $nic (driver: $(lab_driver "$nic"))"
else
    tap_fail "e1000e present"
fi

tap_done
