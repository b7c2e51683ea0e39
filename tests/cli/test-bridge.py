#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""`vfmigctl bridge`, the destination's end of a migration over ssh: the
io.vfmig methods on stdin/stdout, spoken to by a small varlink client written
from the specification (tests/daemon/varlink_client.py, Decisions 28), on a
synthetic host under the kernel mock. Also the source's end: a peer given as
ssh://HOST really runs `ssh ... HOST vfmigctl bridge` (an ssh on PATH that
runs the command here stands in for the network). Prints TAP."""
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "daemon"))
from tap import run_tap  # noqa: E402
from varlink_client import VarlinkError  # noqa: E402

VFMIGCTL = os.environ["VFMIGCTL"]
GEN_HOST = os.environ["GEN_HOST"]
KMOCK = os.environ["KMOCK"]
PRELOAD = " ".join(p for p in (os.environ.get("VFMIG_ASAN_RUNTIME"), KMOCK) if p)


class PipeConnection:
    """The varlink client's framing over a child's stdin/stdout."""

    def __init__(self, proc):
        self.proc = proc
        self.buf = b""

    def send_raw(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def call(self, method, parameters=None):
        msg = {"method": method}
        if parameters is not None:
            msg["parameters"] = parameters
        self.send_raw(json.dumps(msg).encode() + b"\0")
        while b"\0" not in self.buf:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise EOFError("the bridge closed its output")
            self.buf += chunk
        text, self.buf = self.buf.split(b"\0", 1)
        reply = json.loads(text)
        if "error" in reply:
            raise VarlinkError(reply["error"], reply.get("parameters"))
        return reply.get("parameters", {})


class Bridge(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vfm-bridge-")
        shutil.rmtree(self.root)
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "4", self.root],
                       check=True)
        self.env = dict(os.environ, VFMIG_SYSROOT=self.root, LD_PRELOAD=PRELOAD)
        self.env.pop("VFMIG_SOCKET", None)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.root)

    def ctl(self, *args, stdin=None, env=None):
        return subprocess.run([VFMIGCTL, *args], input=stdin, capture_output=True, text=True,
                              env=env or self.env, timeout=60)

    def bridge(self):
        p = subprocess.Popen([VFMIGCTL, "bridge"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        self.procs.append(p)
        return p, PipeConnection(p)

    def wants(self, n):
        return [{"source_bdf": f"0000:99:00.{i + 2}", "vendor": "15b3", "device": "101e",
                 "subsystem_vendor": "15b3", "subsystem_device": "0016", "class": "020000",
                 "driver": "mlx5_vfio_pci"} for i in range(n)]

    def driver(self, bdf):
        link = os.path.join(self.root, "sys", "bus", "pci", "devices", bdf, "driver")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def test_same_answers_as_the_cli(self):
        p, c = self.bridge()
        hello = c.call("io.vfmig.Hello", {"protocol_major": 1})
        self.assertEqual(hello["protocol_major"], 1)
        self.assertEqual(self.ctl("bridge").returncode, 0)  # stdin at EOF: ends at once, cleanly
        self.assertEqual(c.call("io.vfmig.List")["devices"], json.loads(self.ctl("list", "--json").stdout))
        prof = c.call("io.vfmig.Profile")
        mine = json.loads(self.ctl("profile", "--json").stdout)
        self.assertEqual([d["bdf"] for d in prof["devices"]], [d["bdf"] for d in mine["devices"]])
        self.assertEqual(prof["kernel_release"], mine["kernel_release"])
        info = c.call("org.varlink.service.GetInfo")
        self.assertEqual(info["product"], "vfmigctl bridge")
        p.stdin.close()
        self.assertEqual(p.wait(timeout=30), 0)

    def test_claim_prepare_release_through_the_bridge(self):
        p, c = self.bridge()
        claim = c.call("io.vfmig.Claim", {"domain_name": "web01", "wants": self.wants(2), "ttl_s": 60})
        bdfs = [d["bdf"] for d in claim["devices"]]
        self.assertEqual(len(set(bdfs)), 2)
        # the claim is the same record the CLI sees
        self.assertEqual([x["id"] for x in json.loads(self.ctl("claims", "--json").stdout)], [claim["id"]])
        before = {b: self.driver(b) for b in bdfs}
        res = c.call("io.vfmig.Prepare", {"claim_id": claim["id"]})["results"]
        self.assertEqual(sorted(r["bdf"] for r in res), sorted(bdfs))
        for b in bdfs:
            self.assertEqual(self.driver(b), "mlx5_vfio_pci")
        c.call("io.vfmig.Release", {"claim_id": claim["id"], "restore": True})
        self.assertEqual({b: self.driver(b) for b in bdfs}, before)
        self.assertEqual(json.loads(self.ctl("claims", "--json").stdout), [])
        with self.assertRaises(VarlinkError) as e:
            c.call("io.vfmig.Release", {"claim_id": claim["id"]})
        self.assertEqual(e.exception.name, "io.vfmig.NotFound")

    def test_errors_are_varlink_errors(self):
        p, c = self.bridge()
        with self.assertRaises(VarlinkError) as e:
            c.call("io.vfmig.Hello", {"protocol_major": 7})
        self.assertEqual(e.exception.name, "io.vfmig.Unsupported")
        with self.assertRaises(VarlinkError) as e:
            c.call("io.vfmig.Nope")
        self.assertEqual(e.exception.name, "org.varlink.service.MethodNotFound")
        with self.assertRaises(VarlinkError) as e:
            c.call("io.vfmig.Claim", {"wants": "not a list"})
        self.assertEqual(e.exception.name, "io.vfmig.ParseError")
        with self.assertRaises(VarlinkError) as e:
            c.call("io.vfmig.Prepare", {"claim_id": 5})
        self.assertEqual(e.exception.name, "org.varlink.service.InvalidParameter")
        # still serving after errors
        self.assertEqual(c.call("io.vfmig.Hello")["protocol_major"], 1)

    def test_garbage_ends_the_bridge_and_changes_nothing(self):
        claims_file = os.path.join(self.root, "var", "lib", "vfmig", "claims.json")
        for junk in (b"[[[[" * 100 + b"\0", b"{'method': 1}\0", b"\xff\xfe\0", b"[" * 5000 + b"\0"):
            p, c = self.bridge()
            out, err = p.communicate(junk, timeout=30)
            self.assertEqual(p.returncode, 1, junk[:20])
            self.assertIn(b"bridge", err)
            self.assertEqual(out, b"")
            self.assertFalse(os.path.exists(claims_file))

    def fake_ssh(self):
        """An ssh on PATH that checks how it was called and runs the remote
        command here (with this test's sysroot)."""
        bindir = os.path.join(self.root, "fakebin")
        os.makedirs(bindir)
        log = os.path.join(self.root, "ssh.log")
        ssh = os.path.join(bindir, "ssh")
        with open(ssh, "w") as f:
            f.write("#!/bin/sh\n"
                    f"echo \"$@\" >> {log}\n"
                    "while [ \"$1\" != -- ]; do shift; done; shift\n"
                    "host=$1; shift\n"
                    f"[ \"$host\" = hostb ] || {{ echo \"ssh: unknown host $host\" >&2; exit 255; }}\n"
                    f"cmd=$1; shift\n"
                    f"[ \"$cmd\" = vfmigctl ] || exit 127\n"
                    f"exec {VFMIGCTL} \"$@\"\n")
        os.chmod(ssh, os.stat(ssh).st_mode | stat.S_IXUSR)
        return dict(self.env, PATH=bindir + ":" + os.environ["PATH"]), log

    def test_check_reaches_an_ssh_peer_through_the_bridge(self):
        env, log = self.fake_ssh()
        # this host's profile is the source; the destination is reached as ssh://hostb
        src = os.path.join(self.root, "src.json")
        with open(src, "w") as f:
            f.write(self.ctl("profile", "--json").stdout)
        vf = json.loads(self.ctl("list", "--json").stdout)
        vf = [d["bdf"] for d in vf if d["device"] == "101e"][0]
        p = self.ctl("check", "--from", src, "--to", src, "--json", env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        # check --to a peer: the profile comes through the bridge
        # (libvirt's test driver gives the destination's versions: no libvirt over ssh, which under
        # ASan crashes inside libvirt's RPC - its XDR calls go through ASan's interceptors, whose
        # real functions are unresolved when libvirt is dlopen()ed)
        r = subprocess.run([VFMIGCTL, "check", "--from", src, "--to", "test:///default", "--peer",
                            "ssh://hostb", "--json"], capture_output=True, text=True, env=env, timeout=60)
        self.assertIn(r.returncode, (0, 3), r.stderr)
        self.assertEqual(open(log).read().splitlines(), ["-o BatchMode=yes -- hostb vfmigctl bridge"])
        out = json.loads(r.stdout)
        self.assertEqual(len(out["destinations"]), 1)
        # an unreachable host is an error naming it
        r = subprocess.run([VFMIGCTL, "check", "--from", src, "--to", "test:///default", "--peer",
                            "ssh://nohost"], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("nohost", r.stderr)


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
