#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Mock tier of binding: vfmigctl bind/unbind/restore/status on synthetic
hosts whose sysfs reacts like the kernel (tests/mock), with faults injected at
every step and crashes between steps. Prints TAP."""
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
KILL_SHIM = os.environ.get("KILL_SHIM")
# Under the 'asan' test setup the ASan runtime must come first in LD_PRELOAD.
PRELOAD = " ".join(p for p in (os.environ.get("VFMIG_ASAN_RUNTIME"), KMOCK) if p)
# the kill shim after the ASan runtime, before the mock
SHIM_PRELOAD = " ".join(p for p in (os.environ.get("VFMIG_ASAN_RUNTIME"), KILL_SHIM, KMOCK) if p)


def gen(profile, *extra):
    root = tempfile.mkdtemp(prefix="vfm-bind-")
    subprocess.run([sys.executable, GEN_HOST, "--profile", profile, *extra, root], check=True)
    return root


class Host:
    def __init__(self, root):
        self.root = root

    def ctl(self, *args, mock=True, rc=None):
        env = dict(os.environ, VFMIG_SYSROOT=self.root)
        if mock:
            env["LD_PRELOAD"] = PRELOAD
        p = subprocess.run([VFMIGCTL, *args], capture_output=True, text=True, env=env, timeout=120)
        if rc is not None and p.returncode != rc:
            raise AssertionError(f"vfmigctl {' '.join(args)}: exit {p.returncode}, expected {rc}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def json(self, *args, rc=0, **kw):
        p = self.ctl(*args, "--json", rc=rc, **kw)
        return json.loads(p.stdout)

    def dev(self, bdf):
        return os.path.join(self.root, "sys", "bus", "pci", "devices", bdf)

    def driver(self, bdf):
        link = os.path.join(self.dev(bdf), "driver")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def override(self, bdf):
        with open(os.path.join(self.dev(bdf), "driver_override")) as f:
            return f.read().strip()

    def kmock(self, rel, text):
        path = os.path.join(self.root, ".kmock", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def unkmock(self, rel):
        os.unlink(os.path.join(self.root, ".kmock", rel))

    def state_dir(self, kind):
        d = os.path.join(self.root, "var", "lib", "vfmig", kind)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def vfs(self, device="101e"):
        return [d["bdf"] for d in self.json("list") if d["device"] == device and d["physfn"]]

    def write(self, rel, text):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


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


class ServerBind(unittest.TestCase):
    def setUp(self):
        self.h = Host(gen("server", "--pfs", "2", "--vfs-per-pf", "4"))
        self.vf = self.h.vfs()[0]

    def tearDown(self):
        shutil.rmtree(self.h.root)

    def test_bind_verify_unbind(self):
        out = self.h.json("bind", self.vf)
        r = out["results"][0]
        self.assertTrue(r["changed"])
        self.assertEqual(r["driver"], "mlx5_vfio_pci")
        self.assertEqual(self.h.driver(self.vf), "mlx5_vfio_pci")
        self.assertEqual(r["iommu_group"]["viable"], True)
        self.assertEqual(self.h.state_dir("owned"), [self.vf + ".json"])
        self.assertEqual(self.h.state_dir("intent"), [])
        st = self.h.json("status", mock=False)
        self.assertEqual(st["owned"][0]["bdf"], self.vf)
        self.assertTrue(st["owned"][0]["in_place"])
        self.assertIsNone(st["owned"][0]["original_driver"])
        # owned by vfmig: the hostdev must be managed='no'
        xml = self.h.ctl("xml", self.vf, "--libvirt-version", "9.0.0", mock=False, rc=0).stdout
        self.assertIn('managed="no"', xml)
        # idempotent
        again = self.h.json("bind", self.vf)["results"][0]
        self.assertFalse(again["changed"])
        self.assertIn("already bound", again["message"])
        # its group is still reported (found by lab-bind)
        self.assertEqual(again["iommu_group"]["viable"], True)
        self.assertEqual([m["driver"] for m in again["iommu_group"]["members"]], ["mlx5_vfio_pci"])
        # unbind returns it (to unbound, where it was) and clears the override
        back = self.h.json("unbind", self.vf)["results"][0]
        self.assertTrue(back["changed"])
        self.assertIsNone(self.h.driver(self.vf))
        self.assertEqual(self.h.override(self.vf), "(null)")
        self.assertEqual(self.h.state_dir("owned"), [])

    def test_device_a_guest_holds_is_never_taken(self):
        # issue 16: unbind of the VF a running guest holds exited 0 and the guest lost it
        self.h.json("bind", self.vf)
        self.h.kmock(f"in-use/{self.vf}", "4242 (qemu-system-x86)")
        before = snapshot(self.h.root + "/sys")
        for args in (["unbind", self.vf], ["restore"], ["bind", self.vf, "--driver", "vfio-pci"],
                     ["bind", self.vf, "--driver", "vfio-pci", "--force"]):
            p = self.h.ctl(*args, "--json")
            self.assertEqual(p.returncode, 1, args)
            err = json.loads(p.stdout)["error"]
            self.assertEqual(err["name"], "io.vfmig.Busy", args)
            self.assertIn("4242 (qemu-system-x86)", err["message"], args)
            self.assertIn(self.vf, err["message"], args)
            self.assertEqual(self.h.driver(self.vf), "mlx5_vfio_pci", args)
        self.assertEqual(snapshot(self.h.root + "/sys"), before)
        self.assertEqual(self.h.state_dir("owned"), [self.vf + ".json"])
        self.assertEqual(self.h.state_dir("intent"), [])
        # the guest let go: now it goes back
        self.h.unkmock(f"in-use/{self.vf}")
        self.assertTrue(self.h.json("unbind", self.vf)["results"][0]["changed"])

    def test_kernel_order_of_writes(self):
        # a VF on its host driver first, so that every step happens
        self.h.kmock("default_driver/" + self.vf, "mlx5_core\n")
        self.h.ctl("bind", self.vf, "--driver", "mlx5_core", rc=1)  # not a VFIO driver: refused
        with open(os.path.join(self.h.root, "sys", "bus", "pci", "devices", self.vf, "driver_override"), "w") as f:
            f.write("mlx5_core\n")
        self.h.ctl("list", rc=0)
        env = dict(os.environ, LD_PRELOAD=PRELOAD)
        subprocess.run(["sh", "-c", f"echo {self.vf} > {self.h.root}/sys/bus/pci/drivers_probe"], env=env, check=True)
        subprocess.run(["sh", "-c", f"echo > {self.h.dev(self.vf)}/driver_override"], env=env, check=True)
        self.assertEqual(self.h.driver(self.vf), "mlx5_core")
        open(os.path.join(self.h.root, ".kmock", "log"), "w").close()
        self.h.json("bind", self.vf)
        with open(os.path.join(self.h.root, ".kmock", "log")) as f:
            log = [l.split()[0] for l in f.read().splitlines()]
        # override, then unbind, then probe: the kernel's protocol, in order
        self.assertEqual(log[:3], ["override", "unbind", "probe"])
        self.assertEqual(self.h.driver(self.vf), "mlx5_vfio_pci")
        self.h.json("unbind", self.vf)
        self.assertEqual(self.h.driver(self.vf), "mlx5_core")
        self.assertEqual(self.h.override(self.vf), "(null)")

    def test_dry_run_changes_nothing(self):
        before = snapshot(self.h.root)
        out = self.h.ctl("bind", self.vf, "--dry-run", rc=0).stdout
        self.assertIn("driver_override", out)
        self.assertIn("drivers_probe", out)
        self.assertEqual(snapshot(self.h.root), before)

    def test_probe_failure_rolls_back(self):
        self.h.kmock("fail/probe/mlx5_vfio_pci", "")
        p = self.h.ctl("bind", self.vf)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"cannot bind {self.vf} to mlx5_vfio_pci", p.stderr)
        self.assertIn("probe failed", p.stderr)
        self.assertIn("rolled back", p.stderr)
        self.assertIsNone(self.h.driver(self.vf))
        self.assertEqual(self.h.override(self.vf), "(null)")
        self.assertEqual(self.h.state_dir("owned"), [])
        self.assertEqual(self.h.state_dir("intent"), [])
        err = self.h.json("bind", self.vf, rc=1)
        self.assertEqual(err["error"]["name"], "io.vfmig.BindFailed")
        self.assertEqual(len(err["error"]["results"]), 1)

    def test_override_failure(self):
        self.h.kmock("fail/override/" + self.vf, "")
        p = self.h.ctl("bind", self.vf)
        self.assertEqual(p.returncode, 1)
        self.assertIn("driver_override", p.stderr)
        self.assertIsNone(self.h.driver(self.vf))
        # the roll-back's own override write fails too: the intent stays for recovery
        self.assertIn("left for recovery", p.stderr)
        self.assertEqual(self.h.state_dir("intent"), [self.vf + ".json"])
        # once the fault is gone, the next command recovers the device
        self.h.unkmock("fail/override/" + self.vf)
        out = self.h.json("restore")
        self.assertEqual(out["results"][0]["op"], "recover")
        self.assertEqual(self.h.state_dir("intent"), [])
        self.assertIsNone(self.h.driver(self.vf))
        self.assertEqual(self.h.override(self.vf), "(null)")

    def test_unbind_failure_keeps_host_driver(self):
        self.h.kmock("default_driver/" + self.vf, "mlx5_core\n")
        env = dict(os.environ, LD_PRELOAD=PRELOAD)
        subprocess.run(["sh", "-c", f"echo mlx5_core > {self.h.dev(self.vf)}/driver_override; "
                        f"echo {self.vf} > {self.h.root}/sys/bus/pci/drivers_probe; "
                        f"echo > {self.h.dev(self.vf)}/driver_override"], env=env, check=True)
        self.assertEqual(self.h.driver(self.vf), "mlx5_core")
        self.h.kmock("fail/unbind/mlx5_core", "")
        p = self.h.ctl("bind", self.vf)
        self.assertEqual(p.returncode, 1)
        self.assertIn("unbind from mlx5_core", p.stderr)
        self.assertEqual(self.h.driver(self.vf), "mlx5_core")
        self.assertEqual(self.h.override(self.vf), "(null)")

    def test_bad_input_changes_nothing(self):
        before = snapshot(self.h.root)
        for args in (["bind", "../../x"], ["bind", self.vf, "--driver", "../vfio-pci"],
                     ["bind", self.vf, "--driver", "no_such_driver"], ["unbind", self.vf],
                     ["bind", "0000:ee:00.0"]):
            p = self.h.ctl(*args)
            self.assertEqual(p.returncode, 1, args)
            self.assertTrue(p.stderr.startswith("error: "), p.stderr)
        self.assertEqual(self.h.ctl("bind").returncode, 2)
        self.assertEqual(self.h.ctl("bind", self.vf, "--bogus").returncode, 2)
        after = snapshot(self.h.root)
        # only lock files may appear
        self.assertEqual({k: v for k, v in after.items() if "/run/vfmig/" not in k}, before)

    def test_symlinked_attribute_refused(self):
        # a sysfs-like tree whose attribute is a symlink out of it: root must
        # not write through it (real sysfs attributes are never symlinks)
        victim = os.path.join(self.h.root, "..", os.path.basename(self.h.root) + "-victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        try:
            attr = os.path.join(self.h.dev(self.vf), "driver_override")
            os.unlink(attr)
            os.symlink(victim, attr)
            p = self.h.ctl("bind", self.vf)
            self.assertEqual(p.returncode, 1)
            self.assertIn("is a symlink, not a sysfs attribute", p.stderr)
            with open(victim) as f:
                self.assertEqual(f.read(), "precious\n")
            self.assertIsNone(self.h.driver(self.vf))
        finally:
            os.unlink(victim)

    def test_pf_with_vfs_refused(self):
        pf = next(d["bdf"] for d in self.h.json("list") if d["device"] == "101d")
        p = self.h.ctl("bind", pf)
        self.assertEqual(p.returncode, 1)
        self.assertIn("controls 4 VFs", p.stderr)

    def test_crash_between_steps_is_recovered(self):
        # the VF starts on its host driver, so a bind has three kernel steps
        self.h.kmock("default_driver/" + self.vf, "mlx5_core\n")
        env = dict(os.environ, LD_PRELOAD=PRELOAD)
        for n in (1, 2, 3):
            subprocess.run(["sh", "-c", f"echo mlx5_core > {self.h.dev(self.vf)}/driver_override; "
                            f"echo {self.vf} > {self.h.root}/sys/bus/pci/drivers_probe; "
                            f"echo > {self.h.dev(self.vf)}/driver_override"], env=env, check=True)
            self.assertEqual(self.h.driver(self.vf), "mlx5_core")
            self.h.kmock("kill_after", f"{n}\n")
            p = self.h.ctl("bind", self.vf)
            self.assertEqual(p.returncode, -9, f"step {n}: {p.stderr}")
            self.assertEqual(self.h.state_dir("intent"), [self.vf + ".json"], n)
            st = self.h.json("status", mock=False)
            self.assertEqual(st["pending"][0]["op"], "bind")
            # the next command finishes or rolls back: never half-bound
            self.h.json("restore")
            self.assertEqual(self.h.state_dir("intent"), [], n)
            self.assertEqual(self.h.state_dir("owned"), [], n)
            self.assertEqual(self.h.driver(self.vf), "mlx5_core", n)
            self.assertEqual(self.h.override(self.vf), "(null)", n)

    def test_unbind_to_host_driver_killed_at_every_step(self):
        # the VF came from mlx5_core: its return has several kernel steps
        self.h.kmock("default_driver/" + self.vf, "mlx5_core\n")
        env = dict(os.environ, LD_PRELOAD=PRELOAD)
        subprocess.run(["sh", "-c", f"echo mlx5_core > {self.h.dev(self.vf)}/driver_override; "
                        f"echo {self.vf} > {self.h.root}/sys/bus/pci/drivers_probe; "
                        f"echo > {self.h.dev(self.vf)}/driver_override"], env=env, check=True)
        log = os.path.join(self.h.root, ".kmock", "log")
        count = lambda: len(open(log).read().splitlines()) if os.path.exists(log) else 0  # noqa: E731
        self.h.json("bind", self.vf)
        start = count()
        self.h.json("unbind", self.vf)
        steps = count() - start
        self.assertGreaterEqual(steps, 3)
        for n in range(1, steps + 1):
            self.h.json("bind", self.vf)
            self.h.kmock("kill_after", f"{n}\n")
            p = self.h.ctl("unbind", self.vf)
            self.assertEqual(p.returncode, -9, f"step {n}: {p.stderr}")
            self.h.json("restore")
            # either back on its host driver, or still on VFIO and owned: never in between
            self.assertEqual(self.h.state_dir("intent"), [], n)
            if self.h.state_dir("owned"):
                self.assertEqual(self.h.driver(self.vf), "mlx5_vfio_pci", n)
                self.h.json("unbind", self.vf)
            self.assertEqual(self.h.driver(self.vf), "mlx5_core", n)
            self.assertEqual(self.h.override(self.vf), "(null)", n)
            self.assertEqual(self.h.state_dir("owned"), [], n)

    def test_crash_during_unbind_is_recovered(self):
        self.h.json("bind", self.vf)
        self.h.kmock("kill_after", "1\n")
        p = self.h.ctl("unbind", self.vf)
        self.assertEqual(p.returncode, -9)
        out = self.h.json("restore")
        self.assertEqual(out["results"][0]["op"], "recover")
        # the kill came after the unbind from the VFIO driver, and the VF had
        # no host driver: the return had in fact completed, and is recorded so
        self.assertEqual(self.h.state_dir("intent"), [])
        self.assertEqual(self.h.state_dir("owned"), [])
        self.assertIsNone(self.h.driver(self.vf))
        self.assertEqual(self.h.override(self.vf), "(null)")


class Batch(unittest.TestCase):
    def test_256_vfs(self):
        h = Host(gen("server", "--pfs", "1", "--vfs-per-pf", "256"))
        try:
            h.write("etc/vfmig/policies.d/site.conf", "[Policy cx]\nIds=15b3:101e\nManage=true\n")
            out = h.json("bind", "--all")
            self.assertEqual(len(out["results"]), 256)
            self.assertTrue(all(r["changed"] and r["error"] is None for r in out["results"]))
            self.assertTrue(all(h.driver(v) == "mlx5_vfio_pci" for v in h.vfs()))
            self.assertEqual(len(h.state_dir("owned")), 256)
            back = h.json("restore")
            self.assertEqual(len(back["results"]), 256)
            self.assertTrue(all(h.driver(v) is None for v in h.vfs()))
            self.assertEqual(h.state_dir("owned"), [])
        finally:
            shutil.rmtree(h.root)


class BatchCrash(unittest.TestCase):
    """One bind of four VFs - two on their host driver (three kernel steps
    each), two unbound (two each) - is one request with one journal record;
    killed at every point of it, the next `recover` leaves each VF bound and
    recorded or back where it was, never half-bound, and `restore` then
    returns all of them."""

    def setUp(self):
        self.h = Host(gen("server", "--pfs", "1", "--vfs-per-pf", "4"))
        self.vfs = self.h.vfs()
        self.on_host = self.vfs[:2]
        for vf in self.on_host:
            self.h.kmock("default_driver/" + vf, "mlx5_core\n")

    def tearDown(self):
        shutil.rmtree(self.h.root)

    def start_state(self):
        """VFs 0 and 1 on mlx5_core, 2 and 3 unbound, no override, no records."""
        env = dict(os.environ, LD_PRELOAD=PRELOAD)
        for vf in self.on_host:
            if self.h.driver(vf) != "mlx5_core":
                subprocess.run(["sh", "-c", f"echo mlx5_core > {self.h.dev(vf)}/driver_override; "
                                f"echo {vf} > {self.h.root}/sys/bus/pci/drivers_probe; "
                                f"echo > {self.h.dev(vf)}/driver_override"], env=env, check=True)
        self.assert_original("start")

    def original(self, vf):
        return "mlx5_core" if vf in self.on_host else None

    def assert_original(self, what):
        for vf in self.vfs:
            self.assertEqual(self.h.driver(vf), self.original(vf), f"{what}: {vf}")
            self.assertEqual(self.h.override(vf), "(null)", f"{what}: {vf}")
        self.assertEqual(self.records("owned"), [], what)
        self.assertEqual(self.records("intent"), [], what)

    def records(self, kind):
        # temp files a kill left behind (GLib's NAME.json.XXXXXX) are no records
        return [n for n in self.h.state_dir(kind) if n.endswith(".json")]

    def bind(self, extra_env=None):
        env = dict(os.environ, VFMIG_SYSROOT=self.h.root, LD_PRELOAD=PRELOAD)
        env.update(extra_env or {})
        return subprocess.run([VFMIGCTL, "bind", *self.vfs], capture_output=True, text=True, env=env, timeout=120)

    def kernel_ops(self):
        path = os.path.join(self.h.root, ".kmock", "log")
        return len(open(path).read().splitlines()) if os.path.exists(path) else 0

    def assert_recovered(self, what):
        """After a kill: recover, then each VF whole - bound and recorded, or
        as it was - and restore returns every one."""
        out = self.h.json("recover")
        self.assertTrue(all(r["error"] is None for r in out["results"]), (what, out))
        self.assertEqual(self.records("intent"), [], what)
        owned = {n[:-5] for n in self.records("owned")}
        for vf in self.vfs:
            if vf in owned:
                self.assertEqual(self.h.driver(vf), "mlx5_vfio_pci", f"{what}: {vf} recorded but not bound")
            else:
                self.assertEqual(self.h.driver(vf), self.original(vf), f"{what}: {vf} half-bound")
                self.assertEqual(self.h.override(vf), "(null)", f"{what}: {vf} override left")
        self.assertEqual(self.h.json("status", mock=False)["pending"], [], what)
        self.h.json("restore")
        self.assert_original(f"{what}, after restore")

    def test_one_record_per_batch(self):
        self.start_state()
        out = self.h.json("bind", *self.vfs)
        self.assertTrue(all(r["changed"] and r["error"] is None for r in out["results"]), out)
        self.assertEqual(len(self.records("owned")), 4)
        self.assertEqual(self.records("intent"), [])
        # each VF in its own group, viable, read after the batch
        self.assertTrue(all(r["iommu_group"]["viable"] for r in out["results"]))
        self.h.json("restore")
        if not KILL_SHIM:
            self.skipTest("no kill shim (KILL_SHIM)")
        # the journal writes of the batch: one intent record, then one owned record per VF
        log = os.path.join(self.h.root, "journal-writes")
        self.start_state()
        p = self.bind({"LD_PRELOAD": SHIM_PRELOAD, "VFMIG_KILL_MATCH": f"{self.h.root}/var/lib/vfmig/*",
                       "VFMIG_KILL_N": "1000", "VFMIG_KILL_LOG": log})
        self.assertEqual(p.returncode, 0, p.stderr)
        paths = [line.split(" ", 1)[1] for line in open(log).read().splitlines()]
        kinds = [os.path.basename(os.path.dirname(x)) + "/" + os.path.basename(x).split(".json")[0] for x in paths]
        self.assertEqual(len(kinds), 5, kinds)
        self.assertTrue(kinds[0].startswith("intent/batch-"), kinds)
        self.assertEqual(sorted(kinds[1:]), sorted(f"owned/{vf}" for vf in self.vfs))

    def test_killed_after_every_kernel_step(self):
        self.start_state()
        start = self.kernel_ops()
        self.h.json("bind", *self.vfs)
        steps = self.kernel_ops() - start
        self.assertEqual(steps, 2 * 3 + 2 * 2)  # override (unbind) probe, each VF
        self.h.json("restore")
        for n in range(1, steps + 1):
            self.start_state()
            self.h.kmock("kill_after", f"{n}\n")
            p = self.bind()
            self.assertEqual(p.returncode, -9, f"step {n}: {p.stderr}")
            # one record for the whole batch, naming every VF
            intents = self.records("intent")
            self.assertEqual(len(intents), 1, n)
            self.assertTrue(intents[0].startswith("batch-"), intents)
            pending = self.h.json("status", mock=False)["pending"]
            self.assertEqual(sorted(x["bdf"] for x in pending), self.vfs, n)
            self.assertEqual({x["batch"] for x in pending}, {intents[0][len("batch-"):-len(".json")]}, n)
            self.assert_recovered(f"killed after kernel step {n}")

    def test_killed_before_every_kernel_store(self):
        self.start_state()
        for n in range(1, 11):
            self.start_state()
            self.h.kmock("kill_before", f"{n}\n")
            p = self.bind()
            self.assertEqual(p.returncode, -9, f"store {n}: {p.stderr}")
            self.assert_recovered(f"killed before kernel store {n}")

    @unittest.skipUnless(KILL_SHIM, "no kill shim (KILL_SHIM)")
    def test_killed_at_every_journal_write(self):
        # before and after each of the 5 journal writes: the batch record
        # (killed there, nothing is touched yet) and the 4 owned records
        # (killed there, every VF is bound and some are recorded)
        for when in ("before", "after"):
            for n in range(1, 6):
                self.start_state()
                p = self.bind({"LD_PRELOAD": SHIM_PRELOAD,
                               "VFMIG_KILL_MATCH": f"{self.h.root}/var/lib/vfmig/*",
                               "VFMIG_KILL_N": str(n), "VFMIG_KILL_WHEN": when})
                self.assertEqual(p.returncode, -9, f"{when} journal write {n}: {p.stderr}")
                if n == 1:
                    # the record never made it: nothing may have changed
                    self.assert_original(f"killed {when} the batch record")
                    continue
                self.assertTrue(all(self.h.driver(vf) == "mlx5_vfio_pci" for vf in self.vfs), (when, n))
                self.assert_recovered(f"killed {when} journal write {n}")


class DriverctlImport(unittest.TestCase):
    def test_import(self):
        h = Host(gen("server", "--pfs", "1", "--vfs-per-pf", "2"))
        try:
            vfs = h.vfs()
            d = os.path.join(h.root, "etc", "driverctl.d")
            os.makedirs(d)
            for name, text in ((f"pci-{vfs[0]}", "vfio-pci\n"), (f"pci-{vfs[1]}", "mlx5_core\n"),
                               ("pci-../../x", "vfio-pci\n"), ("usb-1-1", "usbhid\n")):
                if "/" in name:
                    continue
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            dry = h.ctl("import-driverctl", "--dry-run", rc=0).stdout
            self.assertIn(f"Bdf={vfs[0]}", dry)
            self.assertFalse(os.path.exists(os.path.join(h.root, "etc", "vfmig", "policies.d", "90-driverctl.conf")))
            out = h.json("import-driverctl")
            imported = [x for x in out["devices"] if x["imported"]]
            self.assertEqual(len(imported), 1)  # mlx5_core is not a VFIO driver, usb-1-1 not PCI
            # the policy now manages that VF with driverctl's driver: bind --all applies it
            lst = {x["bdf"]: x for x in h.json("list")}
            self.assertTrue(lst[vfs[0]]["managed"])
            self.assertEqual(lst[vfs[0]]["selected_driver"], "vfio-pci")
            self.assertFalse(lst[vfs[1]]["managed"])
            h.json("bind", "--all")
            self.assertEqual(h.driver(vfs[0]), "vfio-pci")
            self.assertIsNone(h.driver(vfs[1]))
            h.ctl("db", "lint", rc=0)
        finally:
            shutil.rmtree(h.root)


class Provision(unittest.TestCase):
    def setUp(self):
        self.h = Host(gen("server", "--pfs", "2", "--vfs-per-pf", "0"))
        self.pf = next(d["bdf"] for d in self.h.json("list") if d["device"] == "101d")

    def tearDown(self):
        shutil.rmtree(self.h.root)

    def attr(self, name):
        with open(os.path.join(self.h.dev(self.pf), name)) as f:
            return f.read().strip()

    def test_create_change_destroy(self):
        out = self.h.json("vf", "create", self.pf, "4")
        self.assertEqual(self.attr("sriov_drivers_autoprobe"), "0")
        self.assertEqual(self.attr("sriov_numvfs"), "4")
        self.assertEqual(len(out["vfs"]), 4)
        self.assertTrue(all(self.h.driver(v) == "mlx5_vfio_pci" for v in out["vfs"]))
        # a new count goes through 0, and the owned VFs are returned first
        out2 = self.h.json("vf", "create", self.pf, "2")
        self.assertEqual(self.attr("sriov_numvfs"), "2")
        steps = out2["steps"]
        self.assertTrue(any(s.startswith('write "0" to') and "sriov_numvfs" in s for s in steps))
        self.assertEqual(sorted(self.h.state_dir("owned")), sorted(v + ".json" for v in out2["vfs"]))
        self.h.json("vf", "destroy", self.pf)
        self.assertEqual(self.attr("sriov_numvfs"), "0")
        self.assertEqual(self.attr("sriov_drivers_autoprobe"), "1")
        self.assertEqual(self.h.state_dir("owned"), [])

    def log_lines(self):
        path = os.path.join(self.h.root, ".kmock", "log")
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return len(f.read().splitlines())

    def assert_clean_pf(self, numvfs, autoprobe, what):
        self.assertEqual(self.h.state_dir("intent"), [], what)
        self.assertEqual(self.h.state_dir("sriov"), [], what)
        self.assertIn(int(self.attr("sriov_numvfs")), numvfs, what)
        self.assertEqual(self.attr("sriov_drivers_autoprobe"), autoprobe, what)
        # every VF that exists is on a driver vfmig recorded, or on none it did not
        owned = {f[:-5] for f in self.h.state_dir("owned")}
        for vf in self.h.vfs():
            if vf in owned:
                self.assertEqual(self.h.driver(vf), "mlx5_vfio_pci", what)
            else:
                self.assertIsNone(self.h.driver(vf), what)
            self.assertEqual(self.h.override(vf), "(null)", what)

    def kill_sweep(self, args, setup, expect_numvfs, expect_autoprobe):
        """Runs vfmigctl ARGS killed after each kernel step it takes in turn;
        the next command must leave the PF and its VFs in a defined state."""
        setup()
        start = self.log_lines()
        self.h.json(*args)
        steps = self.log_lines() - start
        self.assertGreater(steps, 2)
        self.h.json("vf", "destroy", self.pf)
        points = 0
        for n in range(1, steps + 1):
            setup()
            autoprobe_before = self.attr("sriov_drivers_autoprobe")
            self.h.kmock("kill_after", f"{n}\n")
            p = self.h.ctl(*args)
            self.assertEqual(p.returncode, -9, f"{args} step {n}: {p.stderr}")
            st = self.h.json("status", mock=False)
            self.assertTrue(st["pending"], f"step {n}: nothing pending after the kill")
            out = self.h.json("restore")
            self.assertTrue(any(r["op"] == "recover" for r in out["results"]), n)
            self.assertTrue(all(r["error"] is None for r in out["results"]), (n, out))
            self.assert_clean_pf(expect_numvfs, expect_autoprobe or autoprobe_before, f"{args} killed after step {n}")
            self.assertEqual(self.h.json("status", mock=False)["pending"], [], n)
            self.h.json("vf", "destroy", self.pf)
            points += 1
        return points

    def test_vf_create_killed_at_every_step(self):
        # from no VFs: rolled back to none, autoprobe as it was
        n = self.kill_sweep(["vf", "create", self.pf, "3"], lambda: None, {0}, None)
        self.assertGreaterEqual(n, 8)  # autoprobe, numvfs, and the binds of 3 VFs

    def test_vf_recount_killed_at_every_step(self):
        # 2 bound VFs changed to 3: the old ones are returned first (each its
        # own verified unbind), the new ones rolled back; killed before the
        # count changed the PF keeps its 2 VFs, after it has none
        n = self.kill_sweep(["vf", "create", self.pf, "3"],
                            lambda: self.h.json("vf", "create", self.pf, "2"), {0, 2}, None)
        self.assertGreaterEqual(n, 10)

    def test_vf_destroy_killed_at_every_step(self):
        # a destroy is finished: no VFs, autoprobe back to the kernel's default
        n = self.kill_sweep(["vf", "destroy", self.pf],
                            lambda: self.h.json("vf", "create", self.pf, "3"), {0}, "1")
        self.assertGreaterEqual(n, 5)

    def test_failed_create_rolls_back_whole(self):
        # the VFs' probes fail: each bind rolls back, then the VFs go away
        self.h.kmock("fail/probe/mlx5_vfio_pci", "")
        autoprobe_before = self.attr("sriov_drivers_autoprobe")
        p = self.h.ctl("vf", "create", self.pf, "3", "--json")
        self.assertEqual(p.returncode, 1, p.stdout)
        err = json.loads(p.stdout)["error"]
        self.assertIn("rolled back", err["message"])
        self.h.unkmock("fail/probe/mlx5_vfio_pci")
        self.assert_clean_pf({0}, autoprobe_before, "failed create")
        self.assertEqual(self.h.state_dir("owned"), [])

    def test_bad_requests_change_nothing(self):
        before = snapshot(self.h.root)
        for args, msg in ((["vf", "create", self.pf, "0"], "supports 1 to"),
                          (["vf", "create", self.pf, "100000"], "not a number"),
                          (["vf", "create", self.pf, "2", "--mac", "01:00:00:00:00:00"], "unicast"),
                          (["vf", "create", self.pf, "2", "--migratable"], "--sysroot"),
                          (["vf", "create", self.pf, "2", "--vlan", "7"], "--sysroot"),
                          (["vf", "create", "0000:00:00.0", "2"], "SR-IOV"),
                          (["vf", "destroy", "../x"], "not a PCI address")):
            p = self.h.ctl(*args)
            self.assertEqual(p.returncode, 1, args)
            self.assertIn(msg, p.stderr, args)
        after = snapshot(self.h.root)
        self.assertEqual({k: v for k, v in after.items() if "/run/vfmig/" not in k}, before)


class Laptop(unittest.TestCase):
    def setUp(self):
        self.h = Host(gen("laptop"))

    def tearDown(self):
        shutil.rmtree(self.h.root)

    def test_module_loaded_first(self):
        # vfio-pci is not registered on the laptop: the module is loaded before the device is touched
        self.h.write("proc/self/mountinfo", "")
        out = self.h.json("bind", "0000:00:1f.3")
        steps = out["results"][0]["steps"]
        self.assertTrue(steps[0].startswith("load module vfio_pci"), steps)
        self.assertEqual(self.h.driver("0000:00:1f.3"), "vfio-pci")
        self.h.json("unbind", "0000:00:1f.3")
        self.assertEqual(self.h.driver("0000:00:1f.3"), "snd_hda_intel")

    def test_module_loading_without_mock_fails_clearly(self):
        before = snapshot(self.h.root)
        p = self.h.ctl("bind", "0000:00:1f.3", mock=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("kernel mock", p.stderr)
        after = snapshot(self.h.root)
        self.assertEqual({k: v for k, v in after.items() if "/run/vfmig/" not in k}, before)

    def test_boot_vga_refused(self):
        p = self.h.ctl("bind", "0000:00:02.0")
        self.assertEqual(p.returncode, 1)
        self.assertIn("boot VGA", p.stderr)
        self.assertEqual(self.h.driver("0000:00:02.0"), "i915")
        self.h.json("bind", "0000:00:02.0", "--force")
        self.assertEqual(self.h.driver("0000:00:02.0"), "vfio-pci")

    def test_mounted_root_refused(self):
        self.h.write("proc/self/mountinfo",
                     "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n"
                     "23 22 259:1 / /boot/efi rw shared:2 - vfat /dev/nvme0n1p1 rw\n")
        p = self.h.ctl("bind", "0000:02:00.0")
        self.assertEqual(p.returncode, 1)
        self.assertIn("/dev/nvme0n1p2 is mounted on / (the root filesystem)", p.stderr)
        self.assertEqual(self.h.driver("0000:02:00.0"), "nvme")

    def test_netdev_with_address_refused(self):
        wifi = "0000:03:00.0"
        net = os.listdir(os.path.join(self.h.dev(wifi), "net"))[0]
        self.h.write(f"sys/bus/pci/devices/{wifi}/net/{net}/operstate", "up\n")
        self.h.kmock(f"addresses/{net}", "192.0.2.4/24\n")
        p = self.h.ctl("bind", wifi)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"{net} is up with 192.0.2.4/24", p.stderr)
        self.h.unkmock(f"addresses/{net}")
        self.h.json("bind", wifi)
        self.assertEqual(self.h.driver(wifi), "vfio-pci")


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
