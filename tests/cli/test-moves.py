#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfmigctl migrate and evacuate while they run: the progress lines each
prints (--json, text, -v, on a terminal), byte for byte but for times, claim
ids and libvirt's own words, and what a cold move claims on the destination.
libvirt's test driver holds the guests (it cannot migrate or hot-unplug, so
the live moves fail after their first steps, the cold ones succeed); two
synthetic hosts are the source and the destination (sysroot peer), the mock
serving the destination's binds. Prints TAP."""
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
from ttyrun import run_pty  # noqa: E402

VFMIGCTL = os.environ["VFMIGCTL"]
GEN_HOST = os.environ["GEN_HOST"]
KMOCK = os.environ["KMOCK"]
# Under the 'asan' test setup the ASan runtime must come first in LD_PRELOAD.
PRELOAD = " ".join(p for p in (os.environ.get("VFMIG_ASAN_RUNTIME"), KMOCK) if p)

VF = "0000:10:00.2"  # the server profile's one VF with --pfs 1 --vfs-per-pf 1
GUESTS = ("<node>"
          "<domain type='test'><name>plain</name><uuid>9a3f1c52-3f0e-4e61-9d5b-0c1f5e2b7a02</uuid>"
          "<memory>131072</memory><os><type>hvm</type></os><devices/></domain>"
          "<domain type='test'><name>vf1</name><uuid>9a3f1c52-3f0e-4e61-9d5b-0c1f5e2b7a01</uuid>"
          "<memory>131072</memory><os><type>hvm</type></os><features><acpi/></features><devices>"
          "<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x0000' bus='0x10' "
          "slot='0x00' function='0x2'/></source></hostdev></devices></domain>"
          "</node>")

# what varies from run to run
T = r"\(\d+\.\d\d s\)"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
LIBVIRT = r"[^\"\n]+"  # libvirt's own error text


class Moves(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="vfm-moves-")
        self.src = os.path.join(self.dir, "src")
        self.dst = os.path.join(self.dir, "dst")
        for root, name in ((self.src, "hosta"), (self.dst, "hostb")):
            subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "1",
                            "--hostname", name, root], check=True, stdout=subprocess.DEVNULL)
        self.node = os.path.join(self.dir, "node.xml")
        with open(self.node, "w") as f:
            f.write(GUESTS)
        # the mock serves one root: the destination's, where the claims bind
        self.env = dict(os.environ, VFMIG_SYSROOT=self.dst, LD_PRELOAD=PRELOAD)
        self.peer = "sysroot:" + self.dst

    def tearDown(self):
        shutil.rmtree(self.dir)

    def ctl(self, *args, tty=False):
        cmd = [VFMIGCTL, "--sysroot", self.src, "-c", f"test://{self.node}", *args]
        if tty:  # stdout and stderr on a terminal: (exit code, what it wrote there)
            return run_pty(cmd, dict(self.env, NO_COLOR="1"))
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, timeout=120)

    def assertLines(self, text, patterns):
        lines = text.split("\n")
        self.assertEqual(lines[-1], "", text)
        self.assertEqual(len(lines) - 1, len(patterns), text)
        for line, pat in zip(lines, patterns):
            self.assertRegex(line, "^" + pat + "$")

    def migrate(self, *extra, tty=False):
        return self.ctl("migrate", "vf1", "test:///default", "--peer", self.peer, *extra, tty=tty)

    def test_migrate_progress_json(self):
        # one object a line while it runs: event, message; the last line is the error with the result
        p = self.migrate("--json")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        lines = p.stdout.split("\n")
        self.assertLines("\n".join(lines[:-2]) + "\n", [
            '{"event":"step","message":"pre-flight: replug, 1 passthrough device ' + T + '"}',
            '{"event":"step","message":"claimed 1 device on ' + re.escape(self.peer) + ' \\(claim ' + UUID + '\\) '
            + T + '"}',
            '{"event":"step","message":"prepared the destination devices \\(bound, verified\\) ' + T + '"}',
            '{"event":"rollback","message":"detaching 0000:10:00.2 from vf1 on the source: detaching the device '
            'failed: ' + LIBVIRT + '"}',
            '{"event":"step","message":"roll-back: 0000:10:00.2 is still attached on the source ' + T + '"}',
            '{"event":"step","message":"roll-back: released claim ' + UUID + ' and returned its devices ' + T + '"}',
        ])
        err = json.loads(lines[-2])["error"]
        self.assertTrue(err["result"]["rolled_back"])
        self.assertEqual(err["result"]["event"], "result")

    def test_migrate_progress_text(self):
        # a line a step, "note: " before the others; on a terminal each line first clears the progress bar's
        p = self.migrate()
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        steps_re = [
            'pre-flight: replug, 1 passthrough device ' + T,
            'claimed 1 device on ' + re.escape(self.peer) + ' \\(claim ' + UUID + '\\) ' + T,
            'prepared the destination devices \\(bound, verified\\) ' + T,
            'note: detaching 0000:10:00.2 from vf1 on the source: detaching the device failed: ' + LIBVIRT,
            'roll-back: 0000:10:00.2 is still attached on the source ' + T,
            'roll-back: released claim ' + UUID + ' and returned its devices ' + T,
        ]
        self.assertLines(p.stdout, steps_re)
        self.assertIn("error: cannot migrate vf1: detaching 0000:10:00.2", p.stderr)
        rc, out = self.migrate(tty=True)
        self.assertEqual(rc, 1, out)
        lines = out.split("\n")  # the steps, the error (stderr, last), ""
        self.assertLines("\n".join(lines[:-2]) + "\n", [re.escape("\r\033[K") + s for s in steps_re])
        self.assertIn("error: cannot migrate vf1: detaching 0000:10:00.2", lines[-2])

    def evacuate(self, *extra):
        return self.ctl(*extra, "evacuate", "--to", "test:///default", "--peer", self.peer, "--cold", "vf1",
                        "--allow-stop")

    def test_evacuate_progress_json(self):
        # the plan, then start/step/result per domain ({"domain", "message", "event"}), then the summary
        p = self.evacuate("--json")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        lines = p.stdout.split("\n")
        self.assertEqual(json.loads(lines[0])["event"], "plan")
        self.assertEqual(json.loads(lines[-2])["event"], "summary")
        self.assertLines("\n".join(lines[1:-2]) + "\n", [
            '{"domain":"plain","message":"plain → hostb \\(native\\)","event":"start"}',
            '{"domain":"plain","message":"pre-flight: no passthrough devices, a plain live migration ' + T
            + '","event":"step"}',
            '{"domain":"plain","message":"failed: cannot migrate plain: libvirt migration failed: ' + LIBVIRT
            + '; it still runs on the source","event":"result"}',
            '{"domain":"vf1","message":"vf1 → hostb \\(cold, will stop\\)","event":"start"}',
            '{"domain":"vf1","message":"claimed 1 device on test:///default \\(claim ' + UUID + '\\)","event":"step"}',
            '{"domain":"vf1","message":"prepared the destination devices \\(bound, verified\\)","event":"step"}',
            '{"domain":"vf1","message":"asked vf1 to shut down","event":"step"}',
            '{"domain":"vf1","message":"vf1 shut down on the source","event":"step"}',
            '{"domain":"vf1","message":"defined and started vf1 on test:///default with the claimed devices",'
            '"event":"step"}',
            '{"domain":"vf1","message":"claim ' + UUID + ' keeps its lease \\(nothing holds its devices yet\\)",'
            '"event":"step"}',
            '{"domain":"vf1","message":"stopped-and-moved: stopped, runs on hostb \\(the source keeps its '
            'definition, shut off\\)","event":"result"}',
        ])

    def test_evacuate_progress_text(self):
        # "moving"/"done:" a domain; its steps as "  DOMAIN: step" only with -v (other events always)
        moves = [
            ('moving  plain → hostb \\(native\\)', False),
            ('  plain: pre-flight: no passthrough devices, a plain live migration ' + T, True),
            ('done:   failed: cannot migrate plain: libvirt migration failed: ' + LIBVIRT
             + '; it still runs on the source', False),
            ('moving  vf1 → hostb \\(cold, will stop\\)', False),
            ('  vf1: claimed 1 device on test:///default \\(claim ' + UUID + '\\)', True),
            ('  vf1: prepared the destination devices \\(bound, verified\\)', True),
            ('  vf1: asked vf1 to shut down', True),
            ('  vf1: vf1 shut down on the source', True),
            ('  vf1: defined and started vf1 on test:///default with the claimed devices', True),
            ('  vf1: claim ' + UUID + ' keeps its lease \\(nothing holds its devices yet\\)', True),
            ('done:   stopped-and-moved: stopped, runs on hostb \\(the source keeps its definition, shut off\\)',
             False),
        ]
        for verbose in (False, True):
            p = self.evacuate(*(["-v"] if verbose else []))
            self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
            out = p.stdout.split("\n")
            first = next(i for i, line in enumerate(out) if line.startswith("moving "))
            last = out.index("")  # the blank line before the summary
            self.assertLines("\n".join(out[first:last]) + "\n", [m for m, step in moves if verbose or not step])
            self.assertTrue(out[last + 1].startswith("summary: 0 moved, 1 stopped and moved, 0 left, 1 failed"))
            if not verbose:  # the claim holds the one VF: free it for the second run
                shutil.rmtree(self.dst)
                subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "1",
                                "--hostname", "hostb", self.dst], check=True, stdout=subprocess.DEVNULL)

    def test_evacuate_cold_claim(self):
        # a cold move claims on the destination what the guest holds: the source device's identity and driver
        p = self.evacuate("--json")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        res = {r["domain"]: r for r in json.loads(p.stdout.split("\n")[-2])["results"]}
        self.assertEqual(res["vf1"]["outcome"], "stopped-and-moved", res["vf1"])
        p = subprocess.run([VFMIGCTL, "--sysroot", self.dst, "claims", "--json"], capture_output=True, text=True,
                           env=self.env)
        claims = json.loads(p.stdout)
        self.assertEqual(len(claims), 1, claims)
        c = claims[0]
        self.assertEqual((c["domain_name"], c["domain_uuid"]), ("vf1", "9a3f1c52-3f0e-4e61-9d5b-0c1f5e2b7a01"))
        self.assertEqual([(d["bdf"], d["source_bdf"], d["driver"], d["bound"]) for d in c["devices"]],
                         [(VF, VF, "mlx5_vfio_pci", True)])

    def test_evacuate_cold_claim_mdev(self):
        # a mediated device: its type on a parent of the same name, a new instance there
        uuid = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
        for root, name in ((self.src, "hosta"), (self.dst, "hostb")):
            shutil.rmtree(root)
            subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "1",
                            "--hostname", name, "--mdev-parent", "mtty:mtty-1=2,mtty-2=1", root], check=True,
                           stdout=subprocess.DEVNULL)
        p = subprocess.run([VFMIGCTL, "--sysroot", self.src, "--no-daemon", "mdev", "create", "mtty", "mtty-2",
                            "--uuid", uuid], capture_output=True, text=True,
                           env=dict(self.env, VFMIG_SYSROOT=self.src))
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(self.node, "w") as f:
            f.write("<node><domain type='test'><name>m1</name><uuid>9a3f1c52-3f0e-4e61-9d5b-0c1f5e2b7a03</uuid>"
                    "<memory>131072</memory><os><type>hvm</type></os><devices><hostdev mode='subsystem' type='mdev' "
                    f"model='vfio-pci'><source><address uuid='{uuid}'/></source></hostdev></devices></domain></node>")
        p = self.ctl("--json", "evacuate", "--to", "test:///default", "--peer", self.peer, "--cold", "m1",
                     "--allow-stop")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = subprocess.run([VFMIGCTL, "--sysroot", self.dst, "claims", "--json"], capture_output=True, text=True,
                           env=self.env)
        claims = json.loads(p.stdout)
        self.assertEqual(len(claims), 1, claims)
        self.assertEqual([(d["source_uuid"], d["mdev_parent"], d["mdev_type"], d["created"])
                          for d in claims[0]["devices"]], [(uuid, "mtty", "mtty-2", True)])


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
