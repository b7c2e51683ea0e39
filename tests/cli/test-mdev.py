#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Mock tier of mediated devices: vfmigctl mdev types/list/create/remove,
list, status and recover on a synthetic host with an mtty-like parent whose
sysfs reacts like the kernel (tests/mock): bad input refused with its cause
and nothing changed, an instance in use or defined by mdevctl left alone,
and crashes before and after the kernel's create recovered. Prints TAP."""
import json
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
KMOCK = os.environ["KMOCK"]
# Under the 'asan' test setup the ASan runtime must come first in LD_PRELOAD.
PRELOAD = " ".join(p for p in (os.environ.get("VFMIG_ASAN_RUNTIME"), KMOCK) if p)
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
U1 = "0b1f7c4e-1a2b-4c3d-8e9f-a0b1c2d3e4f5"
U2 = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"
HOLDER = "4242 (qemu-system-x86)"


def snapshot(root):
    """Every file and link of the host but the lock files (taking a lock
    creates its file, which changes nothing about the host)."""
    state = {}
    for d, dirs, files in os.walk(root):
        if os.path.relpath(d, root).startswith("run"):
            continue
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


class MdevHost(unittest.TestCase):
    """A laptop with an mtty parent: mtty-1 (2 instances free), mtty-2 (1)."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vfm-mdev-")
        self.addCleanup(shutil.rmtree, self.root)
        subprocess.run([sys.executable, GEN_HOST, "--profile", "laptop", "--mdev-parent", "mtty:mtty-1=2,mtty-2=1",
                        self.root], check=True)

    # -- helpers -------------------------------------------------------------
    def ctl(self, *args, rc=None):
        env = dict(os.environ, VFMIG_SYSROOT=self.root, LD_PRELOAD=PRELOAD)
        p = subprocess.run([VFMIGCTL, *args], capture_output=True, text=True, env=env, timeout=120)
        if rc is not None and p.returncode != rc:
            raise AssertionError(f"vfmigctl {' '.join(args)}: exit {p.returncode}, expected {rc}\n"
                                 f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return p

    def json(self, *args, rc=0):
        return json.loads(self.ctl(*args, "--json", rc=rc).stdout)

    def error(self, *args, name):
        """The command fails with that varlink error name; its message."""
        err = self.json(*args, rc=1)["error"]
        self.assertEqual(err["name"], name, err["message"])
        return err["message"]

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def instance(self, uuid):
        return self.path("sys", "bus", "mdev", "devices", uuid)

    def exists(self, uuid):
        return os.path.isdir(self.instance(uuid))

    def available(self, typ):
        with open(self.path("sys", "class", "mdev_bus", "mtty", "mdev_supported_types", typ,
                            "available_instances")) as f:
            return int(f.read())

    def records(self):
        d = self.path("var", "lib", "vfmig", "mdev")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def record(self, uuid):
        with open(self.path("var", "lib", "vfmig", "mdev", uuid + ".json")) as f:
            return json.load(f)

    def kmock(self, rel, text):
        path = self.path(".kmock", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def log(self):
        path = self.path(".kmock", "log")
        return open(path).read().splitlines() if os.path.exists(path) else []

    def mdevctl_define(self, uuid, parent="mtty"):
        path = self.path("etc", "mdevctl.d", parent, uuid)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"mdev_type": "mtty-1", "start": "auto", "attrs": []}, f)
        return path

    def recover(self, rc=0):
        return [r for r in self.json("recover", rc=rc)["results"] if r["op"] == "recover"]

    # -- types and the listing ---------------------------------------------------
    def test_types_and_available_instances(self):
        types = self.json("mdev", "types")
        self.assertEqual([(t["parent"], t["name"], t["available_instances"], t["device_api"]) for t in types],
                         [("mtty", "mtty-1", 2, "vfio-pci"), ("mtty", "mtty-2", 1, "vfio-pci")])
        self.assertEqual(types[0]["pretty_name"], "Single port serial")
        self.assertEqual(self.json("mdev", "types", "mtty"), types)
        text = self.ctl("mdev", "types", rc=0).stdout
        self.assertRegex(text, r"(?m)^PARENT +TYPE +FREE +API +NAME")
        self.assertRegex(text, r"(?m)^mtty +mtty-2 +1 +vfio-pci +Dual port serial$")
        self.assertEqual(self.json("mdev", "list"), [])
        self.assertIn("no mediated devices", self.ctl("mdev", "list", rc=0).stdout)
        # list: the PCI devices, then the (empty) mediated section; --json unchanged
        self.assertIn("no mediated devices", self.ctl("list", rc=0).stdout)
        self.assertTrue(all("bdf" in d for d in self.json("list")))

    def test_types_of_an_unknown_parent(self):
        self.assertIn("no parent device nope", self.error("mdev", "types", "nope", name="io.vfmig.NotFound"))
        self.assertIn('"../x" is not a parent device name',
                      self.error("mdev", "types", "../x", name="io.vfmig.InvalidArgument"))

    # -- create / remove -----------------------------------------------------------
    def test_create_remove_round_trip(self):
        m = self.json("mdev", "create", "mtty", "mtty-1")
        uuid = m["uuid"]
        self.assertRegex(uuid, UUID_RE)
        self.assertEqual((m["parent"], m["type"], m["driver"], m["created_by_vfmig"], m["mdevctl_defined"]),
                         ("mtty", "mtty-1", "mtty", True, False))
        self.assertIsInstance(m["iommu_group"], int)
        # the kernel's view: the instance, its group, one instance fewer
        self.assertTrue(self.exists(uuid))
        self.assertTrue(os.path.exists(self.path("dev", "vfio", str(m["iommu_group"]))))
        self.assertEqual(self.available("mtty-1"), 1)
        self.assertIn(f"mdev create mtty mtty-1 {uuid}", self.log())
        # vfmig's view: the journal record (before the kernel write), list, status
        self.assertEqual(self.records(), [uuid + ".json"])
        rec = self.record(uuid)
        self.assertEqual((rec["uuid"], rec["parent"], rec["type"]), (uuid, "mtty", "mtty-1"))
        self.assertGreater(rec["pid"], 0)
        self.assertEqual(self.json("mdev", "list"), [m])
        st = self.json("status")["mdevs"]
        self.assertEqual([(s["uuid"], s["present"]) for s in st], [(uuid, True)])
        listed = self.ctl("list", rc=0).stdout
        self.assertRegex(listed, r"(?m)^MDEV +TYPE +PARENT +GROUP +DRIVER +OWNER")
        self.assertRegex(listed, rf"(?m)^{uuid} +mtty-1 +mtty +{m['iommu_group']} +mtty +vfmig$")
        self.assertIn(uuid, self.ctl("status", rc=0).stdout)
        # an upper-case UUID is the kernel's lower-case name
        m2 = self.json("mdev", "create", "mtty", "mtty-2", "--uuid", U2.upper())
        self.assertEqual(m2["uuid"], U2)

        out = self.json("mdev", "remove", uuid)
        self.assertEqual((out["uuid"], out["removed"]), (uuid, True))
        self.assertFalse(self.exists(uuid))
        self.assertEqual(self.available("mtty-1"), 2)
        self.assertIn(f"mdev remove {uuid}", self.log())
        self.assertEqual(self.records(), [U2 + ".json"])
        self.assertIn("removed", self.ctl("mdev", "remove", U2, rc=0).stdout)
        self.assertEqual(self.records(), [])
        self.assertEqual(self.json("status")["mdevs"], [])
        self.assertEqual(self.json("mdev", "list"), [])

    def test_bad_input_changes_nothing_and_names_the_cause(self):
        self.json("mdev", "create", "mtty", "mtty-2", "--uuid", U2)
        before = snapshot(self.root)
        cases = [
            (("--uuid", "not-a-uuid", "mtty", "mtty-1"), "io.vfmig.InvalidArgument", '"not-a-uuid" is not a UUID'),
            (("--uuid", U1[:-1] + "g", "mtty", "mtty-1"), "io.vfmig.InvalidArgument", "is not a UUID"),
            (("../x", "mtty-1"), "io.vfmig.InvalidArgument", '"../x" is not a parent device name'),
            (("nope", "mtty-1"), "io.vfmig.NotFound", "no parent device nope: this host's parents are mtty"),
            (("mtty", "mtty-9"), "io.vfmig.NotFound", "mtty has no type mtty-9 (its types: mtty-1, mtty-2)"),
            (("mtty", "../mtty-1"), "io.vfmig.InvalidArgument", '"../mtty-1" is not a type name'),
            (("mtty", "mtty-2"), "io.vfmig.Busy", "no capacity left: mtty-2 on mtty has available_instances 0"),
            (("--uuid", U2, "mtty", "mtty-1"), "io.vfmig.InvalidArgument", f"{U2} exists already (a mtty-2 on mtty)"),
        ]
        for args, name, cause in cases:
            with self.subTest(args=args):
                msg = self.error("mdev", "create", *args, name=name)
                self.assertIn(cause, msg)
                self.assertEqual(snapshot(self.root), before, f"{args} changed the host")
        # the human form says the same on stderr
        p = self.ctl("mdev", "create", "mtty", "mtty-9", rc=1)
        self.assertIn("error: cannot create a mtty-9 on mtty: mtty has no type mtty-9", p.stderr)
        for args, name, cause in [((U1,), "io.vfmig.NotFound", f"no mediated device {U1}"),
                                  (("../x",), "io.vfmig.InvalidArgument", '"../x" is not a UUID')]:
            with self.subTest(remove=args):
                self.assertIn(cause, self.error("mdev", "remove", *args, name=name))
                self.assertEqual(snapshot(self.root), before)
        # usage
        self.assertEqual(self.ctl("mdev", "create", "mtty").returncode, 2)
        self.assertEqual(self.ctl("mdev", "remove").returncode, 2)
        self.assertIn("needs a subcommand", self.ctl("mdev").stderr)

    def test_kernel_refusal_is_reported_and_leaves_no_record(self):
        self.kmock("fail/mdev-create/mtty", "28\n")  # ENOSPC, as mtty's probe says
        msg = self.error("mdev", "create", "mtty", "mtty-1", "--uuid", U1, name="io.vfmig.Failed")
        self.assertIn(f"cannot create mtty-1 {U1} on mtty", msg)
        self.assertIn("No space left on device", msg)
        self.assertFalse(self.exists(U1))
        self.assertEqual(self.records(), [])
        self.assertEqual(self.available("mtty-1"), 2)

    # -- in use, mdevctl -------------------------------------------------------------
    def test_in_use_is_refused_naming_the_holder(self):
        self.json("mdev", "create", "mtty", "mtty-1", "--uuid", U1)
        self.kmock("in-use/" + U1, HOLDER + "\n")
        msg = self.error("mdev", "remove", U1, name="io.vfmig.Busy")
        self.assertIn(f"cannot remove mediated device {U1}: it is in use by {HOLDER}", msg)
        self.assertIn("in use by " + HOLDER, self.ctl("mdev", "remove", U1, "--force", rc=1).stderr)
        self.assertTrue(self.exists(U1))
        self.assertEqual(self.records(), [U1 + ".json"])
        # as if the create had been interrupted (a finished one is the operator's and recovery
        # leaves it alone): recovery keeps what a process holds, and says so
        r = self.record(U1)
        r["complete"] = False
        with open(self.path("var", "lib", "vfmig", "mdev", U1 + ".json"), "w") as f:
            json.dump(r, f)
        rec = self.recover()
        self.assertEqual([(r["bdf"], r["changed"]) for r in rec], [(U1, False)])
        self.assertIn("in use by " + HOLDER + ": kept", rec[0]["message"])
        self.assertTrue(self.exists(U1))
        # let go: the next recovery removes it
        os.unlink(self.path(".kmock", "in-use", U1))
        rec = self.recover()
        self.assertEqual([(r["bdf"], r["changed"]) for r in rec], [(U1, True)])
        self.assertFalse(self.exists(U1))
        self.assertEqual(self.records(), [])

    def test_mdevctl_defined_instance_is_left_alone(self):
        # an instance mdevctl started (written by hand, not through vfmig)
        env = dict(os.environ, LD_PRELOAD=PRELOAD)
        types = self.path("sys", "class", "mdev_bus", "mtty", "mdev_supported_types")
        subprocess.run(["sh", "-c", f"echo {U1} > {types}/mtty-1/create"], env=env, check=True)
        definition = self.mdevctl_define(U1)
        listed = self.json("mdev", "list")
        self.assertEqual([(m["uuid"], m["created_by_vfmig"], m["mdevctl_defined"]) for m in listed],
                         [(U1, False, True)])
        self.assertRegex(self.ctl("mdev", "list", rc=0).stdout, rf"(?m)^{U1} .* mdevctl$")
        msg = self.error("mdev", "remove", U1, name="io.vfmig.Refused")
        self.assertIn(f"mdevctl defines it ({definition})", msg)
        self.assertIn("--force", msg)
        self.assertTrue(self.exists(U1))
        # never vfmig's: recovery does not touch it
        self.assertEqual(self.recover(), [])
        self.assertTrue(self.exists(U1))
        # a UUID mdevctl defines is not vfmig's to create either
        other = self.mdevctl_define(U2)
        msg = self.error("mdev", "create", "mtty", "mtty-2", "--uuid", U2, name="io.vfmig.Refused")
        self.assertIn(f"{U2} is defined by mdevctl ({other})", msg)
        self.assertFalse(self.exists(U2))
        self.assertEqual(self.records(), [])
        # --force removes the instance; the definition stays, and it is said
        p = self.ctl("mdev", "remove", U1, "--force", rc=0)
        self.assertIn(f"removed {U1}", p.stdout)
        self.assertIn("mdevctl still defines it", p.stderr)
        self.assertFalse(self.exists(U1))
        self.assertTrue(os.path.exists(definition))

    def test_recover_leaves_alone_what_vfmig_did_not_create(self):
        env = dict(os.environ, LD_PRELOAD=PRELOAD)
        types = self.path("sys", "class", "mdev_bus", "mtty", "mdev_supported_types")
        subprocess.run(["sh", "-c", f"echo {U1} > {types}/mtty-1/create"], env=env, check=True)
        self.assertFalse(self.json("mdev", "list")[0]["created_by_vfmig"])
        self.assertEqual(self.recover(), [])
        self.assertTrue(self.exists(U1))

    def test_recover_leaves_alone_what_a_live_process_created(self):
        # vfmigd or a migration that created an instance still runs: not a crash
        self.json("mdev", "create", "mtty", "mtty-1", "--uuid", U1)
        rec = self.record(U1)
        rec["pid"] = os.getpid()
        with open(self.path("var", "lib", "vfmig", "mdev", U1 + ".json"), "w") as f:
            json.dump(rec, f)
        self.assertEqual(self.recover(), [])
        self.assertTrue(self.exists(U1))

    def test_a_finished_create_survives_recovery(self):
        # the record said complete but was read back without it: every recover (before each bind,
        # at vfmigd's start, in a destination's prepare hook) removed the operator's instance - and
        # writing remove for an instance a guest in another PID namespace holds blocks in the kernel
        self.json("mdev", "create", "mtty", "mtty-1", "--uuid", U1)
        self.assertTrue(self.record(U1)["complete"])
        self.assertEqual(self.recover(), [])
        self.assertTrue(self.exists(U1))
        self.assertTrue(self.json("mdev", "list")[0]["created_by_vfmig"])

    # -- crashes ---------------------------------------------------------------------
    def test_killed_after_the_journal_write_before_the_kernel_write(self):
        self.kmock("kill_before", "1\n")
        p = self.ctl("mdev", "create", "mtty", "mtty-1", "--uuid", U1)
        self.assertEqual(p.returncode, -9, p.stderr)
        # the record came first; the kernel never created it
        self.assertEqual(self.records(), [U1 + ".json"])
        self.assertFalse(self.exists(U1))
        self.assertEqual(self.available("mtty-1"), 2)
        st = self.json("status")
        self.assertEqual([(m["uuid"], m["present"]) for m in st["mdevs"]], [(U1, False)])
        self.assertIn("gone", self.ctl("status", rc=0).stdout)
        rec = self.recover()
        self.assertEqual([(r["bdf"], r["changed"], r["error"]) for r in rec], [(U1, True, None)])
        self.assertIn("record dropped", rec[0]["message"])
        self.assertEqual(self.records(), [])
        self.assertEqual(self.recover(), [])
        self.assertEqual(self.json("mdev", "list"), [])

    def test_killed_after_the_kernel_write(self):
        self.kmock("kill_after", "1\n")
        p = self.ctl("mdev", "create", "mtty", "mtty-1", "--uuid", U1)
        self.assertEqual(p.returncode, -9, p.stderr)
        self.assertTrue(self.exists(U1))
        self.assertEqual(self.records(), [U1 + ".json"])
        self.assertEqual(self.available("mtty-1"), 1)
        self.assertTrue(self.json("mdev", "list")[0]["created_by_vfmig"])
        pid = self.record(U1)["pid"]
        out = " ".join(self.ctl("recover", rc=0).stdout.split())  # wrapped at 80 columns
        self.assertIn(f"recovered: {U1}: the mtty-1 on mtty vfmig created (pid {pid}) and nothing uses: removed", out)
        self.assertFalse(self.exists(U1))
        self.assertEqual(self.available("mtty-1"), 2)
        self.assertEqual(self.records(), [])
        self.assertEqual(self.log()[-1], f"mdev remove {U1}")

    def test_killed_after_the_kernel_write_while_a_guest_took_it(self):
        self.kmock("kill_after", "1\n")
        self.assertEqual(self.ctl("mdev", "create", "mtty", "mtty-1", "--uuid", U1).returncode, -9)
        self.kmock("in-use/" + U1, HOLDER + "\n")
        # the recovery before a bind (or vfmigd's start) does the same as recover
        out = self.json("restore")["results"]
        self.assertEqual([(r["op"], r["bdf"], r["changed"]) for r in out], [("recover", U1, False)])
        self.assertTrue(self.exists(U1))
        os.unlink(self.path(".kmock", "in-use", U1))
        out = self.json("restore")["results"]
        self.assertEqual([(r["op"], r["bdf"], r["changed"]) for r in out], [("recover", U1, True)])
        self.assertFalse(self.exists(U1))

    def test_damaged_record_is_reported_not_acted_on(self):
        self.json("mdev", "create", "mtty", "mtty-1", "--uuid", U1)
        path = self.path("var", "lib", "vfmig", "mdev", U1 + ".json")
        with open(path, "w") as f:
            f.write('{"uuid": "%s", "parent": "../../..", "type": "mtty-1"}' % U1)
        self.assertTrue(any(path in p for p in self.json("status")["journal_problems"]))
        out = self.json("recover", rc=1)
        self.assertTrue(any(path in w for r in out["results"] for w in r["warnings"]), out)
        self.assertEqual(self.ctl("recover").returncode, 1)
        self.assertTrue(self.exists(U1))
        self.assertTrue(os.path.exists(path))


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
