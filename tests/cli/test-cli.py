#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfmigctl end to end on synthetic hosts: JSON shapes, choices, exit codes,
bad input. Runs the built binary; prints TAP."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

VFMIGCTL = os.environ["VFMIGCTL"]
GEN_HOST = os.environ["GEN_HOST"]
SRC = os.environ["VFMIG_SOURCE_ROOT"]
GOLDEN = os.path.join(SRC, "tests", "data", "json")


def gen(profile, *extra):
    root = tempfile.mkdtemp(prefix="vfm-host-")
    subprocess.run([sys.executable, GEN_HOST, "--profile", profile, *extra, root], check=True)
    return root


def run(*args, sysroot=None, check_rc=None):
    cmd = [VFMIGCTL] + (["--sysroot", sysroot] if sysroot else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if check_rc is not None and p.returncode != check_rc:
        raise AssertionError(f"{cmd}: exit {p.returncode}, expected {check_rc}\nstdout: {p.stdout}\nstderr: {p.stderr}")
    return p


def golden_keys(name):
    with open(os.path.join(GOLDEN, name)) as f:
        return json.load(f)


def snapshot(root):
    """Every path, link target and file content under root: proof that a
    command changed nothing."""
    state = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            if os.path.islink(p):
                state[p] = ("link", os.readlink(p))
            elif os.path.isfile(p):
                with open(p, "rb") as f:
                    state[p] = ("file", f.read())
            else:
                state[p] = ("dir",)
    return state


class Server(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = gen("server", "--pfs", "8", "--vfs-per-pf", "4")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root)

    def list_json(self, *extra):
        return json.loads(run("list", "--json", *extra, sysroot=self.root, check_rc=0).stdout)

    def test_list_shape(self):
        devices = self.list_json()
        self.assertGreater(len(devices), 30)
        keys = golden_keys("list-device.keys.json")
        for d in devices:
            self.assertEqual(sorted(d.keys()), sorted(keys), d["bdf"])
            for k in ("vendor", "device", "subsystem_vendor", "subsystem_device"):
                self.assertRegex(d[k], r"^[0-9a-f]{4}$")
            self.assertRegex(d["class"], r"^[0-9a-f]{6}$")
            # every device has a selection (DESIGN.md, Decisions 1)
            self.assertIsNotNone(d["selected_driver"], d["bdf"])
            self.assertIn(d["selection_kind"], ("generic", "igd", "vendor"))

    def test_variant_selection(self):
        by_id = {}
        for d in self.list_json():
            by_id.setdefault((d["vendor"], d["device"], d["physfn"] is not None), d)
        mlx_vf = by_id[("15b3", "101e", True)]
        self.assertEqual(mlx_vf["selected_driver"], "mlx5_vfio_pci")
        self.assertEqual(mlx_vf["selection_kind"], "vendor")
        self.assertTrue(mlx_vf["selection_source"].startswith("modules.alias:"))
        hisi_vf = by_id[("19e5", "a256", True)]
        self.assertEqual(hisi_vf["selected_driver"], "hisi_acc_vfio_pci")
        mlx_pf = by_id[("15b3", "101d", False)]
        self.assertFalse(mlx_pf["managed"])
        self.assertGreater(mlx_pf["sriov_numvfs"], 0)

    def test_all_lists_more(self):
        self.assertGreater(len(self.list_json("--all")), len(self.list_json()))

    def test_global_options_anywhere(self):
        a = run("--json", "list", sysroot=self.root, check_rc=0).stdout
        b = run("list", "--json", sysroot=self.root, check_rc=0).stdout
        c = subprocess.run([VFMIGCTL, "list", "--sysroot", self.root, "--json"], capture_output=True, text=True).stdout
        self.assertEqual(a, b)
        self.assertEqual(a, c)

    def test_env_sysroot(self):
        env = dict(os.environ, VFMIG_SYSROOT=self.root)
        p = subprocess.run([VFMIGCTL, "list", "--json"], capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(json.loads(p.stdout), self.list_json())

    def test_explain(self):
        vf = next(d for d in self.list_json() if d["device"] == "101e")
        out = json.loads(run("explain", vf["bdf"], "--json", sysroot=self.root, check_rc=0).stdout)
        self.assertEqual(sorted(out.keys()), sorted(golden_keys("explain.keys.json")))
        self.assertEqual(out["selected"], {"driver": "mlx5_vfio_pci", "module": "mlx5_vfio_pci",
                                           "kind": "vendor", "source": vf["selection_source"]})
        cands = out["candidates"]
        self.assertEqual(sorted(cands[0].keys()), sorted(golden_keys("explain-candidate.keys.json")))
        self.assertTrue(cands[0]["chosen"])
        self.assertEqual([c["chosen"] for c in cands].count(True), 1)
        generic = next(c for c in cands if c["driver"] == "vfio-pci")
        self.assertLess(generic["score"], cands[0]["score"])
        self.assertIn("wildcards", generic["reason"])
        self.assertEqual(out["device"]["bdf"], vf["bdf"])
        # human output names the winner and the loser with their reasons
        human = run("explain", vf["bdf"], sysroot=self.root, check_rc=0).stdout
        self.assertIn("selected: mlx5_vfio_pci", human)
        self.assertIn("vfio-pci", human)
        self.assertIn("devlink", human)

    def test_xml(self):
        vf = next(d for d in self.list_json() if d["device"] == "101e")
        new = run("xml", vf["bdf"], "--libvirt-version", "10.0.0", sysroot=self.root, check_rc=0).stdout
        self.assertIn('<driver model="mlx5_vfio_pci"/>', new)
        self.assertIn('managed="yes"', new)
        bus, slot, fn = vf["bdf"][5:7], vf["bdf"][8:10], vf["bdf"][11]
        self.assertIn(f'<address domain="0x0000" bus="0x{bus}" slot="0x{slot}" function="0x{fn}"/>', new)
        old = run("xml", vf["bdf"], "--libvirt-version", "9.0.0", sysroot=self.root, check_rc=0)
        self.assertNotIn("<driver", old.stdout)
        self.assertIn("before 10.0", old.stderr)
        self.assertEqual(run("xml", vf["bdf"], "--libvirt-version", "ten", sysroot=self.root).returncode, 1)
        j = json.loads(run("xml", vf["bdf"], "--libvirt-version", "10.0.0", "--json", sysroot=self.root, check_rc=0).stdout)
        self.assertEqual(j["xml"], new)

    def test_short_bdf(self):
        vf = next(d for d in self.list_json() if d["device"] == "101e")
        short = vf["bdf"][5:].upper()
        out = json.loads(run("explain", short, "--json", sysroot=self.root, check_rc=0).stdout)
        self.assertEqual(out["bdf"], vf["bdf"])

    def test_bad_bdfs_exit_1_and_change_nothing(self):
        before = snapshot(self.root)
        for bad in ("0000:3b:00.8", "../../etc/passwd", "0000:ff:1f.7", "0000:3b:00.2/..", "", "zz"):
            p = run("explain", bad, "--json", sysroot=self.root)
            self.assertEqual(p.returncode, 1, bad)
            err = json.loads(p.stdout)
            self.assertEqual(list(err.keys()), ["error"])
            self.assertTrue(err["error"]["name"].startswith("io.vfmig."))
            p = run("explain", bad, sysroot=self.root)
            self.assertEqual(p.returncode, 1, bad)
            self.assertIn(bad if bad else '""', p.stderr)
        self.assertEqual(snapshot(self.root), before)

    def test_absent_device(self):
        p = run("explain", "0000:ee:00.0", sysroot=self.root)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no PCI device 0000:ee:00.0", p.stderr)
        p = run("explain", "0000:ee:00.0", "--json", sysroot=self.root)
        self.assertEqual(json.loads(p.stdout)["error"]["name"], "io.vfmig.NotFound")

    def test_usage_errors_exit_2(self):
        self.assertEqual(run("frobnicate", sysroot=self.root).returncode, 2)
        self.assertEqual(run("list", "--no-such-option", sysroot=self.root).returncode, 2)
        self.assertEqual(run("explain", sysroot=self.root).returncode, 2)
        self.assertEqual(run("--sysroot").returncode, 2)
        self.assertEqual(run().returncode, 2)

    def test_bad_sysroot(self):
        p = run("list", sysroot="/nonexistent/vfmig-root")
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent/vfmig-root", p.stderr)

    def test_db_list_show(self):
        entries = json.loads(run("db", "list", "--json", sysroot=self.root, check_rc=0).stdout)
        ids = {e["id"] for e in entries}
        for want in ("vfio-pci", "vfio-pci-igd", "mlx5_vfio_pci", "hisi_acc_vfio_pci", "pds_vfio_pci",
                     "virtio_vfio_pci", "qat_vfio_pci", "xe-vfio-pci", "nvgrace_gpu_vfio_pci"):
            self.assertIn(want, ids)
        show = json.loads(run("db", "show", "xe-vfio-pci", "--json", sysroot=self.root, check_rc=0).stdout)
        self.assertEqual(show["driver"], "xe-vfio-pci")
        self.assertEqual(show["module"], "xe_vfio_pci")
        p = run("db", "show", "no-such-driver", sysroot=self.root)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no-such-driver", p.stderr)

    def test_shipped_db_lints_clean(self):
        p = run("db", "lint", sysroot=self.root, check_rc=0)
        self.assertIn("no problems", p.stdout)

    def test_etc_override_and_bad_dropin(self):
        root = gen("server", "--pfs", "2", "--vfs-per-pf", "2")
        try:
            d = os.path.join(root, "etc", "vfmig", "drivers.d")
            os.makedirs(d)
            # same basename overrides the shipped entry
            with open(os.path.join(d, "mlx5_vfio_pci.conf"), "w") as f:
                f.write("[Driver]\nName=mlx5_vfio_pci\nModule=mlx5_vfio_pci\nKind=vendor\n"
                        "Summary=site override\n[Match]\nIds=15b3:101e\n")
            with open(os.path.join(d, "broken.conf"), "w") as f:
                f.write("[Driver]\nName=x\nModule=x\nKind=vendor\n[Match]\nIds=nope\n")
            show = json.loads(run("db", "show", "mlx5_vfio_pci", "--json", sysroot=root, check_rc=0).stdout)
            self.assertEqual(show["summary"], "site override")
            # the broken drop-in does not stop the list, and lint names it
            run("list", "--json", sysroot=root, check_rc=0)
            p = run("db", "lint", sysroot=root)
            self.assertEqual(p.returncode, 1)
            self.assertIn("broken.conf:6:", p.stderr)
            lint = json.loads(run("db", "lint", "--json", sysroot=root).stdout)
            self.assertTrue(any("broken.conf:6:" in x for x in lint["problems"]))
        finally:
            shutil.rmtree(root)

    def test_policy_manages(self):
        root = gen("server", "--pfs", "2", "--vfs-per-pf", "2")
        try:
            d = os.path.join(root, "etc", "vfmig", "policies.d")
            os.makedirs(d)
            with open(os.path.join(d, "site.conf"), "w") as f:
                f.write("[Policy mlx]\nIds=15b3:*\nManage=true\nAutoBind=true\n")
            devices = json.loads(run("list", "--json", sysroot=root, check_rc=0).stdout)
            vfs = [x for x in devices if x["device"] == "101e"]
            pfs = [x for x in devices if x["device"] == "101d"]
            self.assertTrue(vfs and all(v["managed"] and v["auto_bind"] for v in vfs))
            # a PF that controls VFs is never managed
            self.assertTrue(pfs and not any(p["managed"] for p in pfs))
        finally:
            shutil.rmtree(root)


class Laptop(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = gen("laptop")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root)

    def test_igd(self):
        out = json.loads(run("explain", "0000:00:02.0", "--json", sysroot=self.root, check_rc=0).stdout)
        self.assertEqual(out["selected"]["kind"], "igd")
        self.assertEqual(out["selected"]["driver"], "vfio-pci")
        self.assertEqual(out["selected"]["source"], "curated:vfio-pci-igd")
        human = run("list", sysroot=self.root, check_rc=0).stdout
        self.assertRegex(human, r"0000:00:02\.0 .*vfio-pci \(igd\).*never \(IGD\)")

    def test_igd_xml(self):
        p = run("xml", "0000:00:02.0", "--libvirt-version", "10.1.0", sysroot=self.root, check_rc=0)
        self.assertIn('<address type="pci" domain="0x0000" bus="0x00" slot="0x02" function="0x0"/>', p.stdout)
        self.assertIn('<qemu:property name="x-igd-opregion" type="bool" value="true"/>', p.stdout)
        self.assertIn('<qemu:device alias="ua-igd0">', p.stdout)
        self.assertNotIn("<driver", p.stdout)

    def test_db_lint_files(self):
        run("db", "lint", *[os.path.join(SRC, "data", "drivers", f) for f in os.listdir(os.path.join(SRC, "data", "drivers"))],
            check_rc=0)
        run("db", "lint", *[os.path.join(SRC, "data", "policies", f) for f in os.listdir(os.path.join(SRC, "data", "policies"))],
            check_rc=0)


class Broken(unittest.TestCase):
    def test_broken_trees_do_not_crash(self):
        for profile in ("broken-missing", "broken-dangling", "broken-garbage"):
            root = gen(profile)
            try:
                before = snapshot(root)
                p = run("list", "--all", "--json", sysroot=root)
                self.assertEqual(p.returncode, 0, f"{profile}: {p.stderr}")
                json.loads(p.stdout)
                p = run("list", "--all", sysroot=root)
                self.assertEqual(p.returncode, 0, profile)
                # the unreadable device is named, the readable ones still listed
                self.assertIn("warning: ", p.stderr, profile)
                self.assertIn("0000:00:00.0", p.stdout, profile)
                self.assertEqual(snapshot(root), before)
            finally:
                shutil.rmtree(root)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from tap import run_tap
    sys.exit(run_tap(sys.modules[__name__]))
