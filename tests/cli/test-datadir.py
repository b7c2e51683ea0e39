#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Where vfmigctl finds its database, and empty results as sentences.

An uninstalled build (the binary under the build directory) reads the source
tree's data/; a copy outside the build directory (as installed) reads the
datadir it was built for; VFMIG_DATADIR overrides both. Without a database
every command that selects fails with one line naming the places it looked.
Prints TAP."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import run_tap  # noqa: E402

VFMIGCTL = os.environ["VFMIGCTL"]
GEN_HOST = os.environ["GEN_HOST"]
SOURCE = os.environ["VFMIG_SOURCE_ROOT"]


def run(args, env_extra=None, drop_datadir=True, binary=VFMIGCTL):
    env = dict(os.environ)
    if drop_datadir:
        env.pop("VFMIG_DATADIR", None)
    env.update(env_extra or {})
    return subprocess.run([binary, *args], capture_output=True, text=True, env=env, timeout=120)


class Datadir(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="vfm-datadir-")
        os.rmdir(cls.root)
        subprocess.run([sys.executable, GEN_HOST, "--profile", "laptop", cls.root], check=True)
        cls.empty = tempfile.mkdtemp(prefix="vfm-datadir-empty-")
        cls.one = tempfile.mkdtemp(prefix="vfm-datadir-one-")
        os.makedirs(os.path.join(cls.one, "drivers"))
        shutil.copy(os.path.join(SOURCE, "data", "drivers", "vfio-pci.conf"), os.path.join(cls.one, "drivers"))

    @classmethod
    def tearDownClass(cls):
        for d in (cls.root, cls.empty, cls.one):
            shutil.rmtree(d, ignore_errors=True)

    def test_uninstalled_build_reads_the_source_tree(self):
        p = run(["--sysroot", self.root, "db", "list"])
        self.assertEqual(p.returncode, 0, p.stderr)
        last = " ".join(p.stdout.split("\n\n")[-1].split())
        n = len([f for f in os.listdir(os.path.join(SOURCE, "data", "drivers")) if f.endswith(".conf")])
        self.assertIn("%d curated entries from %s" % (n, os.path.join(SOURCE, "data", "drivers")), last)
        self.assertIn("the source tree", last)
        # and it selects with it: the laptop's IGD is the IGD profile
        p = run(["--sysroot", self.root, "list"])
        self.assertRegex(p.stdout, r"0000:00:02\.0 .*vfio-pci \(igd\)")

    def test_env_overrides(self):
        p = run(["--sysroot", self.root, "db", "list"], {"VFMIG_DATADIR": self.one})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("1 curated entry from %s (VFMIG_DATADIR)" % os.path.join(self.one, "drivers"),
                      " ".join(p.stdout.split("\n\n")[-1].split()))

    def test_no_database_is_one_clear_line_for_every_selecting_command(self):
        for args in (["list"], ["list", "--all"], ["explain", "00:02.0"], ["bind", "00:02.0", "--dry-run"],
                     ["xml", "00:02.0"], ["profile"], ["db", "list"], ["db", "show", "vfio-pci"]):
            p = run(["--sysroot", self.root, *args], {"VFMIG_DATADIR": self.empty})
            self.assertEqual(p.returncode, 1, (args, p.stdout, p.stderr))
            self.assertEqual(p.stdout, "", args)
            lines = p.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, (args, p.stderr))
            self.assertIn("no driver database", lines[0])
            self.assertIn(os.path.join(self.empty, "drivers") + " (VFMIG_DATADIR)", lines[0])
            self.assertIn(os.path.join(self.root, "etc", "vfmig", "drivers.d"), lines[0])

    def test_a_copy_outside_the_build_reads_its_datadir(self):
        # what an installed vfmigctl does: the datadir it was built for, never
        # the source tree (whatever an earlier install left there)
        d = tempfile.mkdtemp(prefix="vfm-datadir-bin-")
        try:
            copy = os.path.join(d, "vfmigctl")
            shutil.copy(VFMIGCTL, copy)
            p = run(["--sysroot", self.root, "db", "list"], binary=copy)
            text = " ".join((p.stdout + p.stderr).split())
            self.assertNotIn(os.path.join(SOURCE, "data"), text)
            self.assertIn("the installed datadir", text)
            m = re.search(r"(/\S+)/drivers \(the installed datadir\)", text)
            self.assertIsNotNone(m, text)
            self.assertEqual(p.returncode, 0 if os.path.isdir(os.path.join(m.group(1), "drivers")) else 1, text)
        finally:
            shutil.rmtree(d, ignore_errors=True)


class EmptyResults(unittest.TestCase):
    def test_list_without_candidates_is_a_sentence(self):
        # a host with a host bridge and a root port only: nothing to pass through
        spec = importlib.util.spec_from_file_location("gen_host", GEN_HOST)
        gen_host = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen_host)
        root = tempfile.mkdtemp(prefix="vfm-empty-")
        h = gen_host.Host(root, "6.12.0-vfmig")
        h.driver("pcieport")
        hb = h.host_bridge(0)
        h.device(hb, "0000:00:00.0", 0x8086, 0x3e0f, 0x060000)
        h.bridge(hb, "0000:00:1c.0", 0x8086, 0xa340)
        h.modules()
        try:
            p = run(["--sysroot", root, "list"], drop_datadir=False)
            self.assertEqual(p.returncode, 0, p.stderr)
            lines = p.stdout.strip().splitlines()
            self.assertEqual(len(lines), 1, p.stdout)
            self.assertIn("no passthrough candidates", lines[0])
            self.assertLessEqual(len(lines[0]), 80)
            self.assertIn("--all", lines[0])
            p = run(["--sysroot", root, "list", "--all"], drop_datadir=False)
            self.assertTrue(p.stdout.startswith("BDF"), p.stdout)
            # the other listings of the same empty host: sentences, no bare header
            for args in (["status"], ["mdev", "list"], ["mdev", "types"], ["profile", "-c", "test:///default"],
                         ["recover"], ["claims"]):
                p = run(["--sysroot", root, *args], drop_datadir=False)
                self.assertEqual(p.returncode, 0, (args, p.stderr))
                last = p.stdout.strip().splitlines()[-1]
                self.assertRegex(last, r"^(no |nothing |vfmig owns no )", (args, p.stdout))
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
