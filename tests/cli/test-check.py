#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfmigctl check/profile/probe: every rule failing alone, every strategy
reached, profile capture and probing on synthetic hosts, bad profile files.
Prints TAP."""
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import run_tap  # noqa: E402

VFMIGCTL = os.environ["VFMIGCTL"]
GEN_HOST = os.environ["GEN_HOST"]
KMOCK = os.environ["KMOCK"]
# Under the 'asan' test setup the ASan runtime must come first in LD_PRELOAD.
PRELOAD = " ".join(p for p in (os.environ.get("VFMIG_ASAN_RUNTIME"), KMOCK) if p)


def dev(bdf, vendor="15b3", device="101e", driver="mlx5_vfio_pci", probed=True, flags=("stop_copy", "p2p", "pre_copy"),
        dirty=True, kind="vendor", in_use=False, firmware="22.39.1002", same_firmware=True):
    d = {"bdf": bdf, "vendor": vendor, "device": device, "subsystem_vendor": vendor, "subsystem_device": "0016",
         "class": "020000", "revision": "00", "driver": driver, "module": driver, "module_version": None,
         "module_srcversion": "ABC123", "selected_driver": driver, "selected_module": driver,
         "selection_kind": kind, "physfn": "0000:3b:00.0", "pf_driver": "mlx5_core", "numa_node": 0,
         "iommu_group": 20, "group_viable": True, "vfio_bound": driver is not None, "in_use": in_use,
         "vfio_migration": None, "facts_migration": True, "facts_dirty_tracking": "device", "facts_same_firmware": same_firmware,
         "firmware": firmware}
    if probed:
        d["vfio_migration"] = {"supported": bool(flags), "stop_copy": "stop_copy" in flags, "p2p": "p2p" in flags,
                               "pre_copy": "pre_copy" in flags, "dirty_tracking": dirty, "source": "kernel",
                               "detail": "flags" if flags else "ENOTTY", "probed_at": 0, "age_s": 0}
    return d


def host(name, devices, qemu="9.2.0", libvirt="10.10.0"):
    return {"format": 1, "hostname": name, "kernel_release": "6.12.0", "iommu_mode": "on", "cpu_model": "x",
            "vfmig_version": "0.1.0", "libvirt_version": libvirt, "qemu_version": qemu, "created_at": 0,
            "devices": devices}


def domain(hostdevs, acpi=True, viommu=False, extra=""):
    devs = ""
    for h in hostdevs:
        bdf, managed = h[0], h[1] if len(h) > 1 else "no"
        dom, bus, slot, fn = bdf[0:4], bdf[5:7], bdf[8:10], bdf[11]
        teaming = h[2] if len(h) > 2 else ""
        devs += (f"<hostdev mode='subsystem' type='pci' managed='{managed}'>{teaming}<source>"
                 f"<address domain='0x{dom}' bus='0x{bus}' slot='0x{slot}' function='0x{fn}'/></source></hostdev>")
    features = "<features><acpi/></features>" if acpi else ""
    iommu = "<iommu model='intel'/>" if viommu else ""
    return (f"<domain type='kvm'><name>web01</name><uuid>00000000-0000-0000-0000-000000000001</uuid>"
            f"<os><type machine='pc-q35-8.2'>hvm</type></os>{features}"
            f"<devices>{devs}{iommu}{extra}</devices></domain>")


class Rules(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vfm-check-")
        self.src = host("hosta", [dev("0000:3b:00.2")])
        self.dst = host("hostb", [dev("0000:5e:00.4")])
        self.dom = domain([("0000:3b:00.2",)])

    def tearDown(self):
        shutil.rmtree(self.dir)

    def check(self, src=None, dst=None, dom=None, *extra, rc=None, env=None):
        paths = []
        for name, obj in (("src.json", src or self.src), ("dst.json", dst or self.dst)):
            p = os.path.join(self.dir, name)
            with open(p, "w") as f:
                json.dump(obj, f)
            paths.append(p)
        x = os.path.join(self.dir, "dom.xml")
        with open(x, "w") as f:
            f.write(dom or self.dom)
        p = subprocess.run([VFMIGCTL, "check", "--from", paths[0], "--to", paths[1], "--domain-xml", x, "--json", *extra],
                           capture_output=True, text=True, env=env)
        if rc is not None:
            self.assertEqual(p.returncode, rc, p.stdout + p.stderr)
        return p.returncode, json.loads(p.stdout)

    def rule(self, out, name, hostdev=0):
        return next(r for r in out["destinations"][0]["hostdevs"][hostdev]["rules"] if r["rule"] == name)

    def verdict(self, out):
        return out["destinations"][0]["strategy"]

    def test_native(self):
        rc, out = self.check(rc=0)
        d = out["destinations"][0]
        self.assertEqual(d["strategy"], "native")
        self.assertTrue(d["migratable"])
        self.assertEqual(d["hostdevs"][0]["destination_bdf"], "0000:5e:00.4")
        self.assertEqual(d["hostdevs"][0]["supports"], ["native", "replug"])
        self.assertTrue(all(r["outcome"] in ("pass", "warn", "skip") or "failover" in r["strategies"]
                            for r in d["hostdevs"][0]["rules"]))
        self.assertTrue(any("claim hostb 0000:5e:00.4" in s for s in d["plan"]))

    def fails_alone(self, name, src=None, dst=None, dom=None, expect="replug"):
        rc, out = self.check(src, dst, dom)
        self.assertEqual(self.rule(out, name)["outcome"], "fail", self.rule(out, name))
        self.assertEqual(self.verdict(out), expect)
        self.assertEqual(rc, 0 if expect != "refuse" else 3)
        failing = {r["rule"] for r in out["destinations"][0]["hostdevs"][0]["rules"] if r["outcome"] == "fail"}
        self.assertEqual(failing - {"failover-pair"}, {name} if name != "failover-pair" else set(), failing)
        return out

    def test_no_destination_device(self):
        dst = host("hostb", [dev("0000:5e:00.4", device="1017")])
        self.fails_alone("destination-device-free", dst=dst, expect="refuse")

    def test_destination_device_in_use(self):
        dst = host("hostb", [dev("0000:5e:00.4", in_use=True)])
        self.fails_alone("destination-device-free", dst=dst, expect="refuse")

    def test_other_driver(self):
        dst = copy.deepcopy(self.dst)
        dst["devices"][0].update(driver="vfio-pci", selected_driver="vfio-pci", module="vfio_pci")
        self.fails_alone("same-variant-driver", dst=dst)

    def test_source_never_probed(self):
        src = host("hosta", [dev("0000:3b:00.2", probed=False)])
        rc, out = self.check(src=src)
        self.assertEqual(self.rule(out, "kernel-migration-source")["outcome"], "fail")
        self.assertIn("vfmigctl probe 0000:3b:00.2", self.rule(out, "kernel-migration-source")["reason"])
        self.assertEqual(self.verdict(out), "replug")

    def test_destination_enotty(self):
        dst = host("hostb", [dev("0000:5e:00.4", flags=(), dirty=True)])
        self.fails_alone("kernel-migration-destination", dst=dst)

    def test_no_dirty_tracking_old_qemu(self):
        src = host("hosta", [dev("0000:3b:00.2", dirty=False)], qemu="8.2.0")
        dst = host("hostb", [dev("0000:5e:00.4", dirty=False)], qemu="8.2.0")
        self.fails_alone("dirty-tracking", src=src, dst=dst)

    def test_no_dirty_tracking_new_qemu_needs_the_properties(self):
        # issue 16: check said MIGRATABLE here, and QEMU's default (enable-migration=auto) blocks or fails it
        src = host("hosta", [dev("0000:3b:00.2", dirty=False)])
        out = self.fails_alone("dirty-tracking", src=src)
        reason = self.rule(out, "dirty-tracking")["reason"]
        self.assertIn("restart needed", reason)
        self.assertIn("enable-migration=on (string)", reason)
        self.assertIn("x-device-dirty-page-tracking=off (string)", reason)
        # started with both: native again, the cost said
        props = ("<qemu:override><qemu:device alias='hostdev0'><qemu:frontend>"
                 "<qemu:property name='enable-migration' type='string' value='on'/>"
                 "<qemu:property name='x-device-dirty-page-tracking' type='string' value='off'/>"
                 "</qemu:frontend></qemu:device></qemu:override>")
        dom = domain([("0000:3b:00.2",)]).replace("<domain type='kvm'>",
                                                  "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>")
        dom = dom.replace("</domain>", props + "</domain>")
        rc, out = self.check(src=src, dom=dom, rc=0)
        self.assertEqual(self.rule(out, "dirty-tracking")["outcome"], "pass")
        self.assertIn("all guest RAM", self.rule(out, "dirty-tracking")["reason"])
        self.assertEqual(self.verdict(out), "native")

    def test_iommu_dirty_tracking_is_not_enough_without_iommufd(self):
        # issue 15: dirty_tracking is device|iommu|none; "iommu" only counts with QEMU's iommufd backend
        src = host("hosta", [dev("0000:3b:00.2", dirty="iommu")])
        dst = host("hostb", [dev("0000:5e:00.4", dirty="iommu")])
        out = self.fails_alone("dirty-tracking", src=src, dst=dst)
        reason = self.rule(out, "dirty-tracking")["reason"]
        self.assertIn("iommufd backend", reason)
        self.assertIn("enable-migration=on (string)", reason)
        # the tri-state as a string and the old boolean read the same
        src = host("hosta", [dev("0000:3b:00.2", dirty="device")])
        rc, out = self.check(src=src, rc=0)
        self.assertEqual(self.rule(out, "dirty-tracking")["outcome"], "pass")

    def test_libvirt_both_ends(self):
        dst = host("hostb", [dev("0000:5e:00.4")], libvirt="8.5.0")
        self.fails_alone("libvirt-asks-qemu", dst=dst)

    def test_old_qemu(self):
        dst = host("hostb", [dev("0000:5e:00.4")], qemu="8.0.0")
        self.fails_alone("qemu-vfio-migration", dst=dst)

    def test_old_libvirt(self):
        src = host("hosta", [dev("0000:3b:00.2")], libvirt="8.0.0")
        self.fails_alone("libvirt-asks-qemu", src=src)

    def test_unknown_versions(self):
        src = host("hosta", [dev("0000:3b:00.2")], qemu=None, libvirt=None)
        rc, out = self.check(src=src)
        self.assertEqual(self.rule(out, "qemu-vfio-migration")["outcome"], "fail")
        self.assertIn("unknown", self.rule(out, "qemu-vfio-migration")["reason"])

    def test_several_devices_without_p2p(self):
        src = host("hosta", [dev("0000:3b:00.2", flags=("stop_copy",)), dev("0000:3b:00.3")])
        dst = host("hostb", [dev("0000:5e:00.4", flags=("stop_copy",)), dev("0000:5e:00.5")])
        dom = domain([("0000:3b:00.2",), ("0000:3b:00.3",)])
        rc, out = self.check(src, dst, dom, rc=0)
        # QEMU would block two without P2P: one stays native, the other is replugged
        self.assertEqual(self.rule(out, "multiple-devices-p2p", 0)["outcome"], "pass")
        self.assertIn("this one stays native", self.rule(out, "multiple-devices-p2p", 0)["reason"])
        self.assertEqual(self.rule(out, "multiple-devices-p2p", 1)["outcome"], "fail")
        self.assertIn("0000:3b:00.2 reports no P2P", self.rule(out, "multiple-devices-p2p", 1)["reason"])
        d = out["destinations"][0]["hostdevs"]
        self.assertEqual([h["verdict"] for h in d], ["native", "replug"])
        self.assertEqual(self.verdict(out), "replug")
        # two distinct destination devices were chosen
        self.assertNotEqual(d[0]["destination_bdf"], d[1]["destination_bdf"])
        # both natively: QEMU would refuse, and so does check
        rc, out = self.check(src, dst, dom, "--strategy", "native", rc=3)
        self.assertEqual([self.rule(out, "multiple-devices-p2p", i)["outcome"] for i in (0, 1)], ["fail", "fail"])
        # on QEMU 8.1 even two with P2P are one too many
        src81 = host("hosta", [dev("0000:3b:00.2"), dev("0000:3b:00.3")], qemu="8.1.0")
        dst81 = host("hostb", [dev("0000:5e:00.4"), dev("0000:5e:00.5")], qemu="8.1.0")
        rc, out = self.check(src81, dst81, dom, "--strategy", "native", rc=3)
        self.assertIn("this QEMU is older", self.rule(out, "multiple-devices-p2p", 1)["reason"])
        # and on 9.2 two with P2P migrate together
        rc, out = self.check(dom=dom, src=host("hosta", [dev("0000:3b:00.2"), dev("0000:3b:00.3")]),
                             dst=host("hostb", [dev("0000:5e:00.4"), dev("0000:5e:00.5")]), rc=0)
        self.assertEqual([h["verdict"] for h in out["destinations"][0]["hostdevs"]], ["native", "native"])
        self.assertIn("all with P2P", self.rule(out, "multiple-devices-p2p", 1)["reason"])

    def test_p2p_counts_only_native_devices(self):
        # issue 16: a device that is replugged anyway (the destination's kernel cannot migrate it) is detached
        # before the migration, so QEMU never counts it; main counted it and replugged both
        src = host("hosta", [dev("0000:3b:00.2"), dev("0000:3b:00.3", flags=("stop_copy",))])
        dst = host("hostb", [dev("0000:5e:00.4"), dev("0000:5e:00.5", flags=())])
        rc, out = self.check(src, dst, domain([("0000:3b:00.2",), ("0000:3b:00.3",)]), rc=0)
        d = out["destinations"][0]["hostdevs"]
        self.assertEqual([h["verdict"] for h in d], ["native", "replug"])
        self.assertEqual(self.rule(out, "multiple-devices-p2p", 0)["outcome"], "pass")
        self.assertEqual(self.rule(out, "multiple-devices-p2p", 1)["outcome"], "skip")
        self.assertIn("QEMU does not count it", self.rule(out, "multiple-devices-p2p", 1)["reason"])
        self.assertEqual(self.rule(out, "kernel-migration-destination", 1)["outcome"], "fail")

    def test_viommu(self):
        self.fails_alone("no-viommu", dom=domain([("0000:3b:00.2",)], viommu=True))

    def test_viommu_by_qemu_version(self):
        # QEMU 11.0 blocks a vIOMMU only for devices that use their own dirty tracking (MIGRATION-FACTS §1)
        dom = domain([("0000:3b:00.2",)], viommu=True)
        src, dst = host("hosta", [dev("0000:3b:00.2")], qemu="11.0.0"), host("hostb", [dev("0000:5e:00.4")], qemu="11.0.0")
        out = self.fails_alone("no-viommu", src=src, dst=dst, dom=dom)
        self.assertIn("tracks dirty pages itself", self.rule(out, "no-viommu")["reason"])
        src = host("hosta", [dev("0000:3b:00.2", dirty=False)], qemu="11.0.0")
        dom = self.with_props(dom, "hostdev0", (("enable-migration", "on"), ("x-device-dirty-page-tracking", "off")))
        rc, out = self.check(src, dst, dom, rc=0)
        self.assertEqual(self.rule(out, "no-viommu")["outcome"], "pass")
        self.assertIn(">= 11.0.0", self.rule(out, "no-viommu")["reason"])
        self.assertEqual(self.verdict(out), "native")
        # the same guest on 10.1 is blocked
        src10, dst10 = (host(n, [dev(b, dirty=False)], qemu="10.1.0") for n, b in (("hosta", "0000:3b:00.2"),
                                                                                   ("hostb", "0000:5e:00.4")))
        out = self.fails_alone("no-viommu", src=src10, dst=dst10, dom=dom)
        self.assertIn("QEMU 10.1.0 blocks", self.rule(out, "no-viommu")["reason"])

    @staticmethod
    def with_props(dom, alias, props):
        body = "".join(f"<qemu:property name='{n}' type='string' value='{v}'/>" for n, v in props)
        dom = dom.replace("<domain type='kvm'>", "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>")
        return dom.replace("</domain>", f"<qemu:override><qemu:device alias='{alias}'><qemu:frontend>{body}"
                                        "</qemu:frontend></qemu:device></qemu:override></domain>")

    def test_downtime_default(self):
        # no device dirty tracking: QEMU copies the guest RAM while the guest is stopped, so migrate's default
        # downtime limit covers it; with device dirty tracking QEMU's default stays
        dom = domain([("0000:3b:00.2",)]).replace("<os>", "<memory unit='GiB'>2</memory><os>")
        rc, out = self.check(dom=dom, rc=0)
        self.assertEqual(out["destinations"][0]["downtime"], {"base_ms": 300, "stop_copy_bytes": 0})
        src = host("hosta", [dev("0000:3b:00.2", dirty=False)])
        dom = self.with_props(dom, "hostdev0", (("enable-migration", "on"), ("x-device-dirty-page-tracking", "off")))
        rc, out = self.check(src=src, dom=dom, rc=0)
        self.assertEqual(out["destinations"][0]["downtime"], {"base_ms": 300, "stop_copy_bytes": 2 << 30})
        self.assertTrue(any("downtime limit" in p and "2048 MiB" in p for p in out["destinations"][0]["plan"]))
        # replugged instead: nothing moves with the guest stopped
        rc, out = self.check(src, None, dom, "--strategy", "replug", rc=0)
        self.assertEqual(out["destinations"][0]["downtime"]["stop_copy_bytes"], 0)

    def test_gates_file_broken(self):
        # the version gates are data: a file without one names the file and the gate, and nothing passes
        data = os.path.join(self.dir, "data")
        shutil.copytree(os.environ["VFMIG_DATADIR"], data)
        gates = os.path.join(data, "qemu", "vfio-gates.conf")
        with open(gates) as f:
            text = f.read()
        with open(gates, "w") as f:
            f.write(text.replace("[multiple-devices-p2p]", "[multiple-devices-p2p-x]"))
        rc, out = self.check(rc=0, env=dict(os.environ, VFMIG_DATADIR=data))
        self.assertEqual(self.verdict(out), "replug")
        r = self.rule(out, "qemu-vfio-migration")
        self.assertEqual(r["outcome"], "fail")
        self.assertIn("vfio-gates.conf: no [multiple-devices-p2p]", r["reason"])

    def test_qemu_facts_files_missing(self):
        # the QEMU facts (version gates, migration properties) read from the datadir: a file that cannot be read is
        # named with its path and the cause in the rules that need it, and those rules fail
        data = os.path.join(self.dir, "data")
        shutil.copytree(os.environ["VFMIG_DATADIR"], data)
        gates = os.path.join(data, "qemu", "vfio-gates.conf")
        props = os.path.join(data, "qemu", "vfio-migration.conf")
        os.unlink(gates)
        os.unlink(props)
        src = host("hosta", [dev("0000:3b:00.2", dirty=False)])
        rc, out = self.check(src=src, rc=0, env=dict(os.environ, VFMIG_DATADIR=data))
        self.assertEqual(self.verdict(out), "replug")
        r = self.rule(out, "qemu-vfio-migration")
        self.assertEqual(r["outcome"], "fail")
        self.assertIn(f"the QEMU/libvirt version facts cannot be read: {gates}: ", r["reason"])
        r = self.rule(out, "dirty-tracking")
        self.assertEqual(r["outcome"], "fail")
        self.assertIn(f"the QEMU property facts cannot be read: {props}: ", r["reason"])

    def test_managed_old_libvirt_warns(self):
        dst = host("hostb", [dev("0000:5e:00.4")], libvirt="9.0.0")
        rc, out = self.check(dst=dst, dom=domain([("0000:3b:00.2", "yes")]), rc=0)
        self.assertEqual(self.rule(out, "managed-hostdev")["outcome"], "warn")
        self.assertEqual(self.verdict(out), "native")

    def test_firmware_differs(self):
        dst = host("hostb", [dev("0000:5e:00.4", firmware="22.41.1000")])
        out = self.fails_alone("same-firmware", dst=dst)
        self.assertIn("curated facts", self.rule(out, "same-firmware")["reason"])

    def test_firmware_only_where_the_facts_require_it(self):
        # issue 16: equal firmware is a curated fact of some drivers (mlx5), not a general hard failure
        for same, outcome in ((False, "pass"), (None, "warn")):
            src = host("hosta", [dev("0000:3b:00.2", vendor="8086", device="4941", driver="qat_vfio_pci",
                                     same_firmware=same)])
            dst = host("hostb", [dev("0000:5e:00.4", vendor="8086", device="4941", driver="qat_vfio_pci",
                                     firmware="4.1.0", same_firmware=same)])
            rc, out = self.check(src, dst, rc=0, dom=domain([("0000:3b:00.2",)]))
            self.assertEqual(self.rule(out, "same-firmware")["outcome"], outcome, same)
            self.assertEqual(self.verdict(out), "native")

    def test_igd_never(self):
        src = host("hosta", [dev("0000:00:02.0", vendor="8086", device="3e92", driver="vfio-pci", kind="igd")])
        dst = host("hostb", [dev("0000:00:02.0", vendor="8086", device="3e92", driver="vfio-pci", kind="igd")])
        rc, out = self.check(src, dst, domain([("0000:00:02.0",)]))
        self.assertEqual(rc, 3)
        self.assertEqual(self.rule(out, "not-igd")["outcome"], "fail")
        self.assertEqual(out["destinations"][0]["hostdevs"][0]["supports"], [])

    def test_legacy_assignment(self):
        dom = domain([("0000:3b:00.2", "no", "<driver name='kvm'/>")])
        rc, out = self.check(dom=dom)
        self.assertEqual(rc, 3)
        self.assertEqual(self.rule(out, "not-legacy-assignment")["outcome"], "fail")

    def test_no_acpi_no_replug(self):
        dst = host("hostb", [dev("0000:5e:00.4", flags=())])
        rc, out = self.check(dst=dst, dom=domain([("0000:3b:00.2",)], acpi=False))
        self.assertEqual(rc, 3)
        self.assertEqual(self.rule(out, "hot-unplug")["outcome"], "fail")
        self.assertEqual(self.verdict(out), "refuse")

    def test_failover(self):
        dst = host("hostb", [dev("0000:5e:00.4", flags=())])
        standby = ("<interface type='bridge'><source bridge='br0'/><model type='virtio'/>"
                   "<teaming type='persistent'/><alias name='ua-standby'/></interface>")
        dom = domain([("0000:3b:00.2", "no", "<teaming type='transient' persistent='ua-standby'/>")],
                     acpi=False, extra=standby)
        rc, out = self.check(dst=dst, dom=dom, rc=0)
        self.assertEqual(self.verdict(out), "failover")
        self.assertEqual(self.rule(out, "failover-pair")["outcome"], "pass")
        # issue 16, 4: vfmig claims and rewrites, QEMU unplugs; vfmig never detaches the teaming VF
        plan = out["destinations"][0]["plan"]
        self.assertIn("claim hostb 0000:5e:00.4 for 0000:3b:00.2 (failover)", plan)
        self.assertFalse(any(p.startswith(("detach", "attach")) for p in plan), plan)
        self.assertTrue(any(p.startswith("leave 0000:3b:00.2 attached: QEMU unplugs it") for p in plan), plan)

    def test_interface_hostdev(self):
        # issue 16, 5: an <interface type='hostdev'> is a hostdev - checked, claimed - and what the destination VF
        # gets from libvirt (MAC, VLAN) is said
        iface = ("<interface type='hostdev' managed='yes'><mac address='52:54:00:AA:BB:01'/>"
                 "<source><address type='pci' domain='0x0000' bus='0x3b' slot='0x00' function='0x2'/></source>"
                 "<vlan><tag id='42'/></vlan><alias name='ua-sriov'/></interface>")
        dom = domain([]).replace("<devices>", "<devices>" + iface)
        rc, out = self.check(dom=dom, rc=0)
        d = out["destinations"][0]
        h = d["hostdevs"][0]
        self.assertEqual((h["bdf"], h["alias"], h["verdict"]), ("0000:3b:00.2", "ua-sriov", "native"))
        self.assertEqual(h["interface"], {"mac": "52:54:00:AA:BB:01", "vlan": "42"})
        self.assertTrue(any(p.startswith("claim hostb 0000:5e:00.4 for 0000:3b:00.2 (native; libvirt gives it "
                                         "MAC 52:54:00:AA:BB:01 and VLAN 42") for p in d["plan"]), d["plan"])
        # a plain hostdev has no interface facts
        rc, out = self.check(rc=0)
        self.assertIsNone(out["destinations"][0]["hostdevs"][0]["interface"])

    def test_requested_strategy(self):
        dst = host("hostb", [dev("0000:5e:00.4", flags=())])
        rc, out = self.check(None, dst, None, "--strategy", "native", rc=3)
        self.assertEqual(self.verdict(out), "refuse")
        rc, out = self.check(None, dst, None, "--strategy", "replug", rc=0)
        self.assertEqual(self.verdict(out), "replug")
        rc, out = self.check(None, None, None, "--strategy", "replug", rc=0)
        self.assertEqual(self.verdict(out), "replug")

    def test_scsi_hostdev_is_refused(self):
        scsi = ("<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
                "<address bus='0' target='0' unit='0'/></source></hostdev>")
        rc, out = self.check(dom=domain([("0000:3b:00.2",)], extra=scsi))
        self.assertEqual(rc, 3)
        self.assertEqual(out["destinations"][0]["domain_rules"][0]["rule"], "only-pci-hostdevs")

    MDEV_A = "c2177883-f1bb-47f0-914d-32a22e3a8804"
    MDEV_B = "5b3a0b0e-9a8f-4d3e-8e4c-2f1f5d3c9a11"

    def mdev_host(self, name, instances, types, qemu="10.0.2", libvirt="11.3.0"):
        h = host(name, [], qemu=qemu, libvirt=libvirt)
        h["mdevs"] = [{"uuid": u, "parent": "mtty", "type": "mtty-1", "iommu_group": 30 + i, "in_use": in_use,
                       "claimed": False,
                       "vfio_migration": {"supported": True, "stop_copy": True, "p2p": True, "pre_copy": True,
                                          "dirty_tracking": False, "detail": "flags 0x7", "probed_at": 0}
                       if probed else None}
                      for i, (u, in_use, probed) in enumerate(instances)]
        h["mdev_types"] = [{"parent": "mtty", "name": t, "device_api": "vfio-pci", "available_instances": n}
                           for t, n in types]
        return h

    def mdev_domain(self, props=()):
        ns = " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"
        ov = ""
        if props:
            ov = ("<qemu:override><qemu:device alias='hostdev0'><qemu:frontend>" +
                  "".join(f"<qemu:property name='{n}' type='{t}' value='{v}'/>" for n, t, v in props) +
                  "</qemu:frontend></qemu:device></qemu:override>")
        return (f"<domain type='kvm'{ns}><name>web01</name><uuid>00000000-0000-0000-0000-000000000001</uuid>"
                "<memory unit='MiB'>256</memory><os><type machine='pc'>hvm</type></os><features><acpi/></features>"
                "<devices><hostdev mode='subsystem' type='mdev' model='vfio-pci'><source>"
                f"<address uuid='{self.MDEV_A}'/></source><alias name='hostdev0'/></hostdev></devices>{ov}</domain>")

    GOOD_PROPS = (("enable-migration", "string", "on"), ("x-device-dirty-page-tracking", "string", "off"))

    def mdev_rule(self, out, name):
        return [r for r in out["destinations"][0]["mdevs"][0]["rules"] if r["rule"] == name][0]

    def test_mdev_migrates_natively_with_the_qemu_properties(self):
        src = self.mdev_host("hosta", [(self.MDEV_A, True, True)], [("mtty-1", 1)])
        dst = self.mdev_host("hostb", [(self.MDEV_B, False, True)], [("mtty-1", 1)])
        rc, out = self.check(src, dst, self.mdev_domain(self.GOOD_PROPS), rc=0)
        d = out["destinations"][0]
        self.assertEqual(d["strategy"], "native")
        m = d["mdevs"][0]
        self.assertEqual((m["uuid"], m["type"], m["destination_uuid"]), (self.MDEV_A, "mtty-1", self.MDEV_B))
        self.assertEqual(m["qemu_properties"], ["enable-migration=on (string)", "x-device-dirty-page-tracking=off (string)"])
        self.assertTrue(any("guest RAM (256 MiB)" in p for p in d["plan"]), d["plan"])
        # the downtime limit migrate sets: QEMU's 300 ms plus the RAM QEMU copies while the guest is stopped
        self.assertEqual(d["downtime"], {"base_ms": 300, "stop_copy_bytes": 256 << 20})

    def test_mdev_started_without_the_properties_needs_a_restart(self):
        src = self.mdev_host("hosta", [(self.MDEV_A, True, True)], [("mtty-1", 1)])
        dst = self.mdev_host("hostb", [(self.MDEV_B, False, True)], [("mtty-1", 1)])
        for props in ((), (("enable-migration", "string", "on"),)):
            rc, out = self.check(src, dst, self.mdev_domain(props))
            self.assertEqual(rc, 3, props)
            r = self.mdev_rule(out, "qemu-device-properties")
            self.assertEqual(r["outcome"], "fail")
            self.assertIn("restart needed", r["reason"])
            self.assertIn("x-device-dirty-page-tracking=off", r["reason"])
        # a bool where QEMU takes an OnOffAuto string: QEMU would not even start
        rc, out = self.check(src, dst, self.mdev_domain((("enable-migration", "bool", "on"),
                                                          ("x-device-dirty-page-tracking", "string", "off"))))
        self.assertEqual(rc, 3)
        self.assertIn("type 'bool'", self.mdev_rule(out, "qemu-device-properties")["reason"])

    def test_mdev_destination_created_or_refused(self):
        src = self.mdev_host("hosta", [(self.MDEV_A, True, True)], [("mtty-1", 1)])
        # the only instance there is in use: one is created where a parent has room
        dst = self.mdev_host("hostb", [(self.MDEV_B, True, True)], [("mtty-1", 1)])
        rc, out = self.check(src, dst, self.mdev_domain(self.GOOD_PROPS), rc=0)
        m = out["destinations"][0]["mdevs"][0]
        self.assertIsNone(m["destination_uuid"])
        self.assertEqual(m["destination_parent"], "mtty")
        self.assertTrue(any(p.startswith("create a mtty-1 instance") for p in out["destinations"][0]["plan"]))
        # no room either
        dst = self.mdev_host("hostb", [(self.MDEV_B, True, True)], [("mtty-1", 0), ("mtty-2", 2)])
        rc, out = self.check(src, dst, self.mdev_domain(self.GOOD_PROPS))
        self.assertEqual(rc, 3)
        self.assertEqual(self.mdev_rule(out, "mdev-destination")["outcome"], "fail")

    def test_mdev_never_probed_is_not_assumed_migratable(self):
        src = self.mdev_host("hosta", [(self.MDEV_A, True, False)], [("mtty-1", 0)])
        dst = self.mdev_host("hostb", [], [("mtty-1", 1)])
        rc, out = self.check(src, dst, self.mdev_domain(self.GOOD_PROPS))
        self.assertEqual(rc, 3)
        r = self.mdev_rule(out, "mdev-kernel-migration")
        self.assertEqual(r["outcome"], "fail")
        self.assertIn("vfmigctl probe " + self.MDEV_A, r["reason"])

    def test_mdev_needs_qemu_8_1(self):
        src = self.mdev_host("hosta", [(self.MDEV_A, True, True)], [("mtty-1", 1)], qemu="7.2.0", libvirt="9.0.0")
        dst = self.mdev_host("hostb", [(self.MDEV_B, False, True)], [("mtty-1", 1)], qemu="7.2.0", libvirt="9.0.0")
        rc, out = self.check(src, dst, self.mdev_domain(self.GOOD_PROPS))
        self.assertEqual(rc, 3)
        self.assertEqual(self.mdev_rule(out, "qemu-vfio-migration")["outcome"], "fail")

    def test_no_hostdevs(self):
        rc, out = self.check(dom=domain([]), rc=0)
        self.assertIn("no PCI passthrough devices", out["destinations"][0]["summary"])

    def test_human_output_names_reasons(self):
        dst = host("hostb", [dev("0000:5e:00.4", flags=())])
        paths = []
        for name, obj in (("s.json", self.src), ("d.json", dst)):
            p = os.path.join(self.dir, name)
            with open(p, "w") as f:
                json.dump(obj, f)
            paths.append(p)
        x = os.path.join(self.dir, "d.xml")
        with open(x, "w") as f:
            f.write(self.dom)
        p = subprocess.run([VFMIGCTL, "check", "--from", paths[0], "--to", paths[1], "--domain-xml", x],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("web01 → hostb: MIGRATABLE (replug", p.stdout)
        self.assertIn("✗ the kernel on the destination reports no VFIO migration", p.stdout)

    def test_several_destinations(self):
        good = os.path.join(self.dir, "good.json")
        bad = os.path.join(self.dir, "bad.json")
        src = os.path.join(self.dir, "src.json")
        x = os.path.join(self.dir, "x.xml")
        for path, obj in ((good, self.dst), (bad, host("hostc", [])), (src, self.src)):
            with open(path, "w") as f:
                json.dump(obj, f)
        with open(x, "w") as f:
            f.write(self.dom)
        p = subprocess.run([VFMIGCTL, "check", "--from", src, "--to", bad, "--to", good, "--domain-xml", x, "--json"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        out = json.loads(p.stdout)
        self.assertEqual([d["migratable"] for d in out["destinations"]], [False, True])

    def test_bad_profiles(self):
        x = os.path.join(self.dir, "x.xml")
        with open(x, "w") as f:
            f.write(self.dom)
        good = os.path.join(self.dir, "good.json")
        with open(good, "w") as f:
            json.dump(self.src, f)
        cases = {"garbage.json": "{not json", "format.json": json.dumps(dict(self.src, format=2)),
                 "hex.json": json.dumps(host("h", [dict(dev("0000:3b:00.2"), vendor="zzzz")])),
                 "bdf.json": json.dumps(host("h", [dict(dev("0000:3b:00.2"), bdf="../../x")])),
                 "devices.json": json.dumps(dict(self.src, devices=7))}
        for name, text in cases.items():
            path = os.path.join(self.dir, name)
            with open(path, "w") as f:
                f.write(text)
            p = subprocess.run([VFMIGCTL, "check", "--from", path, "--to", good, "--domain-xml", x],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 1, name)
            self.assertIn(name, p.stderr)
        with open(x, "w") as f:
            f.write("<domain><devices><hostdev mode='subsystem' type='pci'><source><address bus='zz'/></source></hostdev></devices></domain>")
        p = subprocess.run([VFMIGCTL, "check", "--from", good, "--to", good, "--domain-xml", x], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(subprocess.run([VFMIGCTL, "check", "--from", good], capture_output=True).returncode, 2)
        self.assertEqual(subprocess.run([VFMIGCTL, "check", "--from", good, "--to", good, "--strategy", "teleport"],
                                        capture_output=True).returncode, 1)


class Synthetic(unittest.TestCase):
    """profile and probe on synthetic hosts, then check between their files."""

    def setUp(self):
        self.roots = []
        for name in ("hosta", "hostb"):
            root = tempfile.mkdtemp(prefix="vfm-chk-")
            shutil.rmtree(root)
            subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "2", "--vfs-per-pf", "2",
                            "--hostname", name, root], check=True)
            self.roots.append(root)

    def tearDown(self):
        for r in self.roots:
            shutil.rmtree(r)

    def ctl(self, root, *args, mock=False):
        env = dict(os.environ, VFMIG_SYSROOT=root)
        if mock:
            env["LD_PRELOAD"] = PRELOAD
        return subprocess.run([VFMIGCTL, *args], capture_output=True, text=True, env=env)

    def bind_and_probe(self):
        """One ConnectX VF of each host bound and probed; their BDFs."""
        vfs = []
        for root in self.roots:
            lst = json.loads(self.ctl(root, "list", "--json").stdout)
            vf = next(d["bdf"] for d in lst if d["device"] == "101e")
            vfs.append(vf)
            p = self.ctl(root, "probe", vf)
            self.assertEqual(p.returncode, 1)  # not on a VFIO driver yet
            self.assertIn("bind it first", p.stderr)
            self.assertEqual(self.ctl(root, "bind", vf, mock=True).returncode, 0)
            out = json.loads(self.ctl(root, "probe", vf, "--json").stdout)["results"][0]
            self.assertTrue(out["stop_copy"] and out["p2p"])
            self.assertEqual(out["dirty_tracking"], "device")
            self.assertEqual(out["source"], "synthetic")
        return vfs

    def profile_files(self):
        prof = [json.loads(self.ctl(r, "profile", "--json").stdout) for r in self.roots]
        files = []
        for i, p in enumerate(prof):
            p["qemu_version"], p["libvirt_version"] = "9.2.0", "10.10.0"
            path = os.path.join(self.roots[i], "profile.json")
            with open(path, "w") as f:
                json.dump(p, f)
            files.append(path)
        return prof, files

    def test_firmware_from_devlink(self):
        # hostb's mlx5 PFs run newer firmware (devlink dev info): the profile
        # says so, and check refuses native migration of the ConnectX VF, whose
        # state is a firmware image (SameFirmware=true)
        shutil.rmtree(self.roots[1])
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "2", "--vfs-per-pf", "2",
                        "--hostname", "hostb", "--pf-firmware", "22.41.1000", self.roots[1]], check=True)
        vfs = self.bind_and_probe()
        prof, files = self.profile_files()
        fw = [next(x for x in p["devices"] if x["bdf"] == vf)["firmware"] for p, vf in zip(prof, vfs)]
        self.assertEqual(fw, ["fw.psid MT_0000000838, fw.version 22.39.1002, fw 22.39.1002",
                              "fw.psid MT_0000000838, fw.version 22.41.1000, fw 22.41.1000"])
        out = subprocess.run([VFMIGCTL, "check", "--from", files[0], "--to", files[1], "--json"],
                             capture_output=True, text=True)
        res = json.loads(out.stdout)["destinations"][0]
        self.assertEqual(res["strategy"], "replug", out.stdout)
        rule = next(r for r in res["hostdevs"][0]["rules"] if r["rule"] == "same-firmware")
        self.assertEqual(rule["outcome"], "fail")
        self.assertIn("22.39.1002", rule["reason"])
        self.assertIn("22.41.1000", rule["reason"])

    def test_profile_probe_check(self):
        vfs = self.bind_and_probe()
        prof, files = self.profile_files()
        self.assertEqual(prof[0]["format"], 1)
        self.assertEqual(prof[0]["hostname"], "hosta")
        self.assertEqual(prof[0]["iommu_mode"], "on (passthrough default)")
        d = next(x for x in prof[0]["devices"] if x["bdf"] == vfs[0])
        self.assertTrue(d["vfio_migration"]["stop_copy"])
        self.assertGreaterEqual(d["vfio_migration"]["age_s"], 0)
        self.assertEqual(d["firmware"], "fw.psid MT_0000000838, fw.version 22.39.1002, fw 22.39.1002")
        out = subprocess.run([VFMIGCTL, "check", "--from", files[0], "--to", files[1], "--json"],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        res = json.loads(out.stdout)["destinations"][0]
        self.assertEqual(res["strategy"], "native")
        # an unbind drops the cached answer: the kernel must be asked again
        self.assertEqual(self.ctl(self.roots[0], "unbind", vfs[0], mock=True).returncode, 0)
        self.assertEqual(self.ctl(self.roots[0], "bind", vfs[0], mock=True).returncode, 0)
        again = json.loads(self.ctl(self.roots[0], "profile", "--json").stdout)
        d = next(x for x in again["devices"] if x["bdf"] == vfs[0])
        self.assertIsNone(d["vfio_migration"])


class Ranked(unittest.TestCase):
    """check with many destinations ends with one ranking, best first (issue 19)."""

    KINDS = ("native", "native2", "nodirty", "enotty", "nodevice", "inuse", "oldqemu")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vfm-rank-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def profile(self, i, kind):
        name = f"h{i:03d}"
        if kind == "native":
            devs = [dev("0000:5e:00.4")]
        elif kind == "native2":  # two free: more headroom
            devs = [dev("0000:5e:00.4"), dev("0000:5e:00.5")]
        elif kind == "nodirty":  # QEMU 9.2 without the properties: replug
            devs = [dev("0000:5e:00.4", dirty=False)]
        elif kind == "enotty":
            devs = [dev("0000:5e:00.4", flags=())]
        elif kind == "nodevice":
            devs = [dev("0000:5e:00.4", device="1017")]
        elif kind == "inuse":
            devs = [dev("0000:5e:00.4", in_use=True)]
        else:
            return host(name, [dev("0000:5e:00.4")], qemu="8.0.0")
        return host(name, devs)

    def run_check(self, n, *extra):
        src = os.path.join(self.dir, "src.json")
        x = os.path.join(self.dir, "dom.xml")
        with open(src, "w") as f:
            json.dump(host("hosta", [dev("0000:3b:00.2")]), f)
        with open(x, "w") as f:
            f.write(domain([("0000:3b:00.2",)]))
        args, self.kinds = [], {}
        for i in range(n):
            kind = self.KINDS[(i * 5 + 3) % len(self.KINDS)]  # spread over the list, not in order
            path = os.path.join(self.dir, f"h{i:03d}.json")
            with open(path, "w") as f:
                json.dump(self.profile(i, kind), f)
            self.kinds[path] = kind
            args += ["--to-profile", path]
        return subprocess.run([VFMIGCTL, "check", "--from", src, "--domain-xml", x, *args, *extra],
                              capture_output=True, text=True)

    def test_hundred_profiles_json(self):
        p = self.run_check(100, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        ranking = out["ranking"]
        self.assertEqual(len(ranking), 100)
        self.assertEqual([r["rank"] for r in ranking], list(range(1, 101)))
        fields = {"rank", "host", "hostname", "verdict", "move", "strategy", "free_matching_devices",
                  "estimated_downtime_ms", "device_detached_meanwhile", "domains_placed", "blocker_rules", "blockers"}
        for r in ranking:
            self.assertEqual(set(r), fields)
        by_host = {d["to"]: d for d in out["destinations"]}
        strength = {"native": 3, "failover": 2, "replug": 1, "refuse": 0, "cold": 0}
        move = {"live": 0, "cold": 1, "none": 2}
        order = list(by_host)

        def key(r):
            return (move[r["move"]], -strength[r["strategy"]],
                    r["estimated_downtime_ms"] if r["estimated_downtime_ms"] is not None else -1,
                    r["device_detached_meanwhile"], -r["free_matching_devices"], len(r["blockers"]),
                    order.index(r["host"]))
        self.assertEqual(ranking, sorted(ranking, key=key))
        for r in ranking:
            kind, d = self.kinds[r["host"]], by_host[r["host"]]
            self.assertEqual(r["strategy"], d["strategy"], r)
            self.assertEqual(r["verdict"] == "migratable", d["migratable"])
            want = {"native": ("native", 1), "native2": ("native", 2), "nodirty": ("replug", 1),
                    "enotty": ("replug", 1), "nodevice": ("refuse", 0), "inuse": ("refuse", 0),
                    "oldqemu": ("replug", 1)}[kind]
            self.assertEqual((r["strategy"], r["free_matching_devices"]), want, (kind, r))
            if r["strategy"] == "native":
                self.assertEqual(r["blockers"], [])
                self.assertEqual(r["estimated_downtime_ms"], 300)
            else:
                self.assertTrue(r["blockers"], r)
            if r["strategy"] == "refuse":
                self.assertIn("destination-device-free", r["blocker_rules"])
                self.assertIsNone(r["estimated_downtime_ms"])
        # the hosts with two free devices come first, then the other native ones
        count = {k: list(self.kinds.values()).count(k) for k in self.KINDS}
        n2, n1 = count["native2"], count["native"]
        self.assertEqual({self.kinds[r["host"]] for r in ranking[:n2]}, {"native2"})
        self.assertEqual({self.kinds[r["host"]] for r in ranking[n2:n2 + n1]}, {"native"})
        n_none = count["nodevice"] + count["inuse"]
        self.assertTrue(all(r["move"] == "none" for r in ranking[-n_none:]))
        self.assertTrue(all(r["move"] == "live" for r in ranking[:-n_none]))

    def test_table_best_first(self):
        p = self.run_check(7)
        self.assertEqual(p.returncode, 0, p.stderr)
        table = p.stdout.split("ranked, best first:\n", 1)[1].splitlines()
        self.assertEqual(table[0].split()[:5], ["#", "HOST", "VERDICT", "STRATEGY", "FREE"])
        rows = [line.split() for line in table[1:] if line[:1].isdigit()]
        self.assertEqual([r[0] for r in rows], [str(i) for i in range(1, 8)])
        self.assertEqual(self.kinds[rows[0][1]], "native2")
        self.assertEqual(rows[0][2:6], ["MIGRATABLE", "native", "2", "~300"])
        self.assertEqual(rows[-1][2:4], ["NOT", "MIGRATABLE"])

    def test_one_destination_no_table(self):
        p = self.run_check(1)
        self.assertNotIn("ranked, best first", p.stdout)

    def test_bad_profile_among_many(self):
        bad = os.path.join(self.dir, "zz-bad.json")
        with open(bad, "w") as f:
            f.write("{nope")
        p = self.run_check(3, "--to-profile", bad)
        self.assertEqual(p.returncode, 0)
        self.assertIn("zz-bad.json", p.stderr)
        self.assertNotIn("zz-bad.json", p.stdout.split("ranked, best first:", 1)[1])


class EvacuatePlan(unittest.TestCase):
    """evacuate --from/--domain-xml/--to-profile --dry-run: the plan from files (issue 19)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vfm-evac-")
        igd = dict(dev("0000:00:02.0", vendor="8086", device="3e92", driver="vfio-pci", kind="igd", flags=()),
                   **{"class": "030000"})
        self.files = {}
        self.write("src.json", host("hosta", [dev("0000:3b:00.2"), dev("0000:3b:00.3"), igd]))
        self.write("b.json", host("hostb", [dev("0000:5e:00.4"), dict(igd)]))
        self.write("c.json", host("hostc", [dev("0000:5e:00.4", flags=())]))
        for name, bdf in (("web01", "0000:3b:00.2"), ("db02", "0000:3b:00.3"), ("kiosk03", "0000:00:02.0")):
            self.write(name + ".xml", domain([(bdf,)]).replace("web01", name))
        self.write("plain.xml", domain([]).replace("web01", "plain"))

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, name, obj):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj))
        self.files[name] = path

    def evacuate(self, *extra, doms=("web01", "db02", "kiosk03", "plain"), dests=("b.json", "c.json")):
        args = [VFMIGCTL, "evacuate", "--from", self.files["src.json"]]
        for d in doms:
            args += ["--domain-xml", self.files[d + ".xml"]]
        for d in dests:
            args += ["--to-profile", self.files.get(d, d)]
        return subprocess.run(args + list(extra), capture_output=True, text=True)

    def plan(self, *extra, **kw):
        p = self.evacuate("--dry-run", "--json", *extra, **kw)
        lines = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertEqual([line["event"] for line in lines], ["plan", "summary"], p.stdout + p.stderr)
        return p.returncode, {e["domain"]: e for e in lines[0]["plan"]}, lines[1]

    def test_plan_fields(self):
        rc, plan, summary = self.plan()
        self.assertEqual(rc, 3)  # kiosk03 stays
        self.assertEqual(list(plan), ["web01", "db02", "kiosk03", "plain"])
        w = plan["web01"]
        self.assertEqual((w["action"], w["destination"], w["strategy"], w["will_stop"]),
                         ("live", self.files["b.json"], "native", False))
        self.assertEqual(w["devices"], ["0000:3b:00.2 → 0000:5e:00.4"])
        self.assertEqual(w["estimated_downtime_ms"], 300)
        self.assertFalse(w["device_detached_meanwhile"])
        # b's only ConnectX VF went to web01: db02 gets c's, which only replugs - never b's twice
        d = plan["db02"]
        self.assertEqual((d["action"], d["destination"], d["strategy"]), ("live", self.files["c.json"], "replug"))
        self.assertEqual(d["devices"], ["0000:3b:00.3 → 0000:5e:00.4"])
        self.assertTrue(d["device_detached_meanwhile"])
        k = plan["kiosk03"]
        self.assertEqual((k["action"], k["destination"], k["strategy"], k["will_stop"]), ("leave", None, None, True))
        self.assertIn("not-igd", k["reason"])
        self.assertIn("--allow-stop", k["reason"])
        self.assertEqual(plan["plain"]["action"], "live")
        self.assertEqual((summary["planned"], summary["left"], summary["failed"], summary["dry_run"]), (3, 1, 0, True))
        left = next(r for r in summary["results"] if r["domain"] == "kiosk03")
        self.assertTrue(left["message"].startswith("will stop: "))

    def test_allow_stop_moves_it_cold(self):
        rc, plan, summary = self.plan("--allow-stop")
        self.assertEqual(rc, 0)
        k = plan["kiosk03"]
        self.assertEqual((k["action"], k["destination"], k["strategy"], k["will_stop"]),
                         ("cold", self.files["b.json"], "cold", True))
        self.assertEqual(k["devices"], ["0000:00:02.0 → 0000:00:02.0"])
        self.assertIsNone(k["estimated_downtime_ms"])

    def test_no_room_anywhere(self):
        # only c: db02 and web01 want the same single VF - the second stays
        rc, plan, _ = self.plan(doms=("web01", "db02"), dests=("c.json",))
        self.assertEqual(rc, 3)
        self.assertEqual(plan["web01"]["action"], "live")
        self.assertEqual(plan["db02"]["action"], "leave")
        self.assertIn("destination-device-free", plan["db02"]["reason"])

    def test_human_plan(self):
        p = self.evacuate("--dry-run")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn("plan: 3 live, 0 cold (stopped), 1 left where they are", p.stdout)
        rows = {line.split()[0]: line.split() for line in p.stdout.splitlines() if line[:1].isalpha()}
        self.assertEqual(rows["web01"][2:4], ["native", "~300"])
        self.assertEqual(rows["kiosk03"][1:5], ["—", "-", "-", "will"])
        self.assertIn("dry run: nothing changed", p.stdout)

    def test_bad_input(self):
        self.assertEqual(self.evacuate().returncode, 1)  # --from plans only
        self.assertIn("--dry-run", self.evacuate().stderr)
        p = self.evacuate("--dry-run", dests=("nosuch.json",))
        self.assertEqual(p.returncode, 1)
        self.assertIn("nosuch.json", p.stderr)
        self.write("bad.xml", "<domain><devices><hostdev mode='subsystem' type='pci'><source><address bus='zz'/>"
                              "</source></hostdev></devices></domain>")
        p = self.evacuate("--dry-run", doms=("bad",))
        self.assertEqual(p.returncode, 1)
        self.assertIn("bad.xml", p.stderr)
        self.assertEqual(subprocess.run([VFMIGCTL, "evacuate"], capture_output=True).returncode, 2)
        self.assertEqual(self.evacuate("--dry-run", "--parallel", "0").returncode, 1)


class Inventory(unittest.TestCase):
    """vfmigctl inventory on synthetic hosts and the kernel mock (issue 19)."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vfm-inv-")
        shutil.rmtree(self.root)

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def ctl(self, *args, stdin=None, rc=0):
        env = dict(os.environ, VFMIG_SYSROOT=self.root, LD_PRELOAD=PRELOAD)
        p = subprocess.run([VFMIGCTL, "--no-daemon", *args], capture_output=True, text=True, env=env, input=stdin)
        self.assertEqual(p.returncode, rc, p.stderr)
        return p

    def test_server(self):
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "3", self.root],
                       check=True)
        vfs = [d["bdf"] for d in json.loads(self.ctl("list", "--json").stdout) if d["physfn"]]
        self.ctl("bind", vfs[0], vfs[1])
        self.ctl("probe", vfs[0])
        want = [{"source_bdf": "0000:99:00.1", "vendor": "15b3", "device": "101e", "subsystem_vendor": "15b3",
                 "subsystem_device": "0016", "class": "020000", "driver": "mlx5_vfio_pci"}]
        claim = json.loads(self.ctl("claim", "--domain-name", "g", "--json", stdin=json.dumps(want)).stdout)
        claimed = claim["devices"][0]["bdf"]
        inv = json.loads(self.ctl("inventory", "--json").stdout)
        self.assertEqual(set(inv), {"hostname", "kernel_release", "devices", "mdevs", "mdev_types"})
        devs = {d["bdf"]: d for d in inv["devices"]}
        self.assertEqual(sorted(devs), sorted(vfs))  # the PF that controls them is not offered
        d = devs[vfs[0]]
        self.assertEqual(set(d), {"bdf", "pci_path", "vendor", "device", "subsystem_vendor", "subsystem_device", "class",
                                  "physfn", "vf_index", "driver", "selected_driver", "selection_kind", "iommu_group",
                                  "numa_node", "state", "resource_class", "migration", "traits"})
        self.assertEqual((d["vendor"], d["device"], d["vf_index"], d["driver"]), ("15b3", "101e", 0, "mlx5_vfio_pci"))
        self.assertTrue(d["pci_path"].endswith("/" + vfs[0]))
        self.assertEqual(d["resource_class"], "CUSTOM_PCI_15B3_101E")
        self.assertEqual(d["migration"]["strategies"], ["native", "failover", "replug"])
        self.assertTrue(d["migration"]["live_migratable"])
        for t in ("CUSTOM_VFMIG_LIVE_MIGRATABLE", "CUSTOM_VFMIG_STRATEGY_NATIVE", "CUSTOM_VFMIG_DIRTY_TRACKING"):
            self.assertIn(t, d["traits"])
        self.assertEqual([devs[v]["vf_index"] for v in vfs], [0, 1, 2])
        self.assertEqual(devs[claimed]["state"], "claimed")
        others = [v for v in vfs if v != claimed]
        self.assertEqual([devs[v]["state"] for v in others], ["free", "free"])
        never = devs[vfs[2]]
        self.assertFalse(never["migration"]["live_migratable"])
        self.assertIn("CUSTOM_VFMIG_PROBE_NEEDED", never["traits"])
        self.assertNotIn("CUSTOM_VFMIG_LIVE_MIGRATABLE", never["traits"])
        human = self.ctl("inventory").stdout
        self.assertIn("DEVICE", human)
        rows = {line.split()[0]: line.split() for line in human.splitlines() if line.startswith("0000:")}
        self.assertEqual(rows[vfs[0]][-1], "native")
        self.assertEqual(rows[vfs[2]][-1], "failover")
        self.assertEqual(rows[claimed][-2], "claimed")

    def test_mdev_types_shapes(self):
        # the types a parent offers, byte for byte in both outputs: a profile names each type "name" (what
        # profiles saved before keep), the inventory names it "type" (its mdevs' member); the rest is the same
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "1",
                        "--mdev-parent", "mtty:mtty-1=2,mtty-2=1", self.root], check=True)
        types = ('[{"parent":"mtty","%s":"mtty-1","device_api":"vfio-pci","available_instances":2},'
                 '{"parent":"mtty","%s":"mtty-2","device_api":"vfio-pci","available_instances":1}]')
        for cmd, key in (("profile", "name"), ("inventory", "type")):
            out = self.ctl(cmd, "--json").stdout
            self.assertIn('"mdev_types":' + types % (key, key) + "}", out, cmd)

    def test_laptop_igd(self):
        subprocess.run([sys.executable, GEN_HOST, "--profile", "laptop", self.root], check=True)
        inv = json.loads(self.ctl("inventory", "--json").stdout)
        igd = next(d for d in inv["devices"] if d["bdf"] == "0000:00:02.0")
        self.assertEqual((igd["selection_kind"], igd["state"], igd["driver"]), ("igd", "host", "i915"))
        self.assertEqual(igd["migration"]["strategies"], [])
        self.assertEqual(igd["traits"], ["CUSTOM_VFMIG_COLD_ONLY"])
        self.assertIn("cold only", self.ctl("inventory").stdout)
        self.assertEqual(self.ctl("inventory", "extra", rc=2).returncode, 2)


class Postcopy(unittest.TestCase):
    """vfmigctl migrate --postcopy is refused with the reason and touches nothing (issue 16, 7; Decisions 32):
    libvirt's test driver holds the running guests, a small synthetic host is this machine."""

    NODE = ("<node><domain type='test'><name>vf1</name><uuid>9a3f1c52-3f0e-4e61-9d5b-0c1f5e2b7a01</uuid>"
            "<memory>131072</memory><os><type>hvm</type></os><devices>"
            "<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x0000' bus='0x3b' "
            "slot='0x00' function='0x2'/></source></hostdev></devices></domain>"
            "<domain type='test'><name>plain</name><uuid>9a3f1c52-3f0e-4e61-9d5b-0c1f5e2b7a02</uuid>"
            "<memory>131072</memory><os><type>hvm</type></os><devices/></domain></node>")

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vfm-pc-")
        self.root = os.path.join(self.dir, "root")
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "1",
                        "--hostname", "hosta", self.root], check=True)
        self.node = os.path.join(self.dir, "node.xml")
        with open(self.node, "w") as f:
            f.write(self.NODE)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def migrate(self, name, *extra):
        return subprocess.run([VFMIGCTL, "--sysroot", self.root, "-c", f"test://{self.node}", "migrate", name,
                               "qemu+unix:///system?socket=/nonexistent", "--peer", "local", "--json", *extra],
                              capture_output=True, text=True)

    def test_postcopy_refused(self):
        p = self.migrate("vf1", "--postcopy")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        err = json.loads(p.stdout)["error"]
        self.assertEqual(err["name"], "io.vfmig.InvalidArgument")
        self.assertIn("1 VFIO device", err["message"])
        self.assertIn("not supported with postcopy migration", err["message"])
        self.assertEqual(err["result"]["steps"], [])
        self.assertIsNone(err["result"]["claim_id"])
        # a guest without passthrough devices: said where to go instead
        p = self.migrate("plain", "--postcopy")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("virsh migrate --postcopy", json.loads(p.stdout)["error"]["message"])


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
