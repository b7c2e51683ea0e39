#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfmigctl end to end on synthetic hosts: JSON shapes, choices, exit codes,
bad input. Runs the built binary; prints TAP."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ttyrun  # noqa: E402

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


WIDTH = 80
ESC = "\x1b["
KMOCK = os.environ.get("KMOCK")
# Under the 'asan' test setup the ASan runtime must come first in LD_PRELOAD.
PRELOAD = " ".join(p for p in (os.environ.get("VFMIG_ASAN_RUNTIME"), KMOCK) if p)


def plain_env(**extra):
    """The environment without what decides colour and width, plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "COLUMNS", "TERM")}
    env.update(extra)
    return env


def run_env(env, *args, sysroot=None, mock=False, stdin=None):
    cmd = [VFMIGCTL] + (["--sysroot", sysroot] if sysroot else []) + list(args)
    if mock:
        env = dict(env, LD_PRELOAD=PRELOAD)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, input=stdin)


def run_pty(args, env):
    """vfmigctl with stdout and stderr on a terminal; what it wrote there."""
    return ttyrun.run_pty([VFMIGCTL, *args], env)


def make_profile(root, path):
    p = run_env(plain_env(), "profile", "--json", sysroot=root)
    assert p.returncode == 0, p.stderr
    with open(path, "w") as f:
        f.write(p.stdout)


class HumanOutput(unittest.TestCase):
    """Issue #10: tables fit 80 columns (aligned, cut only at the end of the
    line), colour only where someone looks (NO_COLOR, TERM, --color)."""

    @classmethod
    def setUpClass(cls):
        cls.dirs = []
        # 2 PFs x 256 VFs, a few VFs bound, a claim held
        cls.big = cls.host("server", "--pfs", "2", "--vfs-per-pf", "256")
        vfs = [d["bdf"] for d in cls.list_json(cls.big) if d["physfn"]][:3]
        p = run_env(plain_env(), "bind", *vfs, sysroot=cls.big, mock=True)
        assert p.returncode == 0, p.stderr
        want = [{"source_bdf": "0000:3b:00.2", "vendor": "15b3", "device": "101e", "subsystem_vendor": "15b3",
                 "subsystem_device": "0016", "class": "020000", "driver": "mlx5_vfio_pci"}]
        p = run_env(plain_env(), "claim", "--domain-name", "web01-with-a-rather-long-domain-name-for-tables",
                    sysroot=cls.big, stdin=json.dumps(want))
        assert p.returncode == 0, p.stderr
        # every vendor, the longest variant driver (hisi_acc_vfio_pci) bound
        cls.mixed = cls.host("server", "--pfs", "8", "--vfs-per-pf", "2")
        hisi = [d["bdf"] for d in cls.list_json(cls.mixed) if d["device"] == "a256"]
        p = run_env(plain_env(), "bind", *hisi, sysroot=cls.mixed, mock=True)
        assert p.returncode == 0, p.stderr
        cls.others = [cls.host(p) for p in ("laptop", "broken-missing", "broken-dangling", "broken-garbage")]

    @classmethod
    def tearDownClass(cls):
        for d in cls.dirs:
            shutil.rmtree(d)

    @classmethod
    def host(cls, profile, *extra):
        root = gen(profile, *extra)
        cls.dirs.append(root)
        return root

    @staticmethod
    def list_json(root):
        return json.loads(run_env(plain_env(), "list", "--all", "--json", sysroot=root).stdout)

    def assert_fits(self, text, what, width=WIDTH):
        for line in text.splitlines():
            self.assertLessEqual(len(line), width, f"{what}: {len(line)} columns: {line!r}")
            # a cut is marked at the end of the line only
            if "…" in line:
                self.assertTrue(line.endswith("…"), f"{what}: {line!r}")

    def assert_aligned(self, text, what):
        """Each header name starts its column: every row has a space before
        that column and text at its start."""
        lines = text.splitlines()
        header = lines[0]
        starts = [0] + [i for i in range(2, len(header)) if header[i] != " " and header[i - 2:i] == "  "]
        self.assertGreaterEqual(len(starts), 3, f"{what}: header {header!r}")
        for line in lines[1:]:
            if not line:
                break  # the table ends at the first blank line (a note may follow)
            for s in starts[1:]:
                if s >= len(line):
                    continue
                self.assertEqual(line[s - 1], " ", f"{what}: column at {s} not aligned: {line!r}")
                self.assertNotEqual(line[s], " ", f"{what}: empty cell at {s}: {line!r}")

    def tables(self, root):
        """Every human table vfmigctl prints, for one host: (what, stdout)."""
        out = []
        for args in (["list"], ["list", "--all"], ["status"], ["claims"], ["db", "list"], ["profile"]):
            p = run_env(plain_env(), *args, sysroot=root)
            self.assertEqual(p.returncode, 0, f"{args}: {p.stderr}")
            out.append((" ".join(args), p.stdout))
        return out

    def test_tables_fit_80_columns(self):
        for root in [self.big, self.mixed] + self.others:
            for what, text in self.tables(root):
                self.assert_fits(text, f"{os.path.basename(root)}: {what}")

    def test_tables_aligned(self):
        for root in (self.big, self.mixed, self.others[0]):
            for what, text in self.tables(root):
                if what in ("list", "list --all", "db list"):
                    self.assert_aligned(text, what)
        status = run_env(plain_env(), "status", sysroot=self.big).stdout
        self.assert_aligned(status, "status")
        self.assertIn("in place", status)

    def test_list_columns(self):
        text = run_env(plain_env(), "list", sysroot=self.mixed).stdout
        self.assertEqual(text.split("\n")[0].split(), ["BDF", "DEVICE", "DRIVER", "SELECTED", "MIGRATION"])
        # a bound VF: DRIVER "=" (its selected driver), class and role, migration facts
        self.assertRegex(text, r"\n0000:13:00\.1  19e5:a256 Crypto VF +=  +hisi_acc_vfio_pci +yes,precopy\n")
        self.assertRegex(text, r"\n0000:13:00\.0  19e5:a255 Crypto PF +hisi_sec2 +vfio-pci +controls 2 VFs\n")
        text = run_env(plain_env(), "list", sysroot=self.big).stdout
        self.assertRegex(text, r"\n0000:10:00\.2  15b3:101e Eth VF +=  +mlx5_vfio_pci +yes,p2p,precopy\n")

    def test_wide_terminal_and_narrow_pipe(self):
        # a pipe fits 80 whatever COLUMNS says; a terminal takes its width
        p = run_env(plain_env(COLUMNS="200"), "list", sysroot=self.mixed)
        self.assert_fits(p.stdout, "list, piped, COLUMNS=200")
        self.assertIn("…", p.stdout)
        rc, out = run_pty(["--sysroot", self.mixed, "list"], plain_env(TERM="xterm", COLUMNS="200", NO_COLOR="1"))
        self.assertEqual(rc, 0, out)
        self.assertNotIn("…", out)
        self.assertIn("yes,p2p,precopy", out)
        rc, out = run_pty(["--sysroot", self.mixed, "list"], plain_env(TERM="xterm", COLUMNS="70", NO_COLOR="1"))
        self.assert_fits(out, "list on a 70-column terminal", 70)

    def test_explain_and_vf_create_fit(self):
        vf = next(d["bdf"] for d in self.list_json(self.mixed) if d["device"] == "a256")
        for root, bdf in ((self.mixed, vf), (self.others[0], "0000:00:02.0")):
            p = run_env(plain_env(), "explain", bdf, sysroot=root)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assert_fits(p.stdout, f"explain {bdf}")
            # the reasons are wrapped, never cut
            self.assertNotIn("…", p.stdout)
            self.assertIn("candidates:", p.stdout)
        root = self.host("server", "--pfs", "8", "--vfs-per-pf", "2")
        p = run_env(plain_env(), "vf", "create", "0000:13:00.0", "6", "-v", sysroot=root, mock=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_fits(p.stdout, "vf create -v")
        self.assertRegex(p.stdout, r"\nVF +DRIVER +BEFORE +RESULT\n0000:13:00\.1  hisi_acc_vfio_pci  -  +bound\n")

    def test_check_verdicts_fit(self):
        d = tempfile.mkdtemp(prefix="vfm-check-")
        self.dirs.append(d)
        dst = self.host("server", "--pfs", "2", "--vfs-per-pf", "4")
        make_profile(self.big, os.path.join(d, "src.json"))
        make_profile(dst, os.path.join(d, "dst.json"))
        for extra in ([], ["-v"]):
            p = run_env(plain_env(), "check", "--from", os.path.join(d, "src.json"), "--to", os.path.join(d, "dst.json"),
                        *extra)
            self.assertIn(p.returncode, (0, 3), p.stderr)
            self.assertIn("hostdev 0000:10:00.2", p.stdout)
            self.assert_fits(p.stdout, "check " + " ".join(extra))
            self.assertNotIn("…", p.stdout)  # reasons are wrapped, never cut

    def test_no_colour_when_piped_or_no_color(self):
        cases = [plain_env(), plain_env(TERM="xterm"), plain_env(TERM="xterm", NO_COLOR="1")]
        for env in cases:
            for args in (["list"], ["--color=auto", "status"], ["explain", "0000:10:00.2"], ["db", "lint"],
                         ["explain", "0000:ee:00.0"], ["list", "--json"]):
                p = run_env(env, *args, sysroot=self.big)
                self.assertNotIn(ESC, p.stdout, args)
                self.assertNotIn(ESC, p.stderr, args)

    def test_color_always(self):
        p = run_env(plain_env(), "--color=always", "list", sysroot=self.big)
        self.assertIn(ESC + "1mBDF", p.stdout)
        p = run_env(plain_env(), "explain", "0000:ee:00.0", "--color", "always", sysroot=self.big)
        self.assertEqual(p.returncode, 1)
        self.assertTrue(p.stderr.startswith(ESC), p.stderr)
        self.assertIn("error:", p.stderr)
        # --color=always beats NO_COLOR (NO_COLOR only turns auto off)
        p = run_env(plain_env(NO_COLOR="1"), "--color=always", "status", sysroot=self.big)
        self.assertIn(ESC, p.stdout)
        # the layout is the same, the escapes aside
        plain = run_env(plain_env(), "list", sysroot=self.mixed).stdout
        coloured = run_env(plain_env(), "list", "--color=always", sysroot=self.mixed).stdout
        self.assertEqual(re.sub(r"\x1b\[[0-9;]*m", "", coloured), plain)
        # never with JSON
        for env in (plain_env(), plain_env(NO_COLOR="")):
            a = run_env(env, "--color=always", "list", "--json", sysroot=self.big)
            b = run_env(env, "--color=never", "list", "--json", sysroot=self.big)
            self.assertNotIn(ESC, a.stdout)
            self.assertEqual(a.stdout, b.stdout)
            err = run_env(env, "--color=always", "explain", "0000:ee:00.0", "--json", sysroot=self.big)
            self.assertNotIn(ESC, err.stdout)
            self.assertEqual(json.loads(err.stdout)["error"]["name"], "io.vfmig.NotFound")

    def test_color_option_errors(self):
        for args in (["--color=sometimes", "list"], ["list", "--color"], ["--color", "maybe", "list"]):
            p = run_env(plain_env(), *args, sysroot=self.big)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("--color", p.stderr)

    def test_terminal_auto_colour(self):
        args = ["--sysroot", self.big, "status"]
        rc, out = run_pty(args, plain_env(TERM="xterm"))
        self.assertEqual(rc, 0, out)
        self.assertIn(ESC + "1mBDF", out)
        self.assertIn(ESC + "32min place", out)
        # NO_COLOR (any value but empty) and TERM=dumb turn auto off; an empty NO_COLOR does not
        for env in (plain_env(TERM="xterm", NO_COLOR="1"), plain_env(TERM="dumb"), plain_env()):
            rc, out = run_pty(args, env)
            self.assertEqual(rc, 0, out)
            self.assertNotIn(ESC, out)
        rc, out = run_pty(args, plain_env(TERM="xterm", NO_COLOR=""))
        self.assertIn(ESC, out)
        rc, out = run_pty(["--color=never"] + args, plain_env(TERM="xterm"))
        self.assertNotIn(ESC, out)
        # errors on a terminal: "error:" in red
        rc, out = run_pty(["--sysroot", self.big, "explain", "0000:ee:00.0"], plain_env(TERM="xterm"))
        self.assertEqual(rc, 1)
        self.assertIn(ESC + "1;31merror:" + ESC + "0m no PCI device 0000:ee:00.0", out)

    def test_bind_progress_only_on_a_terminal(self):
        root = self.host("server", "--pfs", "1", "--vfs-per-pf", "6")
        os.makedirs(os.path.join(root, "etc", "vfmig", "policies.d"))
        with open(os.path.join(root, "etc", "vfmig", "policies.d", "s.conf"), "w") as f:
            f.write("[Policy cx]\nIds=15b3:101e\nManage=true\n")
        env = plain_env(TERM="xterm", NO_COLOR="1", LD_PRELOAD=PRELOAD)
        rc, out = run_pty(["--sysroot", root, "--no-daemon", "bind", "--all"], env)
        self.assertEqual(rc, 0, out)
        # redrawn in place on stderr, erased before the results
        self.assertIn("\r\x1b[Kbinding 1/6: ", out)
        self.assertIn("binding 6/6: ", out)
        self.assertEqual(out.count("bound "), 6)
        run_env(plain_env(), "restore", sysroot=root, mock=True)
        p = run_env(plain_env(), "--no-daemon", "bind", "--all", sysroot=root, mock=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("binding", p.stderr)  # not on a pipe


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from tap import run_tap
    sys.exit(run_tap(sys.modules[__name__]))
