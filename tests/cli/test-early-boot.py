#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Early-boot binding on synthetic hosts (the kernel mock): the plan the
initramfs hooks write, and what vfmig does at run time with the record the
initramfs step leaves in /run/vfmig/early-boot.json: status shows it, the
next recover/restore adopts the device (owned, origin early-boot), restore
returns it to its host driver, doctor's early-boot line. The step itself
runs on the real kernel (tests/lab/earlyboot.sh). Prints TAP."""
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
PRELOAD = " ".join(p for p in (os.environ.get("VFMIG_ASAN_RUNTIME"), KMOCK) if p)
NVME = "0000:04:00.0"
NVME_PATH = "pci0000:00/0000:00:1d.0/0000:04:00.0"


class EarlyBoot(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vfm-early-")
        os.rmdir(self.root)
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "2", "--vfs-per-pf", "2",
                        "--fault", "nvme-held", "--fault", "autoprobe-on", self.root], check=True)
        self.addCleanup(shutil.rmtree, self.root)

    def ctl(self, *args, rc=0, mock=True):
        env = {k: v for k, v in os.environ.items() if k != "VFMIG_SOCKET"}
        env["VFMIG_SYSROOT"] = self.root
        if mock:
            env["LD_PRELOAD"] = PRELOAD
        p = subprocess.run([VFMIGCTL, "-c", "test:///nonexistent-vfmig.xml", *args], capture_output=True,
                           text=True, env=env, timeout=120)
        self.assertEqual(p.returncode, rc, f"{args}: {p.stdout}\n{p.stderr}")
        return p

    def dev(self, bdf, *rest):
        return os.path.join(self.root, "sys", "bus", "pci", "devices", bdf, *rest)

    def driver(self, bdf):
        link = self.dev(bdf, "driver")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def as_after_early_boot(self, result="bound"):
        """The NVMe as the initramfs step leaves it: on vfio-pci (nvme never
        had it), override set, and the step's record (its exact format)."""
        drivers = os.path.join(self.root, "sys", "bus", "pci", "drivers")
        os.unlink(self.dev(NVME, "driver"))
        os.unlink(os.path.join(drivers, "nvme", NVME))
        os.symlink("../../../../bus/pci/drivers/vfio-pci", self.dev(NVME, "driver"))
        os.symlink(os.path.realpath(self.dev(NVME)), os.path.join(drivers, "vfio-pci", NVME))
        with open(self.dev(NVME, "driver_override"), "w") as f:
            f.write("vfio-pci\n")
        run = os.path.join(self.root, "run", "vfmig")
        os.makedirs(run, exist_ok=True)
        with open(os.path.join(run, "early-boot.json"), "w") as f:
            f.write('{"step":"vfmig-early","plan":"93de71513b29","devices":1}\n')
            f.write('{"bdf":"%s","pci_path":"%s","vendor":"144d","device":"a80a","driver":"vfio-pci",'
                    '"module":"vfio_pci","host_driver":"nvme","policy":"60-doctor-nvme/nvme0","result":"%s",'
                    '"held_by":""}\n' % (NVME, NVME_PATH, result))

    def test_plan(self):
        p = self.ctl("early-boot", "plan", mock=False)
        lines = [l for l in p.stdout.splitlines() if not l.startswith("#")]
        self.assertRegex(lines[0], r"^plan [0-9a-f]{12}$")
        # the NVMe by its PCI path and ids, to vfio-pci, nvme to return to
        self.assertEqual(lines[1:], ["device %s 0x144d 0xa80a 0x144d 0xa801 vfio-pci vfio_pci nvme "
                                     "60-doctor-nvme/nvme0" % NVME_PATH])
        # the managed VFs are not in it, and stderr says why
        self.assertIn("0000:10:00.2: left out of the early-boot plan: a VF", p.stderr)
        j = json.loads(self.ctl("early-boot", "plan", "--json", mock=False).stdout)
        self.assertEqual(j, [{"bdf": NVME, "pci_path": NVME_PATH, "vendor": "144d", "device": "a80a",
                              "subsystem_vendor": "144d", "subsystem_device": "a801", "driver": "vfio-pci",
                              "module": "vfio_pci", "host_driver": "nvme", "policy": "60-doctor-nvme/nvme0"}])
        # the same plan twice: the same id (the image is reproducible)
        self.assertEqual(p.stdout, self.ctl("early-boot", "plan", mock=False).stdout)

    def test_plan_without_policy_is_empty(self):
        os.unlink(os.path.join(self.root, "etc", "vfmig", "policies.d", "60-doctor-nvme.conf"))
        os.unlink(os.path.join(self.root, "etc", "vfmig", "policies.d", "60-doctor-vfs.conf"))
        p = self.ctl("early-boot", "plan", mock=False)
        self.assertEqual([l for l in p.stdout.splitlines() if l.startswith("device")], [])

    def test_status_adopt_restore(self):
        self.as_after_early_boot()
        st = json.loads(self.ctl("status", "--json").stdout)
        self.assertEqual(st["early_boot"]["plan"], "93de71513b29")
        self.assertEqual([(d["bdf"], d["result"], d["driver"]) for d in st["early_boot"]["devices"]],
                         [(NVME, "bound", "vfio-pci")])
        self.assertEqual(st["owned"], [])  # status only reads
        human = " ".join(self.ctl("status").stdout.split())  # wrapped at 80 columns
        self.assertIn("early boot: %s (%s) bound to vfio-pci by the initramfs step" % (NVME, NVME_PATH), human)
        # doctor: bound early, nothing to fix
        d = json.loads(self.ctl("doctor", "--json", NVME, rc=1).stdout)
        eb = [c for c in d["checks"] if c["id"] == "early-boot"][0]
        self.assertEqual(eb["state"], "ok", eb)
        self.assertIn("the initramfs bound it to vfio-pci", eb["detail"])
        # the next recover adopts it
        self.ctl("recover")
        st = json.loads(self.ctl("status", "--json").stdout)
        self.assertEqual(len(st["owned"]), 1)
        o = st["owned"][0]
        self.assertEqual((o["bdf"], o["driver"], o["original_driver"], o["origin"], o["in_place"]),
                         (NVME, "vfio-pci", "nvme", "early-boot", True))
        self.assertIn("nvme (early boot)", self.ctl("status").stdout)
        # restore returns it to nvme and clears the override
        r = json.loads(self.ctl("restore", "--json").stdout)
        self.assertEqual([(x["bdf"], x["driver"], x["error"]) for x in r["results"]], [(NVME, "nvme", None)])
        self.assertEqual(self.driver(NVME), "nvme")
        with open(self.dev(NVME, "driver_override")) as f:
            self.assertEqual(f.read().strip(), "(null)")
        self.assertEqual(json.loads(self.ctl("status", "--json").stdout)["owned"], [])
        # adopted once: the record of this boot does not bring it back
        self.ctl("recover")
        self.assertEqual(json.loads(self.ctl("status", "--json").stdout)["owned"], [])

    def test_not_adopted_when_moved_or_not_bound(self):
        self.as_after_early_boot(result="held")
        self.ctl("recover")
        self.assertEqual(json.loads(self.ctl("status", "--json").stdout)["owned"], [])
        d = json.loads(self.ctl("doctor", "--json", NVME, rc=1).stdout)
        eb = [c for c in d["checks"] if c["id"] == "early-boot"][0]
        # on vfio-pci now, though the step did not bind it: nothing holds it
        self.assertEqual(eb["state"], "ok")

    def test_doctor_stale_plan(self):
        """The step ran, but its plan did not name the NVMe (policy added
        after the image was built): doctor says to rebuild the image."""
        run = os.path.join(self.root, "run", "vfmig")
        os.makedirs(run)
        with open(os.path.join(run, "early-boot.json"), "w") as f:
            f.write('{"step":"vfmig-early","plan":"000000000000","devices":0}\n')
        d = json.loads(self.ctl("doctor", "--json", NVME, rc=1).stdout)
        eb = [c for c in d["checks"] if c["id"] == "early-boot"][0]
        self.assertEqual(eb["state"], "fail")
        self.assertIn("its plan does not name it (policies changed since the image was built)", eb["fix"])
        self.assertIn("update-initramfs -u -k", eb["fix"])


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
