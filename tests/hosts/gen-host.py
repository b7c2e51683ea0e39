#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generate a synthetic host (a sysroot) for vfmig's tests and benchmarks.

The layout is the contract in LAYOUT.md beside this file; the kernel mock in
tests/mock/ reacts to writes in the tree this script writes.  Only the Python
standard library is used, and the hot path (one VF) is a handful of raw
os.open/os.write/os.symlink calls so that a server with 8192 VFs takes a few
seconds.
"""

import argparse
import json
import os
import shutil
import struct
import sys

PROFILES = ("laptop", "server", "broken-missing", "broken-dangling",
            "broken-garbage")
DEFAULT_KERNEL = "6.12.0-vfmig"

# Module file paths as they appear in modules.dep (Debian names the files
# with dashes or underscores exactly as the kernel's Makefiles do).
MODULE_PATHS = {
    "vfio": "kernel/drivers/vfio/vfio.ko",
    "iommufd": "kernel/drivers/iommu/iommufd/iommufd.ko",
    "vfio_pci_core": "kernel/drivers/vfio/pci/vfio-pci-core.ko",
    "vfio_pci": "kernel/drivers/vfio/pci/vfio-pci.ko",
    "vfio_iommu_type1": "kernel/drivers/vfio/vfio_iommu_type1.ko",
    "mlx5_vfio_pci": "kernel/drivers/vfio/pci/mlx5/mlx5-vfio-pci.ko",
    "hisi_acc_vfio_pci":
        "kernel/drivers/vfio/pci/hisilicon/hisi-acc-vfio-pci.ko",
    "pds_vfio_pci": "kernel/drivers/vfio/pci/pds/pds-vfio-pci.ko",
    "virtio_vfio_pci": "kernel/drivers/vfio/pci/virtio/virtio-vfio-pci.ko",
    "qat_vfio_pci": "kernel/drivers/vfio/pci/qat/qat_vfio_pci.ko",
    "nvgrace_gpu_vfio_pci":
        "kernel/drivers/vfio/pci/nvgrace-gpu/nvgrace-gpu-vfio-pci.ko",
    "mlx5_core": "kernel/drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko",
    "ice": "kernel/drivers/net/ethernet/intel/ice/ice.ko",
    "iavf": "kernel/drivers/net/ethernet/intel/iavf/iavf.ko",
    "hisi_qm": "kernel/drivers/crypto/hisilicon/hisi_qm.ko",
    "hisi_sec2": "kernel/drivers/crypto/hisilicon/sec2/hisi_sec2.ko",
    "virtio_pci": "kernel/drivers/virtio/virtio_pci.ko",
    "nvidia": "updates/dkms/nvidia.ko",
    "pds_core": "kernel/drivers/net/ethernet/amd/pds_core/pds_core.ko",
    "ionic": "kernel/drivers/net/ethernet/pensando/ionic/ionic.ko",
    "intel_qat": "kernel/drivers/crypto/intel/qat/qat_common/intel_qat.ko",
    "qat_4xxx": "kernel/drivers/crypto/intel/qat/qat_4xxx/qat_4xxx.ko",
    "qat_4xxxvf": "kernel/drivers/crypto/intel/qat/qat_4xxxvf/qat_4xxxvf.ko",
    "mgag200": "kernel/drivers/gpu/drm/mgag200/mgag200.ko",
    "nvme_core": "kernel/drivers/nvme/host/nvme-core.ko",
    "nvme": "kernel/drivers/nvme/host/nvme.ko",
    "i915": "kernel/drivers/gpu/drm/i915/i915.ko",
    "snd_hda_intel": "kernel/sound/pci/hda/snd-hda-intel.ko",
    "iwlwifi": "kernel/drivers/net/wireless/intel/iwlwifi/iwlwifi.ko",
    "xhci_pci": "kernel/drivers/usb/host/xhci-pci.ko",
    "i2c_i801": "kernel/drivers/i2c/busses/i2c-i801.ko",
}

MODULE_DEPS = {
    "vfio_pci_core": ["vfio", "iommufd"],
    "vfio_pci": ["vfio_pci_core", "vfio", "iommufd"],
    "vfio_iommu_type1": ["vfio"],
    "mlx5_vfio_pci": ["mlx5_core", "vfio_pci_core", "vfio", "iommufd"],
    "hisi_acc_vfio_pci": ["hisi_qm", "vfio_pci_core", "vfio", "iommufd"],
    "pds_vfio_pci": ["pds_core", "vfio_pci_core", "vfio", "iommufd"],
    "virtio_vfio_pci": ["virtio_pci", "vfio_pci_core", "vfio", "iommufd"],
    "qat_vfio_pci": ["intel_qat", "vfio_pci_core", "vfio", "iommufd"],
    "nvgrace_gpu_vfio_pci": ["vfio_pci_core", "vfio", "iommufd"],
    "hisi_sec2": ["hisi_qm"],
    "qat_4xxx": ["intel_qat"],
    "qat_4xxxvf": ["intel_qat"],
    "nvme": ["nvme_core"],
}

# Built into the kernel (CONFIG_…=y): listed in modules.builtin, no .ko.
BUILTIN_PATHS = [
    "kernel/drivers/pci/pci-stub.ko",
    "kernel/drivers/pci/pcie/portdrv.ko",
    "kernel/drivers/iommu/intel/intel-iommu.ko",
]

# Module name -> PCI driver name where they differ (the kernel registers
# drv->name, not KBUILD_MODNAME, e.g. vfio_pci registers "vfio-pci").  The
# generator writes these to .kmock/modules/ so the mock's module loading
# creates the right driver directory.
DRIVER_NAMES = {
    "vfio_pci": "vfio-pci",
    "virtio_pci": "virtio-pci",
    "qat_4xxx": "4xxx",
    "qat_4xxxvf": "4xxxvf",
    "xhci_pci": "xhci_hcd",
    "i2c_i801": "i801_smbus",
}

# vfio_pci:… lines exactly as depmod writes them from the upstream variant
# drivers' PCI_DRIVER_OVERRIDE_DEVICE_VFIO() tables.
VFIO_ALIASES = [
    ("*", "*", "vfio_pci"),
    ("15B3", "101E", "mlx5_vfio_pci"),
    ("15B3", "101F", "mlx5_vfio_pci"),
    ("15B3", "1021", "mlx5_vfio_pci"),
    ("19E5", "A256", "hisi_acc_vfio_pci"),
    ("19E5", "A259", "hisi_acc_vfio_pci"),
    ("19E5", "A251", "hisi_acc_vfio_pci"),
    ("1DD8", "1003", "pds_vfio_pci"),
    ("1AF4", "1041", "virtio_vfio_pci"),
    ("1AF4", "1042", "virtio_vfio_pci"),
    ("8086", "4941", "qat_vfio_pci"),
    ("8086", "4943", "qat_vfio_pci"),
    ("8086", "4945", "qat_vfio_pci"),
    ("8086", "4949", "qat_vfio_pci"),
    ("10DE", "2342", "nvgrace_gpu_vfio_pci"),
    ("10DE", "2345", "nvgrace_gpu_vfio_pci"),
    ("10DE", "2348", "nvgrace_gpu_vfio_pci"),
    ("10DE", "2941", "nvgrace_gpu_vfio_pci"),
    ("10DE", "31C2", "nvgrace_gpu_vfio_pci"),
]

# pci:… lines for the host drivers: (vendor, device, class pattern, module);
# class pattern is "bcXXscYYiZZ" pieces or "*".
PCI_ALIASES = [
    ("15B3", "101D", None, "mlx5_core"),
    ("15B3", "101E", None, "mlx5_core"),
    ("8086", "1592", None, "ice"),
    ("8086", "159B", None, "ice"),
    ("8086", "1889", None, "iavf"),
    ("19E5", "A255", None, "hisi_sec2"),
    ("19E5", "A256", None, "hisi_sec2"),
    ("1AF4", "*", None, "virtio_pci"),
    ("10DE", "*", ("03", "00", "00"), "nvidia"),
    ("10DE", "*", ("03", "02", "00"), "nvidia"),
    ("1DD8", "100C", None, "pds_core"),
    ("1DD8", "1002", None, "pds_core"),
    ("1DD8", "1003", None, "ionic"),
    ("8086", "4940", None, "qat_4xxx"),
    ("8086", "4941", None, "qat_4xxxvf"),
    ("102B", "0536", None, "mgag200"),
    ("*", "*", ("01", "08", "02"), "nvme"),
    ("144D", "A808", None, "nvme"),
    ("8086", "3E92", ("03", "*", None), "i915"),
    ("8086", "A348", None, "snd_hda_intel"),
    ("8086", "2723", None, "iwlwifi"),
    ("*", "*", ("0C", "03", "30"), "xhci_pci"),
    ("8086", "A323", None, "i2c_i801"),
]

BDF_FMT = "%04x:%02x:%02x.%x"


def bdf(domain, bus, slot, fn):
    return BDF_FMT % (domain, bus, slot, fn)


def modalias(vendor, device, svid, sdid, cls):
    return "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X" % (
        vendor, device, svid, sdid, cls >> 16, (cls >> 8) & 0xFF, cls & 0xFF)


class Host:
    """A sysroot under construction; paths are absolute strings."""

    def __init__(self, root, release):
        self.root = root
        self.release = release
        self.sys = os.path.join(root, "sys")
        self.devices = os.path.join(self.sys, "devices")
        self.bus = os.path.join(self.sys, "bus", "pci")
        self.groups = os.path.join(self.sys, "kernel", "iommu_groups")
        self.kmock = os.path.join(root, ".kmock")
        self.next_group = 0
        self.drivers = set()
        for d in (self.devices, os.path.join(self.bus, "devices"),
                  os.path.join(self.bus, "drivers"), self.groups,
                  os.path.join(self.sys, "module"),
                  os.path.join(root, "dev", "vfio"),
                  os.path.join(root, "proc", "sys", "kernel"),
                  os.path.join(root, "lib", "modules", release),
                  os.path.join(self.kmock, "default_driver"),
                  os.path.join(self.kmock, "fail", "probe"),
                  os.path.join(self.kmock, "fail", "unbind"),
                  os.path.join(self.kmock, "fail", "override"),
                  os.path.join(self.kmock, "modules"),
                  os.path.join(self.kmock, "vfio"),
                  os.path.join(self.kmock, "removed")):
            os.makedirs(d, exist_ok=True)
        write(os.path.join(root, "proc", "sys", "kernel", "osrelease"),
              release + "\n")
        # what a profile reads besides sysfs (vfmigctl profile)
        write(os.path.join(root, "proc", "cpuinfo"),
              "processor\t: 0\nmodel name\t: Synthetic CPU @ 2.00GHz\n")
        write(os.path.join(root, "proc", "cmdline"),
              "BOOT_IMAGE=/vmlinuz-%s root=/dev/sda1 intel_iommu=on iommu=pt\n"
              % release)
        # The kernel's VFIO migration answer per driver, for vfmigctl probe on
        # a synthetic host (no VFIO device to open): as the upstream drivers
        # report it (MIGRATION-FACTS.md, section 3).
        for drv, answer in VFIO_ANSWERS.items():
            write(os.path.join(self.kmock, "vfio", drv), answer + "\n")
        write(os.path.join(root, "dev", "vfio", "vfio"), "")
        for f, v in (("drivers_probe", ""), ("rescan", ""),
                     ("drivers_autoprobe", "1\n")):
            write(os.path.join(self.bus, f), v)
        write(os.path.join(self.kmock, "log"), "")
        for mod, name in DRIVER_NAMES.items():
            write(os.path.join(self.kmock, "modules", mod), name + "\n")

    # -- drivers ---------------------------------------------------------
    def driver(self, name, module=None):
        """Register PCI driver NAME (module None: built in, no module link,
        as for pcieport)."""
        if name in self.drivers:
            return
        self.drivers.add(name)
        d = os.path.join(self.bus, "drivers", name)
        os.mkdir(d)
        for f in ("bind", "unbind", "new_id", "remove_id"):
            write(os.path.join(d, f), "")
        if module:
            m = os.path.join(self.sys, "module", module)
            os.makedirs(os.path.join(m, "drivers"), exist_ok=True)
            write(os.path.join(m, "initstate"), "live\n")
            link(os.path.join(d, "module"), m)
            link(os.path.join(m, "drivers", "pci:" + name), d)

    # -- devices ---------------------------------------------------------
    def group(self):
        g = self.next_group
        self.next_group += 1
        gd = os.path.join(self.groups, str(g))
        os.makedirs(os.path.join(gd, "devices"))
        write(os.path.join(gd, "type"), "DMA-FQ\n")
        return g

    def device(self, parent, name, vendor, device, cls, svid=None, sdid=None,
               rev=0, numa=-1, driver=None, default=None, group=None,
               boot_vga=None, files=None):
        """Create device NAME (a BDF) under directory PARENT.

        group: an existing group number, or None for a new one.
        driver: bound driver (must be registered); default: the driver a
        probe without override picks (defaults to DRIVER)."""
        svid = vendor if svid is None else svid
        sdid = 0 if sdid is None else sdid
        path = os.path.join(parent, name)
        os.mkdir(path)
        values = {
            "vendor": "0x%04x\n" % vendor,
            "device": "0x%04x\n" % device,
            "subsystem_vendor": "0x%04x\n" % svid,
            "subsystem_device": "0x%04x\n" % sdid,
            "class": "0x%06x\n" % cls,
            "revision": "0x%02x\n" % rev,
            "numa_node": "%d\n" % numa,
            "modalias": modalias(vendor, device, svid, sdid, cls) + "\n",
            "driver_override": "(null)\n",
            "enable": "1\n" if driver else "0\n",
        }
        if boot_vga is not None:
            values["boot_vga"] = "%d\n" % boot_vga
        # uevent carries the identity as pci_uevent() prints it (the DRIVER=
        # line is left out: the mock does not maintain it). A device whose id
        # files are deliberately broken gets none, so readers meet the broken
        # files instead.
        if not files or not set(files) & {"vendor", "device", "class",
                                          "subsystem_vendor", "subsystem_device"}:
            values["uevent"] = uevent(vendor, device, svid, sdid, cls, name)
        if files:
            values.update(files)
        for f, v in values.items():
            write(os.path.join(path, f), v)
        if not files or "config" not in files:
            with open(os.path.join(path, "config"), "wb") as fh:
                fh.write(config_space(vendor, device, svid, sdid, cls, rev))
        link(os.path.join(self.bus, "devices", name), path)
        if group is None:
            group = self.group()
        gd = os.path.join(self.groups, str(group))
        link(os.path.join(path, "iommu_group"), gd)
        link(os.path.join(gd, "devices", name), path)
        if driver:
            self.bind(path, name, driver)
        default = driver if default is None else default
        if default:
            write(os.path.join(self.kmock, "default_driver", name),
                  default + "\n")
        return path

    def bind(self, path, name, driver):
        d = os.path.join(self.bus, "drivers", driver)
        link(os.path.join(path, "driver"), d)
        link(os.path.join(d, name), path)

    def bridge(self, parent, name, vendor, device, group=None):
        return self.device(parent, name, vendor, device, 0x060400,
                           driver="pcieport", group=group)

    def host_bridge(self, domain):
        path = os.path.join(self.devices, "pci%04x:00" % domain)
        os.makedirs(path, exist_ok=True)
        return path

    def net(self, dev, ifname, mac, operstate="up", sub=None):
        base = os.path.join(dev, sub) if sub else dev
        n = os.path.join(base, "net", ifname)
        os.makedirs(n)
        write(os.path.join(n, "operstate"), operstate + "\n")
        write(os.path.join(n, "address"), mac + "\n")

    def nvme(self, dev, index):
        c = os.path.join(dev, "nvme", "nvme%d" % index)
        ns = os.path.join(c, "nvme%dn1" % index)
        os.makedirs(ns)
        write(os.path.join(ns, "dev"), "259:%d\n" % index)
        write(os.path.join(ns, "size"), "1000215216\n")

    # -- modules ---------------------------------------------------------
    def modules(self, extra_alias_lines=()):
        moddir = os.path.join(self.root, "lib", "modules", self.release)
        lines = []
        for v, d, c, mod in PCI_ALIASES:
            lines.append("alias pci:v%sd%ssv*sd*%s* %s" % (
                pad(v), pad(d), class_pattern(c), mod))
        for v, d, mod in VFIO_ALIASES:
            lines.append("alias vfio_pci:v%sd%ssv*sd*bc*sc*i* %s" % (
                pad(v), pad(d), mod))
        # depmod also writes symbol: and name aliases; a parser must skip
        # what it does not understand.
        lines.append("alias symbol:vfio_pci_core_register_device "
                     "vfio_pci_core")
        lines.append("alias devname:vfio/vfio vfio")
        lines.append("alias char-major-10-196 vfio")
        lines.extend(extra_alias_lines)
        write(os.path.join(moddir, "modules.alias"),
              "# Aliases extracted from modules themselves.\n"
              + "\n".join(lines) + "\n")
        dep = []
        for mod, path in MODULE_PATHS.items():
            deps = " ".join(MODULE_PATHS[d] for d in MODULE_DEPS.get(mod, []))
            dep.append(("%s: %s" % (path, deps)).rstrip())
        write(os.path.join(moddir, "modules.dep"), "\n".join(dep) + "\n")
        write(os.path.join(moddir, "modules.builtin"),
              "\n".join(BUILTIN_PATHS) + "\n")


def pad(x):
    return "*" if x == "*" else "%08X" % int(x, 16)


def class_pattern(c):
    if c is None:
        return "bc*sc*i"
    bc, sc, i = c
    # The caller appends the trailing "*"; a wildcard interface adds none.
    return "bc%ssc%si%s" % (bc, sc, "" if i is None else i)


def write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def link(path, target):
    """Relative symlink PATH -> TARGET, as sysfs shows them."""
    os.symlink(os.path.relpath(target, os.path.dirname(path)), path)


# Pretty names of the types of the kernel's sample parents, as their "name"
# attribute shows them (samples/vfio-mdev: mtty registers "1" and "2", which
# the mdev core names DRIVER-NAME).
MDEV_PRETTY = {
    "mtty-1": "Single port serial",
    "mtty-2": "Dual port serial",
}


def parse_mdev_parent(spec):
    """"PARENT:TYPE=N[,TYPE=N...]" -> (PARENT, [(TYPE, N), ...]).  PARENT is
    a virtual parent's name ("mtty") or the BDF of one of the profile's PCI
    devices (its colons are why the split is at the last one)."""
    if ":" not in spec:
        die("--mdev-parent %s: expected PARENT:TYPE=N[,TYPE=N...]" % spec)
    parent, types = spec.rsplit(":", 1)
    out = []
    for item in types.split(","):
        name, sep, count = item.partition("=")
        if (not sep or not name or "/" in name or name in (".", "..")
                or not count.isdigit()):
            die("--mdev-parent %s: \"%s\" is not TYPE=N" % (spec, item))
        out.append((name, int(count)))
    if (not parent or "/" in parent or parent in (".", "..")
            or any(c.isspace() for c in parent)):
        die("--mdev-parent %s: bad parent name" % spec)
    return parent, out


def gen_mdev_parent(h, parent, types):
    """A parent of mediated devices, as mdev_register_parent() shows it: its
    device directory (a virtual device /sys/devices/virtual/NAME/NAME, or
    the PCI device BDF) with mdev_supported_types/TYPE/{name, device_api,
    available_instances, create, devices/}, and /sys/class/mdev_bus/PARENT.
    Its mdev driver (the parent driver's name, "mtty" for mtty) is
    registered on the mdev bus."""
    pci = os.path.join(h.bus, "devices", parent)
    if os.path.lexists(pci):
        pdir = os.path.realpath(pci)
        drv = os.path.join(pdir, "driver")
        driver = (os.path.basename(os.readlink(drv))
                  if os.path.islink(drv) else "vfio_mdev")
    elif ":" in parent:
        die("--mdev-parent: %s is not a PCI device of this host" % parent)
    else:
        pdir = os.path.join(h.devices, "virtual", parent, parent)
        os.makedirs(pdir)
        os.makedirs(os.path.join(h.sys, "class", parent), exist_ok=True)
        link(os.path.join(h.sys, "class", parent, parent), pdir)
        driver = parent
    os.makedirs(os.path.join(h.sys, "class", "mdev_bus"), exist_ok=True)
    link(os.path.join(h.sys, "class", "mdev_bus", parent), pdir)
    for d in ("devices", os.path.join("drivers", driver)):
        os.makedirs(os.path.join(h.sys, "bus", "mdev", d), exist_ok=True)
    os.makedirs(os.path.join(h.kmock, "mdev_driver"), exist_ok=True)
    write(os.path.join(h.kmock, "mdev_driver", parent), driver + "\n")
    for name, count in types:
        t = os.path.join(pdir, "mdev_supported_types", name)
        os.makedirs(os.path.join(t, "devices"))
        write(os.path.join(t, "name"), MDEV_PRETTY.get(name, name) + "\n")
        write(os.path.join(t, "device_api"), "vfio-pci\n")
        write(os.path.join(t, "available_instances"), "%d\n" % count)
        write(os.path.join(t, "create"), "")


# ---------------------------------------------------------------------------
def gen_laptop(h):
    for name, mod in (("i915", "i915"), ("snd_hda_intel", "snd_hda_intel"),
                      ("nvme", "nvme"), ("iwlwifi", "iwlwifi"),
                      ("xhci_hcd", "xhci_pci"), ("i801_smbus", "i2c_i801")):
        h.driver(name, mod)
    h.driver("pcieport")
    h.driver("pci-stub")
    hb = h.host_bridge(0)
    h.device(hb, "0000:00:00.0", 0x8086, 0x3e0f, 0x060000, sdid=0x2279)
    h.device(hb, "0000:00:02.0", 0x8086, 0x3e92, 0x030000, sdid=0x2279,
             driver="i915", boot_vga=1)
    h.device(hb, "0000:00:14.0", 0x8086, 0xa36d, 0x0c0330, sdid=0x2279,
             rev=0x10, driver="xhci_hcd")
    # The PCH functions at 00:1f.x share a group: no ACS between them.
    pch = h.group()
    h.device(hb, "0000:00:1f.0", 0x8086, 0xa30d, 0x060100, sdid=0x2279,
             rev=0x10, group=pch)
    h.device(hb, "0000:00:1f.3", 0x8086, 0xa348, 0x040300, sdid=0x2279,
             rev=0x10, driver="snd_hda_intel", group=pch)
    h.device(hb, "0000:00:1f.4", 0x8086, 0xa323, 0x0c0500, sdid=0x2279,
             rev=0x10, driver="i801_smbus", group=pch)
    rp = h.bridge(hb, "0000:00:1c.0", 0x8086, 0xa340)
    nv = h.device(rp, "0000:02:00.0", 0x144d, 0xa808, 0x010802,
                  sdid=0xa801, driver="nvme")
    h.nvme(nv, 0)
    rp2 = h.bridge(hb, "0000:00:1d.0", 0x8086, 0xa330)
    wl = h.device(rp2, "0000:03:00.0", 0x8086, 0x2723, 0x028000,
                  sdid=0x0084, rev=0x1a, driver="iwlwifi")
    h.net(wl, "wlp3s0", "a0:a4:c5:12:34:56")
    h.modules()


# PF kinds of the server, cycled through: the second Mellanox closes the
# cycle so that a host with 8 PFs has two of them.
SERVER_PFS = [
    # vendor, device, class, sdid, rev, pf driver, pf module, VF device,
    # VF default driver (None: none), VF module, totalvfs, offset, stride,
    # netdev name pattern (None: no netdev; "virtio:" prefix: under virtioN)
    (0x15b3, 0x101d, 0x020000, 0x0016, 0x00, "mlx5_core", "mlx5_core",
     0x101e, "mlx5_core", "mlx5_core", 127, 2, 1, "ens%df0np0"),
    (0x8086, 0x1592, 0x020000, 0x0002, 0x02, "ice", "ice",
     0x1889, "iavf", "iavf", 256, 8, 1, "ens%df0"),
    (0x19e5, 0xa255, 0x100000, 0xa255, 0x21, "hisi_sec2", "hisi_sec2",
     0xa256, "hisi_sec2", "hisi_sec2", 63, 1, 1, None),
    (0x1af4, 0x1041, 0x020000, 0x1100, 0x01, "virtio-pci", "virtio_pci",
     0x1041, "virtio-pci", "virtio_pci", 128, 1, 1, "virtio:ens%d"),
    (0x10de, 0x20b5, 0x030200, 0x1533, 0xa1, "nvidia", "nvidia",
     0x20b5, None, None, 16, 4, 1, None),
    (0x1dd8, 0x1002, 0x120000, 0x5007, 0x00, "pds_core", "pds_core",
     0x1003, "ionic", "ionic", 32, 1, 1, None),
    (0x8086, 0x4940, 0x0b4000, 0x0000, 0x40, "4xxx", "qat_4xxx",
     0x4941, "4xxxvf", "qat_4xxxvf", 16, 1, 1, None),
    (0x15b3, 0x101d, 0x020000, 0x0016, 0x00, "mlx5_core", "mlx5_core",
     0x101e, "mlx5_core", "mlx5_core", 127, 2, 1, "ens%df0np0"),
]
PF_ROOT_PORTS_PER_DOMAIN = 24


# What devlink says of a mlx5 PF (src/lib/host/vfm-devlink.h): its firmware
# (the PSID fixed, the running version and the one flashed, equal on a
# healthy host), switchdev with a VF port per VF, each marked migratable.
DEFAULT_PF_FIRMWARE = "22.39.1002"


def devlink_file(h, pf_name):
    return os.path.join(h.kmock, "devlink", "pci", pf_name + ".json")


def write_devlink(h, pf_name, info):
    os.makedirs(os.path.dirname(devlink_file(h, pf_name)), exist_ok=True)
    write(devlink_file(h, pf_name), json.dumps(info, indent=1) + "\n")


def mlx5_devlink(h, pf_name, vfs, firmware):
    write_devlink(h, pf_name, {
        "driver": "mlx5_core",
        "serial": None,
        "eswitch": "switchdev",
        "versions": {"fixed": {"fw.psid": "MT_0000000838"},
                     "running": {"fw.version": firmware, "fw": firmware},
                     "stored": {"fw.version": firmware, "fw": firmware}},
        "any_port": True,
        "vf_ports": [{"vf": i, "port": 0x10000 + i, "migratable": True}
                     for i in range(vfs)],
    })


def edit_devlink(h, pf_name, change):
    with open(devlink_file(h, pf_name)) as f:
        info = json.load(f)
    change(info)
    write_devlink(h, pf_name, info)


def gen_server(h, pfs, vfs, pf_firmware=DEFAULT_PF_FIRMWARE):
    h.driver("pcieport")
    h.driver("pci-stub")
    h.driver("vfio-pci", "vfio_pci")
    h.driver("mlx5_vfio_pci", "mlx5_vfio_pci")
    h.driver("mgag200", "mgag200")
    h.driver("nvme", "nvme")
    for k in SERVER_PFS:
        h.driver(k[5], k[6])
        if k[8]:
            h.driver(k[8], k[9])

    hb0 = h.host_bridge(0)
    h.device(hb0, "0000:00:00.0", 0x8086, 0x09a2, 0x088000, rev=0x04,
             numa=0)
    rp = h.bridge(hb0, "0000:00:1c.0", 0x8086, 0xa190)
    h.device(rp, "0000:03:00.0", 0x102b, 0x0536, 0x030000, sdid=0x0000,
             rev=0x04, numa=0, driver="mgag200", boot_vga=1)
    rp = h.bridge(hb0, "0000:00:1d.0", 0x8086, 0xa198)
    nv = h.device(rp, "0000:04:00.0", 0x144d, 0xa80a, 0x010802,
                  sdid=0xa801, numa=0, driver="nvme")
    h.nvme(nv, 0)
    rp = h.bridge(hb0, "0000:00:1e.0", 0x8086, 0xa19a)
    nic = h.device(rp, "0000:05:00.0", 0x8086, 0x159b, 0x020000,
                   sdid=0x0003, rev=0x02, numa=0, driver="ice",
                   files=sriov_files(64, 0, 0x1889, 8, 1, autoprobe=1))
    h.net(nic, "enp5s0f0", "b4:96:91:00:05:00")

    next_bus = {}
    for i in range(pfs):
        k = SERVER_PFS[i % len(SERVER_PFS)]
        (ven, dev, cls, sdid, rev, drv, _mod, vfdev, vfdrv, _vfmod,
         total, offset, stride, ifpat) = k
        total = max(total, vfs)
        domain = i // PF_ROOT_PORTS_PER_DOMAIN
        slot = 1 + i % PF_ROOT_PORTS_PER_DOMAIN
        hb = h.host_bridge(domain)
        bus = next_bus.get(domain, 0x10)
        last_rid = (bus << 8) + offset + (total - 1) * stride
        if (last_rid >> 8) > 0xff:
            die("%d PFs with %d VFs each do not fit in the bus numbers "
                "of domain %04x" % (pfs, vfs, domain))
        next_bus[domain] = (last_rid >> 8) + 1
        numa = i % 2
        rp = h.bridge(hb, bdf(domain, 0, slot, 0), 0x8086, 0x347a)
        pf_name = bdf(domain, bus, 0, 0)
        pf = h.device(rp, pf_name, ven, dev, cls, sdid=sdid, rev=rev,
                      numa=numa, driver=drv,
                      files=sriov_files(total, vfs, vfdev, offset, stride,
                                        autoprobe=0))
        if vfdrv:
            write(os.path.join(h.kmock, "default_driver", pf_name + ".vf"),
                  vfdrv + "\n")
        if drv == "mlx5_core":
            mlx5_devlink(h, pf_name, vfs, pf_firmware)
        if ifpat:
            mac = "0c:42:a1:%02x:%02x:00" % (domain, bus)
            if ifpat.startswith("virtio:"):
                h.net(pf, ifpat[7:] % slot, mac, sub="virtio%d" % i)
            else:
                h.net(pf, ifpat % slot, mac)
        make_vfs(h, rp, pf, pf_name, domain, bus, ven, vfdev, cls, sdid,
                 rev, numa, vfs, offset, stride)
    h.modules()


def sriov_files(total, num, vfdev, offset, stride, autoprobe):
    return {
        "sriov_totalvfs": "%d\n" % total,
        "sriov_numvfs": "%d\n" % num,
        "sriov_drivers_autoprobe": "%d\n" % autoprobe,
        "sriov_offset": "%d\n" % offset,
        "sriov_stride": "%d\n" % stride,
        "sriov_vf_device": "%x\n" % vfdev,
    }


def config_space(vendor, device, svid, sdid, cls, rev=0):
    """The first 64 bytes of a type 0 configuration header (what lspci and
    dpdk-devbind read), little-endian as the kernel returns it."""
    hdr = bytearray(64)
    struct.pack_into("<HH", hdr, 0x00, vendor, device)
    hdr[0x08] = rev
    hdr[0x09:0x0c] = bytes([cls & 0xff, (cls >> 8) & 0xff, (cls >> 16) & 0xff])
    hdr[0x0e] = 0x01 if (cls >> 8) == 0x0604 else 0x00
    struct.pack_into("<HH", hdr, 0x2c, svid, sdid)
    return bytes(hdr)


def uevent(vendor, device, svid, sdid, cls, name):
    return ("PCI_CLASS=%X\nPCI_ID=%04X:%04X\nPCI_SUBSYS_ID=%04X:%04X\n"
            "PCI_SLOT_NAME=%s\nMODALIAS=%s\n"
            % (cls, vendor, device, svid, sdid, name,
               modalias(vendor, device, svid, sdid, cls)))


def make_vfs(h, parent, pf, pf_name, domain, bus, ven, vfdev, cls, sdid, rev,
             numa, n, offset, stride):
    """VFs sit beside their PF (children of the PF's upstream bridge), as
    pci_iov_add_virtfn() puts them.  Unrolled for speed."""
    rid0 = (bus << 8) + offset
    common = {
        "vendor": "0x%04x\n" % ven,
        "device": "0x%04x\n" % vfdev,
        "subsystem_vendor": "0x%04x\n" % ven,
        "subsystem_device": "0x%04x\n" % sdid,
        "class": "0x%06x\n" % cls,
        "revision": "0x%02x\n" % rev,
        "numa_node": "%d\n" % numa,
        "modalias": modalias(ven, vfdev, ven, sdid, cls) + "\n",
        "driver_override": "(null)\n",
        "enable": "0\n",
    }
    common = [(f, v.encode()) for f, v in common.items()]
    vf_config = config_space(ven, vfdev, ven, sdid, cls, rev)
    depth = parent[len(h.sys):].count("/")
    up = "../" * (depth + 1)          # from the VF directory to sys/
    rel_parent = parent[len(h.sys) + 1:]
    for i in range(n):
        rid = rid0 + i * stride
        name = bdf(domain, rid >> 8, (rid >> 3) & 0x1f, rid & 7)
        path = parent + "/" + name
        os.mkdir(path)
        for f, v in common + [("uevent", uevent(ven, vfdev, ven, sdid, cls,
                                                  name).encode()),
                              ("config", vf_config)]:
            fd = os.open(path + "/" + f,
                         os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, v)
            os.close(fd)
        os.symlink("../" + pf_name, path + "/physfn")
        os.symlink("../" + name, pf + "/virtfn%d" % i)
        os.symlink("../../../" + rel_parent + "/" + name,
                   h.bus + "/devices/" + name)
        g = h.group()
        os.symlink(up + "kernel/iommu_groups/%d" % g, path + "/iommu_group")
        os.symlink("../../../../" + rel_parent + "/" + name,
                   h.groups + "/%d/devices/" % g + name)


# ---------------------------------------------------------------------------
# What vfmigctl doctor reads besides the devices: a healthy Intel platform
# (DMAR table, one VT-d unit, remapped interrupts) and vfmigd's unit file.
def gen_platform(h):
    os.makedirs(os.path.join(h.sys, "firmware", "acpi", "tables"))
    os.makedirs(os.path.join(h.root, "lib", "systemd", "system"))
    write(os.path.join(h.sys, "firmware", "acpi", "tables", "DMAR"),
          "DMAR")
    unit = os.path.join(h.sys, "devices", "virtual", "iommu", "dmar0")
    os.makedirs(os.path.join(unit, "intel-iommu"), exist_ok=True)
    write(os.path.join(unit, "intel-iommu", "ecap"), "f0205ef\n")
    os.makedirs(os.path.join(h.sys, "class", "iommu"), exist_ok=True)
    link(os.path.join(h.sys, "class", "iommu", "dmar0"), unit)
    write(os.path.join(h.root, "proc", "interrupts"),
          "           CPU0\n  0:         41   IR-IO-APIC    2-edge      timer\n"
          " 24:          0  DMAR-MSI    0-edge      dmar0\n"
          " 25:       1032  IR-PCI-MSI 524288-edge      nvme0q0\n")
    write(os.path.join(h.root, "lib", "systemd", "system", "vfmigd.service"),
          "[Unit]\nDescription=vfmig daemon\n\n[Service]\n"
          "ExecStart=/usr/sbin/vfmigd\nProtectSystem=full\n")


def drop_module(h, mod):
    """The kernel lacks MOD: no line in the module tables, not loaded."""
    moddir = os.path.join(h.root, "lib", "modules", h.release)
    for name in ("modules.alias", "modules.dep", "modules.builtin"):
        path = os.path.join(moddir, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            lines = f.read().splitlines()
        keep = [l for l in lines
                if not (l.split()[-1:] == [mod] or
                        ("/" + mod.replace("_", "-") + ".ko") in l.split(":")[0] or
                        ("/" + mod + ".ko") in l.split(":")[0])]
        write(path, "\n".join(keep) + "\n")
    mdir = os.path.join(h.sys, "module", mod)
    if os.path.isdir(mdir):
        shutil.rmtree(mdir)


def policy(h, name, text):
    d = os.path.join(h.root, "etc", "vfmig", "policies.d")
    os.makedirs(d, exist_ok=True)
    write(os.path.join(d, name), text)


def rm(path):
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)


def fault_no_iommu_firmware(h):
    rm(os.path.join(h.sys, "firmware", "acpi", "tables", "DMAR"))
    rm(os.path.join(h.sys, "class", "iommu", "dmar0"))


def fault_iommu_off(h):
    rm(os.path.join(h.sys, "class", "iommu", "dmar0"))
    write(os.path.join(h.root, "proc", "cmdline"),
          "BOOT_IMAGE=/vmlinuz-%s root=/dev/sda1 intel_iommu=off\n" % h.release)


def fault_no_intremap(h):
    write(os.path.join(h.root, "proc", "interrupts"),
          "           CPU0\n  0:         41   IO-APIC    2-edge      timer\n"
          " 25:       1032  PCI-MSI 524288-edge      nvme0q0\n")


def fault_no_modules_alias(h):
    rm(os.path.join(h.root, "lib", "modules", h.release, "modules.alias"))


def fault_no_iommu_backend(h):
    drop_module(h, "vfio_iommu_type1")
    drop_module(h, "iommufd")


def fault_protect_kernel_modules(h):
    d = os.path.join(h.root, "etc", "systemd", "system", "vfmigd.service.d")
    os.makedirs(d, exist_ok=True)
    write(os.path.join(d, "hardening.conf"),
          "[Service]\nProtectSystem=strict\nProtectKernelModules=yes\n")


# The PF 0000:10:00.0 (mlx5, server profile) whose VFs a policy manages was
# given its VFs with autoprobe on: mlx5_core took them.
def fault_autoprobe_on(h):
    pf = os.path.join(h.bus, "devices", "0000:10:00.0")
    write(os.path.join(pf, "sriov_drivers_autoprobe"), "1\n")
    for n in sorted(os.listdir(pf)):
        if n.startswith("virtfn"):
            vf = os.path.basename(os.readlink(os.path.join(pf, n)))
            h.bind(os.path.join(h.bus, "devices", vf), vf, "mlx5_core")
    policy(h, "60-doctor-vfs.conf",
           "[Policy cx-vfs]\nIds=15b3:101e\nVirtualFunction=true\n"
           "Manage=true\nAutoBind=true\n")


# A policy manages the ConnectX VFs of 0000:10:00.0 (mlx5_vfio_pci needs
# them marked migratable through devlink, DevlinkMigratable=true), and:
def cx_vfs_managed(h):
    policy(h, "60-doctor-vfs.conf",
           "[Policy cx-vfs]\nIds=15b3:101e\nVirtualFunction=true\n"
           "Manage=true\nAutoBind=true\n")


# ... the eswitch was left in legacy mode: no VF ports, nothing to mark;
def fault_devlink_legacy(h):
    cx_vfs_managed(h)
    edit_devlink(h, "0000:10:00.0",
                 lambda i: i.update(eswitch="legacy", vf_ports=[]))


# ... its VFs 0 and 1 were created without the capability;
def fault_devlink_not_migratable(h):
    cx_vfs_managed(h)

    def off(info):
        for p in info["vf_ports"][:2]:
            p["migratable"] = False
    edit_devlink(h, "0000:10:00.0", off)


# ... new firmware was flashed but is not running yet.
def fault_firmware_pending(h):
    cx_vfs_managed(h)
    edit_devlink(h, "0000:10:00.0",
                 lambda i: i["versions"]["stored"].update(
                     {"fw.version": "22.41.1000", "fw": "22.41.1000"}))


# The NVMe at 0000:04:00.0 (server profile) is assigned to VFIO by a
# policy (by its PCI path), nvme holds it, and no initramfs step ran.
def fault_nvme_held(h):
    policy(h, "60-doctor-nvme.conf",
           "[Policy nvme0]\nPciPath=pci0000:00/0000:00:1d.0/0000:04:00.0\n"
           "Manage=true\nAutoBind=true\n")


# A second function beside the managed NVMe, in its IOMMU group, on a host
# driver (implies nvme-held).
def fault_group_shared(h):
    fault_nvme_held(h)
    nv = os.path.join(h.bus, "devices", "0000:04:00.0")
    group = int(os.path.basename(os.readlink(os.path.join(nv, "iommu_group"))))
    rp = os.path.dirname(os.path.realpath(nv))
    h.device(rp, "0000:04:00.1", 0x8086, 0xa348, 0x040300, numa=0,
             driver="snd_hda_intel" if "snd_hda_intel" in h.drivers else "nvme",
             group=group)


# The root port above the managed NVMe reports its extended configuration
# space without an ACS capability (implies nvme-held).
def fault_no_acs(h):
    fault_nvme_held(h)
    cfg = bytearray(4096)
    with open(os.path.join(h.bus, "devices", "0000:00:1d.0", "config"), "rb") as f:
        head = f.read()
    cfg[:len(head)] = head
    # one extended capability, AER (id 1, version 1), then the end
    struct.pack_into("<I", cfg, 0x100, 0x0001 | (1 << 16) | (0 << 20))
    with open(os.path.join(h.bus, "devices", "0000:00:1d.0", "config"), "wb") as f:
        f.write(cfg)


# mlx5_vfio_pci, chosen for the ConnectX VFs by the curated entry, is not in
# this kernel.
def fault_no_variant_module(h):
    drop_module(h, "mlx5_vfio_pci")
    d = os.path.join(h.bus, "drivers", "mlx5_vfio_pci")
    if os.path.isdir(d):
        shutil.rmtree(d)


FAULTS = {
    "no-iommu-firmware": fault_no_iommu_firmware,
    "iommu-off": fault_iommu_off,
    "no-intremap": fault_no_intremap,
    "no-modules-alias": fault_no_modules_alias,
    "no-iommu-backend": fault_no_iommu_backend,
    "protect-kernel-modules": fault_protect_kernel_modules,
    "autoprobe-on": fault_autoprobe_on,
    "devlink-legacy": fault_devlink_legacy,
    "devlink-not-migratable": fault_devlink_not_migratable,
    "firmware-pending": fault_firmware_pending,
    "nvme-held": fault_nvme_held,
    "group-shared": fault_group_shared,
    "no-acs": fault_no_acs,
    "no-variant-module": fault_no_variant_module,
}


def gen_broken_base(h):
    h.driver("pcieport")
    h.driver("nvme", "nvme")
    h.driver("vfio-pci", "vfio_pci")
    hb = h.host_bridge(0)
    h.device(hb, "0000:00:00.0", 0x8086, 0x3e0f, 0x060000)
    return hb


def gen_broken_missing(h):
    hb = gen_broken_base(h)
    d = h.device(hb, "0000:00:04.0", 0x8086, 0x1901, 0x118000)
    os.unlink(os.path.join(d, "class"))
    os.unlink(os.path.join(d, "vendor"))
    os.unlink(os.path.join(d, "uevent"))
    # A device without an IOMMU group (IOMMU off for it) and without
    # driver_override (a kernel older than 3.16).
    d = h.device(hb, "0000:00:05.0", 0x8086, 0x1911, 0x088000)
    os.unlink(os.path.join(d, "iommu_group"))
    os.unlink(os.path.join(d, "driver_override"))
    os.unlink(os.path.join(h.groups, str(h.next_group - 1), "devices",
                           "0000:00:05.0"))
    h.modules()


def gen_broken_dangling(h):
    hb = gen_broken_base(h)
    h.device(hb, "0000:00:06.0", 0x8086, 0x1903, 0x118000)
    # bus/pci/devices entry whose device directory vanished.
    link(os.path.join(h.bus, "devices", "0000:00:07.0"),
         os.path.join(hb, "0000:00:07.0"))
    # Bound to a driver that is not registered.
    d = h.device(hb, "0000:00:08.0", 0x8086, 0x1904, 0x118000)
    link(os.path.join(d, "driver"),
         os.path.join(h.bus, "drivers", "ghost_driver"))
    # iommu_group pointing at a group that does not exist.
    d = h.device(hb, "0000:00:09.0", 0x8086, 0x1905, 0x118000)
    os.unlink(os.path.join(d, "iommu_group"))
    link(os.path.join(d, "iommu_group"), os.path.join(h.groups, "9999"))
    h.modules()


def gen_broken_garbage(h):
    hb = gen_broken_base(h)
    h.device(hb, "0000:00:0a.0", 0x8086, 0x1906, 0x118000,
             files={"vendor": "0xZZZZ\n", "device": "\n", "class": "",
                    "numa_node": "banana\n",
                    "subsystem_vendor": "0x" + "f" * 100000 + "\n"})
    h.device(hb, "0000:00:0b.0", 0x8086, 0x1907, 0x118000,
             files={"modalias": "pci:" + "v" * 200000,
                    "revision": "0x1\x00\x01\xff\n"})
    h.modules(extra_alias_lines=[
        "alias pci:v00008086d00001906sv*sd*bc*sc*i*",
        "alias vfio_pci:vZZZZd0000101Esv*sd*bc*sc*i* broken_vfio",
        "alias vfio_pci:v000015B3 truncated_vfio",
        "alias",
        "alias\tvfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*\ttabbed_vfio",
        "aliasvfio_pci:v*d*sv*sd*bc*sc*i* glued",
        "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* " + "x" * 70000,
        "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* two words",
        "\u2717 not an alias",
        "",
    ])


def die(msg):
    print("gen-host.py: " + msg, file=sys.stderr)
    sys.exit(2)


def drop_mock():
    """The kernel mock would take this script's writes of bind, sriov_numvfs,
    ... for kernel writes: run without it."""
    pre = os.environ.get("LD_PRELOAD", "")
    kept = [p for p in pre.replace(":", " ").split() if "kmock" not in p]
    if pre and len(kept) != len(pre.replace(":", " ").split()):
        env = dict(os.environ)
        if kept:
            env["LD_PRELOAD"] = " ".join(kept)
        else:
            del env["LD_PRELOAD"]
        os.execve(sys.executable, [sys.executable] + sys.argv, env)


VFIO_ANSWERS = {
    "vfio-pci": "enotty",
    "mlx5_vfio_pci": "stop_copy p2p pre_copy dirty_tracking",
    "hisi_acc_vfio_pci": "stop_copy pre_copy",
    "pds_vfio_pci": "stop_copy p2p dirty_tracking",
    "virtio_vfio_pci": "stop_copy p2p pre_copy",
    "qat_vfio_pci": "stop_copy p2p pre_copy",
    "xe-vfio-pci": "stop_copy p2p",
    "nvgrace_gpu_vfio_pci": "enotty",
}


def main():
    drop_mock()
    p = argparse.ArgumentParser(
        prog="gen-host.py",
        description="Write a synthetic host (sysroot) as described in "
                    "tests/hosts/LAYOUT.md.")
    p.add_argument("--profile", choices=PROFILES, default="server")
    p.add_argument("--pfs", type=int, help="server: number of PFs (8)")
    p.add_argument("--vfs-per-pf", type=int,
                   help="server: VFs enabled on each PF (256)")
    p.add_argument("--kernel", default=DEFAULT_KERNEL, metavar="REL",
                   help="kernel release (%s)" % DEFAULT_KERNEL)
    p.add_argument("--hostname", default=None,
                   help="the host's name (synth-PROFILE)")
    p.add_argument("--mdev-parent", action="append", default=[],
                   metavar="PARENT:TYPE=N[,TYPE=N...]",
                   help="a parent of mediated devices (a name such as mtty, "
                        "or a PCI device's BDF) with N available instances "
                        "of each TYPE (repeatable)")
    p.add_argument("--pf-firmware", default=DEFAULT_PF_FIRMWARE,
                   metavar="VERSION",
                   help="server: the running (and flashed) firmware devlink "
                        "reports for the mlx5 PFs (%s)" % DEFAULT_PF_FIRMWARE)
    p.add_argument("--fault", action="append", default=[],
                   choices=sorted(FAULTS),
                   help="break the host the way vfmigctl doctor must see "
                        "(repeatable; the server profile's devices)")
    p.add_argument("out_dir", metavar="OUT_DIR",
                   help="directory to create (must not exist or be empty)")
    a = p.parse_args()

    if a.profile != "server" and (a.pfs is not None
                                  or a.vfs_per_pf is not None):
        die("--pfs and --vfs-per-pf apply to the server profile only")
    mdev_parents = [parse_mdev_parent(m) for m in a.mdev_parent]
    pfs = 8 if a.pfs is None else a.pfs
    vfs = 256 if a.vfs_per_pf is None else a.vfs_per_pf
    if pfs < 0 or pfs > 24 * 16:
        die("--pfs must be between 0 and %d" % (24 * 16))
    if vfs < 0 or vfs > 4096:
        die("--vfs-per-pf must be between 0 and 4096")
    if (not a.kernel or "/" in a.kernel or a.kernel in (".", "..")
            or any(c.isspace() for c in a.kernel)):
        die("--kernel must be a release name such as %s" % DEFAULT_KERNEL)
    out = os.path.abspath(a.out_dir)
    if out == "/" or os.path.realpath(out) == "/":
        die("refusing to write a synthetic host over /")
    if os.path.exists(out):
        if not os.path.isdir(out) or os.listdir(out):
            die("%s exists and is not an empty directory" % a.out_dir)
    try:
        os.makedirs(out, exist_ok=True)
        h = Host(os.path.realpath(out), a.kernel)
        {"laptop": gen_laptop,
         "server": lambda h: gen_server(h, pfs, vfs, a.pf_firmware),
         "broken-missing": gen_broken_missing,
         "broken-dangling": gen_broken_dangling,
         "broken-garbage": gen_broken_garbage}[a.profile](h)
        for parent, types in mdev_parents:
            gen_mdev_parent(h, parent, types)
        gen_platform(h)
        if a.fault and a.profile != "server":
            die("--fault applies to the server profile only")
        for f in a.fault:
            FAULTS[f](h)
        write(os.path.join(out, "proc", "sys", "kernel", "hostname"),
              (a.hostname or "synth-" + a.profile) + "\n")
    except OSError as e:
        die("cannot write %s: %s" % (a.out_dir, e))


if __name__ == "__main__":
    main()
