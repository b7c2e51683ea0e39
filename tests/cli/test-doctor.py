#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfmigctl doctor on synthetic hosts: a healthy host passes every check
(exit 0); each fault gen-host.py --fault can build makes exactly its check
fail, with the fix the operator needs; the JSON shape; read-only. Prints TAP."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import run_tap  # noqa: E402

VFMIGCTL = os.environ["VFMIGCTL"]
VFMIGD = os.environ["VFMIGD"]
GEN_HOST = os.environ["GEN_HOST"]
# a libvirt URI that never answers: the version checks say n/a, not fail
NO_LIBVIRT = "test:///nonexistent-vfmig-doctor.xml"


def gen(*extra):
    root = tempfile.mkdtemp(prefix="vfd-", dir="/tmp")
    os.rmdir(root)
    subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "2", "--vfs-per-pf", "2",
                    *extra, root], check=True)
    return root


def doctor(root, *args, uri=NO_LIBVIRT, env=None):
    e = {k: v for k, v in os.environ.items() if k != "VFMIG_SOCKET"}
    e.update(env or {})
    p = subprocess.run([VFMIGCTL, "--sysroot", root, "-c", uri, "doctor", *args], capture_output=True, text=True,
                       env=e, timeout=60)
    return p


def doctor_json(root, *args, **kw):
    p = doctor(root, "--json", *args, **kw)
    out = json.loads(p.stdout)
    return p.returncode, out


def failing(report):
    return {(c["id"], c["subject"]): c for c in report["checks"] if c["state"] == "fail"}


def snapshot(root):
    state = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            if os.path.islink(p):
                state[p] = ("link", os.readlink(p))
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    state[p] = ("file", f.read())
    return state


class Daemon:
    """vfmigd serving the synthetic host, so the vfmigd check can pass."""

    def __init__(self, root):
        self.sock = os.path.join(root, "run", "vfmig", "vfmigd.sock")
        os.makedirs(os.path.dirname(self.sock), exist_ok=True)
        self.proc = subprocess.Popen([VFMIGD, "--sysroot", root, "--socket", self.sock],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("vfmigd did not start")
            time.sleep(0.02)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Healthy(unittest.TestCase):
    """The default server host with vfmigd running: nothing fails."""

    @classmethod
    def setUpClass(cls):
        cls.root = gen()
        cls.daemon = Daemon(cls.root)

    @classmethod
    def tearDownClass(cls):
        cls.daemon.stop()
        shutil.rmtree(cls.root)

    def test_all_pass_exit_0(self):
        rc, r = doctor_json(self.root)
        self.assertEqual(failing(r), {})
        self.assertEqual(rc, 0)
        states = {c["id"]: c["state"] for c in r["checks"]}
        for cid in ("iommu-firmware", "iommu-enabled", "interrupt-remapping", "modules-alias", "module",
                    "iommu-backend", "variant-module", "vfmigd", "unit-modules"):
            self.assertEqual(states[cid], "ok", cid)
        # no libvirt: the versions cannot be known, which is not a failure
        self.assertEqual(states["libvirt-version"], "n/a")
        self.assertEqual(states["qemu-version"], "n/a")

    def test_json_shape(self):
        _, r = doctor_json(self.root)
        self.assertEqual(sorted(r), ["checks", "failed", "not_applicable", "ok"])
        for c in r["checks"]:
            self.assertEqual(sorted(c), ["detail", "fix", "id", "state", "subject", "title"])
            self.assertIn(c["state"], ("ok", "fail", "n/a"))
            self.assertIsNone(c["fix"]) if c["state"] != "fail" else self.assertTrue(c["fix"])
            self.assertNotIn("{", c["title"], "placeholder left in the title")
        self.assertEqual(r["ok"] + r["failed"] + r["not_applicable"], len(r["checks"]))
        self.assertEqual(r["ok"], sum(c["state"] == "ok" for c in r["checks"]))

    def test_human_lines(self):
        p = doctor(self.root)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertRegex(lines[-1], r"^\d+ ok, 0 failed, \d+ not applicable$")
        for l in lines[:-1]:
            self.assertRegex(l, r"^[✓–] .+: ")
        self.assertIn("✓ IOMMU enabled: 1 unit (dmar0)", p.stdout)

    def test_reads_only(self):
        before = snapshot(self.root)
        doctor_json(self.root)
        doctor_json(self.root, "0000:10:00.2")
        self.assertEqual(snapshot(self.root), before)

    def test_broken_checks_file(self):
        # a datadir whose doctor/checks.conf is missing or broken: one line naming the file
        data = tempfile.mkdtemp(prefix="vfd-data-", dir="/tmp")
        self.addCleanup(shutil.rmtree, data)
        shutil.copytree(os.environ["VFMIG_DATADIR"], data, dirs_exist_ok=True)
        checks = os.path.join(data, "doctor", "checks.conf")
        for broken in (None, "[iommu-firmware\nTitle=x\n"):
            if broken is None:
                os.unlink(checks)
            else:
                with open(checks, "w") as f:
                    f.write(broken)
            p = doctor(self.root, env={"VFMIG_DATADIR": data})
            self.assertEqual(p.returncode, 1)
            self.assertEqual(p.stdout, "")
            self.assertIn(checks, p.stderr)
            self.assertNotIn("CRITICAL", p.stderr)

    def test_bad_bdf(self):
        p = doctor(self.root, "0000:99:00.0")
        self.assertEqual(p.returncode, 1)
        self.assertIn("0000:99:00.0", p.stderr)
        self.assertEqual(p.stdout, "")
        p = doctor(self.root, "nonsense")
        self.assertEqual(p.returncode, 1)
        self.assertIn("\"nonsense\" is not a PCI address", p.stderr)

    def test_named_device(self):
        _, r = doctor_json(self.root, "0000:10:00.2")
        subjects = {(c["id"], c["subject"]) for c in r["checks"]}
        self.assertIn(("group-viable", "0000:10:00.2"), subjects)
        self.assertIn(("pf-autoprobe", "0000:10:00.0"), subjects)  # its PF


# fault -> (check id, subject, what the fix must say)
FAULTS = {
    "no-iommu-firmware": ("iommu-firmware", None, "turn on VT-d (Intel) or AMD-Vi"),
    "iommu-off": ("iommu-enabled", None, "GRUB_CMDLINE_LINUX=\"… intel_iommu=on iommu=pt\", then update-grub"),
    "no-intremap": ("interrupt-remapping", None, "allow_unsafe_interrupts=1' > /etc/modprobe.d/vfio-unsafe.conf"),
    "no-modules-alias": ("modules-alias", None, "depmod -a 6.12.0-vfmig (writes "),
    "no-iommu-backend": ("iommu-backend", None, "CONFIG_VFIO_IOMMU_TYPE1=m"),
    "protect-kernel-modules": ("unit-modules", None,
                               "etc/systemd/system/vfmigd.service.d/hardening.conf:3: ProtectKernelModules=yes — "
                               "set ProtectKernelModules=no"),
    "autoprobe-on": ("pf-autoprobe", "0000:10:00.0",
                     "echo 0 > {root}/sys/bus/pci/devices/0000:10:00.0/sriov_drivers_autoprobe"),
    "devlink-legacy": ("pf-devlink", "0000:10:00.0",
                       "vfmigctl vf create 0000:10:00.0 2 --migratable --switchdev"),
    "devlink-not-migratable": ("pf-devlink", "0000:10:00.0", "vfmigctl vf create 0000:10:00.0 2 --migratable ("),
    "firmware-pending": ("pf-firmware", "0000:10:00.0",
                         "(fw.version 22.39.1002 -> 22.41.1000, fw 22.39.1002 -> 22.41.1000): "
                         "devlink dev reload pci/0000:10:00.0 action fw_activate"),
    "nvme-held": ("early-boot", "0000:04:00.0", "update-initramfs -u -k 6.12.0-vfmig"),
    "group-shared": ("group-viable", "0000:04:00.0", "vfmigctl bind --group 0000:04:00.0 (also binds 0000:04:00.1"),
    "no-acs": ("acs", "0000:04:00.0", "the ports 0000:00:1d.0 (no ACS capability)"),
    "no-variant-module": ("variant-module", "mlx5_vfio_pci", "install mlx5_vfio_pci for kernel 6.12.0-vfmig"),
}


class Faults(unittest.TestCase):
    """Each fault fails its own check, with its fix; vfmigd is left out
    (its own failure is checked once, below)."""

    @classmethod
    def setUpClass(cls):
        cls.healthy = gen()
        cls.healthy_fails = failing(doctor_json(cls.healthy)[1])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.healthy)

    def check_fault(self, fault):
        cid, subject, fix = FAULTS[fault]
        root = gen("--fault", fault)
        self.addCleanup(shutil.rmtree, root)
        rc, r = doctor_json(root)
        self.assertEqual(rc, 1)
        fails = failing(r)
        self.assertIn((cid, subject), fails, f"{fault}: {sorted(fails)}")
        self.assertIn(fix.format(root=root), fails[(cid, subject)]["fix"])
        # the healthy host passes that check (the fault, not the host, fails it)
        self.assertNotIn((cid, subject), self.healthy_fails)
        return fails

    def test_no_iommu_firmware(self):
        fails = self.check_fault("no-iommu-firmware")
        # without the IOMMU, interrupt remapping cannot be judged: n/a, not a second failure
        self.assertNotIn(("interrupt-remapping", None), fails)

    def test_iommu_off(self):
        fails = self.check_fault("iommu-off")
        self.assertIn("turns it off", fails[("iommu-enabled", None)]["detail"])
        self.assertIn("intel_iommu=off", fails[("iommu-enabled", None)]["fix"])
        self.assertNotIn(("iommu-firmware", None), fails)

    def test_no_intremap(self):
        self.check_fault("no-intremap")

    def test_no_modules_alias(self):
        fails = self.check_fault("no-modules-alias")
        # modules.dep still lists vfio and vfio_pci: no false failure for them
        self.assertNotIn(("module", "vfio"), fails)
        self.assertNotIn(("module", "vfio_pci"), fails)

    def test_no_iommu_backend(self):
        self.check_fault("no-iommu-backend")

    def test_protect_kernel_modules(self):
        self.check_fault("protect-kernel-modules")

    def test_autoprobe_on(self):
        fails = self.check_fault("autoprobe-on")
        vf = fails[("pf-vf-drivers", "0000:10:00.0")]
        self.assertIn("vfmigctl vf destroy 0000:10:00.0 && vfmigctl vf create 0000:10:00.0 2", vf["fix"])
        self.assertIn("0000:10:00.2, 0000:10:00.3 on mlx5_core", vf["detail"])

    def test_nvme_held(self):
        fails = self.check_fault("nvme-held")
        self.assertIn("no vfmig step", fails[("early-boot", "0000:04:00.0")]["fix"])
        self.assertIn("nvme holds it", fails[("early-boot", "0000:04:00.0")]["detail"])

    def test_group_shared(self):
        self.check_fault("group-shared")

    def test_no_acs(self):
        self.check_fault("no-acs")

    def test_no_variant_module(self):
        fails = self.check_fault("no-variant-module")
        self.assertIn("0000:10:00.2, 0000:10:00.3", fails[("variant-module", "mlx5_vfio_pci")]["title"])

    def devlink_fault(self, fault):
        """The other ConnectX PF (healthy, VFs managed by the same policy)
        passes both devlink lines: the fault, not the reading, fails."""
        fails = self.check_fault(fault)
        root = gen("--pfs", "8", "--fault", fault)  # the 8th PF is the second ConnectX
        self.addCleanup(shutil.rmtree, root)
        _, r = doctor_json(root)
        states = {(c["id"], c["subject"]): (c["state"], c["detail"]) for c in r["checks"]}
        self.assertEqual(states[("pf-devlink", "0000:18:00.0")], ("ok", "2 VFs migratable"))
        self.assertEqual(states[("pf-firmware", "0000:18:00.0")],
                         ("ok", "fw.psid MT_0000000838, fw.version 22.39.1002, fw 22.39.1002 (mlx5_core)"))
        return fails

    def test_devlink_legacy(self):
        fails = self.devlink_fault("devlink-legacy")
        self.assertIn("no devlink port for 0000:10:00.2, 0000:10:00.3 (eswitch legacy",
                      fails[("pf-devlink", "0000:10:00.0")]["detail"])

    def test_devlink_not_migratable(self):
        fails = self.devlink_fault("devlink-not-migratable")
        self.assertEqual("not migratable: 0000:10:00.2 (port 65536), 0000:10:00.3 (port 65537)",
                         fails[("pf-devlink", "0000:10:00.0")]["detail"])

    def test_firmware_pending(self):
        fails = self.devlink_fault("firmware-pending")
        self.assertNotIn(("pf-devlink", "0000:10:00.0"), fails)  # its VFs are fine
        self.assertIn("flashed but not running", fails[("pf-firmware", "0000:10:00.0")]["detail"])

    def test_every_fault_is_tested(self):
        out = subprocess.run([sys.executable, GEN_HOST, "--help"], capture_output=True, text=True).stdout
        for f in FAULTS:
            self.assertIn(f, out)
        others = ("test_every_fault_is_tested", "test_vfmigd_absent", "test_old_qemu", "devlink_fault")
        self.assertEqual(sorted(FAULTS), sorted(n[5:].replace("_", "-") for n in dir(self)
                                                if n.startswith("test_") and n not in others))

    def test_vfmigd_absent(self):
        root = self.healthy
        rc, r = doctor_json(root)
        self.assertEqual(rc, 1)
        sock = os.path.join(root, "run", "vfmig", "vfmigd.sock")
        self.assertEqual(list(failing(r)), [("vfmigd", None)])
        self.assertIn("systemctl enable --now vfmigd.socket", failing(r)[("vfmigd", None)]["fix"])
        self.assertIn(sock, failing(r)[("vfmigd", None)]["detail"])

    def test_old_qemu(self):
        """libvirt's test driver reports QEMU 0.0.2: below the 8.1 gate."""
        root = self.healthy
        _, r = doctor_json(root, uri="test:///default")
        q = failing(r).get(("qemu-version", None))
        self.assertIsNotNone(q, r)
        self.assertIn("QEMU 0.0.2 is older than 8.1.0", q["detail"])
        self.assertIn("install QEMU >= 8.1.0", q["fix"])


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
