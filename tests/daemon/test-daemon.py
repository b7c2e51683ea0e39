#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfmigd on synthetic hosts whose sysfs reacts like the kernel (tests/mock):
every method through an independent varlink client, the same results as
vfmigctl --json, authorization with a real non-root uid, malformed input,
concurrent and slow clients, the per-user connection cap, systemd's notify
and socket activation, recovery of a bind killed mid-way, and damaged state
files at start. Prints TAP."""
import grp
import itertools
import json
import re
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "cli"))
from tap import run_tap  # noqa: E402
from varlink_client import Closed, Connection, VarlinkError, parse_interface  # noqa: E402

VFMIGD = os.environ["VFMIGD"]
VFMIGCTL = os.environ["VFMIGCTL"]
GEN_HOST = os.environ["GEN_HOST"]
KMOCK = os.environ["KMOCK"]
TEST_USER = "vfmig-test"
GROUP = "vfmig"
DEADLINE = 20


def wait_for(predicate, what, timeout=DEADLINE):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Daemon:
    """One vfmigd on a synthetic host, killed by PID when done."""

    def __init__(self, root, sock, args=(), env=None, wait=True, pass_fds=(), argv=None):
        self.sock = sock
        self.logpath = os.path.join(os.path.dirname(root), f"vfmigd-{time.monotonic_ns()}.log")
        full_env = dict(os.environ, LD_PRELOAD=KMOCK, VFMIG_SYSROOT=root, G_MESSAGES_DEBUG="all")
        full_env.update(env or {})
        with open(self.logpath, "w") as log:
            self.proc = subprocess.Popen(argv or [VFMIGD, "--sysroot", root, "--socket", sock, *args],
                                         env=full_env, stdout=log, stderr=subprocess.STDOUT,
                                         pass_fds=pass_fds)
        if wait:
            self.wait_ready()

    def log(self):
        with open(self.logpath) as f:
            return f.read()

    def answers(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"vfmigd exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with Connection(self.sock, timeout=5) as c:
                return c.call("io.vfmig.Hello")
        except (FileNotFoundError, ConnectionRefusedError):
            return None

    def wait_ready(self):
        return wait_for(self.answers, f"vfmigd to answer on {self.sock}")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class HostCase(unittest.TestCase):
    """A fresh synthetic server (2 PFs x 4 VFs) and a daemon serving it."""
    profile = ("server", "--pfs", "2", "--vfs-per-pf", "4")
    start_daemon = True

    def setUp(self):
        # short and traversable by the unprivileged test user (sockaddr_un: 108 bytes)
        self.tmp = tempfile.mkdtemp(prefix="vfd-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.tmp)
        os.chmod(self.tmp, 0o755)
        self.root = os.path.join(self.tmp, "root")
        subprocess.run([sys.executable, GEN_HOST, "--profile", *self.profile, self.root], check=True)
        self.sock = os.path.join(self.tmp, "s")
        self.daemons = []
        self.addCleanup(self.stop_daemons)
        if self.start_daemon:
            self.daemon = self.spawn()

    def stop_daemons(self):
        for d in self.daemons:
            d.stop()

    def spawn(self, *args, **kw):
        d = Daemon(self.root, kw.pop("sock", self.sock), args, **kw)
        self.daemons.append(d)
        return d

    def connect(self):
        return Connection(self.sock)

    def call(self, method, parameters=None):
        with self.connect() as c:
            return c.call(method, parameters)

    def ctl_json(self, *args, rc=0):
        env = dict(os.environ, VFMIG_SYSROOT=self.root, LD_PRELOAD=KMOCK)
        p = subprocess.run([VFMIGCTL, *args, "--json"], capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(p.returncode, rc, p.stderr)
        return json.loads(p.stdout)

    def vfs(self):
        return [d["bdf"] for d in self.call("io.vfmig.List")["devices"] if d["physfn"]]

    def dev(self, bdf):
        return os.path.join(self.root, "sys", "bus", "pci", "devices", bdf)

    def driver(self, bdf):
        link = os.path.join(self.dev(bdf), "driver")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def override(self, bdf):
        with open(os.path.join(self.dev(bdf), "driver_override")) as f:
            return f.read().strip()

    def state_dir(self, kind):
        d = os.path.join(self.root, "var", "lib", "vfmig", kind)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def kmock(self, rel, text):
        path = os.path.join(self.root, ".kmock", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


class Trickler(threading.Thread):
    """A client whose message never ends: a call's first bytes, then one more
    byte each period, until the daemon hangs up (or long after any deadline)."""

    def __init__(self, sock, period=0.2):
        super().__init__(daemon=True)
        self.conn = Connection(sock)
        self.period = period
        self.sent = 0
        self.started = None    # when the first byte was out
        self.closed_at = None  # when a send found the connection closed
        self.replied = None    # what the daemon sent before it hung up

    def run(self):
        data = itertools.chain(b'{"method":"io.vfmig.Hello","parameters":{"x":"', itertools.repeat(ord("y")))
        end = time.monotonic() + 3 * DEADLINE
        try:
            for byte in data:
                if time.monotonic() > end:
                    return
                try:
                    self.conn.send_raw(bytes([byte]))
                except (BrokenPipeError, ConnectionResetError):
                    self.closed_at = time.monotonic()
                    self.replied = self.leftover()
                    return
                if self.started is None:
                    self.started = time.monotonic()
                self.sent += 1
                time.sleep(self.period)  # the slow client's pace, not a wait for a condition
        finally:
            self.conn.close()

    def leftover(self):
        try:
            return self.conn.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return b""


def without_seconds(results):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in results]


class Methods(HostCase):
    def test_doctor(self):
        """io.vfmig.Doctor: the checks of vfmigctl doctor --json; vfmigd
        answers for itself and leaves libvirt's and QEMU's versions out."""
        d = self.call("io.vfmig.Doctor")
        env = dict(os.environ, VFMIG_SYSROOT=self.root, VFMIG_SOCKET=self.sock)
        p = subprocess.run([VFMIGCTL, "doctor", "--json", "-c", "test:///default"], capture_output=True, text=True,
                           env=env, timeout=60)
        ctl = json.loads(p.stdout)
        self.assertEqual(p.returncode, 1 if ctl["failed"] else 0, p.stderr)
        by_id = {(c["id"], c["subject"]): c for c in d["checks"]}
        self.assertEqual(by_id[("vfmigd", None)]["state"], "ok")
        self.assertIn("vfmigd", by_id[("vfmigd", None)]["detail"])
        for v in ("libvirt-version", "qemu-version"):
            self.assertEqual(by_id[(v, None)]["state"], "n/a")
            self.assertIn("Decisions 19", by_id[(v, None)]["detail"])
        # vfmigctl reached the same daemon: every other line is the same
        same = lambda checks: [c for c in checks if c["id"] not in ("vfmigd", "libvirt-version", "qemu-version")]
        self.assertEqual(same(d["checks"]), same(ctl["checks"]))
        self.assertEqual([c for c in ctl["checks"] if c["id"] == "vfmigd"][0]["state"], "ok")
        self.assertEqual(d["ok"] + d["failed"] + d["not_applicable"], len(d["checks"]))
        with self.assertRaises(VarlinkError) as e:
            self.call("io.vfmig.Doctor", {"bdfs": ["0000:99:00.0"]})
        self.assertEqual(e.exception.name, "io.vfmig.NotFound")

    def test_hello(self):
        h = self.call("io.vfmig.Hello")
        self.assertEqual((h["protocol_major"], h["protocol_minor"]), (1, 3))
        self.assertRegex(h["version"], r"^\d+\.\d+")
        self.assertRegex(h["host_uuid"], r"^[0-9a-f-]{36}$")
        # the identity is kept: the same after a restart
        self.daemon.stop()
        self.assertEqual(self.spawn().wait_ready()["host_uuid"], h["host_uuid"])
        self.assertEqual(self.call("io.vfmig.Hello", {"protocol_major": 1})["protocol_major"], 1)
        with self.assertRaises(VarlinkError) as e:
            self.call("io.vfmig.Hello", {"protocol_major": 2})
        self.assertEqual(e.exception.name, "io.vfmig.Unsupported")
        self.assertIn("protocol 2", e.exception.parameters["message"])
        with self.assertRaises(VarlinkError) as e:
            self.call("io.vfmig.Hello", {"protocol_major": "1"})
        self.assertEqual(e.exception.name, "org.varlink.service.InvalidParameter")
        self.assertEqual(e.exception.parameters, {"parameter": "protocol_major"})

    def test_get_info(self):
        info = self.call("org.varlink.service.GetInfo")
        self.assertEqual(info["vendor"], "vfmig")
        self.assertEqual(info["product"], "vfmigd")
        self.assertTrue(info["url"].startswith("https://"))
        self.assertEqual(info["version"], self.call("io.vfmig.Hello")["version"])
        self.assertEqual(sorted(info["interfaces"]), ["io.vfmig", "org.varlink.service"])

    def test_interface_description(self):
        text = self.call("org.varlink.service.GetInterfaceDescription", {"interface": "io.vfmig"})["description"]
        with open(os.path.join(os.environ["VFMIG_SOURCE_ROOT"], "src", "lib", "api", "io.vfmig.varlink")) as f:
            self.assertEqual(text, f.read())
        name, methods, errors = parse_interface(text)
        self.assertEqual(name, "io.vfmig")
        self.assertEqual(sorted(methods), ["Adopt", "Bind", "Claim", "Doctor", "Explain", "Hello", "Inventory", "List",
                                          "Prepare", "Profile", "Release", "Renew", "Restore", "Status", "Unbind"])
        self.assertIn("PermissionDenied", errors)
        # every declared method exists (anything but MethodNotFound)
        for m in methods:
            try:
                self.call(f"io.vfmig.{m}", {"bdfs": [], "bdf": "x", "dry_run": True} if m in ("Unbind",) else None)
            except VarlinkError as e:
                self.assertNotEqual(e.name, "org.varlink.service.MethodNotFound", m)
        svc = self.call("org.varlink.service.GetInterfaceDescription", {"interface": "org.varlink.service"})
        name, methods, _ = parse_interface(svc["description"])
        self.assertEqual((name, sorted(methods)), ("org.varlink.service", ["GetInfo", "GetInterfaceDescription"]))
        with self.assertRaises(VarlinkError) as e:
            self.call("org.varlink.service.GetInterfaceDescription", {"interface": "com.example.nope"})
        self.assertEqual(e.exception.name, "org.varlink.service.InterfaceNotFound")
        self.assertEqual(e.exception.parameters, {"interface": "com.example.nope"})

    def test_list_same_as_cli(self):
        self.assertEqual(self.call("io.vfmig.List")["devices"], self.ctl_json("list"))
        self.assertEqual(self.call("io.vfmig.List", {"all": True})["devices"], self.ctl_json("list", "--all"))
        self.assertEqual(self.call("io.vfmig.List", {"all": None})["devices"], self.ctl_json("list"))

    def test_inventory_same_as_cli(self):
        vf, vf2 = self.vfs()[:2]
        self.call("io.vfmig.Bind", {"bdfs": [vf]})
        self.ctl_json("probe", vf)
        inv = self.call("io.vfmig.Inventory")
        self.assertEqual(inv, self.ctl_json("inventory"))
        devs = {d["bdf"]: d for d in inv["devices"]}
        self.assertEqual(devs[vf]["driver"], "mlx5_vfio_pci")
        self.assertTrue(devs[vf]["migration"]["live_migratable"])
        self.assertIn("CUSTOM_VFMIG_LIVE_MIGRATABLE", devs[vf]["traits"])
        self.assertFalse(devs[vf2]["migration"]["live_migratable"])
        self.assertIn("CUSTOM_VFMIG_PROBE_NEEDED", devs[vf2]["traits"])
        with self.assertRaises(VarlinkError) as e:
            self.call("io.vfmig.Inventory", {"all": True})
        self.assertEqual(e.exception.name, "org.varlink.service.InvalidParameter")

    def test_explain_same_as_cli(self):
        for d in self.call("io.vfmig.List", {"all": True})["devices"][:12]:
            self.assertEqual(self.call("io.vfmig.Explain", {"bdf": d["bdf"]}), self.ctl_json("explain", d["bdf"]))
        with self.assertRaises(VarlinkError) as e:
            self.call("io.vfmig.Explain", {"bdf": "0000:ff:1f.7"})
        self.assertEqual(e.exception.name, "io.vfmig.NotFound")
        with self.assertRaises(VarlinkError) as e:
            self.call("io.vfmig.Explain", {"bdf": "garbage"})
        self.assertEqual(e.exception.name, "io.vfmig.InvalidArgument")
        with self.assertRaises(VarlinkError) as e:
            self.call("io.vfmig.Explain")
        self.assertEqual(e.exception.parameters, {"parameter": "bdf"})

    def test_bind_unbind_restore_status(self):
        vf, vf2 = self.vfs()[:2]
        dry = self.call("io.vfmig.Bind", {"bdfs": [vf], "dry_run": True})["results"]
        self.assertFalse(dry[0]["changed"])
        self.assertTrue(any("driver_override" in s for s in dry[0]["steps"]))
        self.assertIsNone(self.driver(vf))
        out = self.call("io.vfmig.Bind", {"bdfs": [vf, vf2]})["results"]
        self.assertEqual([r["driver"] for r in out], ["mlx5_vfio_pci"] * 2)
        self.assertEqual(self.driver(vf), "mlx5_vfio_pci")
        st = self.call("io.vfmig.Status")
        self.assertEqual(st, self.ctl_json("status"))
        self.assertEqual(sorted(o["bdf"] for o in st["owned"]), sorted([vf, vf2]))
        back = self.call("io.vfmig.Unbind", {"bdfs": [vf]})["results"]
        self.assertTrue(back[0]["changed"])
        self.assertIsNone(self.driver(vf))
        self.assertEqual(self.override(vf), "(null)")
        rest = self.call("io.vfmig.Restore")["results"]
        self.assertEqual([r["bdf"] for r in rest], [vf2])
        self.assertIsNone(self.driver(vf2))
        self.assertEqual(self.call("io.vfmig.Status")["owned"], [])
        self.assertEqual(self.call("io.vfmig.Restore", {"dry_run": True})["results"], [])

    def test_bind_results_same_as_cli(self):
        vf = self.vfs()[0]
        ours = self.call("io.vfmig.Bind", {"bdfs": [vf]})
        self.ctl_json("unbind", vf)
        theirs = self.ctl_json("bind", vf)
        self.assertEqual(without_seconds(ours["results"]), without_seconds(theirs["results"]))

    def test_cli_goes_through_the_daemon(self):
        vf = self.vfs()[0]
        env = dict(os.environ, VFMIG_SYSROOT=self.root, VFMIG_SOCKET=self.sock)  # no mock: the daemon writes
        before = self.log_bind_count()
        p = subprocess.run([VFMIGCTL, "bind", vf, "--json"], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.driver(vf), "mlx5_vfio_pci")
        self.assertGreater(self.log_bind_count(), before)  # the daemon did it
        # human output is the same either way (timings aside)
        via = subprocess.run([VFMIGCTL, "unbind", vf, "--dry-run"], capture_output=True, text=True, env=env)
        direct = subprocess.run([VFMIGCTL, "unbind", vf, "--dry-run", "--no-daemon"], capture_output=True, text=True,
                                env=dict(env, LD_PRELOAD=KMOCK))
        strip = lambda t: re.sub(r"\(\d+\.\d+ s\)", "", t)
        self.assertEqual(strip(via.stdout), strip(direct.stdout))
        self.assertIn("would return", via.stdout)
        # a failure through the daemon is the CLI's error, exit 1
        self.kmock("fail/probe/mlx5_vfio_pci", "")
        other = self.vfs()[1]
        p = subprocess.run([VFMIGCTL, "bind", other], capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 1)
        self.assertIn(f"cannot bind {other} to mlx5_vfio_pci", p.stderr)

    def log_bind_count(self):
        return self.daemon.log().count("bound ")

    def test_bind_failure_is_an_error_with_results(self):
        vf = self.vfs()[0]
        self.kmock("fail/probe/mlx5_vfio_pci", "")
        with self.assertRaises(VarlinkError) as e:
            self.call("io.vfmig.Bind", {"bdfs": [vf]})
        self.assertEqual(e.exception.name, "io.vfmig.BindFailed")
        cli = self.ctl_json("bind", vf, rc=1)
        self.assertEqual(e.exception.parameters["message"], cli["error"]["message"])
        self.assertEqual(without_seconds(e.exception.parameters["results"]), without_seconds(cli["error"]["results"]))
        self.assertIsNone(self.driver(vf))

    def test_bind_all_and_group(self):
        os.makedirs(os.path.join(self.root, "etc", "vfmig", "policies.d"))
        with open(os.path.join(self.root, "etc", "vfmig", "policies.d", "site.conf"), "w") as f:
            f.write("[Policy cx]\nIds=15b3:101e\nManage=true\n")
        out = self.call("io.vfmig.Bind", {"all": True})["results"]
        cx = sorted(d["bdf"] for d in self.call("io.vfmig.List")["devices"] if d["device"] == "101e")
        self.assertEqual(sorted(r["bdf"] for r in out), cx)
        self.assertTrue(all(r["error"] is None and self.driver(r["bdf"]) == "mlx5_vfio_pci" for r in out))
        self.call("io.vfmig.Restore")
        vf = self.vfs()[0]
        grp_out = self.call("io.vfmig.Bind", {"bdfs": [vf], "group": True})["results"]
        self.assertEqual([r["bdf"] for r in grp_out], [vf])

    def test_parameter_validation(self):
        cases = [
            ("io.vfmig.Bind", {}, "io.vfmig.InvalidArgument", None),
            ("io.vfmig.Bind", {"bdfs": ["0000:10:00.2"], "all": True}, "io.vfmig.InvalidArgument", None),
            ("io.vfmig.Bind", {"bdfs": "0000:10:00.2"}, "org.varlink.service.InvalidParameter", "bdfs"),
            ("io.vfmig.Bind", {"bdfs": [1]}, "org.varlink.service.InvalidParameter", "bdfs"),
            ("io.vfmig.Bind", {"bdfs": ["x"], "force": "yes"}, "org.varlink.service.InvalidParameter", "force"),
            ("io.vfmig.Bind", {"bdfs": ["x"], "driver": 3}, "org.varlink.service.InvalidParameter", "driver"),
            ("io.vfmig.Unbind", {}, "org.varlink.service.InvalidParameter", "bdfs"),
            ("io.vfmig.Unbind", {"bdfs": []}, "io.vfmig.InvalidArgument", None),
            ("io.vfmig.Restore", {"dry_run": 1}, "org.varlink.service.InvalidParameter", "dry_run"),
            ("io.vfmig.Status", {"x": 1}, "org.varlink.service.InvalidParameter", "x"),
            ("io.vfmig.List", {"all": "true"}, "org.varlink.service.InvalidParameter", "all"),
            ("io.vfmig.Nope", None, "org.varlink.service.MethodNotFound", None),
            ("com.example.Nope", None, "org.varlink.service.InterfaceNotFound", None),
        ]
        with self.connect() as c:  # one connection: errors do not close it
            for method, params, name, parameter in cases:
                with self.assertRaises(VarlinkError, msg=method) as e:
                    c.call(method, params)
                self.assertEqual(e.exception.name, name, (method, params))
                if parameter:
                    self.assertEqual(e.exception.parameters, {"parameter": parameter})
            self.assertEqual(c.call("io.vfmig.Hello")["protocol_major"], 1)

    def test_oneway_more_and_pipelining(self):
        with self.connect() as c:
            self.assertIsNone(c.call("io.vfmig.Status", oneway=True))
            replies = list(c.call_more("io.vfmig.Hello"))
            self.assertEqual(len(replies), 1)
            # two calls in one write: two replies, in order
            c.send_raw(b'{"method":"io.vfmig.Hello"}\0{"method":"io.vfmig.Status"}\0')
            self.assertIn("host_uuid", c.receive()["parameters"])
            self.assertIn("owned", c.receive()["parameters"])


class Robustness(HostCase):
    def assert_closed(self, data, shut=False):
        with self.connect() as c:
            try:
                c.send_raw(data)
                if shut:
                    c.sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                return
            self.assertTrue(c.is_closed(), repr(data[:60]))
        # and the daemon serves others as before
        self.assertEqual(self.call("io.vfmig.Hello")["protocol_major"], 1)

    def test_malformed_messages_close_only_that_connection(self):
        bystander = self.connect()
        for data in [b"{not json}\0", b"\xff\xfe\x00", b"[1,2]\0", b"42\0", b'{"parameters":{}}\0',
                     b'{"method":"nodots"}\0', b'{"method":"io.vfmig.list"}\0', b'{"method":3}\0',
                     b'{"method":"io.vfmig.List","parameters":[]}\0',
                     b'{"method":"io.vfmig.List","more":"yes"}\0',
                     b'{"method":"io.vfmig.List","oneway":true,"more":true}\0',
                     b'{"method":"io.vfmig.List","upgrade":true}\0',
                     bytes(range(1, 256)) + b"\0"]:
            self.assert_closed(data)
        self.assertEqual(bystander.call("io.vfmig.Hello")["protocol_major"], 1)
        bystander.close()

    def test_missing_nul(self):
        # a message without its NUL is incomplete: no answer while open …
        with self.connect() as c:
            c.send_raw(b'{"method":"io.vfmig.Hello"}')
            c.sock.settimeout(0.3)
            with self.assertRaises(socket.timeout):
                c.sock.recv(1)
            # … others are served meanwhile …
            self.assertEqual(self.call("io.vfmig.Hello")["protocol_major"], 1)
            # … and the terminator completes it
            c.sock.settimeout(10)
            c.send_raw(b"\0")
            self.assertIn("host_uuid", c.receive()["parameters"])
        # a peer that hangs up mid-message is dropped
        self.assert_closed(b'{"method":"io.vfmig.Hello"}', shut=True)
        self.assertIn("no NUL terminator", self.daemon.log())

    def test_oversized_message(self):
        big = b'{"method":"io.vfmig.List","parameters":{"all":"' + b"x" * (1024 * 1024 + 16) + b'"}}\0'
        self.assert_closed(big)
        self.assert_closed(b" " * (1024 * 1024 + 70000))
        self.assertIn("larger than", self.daemon.log())
        # just under the limit is a message like any other
        ok = b'{"method":"io.vfmig.Hello","parameters":{}}' + b" " * (1024 * 1024 - 100) + b"\0"
        with self.connect() as c:
            c.send_raw(ok)
            self.assertIn("host_uuid", c.receive()["parameters"])

    def test_deeply_nested_message(self):
        # json-glib recurses once per level: this would overflow the daemon's stack
        deep = b'{"method":"io.vfmig.Hello","parameters":{"x":' + b"[" * 200000 + b"]" * 200000 + b"}}\0"
        self.assert_closed(deep)
        self.assertIn("nested deeper than 64 levels", self.daemon.log())
        # json-glib also takes single quotes and comments, which could hide brackets from the count
        self.assert_closed(b"{'method':'io.vfmig.Hello'}\0")
        self.assert_closed(b'{"method":"io.vfmig.Hello" /* " */}\0')
        self.assertIn("outside a string", self.daemon.log())
        with self.connect() as c:
            # nesting within the limit is a call like any other
            with self.assertRaises(VarlinkError) as e:
                c.call("io.vfmig.Hello", {"x": json.loads("[" * 60 + "]" * 60)})
            self.assertEqual(e.exception.parameters, {"parameter": "x"})
            # brackets, quotes and backslashes inside strings are no nesting
            with self.assertRaises(VarlinkError) as e:
                c.call("io.vfmig.Explain", {"bdf": "[{" * 100 + '"\\'})
            self.assertEqual(e.exception.name, "io.vfmig.InvalidArgument")

    def test_concurrent_clients(self):
        expected = self.call("io.vfmig.List")
        errors = []
        conns = [self.connect() for _ in range(20)]

        def client(c):
            try:
                for _ in range(5):
                    if c.call("io.vfmig.List") != expected:
                        errors.append("List differs")
                    c.call("io.vfmig.Status")
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=client, args=(c,)) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for c in conns:
            c.close()
        self.assertEqual(errors, [])

    def test_concurrent_binds_of_one_device(self):
        vf = self.vfs()[0]
        results, threads = [], []
        for _ in range(8):
            t = threading.Thread(target=lambda: results.append(self.call("io.vfmig.Bind", {"bdfs": [vf]})))
            threads.append(t)
            t.start()
        for t in threads:
            t.join(120)
        changed = [r["results"][-1]["changed"] for r in results]
        self.assertEqual(len(results), 8)
        self.assertEqual(changed.count(True), 1)
        self.assertEqual(self.driver(vf), "mlx5_vfio_pci")
        self.assertEqual(self.state_dir("intent"), [])

    def test_idle_daemon_does_not_wake_up(self):
        self.call("io.vfmig.List")
        pid = self.daemon.proc.pid

        def switches():
            total = 0
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/status") as f:
                    for line in f:
                        if "ctxt_switches" in line:
                            total += int(line.split()[1])
            return total

        # the worker thread that ran the call leaves; then nothing moves
        # (the main thread and GLib's gmain thread, both asleep in poll)
        wait_for(lambda: len(os.listdir(f"/proc/{pid}/task")) <= 2 or None, "worker threads to exit", 30)
        before = switches()
        time.sleep(2)  # measuring idleness needs an interval
        self.assertEqual(switches() - before, 0)


class SlowClients(HostCase):
    """A message, once begun, has --request-timeout seconds to arrive whole;
    a connection idle between messages has no deadline."""
    start_daemon = False

    def test_never_ending_message_is_closed_at_the_deadline(self):
        d = self.spawn("--request-timeout", "2")
        idle = self.connect()
        self.addCleanup(idle.close)
        self.assertEqual(idle.call("io.vfmig.Hello")["protocol_major"], 1)
        slow = Trickler(self.sock)
        slow.start()
        served = 0
        end = time.monotonic() + DEADLINE
        while slow.is_alive() and time.monotonic() < end:
            # others are served meanwhile
            self.assertEqual(self.call("io.vfmig.Hello")["protocol_major"], 1)
            served += 1
            time.sleep(0.05)  # a client's pace
        slow.join(DEADLINE)
        self.assertIsNotNone(slow.closed_at, "the never-ending message was not cut off")
        self.assertGreaterEqual(slow.closed_at - slow.started, 1.9)
        self.assertLess(slow.closed_at - slow.started, DEADLINE)
        self.assertGreater(served, 1)
        self.assertEqual(slow.replied, b"")
        self.assertRegex(d.log(), r"connection \d+ \(uid 0, pid \d+\) closed: no complete message within 2 s")
        # the idle connection outlived the deadline and is served as before
        self.assertEqual(idle.call("io.vfmig.Hello")["protocol_major"], 1)
        self.assertIsNone(d.proc.poll())

    def test_slow_but_complete_messages_are_served(self):
        self.spawn("--request-timeout", "3")
        with self.connect() as c:
            # two messages, each within its deadline, together longer than one
            for _ in range(2):
                for part in (b'{"method":', b'"io.vfmig.Hello"', b"}\0"):
                    c.send_raw(part)
                    time.sleep(0.8)  # a slow client's pace
                self.assertIn("host_uuid", c.receive()["parameters"])
            # a message and the start of the next in one write: the next one's clock starts
            c.send_raw(b'{"method":"io.vfmig.Hello"}\0{"method":')
            self.assertIn("host_uuid", c.receive()["parameters"])
            time.sleep(1.6)  # a slow client's pace
            c.send_raw(b'"io.vfmig.Status"}\0')
            self.assertIn("owned", c.receive()["parameters"])

    def test_many_slow_clients_do_not_stop_others(self):
        d = self.spawn("--request-timeout", "6")
        slow = [Trickler(self.sock) for _ in range(20)]
        for t in slow:
            t.start()
        wait_for(lambda: all(t.sent >= 3 for t in slow), "20 slow clients to be mid-message")
        expected = self.call("io.vfmig.List")
        with self.connect() as c:
            for _ in range(5):
                self.assertEqual(c.call("io.vfmig.List"), expected)
                self.assertIn("owned", c.call("io.vfmig.Status"))
        for _ in range(5):
            self.assertEqual(self.call("io.vfmig.Hello")["protocol_major"], 1)
        # answered while all twenty were mid-message
        self.assertEqual([t.closed_at for t in slow], [None] * 20)
        for t in slow:
            t.join(DEADLINE)
        self.assertEqual([t.closed_at is not None and t.replied == b"" for t in slow], [True] * 20)
        self.assertEqual(d.log().count("closed: no complete message within 6 s"), 20)
        self.assertEqual(self.call("io.vfmig.Hello")["protocol_major"], 1)


class Startup(HostCase):
    start_daemon = False

    def run_daemon(self, *args, env=None):
        full_env = dict(os.environ, LD_PRELOAD=KMOCK, **(env or {}))
        return subprocess.run([VFMIGD, *args], capture_output=True, text=True, env=full_env, timeout=30)

    def test_bad_command_lines(self):
        p = self.run_daemon("--bogus")
        self.assertEqual(p.returncode, 2)
        p = self.run_daemon("extra")
        self.assertEqual(p.returncode, 2)
        p = self.run_daemon("--sysroot", os.path.join(self.tmp, "nope"), "--socket", self.sock)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a directory", p.stderr)
        p = self.run_daemon("--sysroot", self.root, "--socket", "/tmp/" + "x" * 120)
        self.assertEqual(p.returncode, 1)
        self.assertIn("longer than", p.stderr)
        open(self.sock, "w").close()
        p = self.run_daemon("--sysroot", self.root, "--socket", self.sock)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a socket", p.stderr)
        os.unlink(self.sock)
        p = self.run_daemon("--version")
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith("vfmigd "))

    def test_bad_request_timeout(self):
        base = ("--sysroot", self.root, "--socket", self.sock)
        for value in ("0", "3601", "-1", "abc", "", "2.5", "99999999999"):
            p = self.run_daemon(*base, "--request-timeout", value)
            self.assertEqual(p.returncode, 2, (value, p.stderr))
            self.assertIn("--request-timeout", p.stderr, value)
        p = self.run_daemon(*base, "--request-timeout")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--request-timeout", p.stderr)
        self.assertFalse(os.path.exists(self.sock))  # none of them started
        for value in ("1", "3600"):
            d = self.spawn("--request-timeout", value)
            d.stop()
            self.assertEqual(d.proc.returncode, 0, value)

    def test_default_socket_under_sysroot_mode_0666(self):
        d = Daemon(self.root, os.path.join(self.root, "run", "vfmig", "vfmigd.sock"),
                   argv=[VFMIGD, "--sysroot", self.root])
        self.daemons.append(d)
        st = os.stat(d.sock)
        self.assertEqual(st.st_mode & 0o777, 0o666)
        # a second daemon does not steal a live socket
        p = self.run_daemon("--sysroot", self.root)
        self.assertEqual(p.returncode, 1)
        self.assertIn("another vfmigd", p.stderr)
        # SIGTERM: a clean exit that removes the socket; a stale one is replaced
        d.stop()
        self.assertEqual(d.proc.returncode, 0)
        self.assertFalse(os.path.exists(d.sock))

    def test_stale_socket_is_replaced(self):
        d = self.spawn()
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait()
        self.assertTrue(os.path.exists(self.sock))
        self.spawn()

    def test_sd_notify_ready(self):
        ns = os.path.join(self.tmp, "n")
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        rx.bind(ns)
        rx.settimeout(DEADLINE)
        self.spawn(env={"NOTIFY_SOCKET": ns}, wait=False)
        self.assertIn(b"READY=1", rx.recv(4096))
        # READY comes only once the socket is there
        self.assertIsNotNone(self.daemons[-1].answers())
        self.daemons[-1].stop()
        self.assertIn(b"STOPPING=1", rx.recv(4096))
        rx.close()

    def test_socket_activation(self):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.sock)
        listener.listen(16)
        fd = listener.fileno()
        argv = ["sh", "-c", f'exec 3<&{fd}; LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" --sysroot "$1"', VFMIGD, self.root]
        d = Daemon(self.root, self.sock, argv=argv, pass_fds=(fd,))
        self.daemons.append(d)
        listener.close()
        self.assertEqual(self.call("io.vfmig.Hello")["protocol_major"], 1)
        self.assertIn("the socket systemd passed", d.log())
        d.stop()
        # the socket belongs to systemd: the daemon leaves it
        self.assertTrue(os.path.exists(self.sock))

    def test_logging_is_structured(self):
        d = self.spawn()
        vf = self.vfs()[0]
        self.call("io.vfmig.Bind", {"bdfs": [vf]})
        # the default writer prints the message; journald would get the fields
        self.assertIn(f"bound {vf} to mlx5_vfio_pci", d.log())


class Recovery(HostCase):
    start_daemon = False

    def test_kill_mid_bind_is_recovered_at_start(self):
        d = self.spawn()
        vf = self.vfs()[0]
        self.kmock("default_driver/" + vf, "mlx5_core\n")
        env = dict(os.environ, LD_PRELOAD=KMOCK)
        # the VF on its host driver first, so a bind has three kernel steps
        subprocess.run(["sh", "-c", f"echo mlx5_core > {self.dev(vf)}/driver_override; "
                        f"echo {vf} > {self.root}/sys/bus/pci/drivers_probe; "
                        f"echo > {self.dev(vf)}/driver_override"], env=env, check=True)
        self.assertEqual(self.driver(vf), "mlx5_core")
        for step in (1, 2, 3):
            self.kmock("kill_after", f"{step}\n")
            with self.connect() as c:
                with self.assertRaises((Closed, ConnectionResetError)):
                    c.call("io.vfmig.Bind", {"bdfs": [vf]})
            d.proc.wait(DEADLINE)
            self.assertEqual(d.proc.returncode, -signal.SIGKILL, step)
            self.assertEqual(self.state_dir("intent"), [vf + ".json"], step)
            # a new daemon finishes or rolls back before it serves anyone
            d = self.spawn()
            self.assertIn("interrupted bind", d.log())
            self.assertEqual(self.state_dir("intent"), [], step)
            st = self.call("io.vfmig.Status")
            self.assertEqual(st["pending"], [], step)
            if self.driver(vf) == "mlx5_vfio_pci":  # the bind had completed: recorded
                self.assertEqual([o["bdf"] for o in st["owned"]], [vf], step)
                self.call("io.vfmig.Unbind", {"bdfs": [vf]})
            else:  # rolled back to where it was
                self.assertEqual(st["owned"], [], step)
            self.assertEqual(self.driver(vf), "mlx5_core", step)
            self.assertEqual(self.override(vf), "(null)", step)

    def test_policy_applied_at_start(self):
        os.makedirs(os.path.join(self.root, "etc", "vfmig", "policies.d"))
        with open(os.path.join(self.root, "etc", "vfmig", "policies.d", "site.conf"), "w") as f:
            f.write("[Policy cx]\nIds=15b3:101e\nManage=true\nAutoBind=true\n")
        pf_autoprobe = os.path.join(self.root, "sys", "bus", "pci", "devices")
        self.spawn()
        vfs = [d["bdf"] for d in self.call("io.vfmig.List")["devices"] if d["device"] == "101e"]
        self.assertTrue(vfs)
        self.assertTrue(all(self.driver(v) == "mlx5_vfio_pci" for v in vfs), self.daemons[0].log())
        for d in self.call("io.vfmig.List")["devices"]:
            if d["device"] == "101d":
                with open(os.path.join(pf_autoprobe, d["bdf"], "sriov_drivers_autoprobe")) as f:
                    self.assertEqual(f.read().strip(), "0")


class Mdevs(HostCase):
    """Mediated devices through the daemon: List and Status show them as
    vfmigctl does, and a start removes what a killed vfmigctl created."""
    profile = ("server", "--pfs", "1", "--vfs-per-pf", "2", "--mdev-parent", "mtty:mtty-1=2")
    start_daemon = False

    def mdev_exists(self, uuid):
        return os.path.isdir(os.path.join(self.root, "sys", "bus", "mdev", "devices", uuid))

    def test_list_and_status_show_mdevs_as_the_cli_does(self):
        self.spawn()
        self.assertEqual(self.call("io.vfmig.List")["mdevs"], [])
        m = self.ctl_json("mdev", "create", "mtty", "mtty-1")
        reply = self.call("io.vfmig.List")
        self.assertEqual(reply["mdevs"], self.ctl_json("mdev", "list"))
        self.assertEqual([(x["uuid"], x["created_by_vfmig"]) for x in reply["mdevs"]], [(m["uuid"], True)])
        self.assertEqual(reply["devices"], self.ctl_json("list"))
        st = self.call("io.vfmig.Status")
        self.assertEqual(st, self.ctl_json("status"))
        self.assertEqual([(r["uuid"], r["present"]) for r in st["mdevs"]], [(m["uuid"], True)])

    def test_start_removes_what_a_killed_create_left(self):
        uuid = "0b1f7c4e-1a2b-4c3d-8e9f-a0b1c2d3e4f5"
        self.kmock("kill_after", "1\n")
        env = dict(os.environ, VFMIG_SYSROOT=self.root, LD_PRELOAD=KMOCK)
        p = subprocess.run([VFMIGCTL, "mdev", "create", "mtty", "mtty-1", "--uuid", uuid], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, -signal.SIGKILL, p.stderr)
        self.assertTrue(self.mdev_exists(uuid))
        self.assertEqual(self.state_dir("mdev"), [uuid + ".json"])
        d = self.spawn()
        self.assertFalse(self.mdev_exists(uuid), d.log())
        self.assertEqual(self.state_dir("mdev"), [])
        self.assertIn(uuid, d.log())
        self.assertEqual(self.call("io.vfmig.Status")["mdevs"], [])


# Damaged records, as a crash of the disk or of a hand edit would leave them.
DAMAGED = {
    "truncated": b'{"bdf": "0000:10:00.2", "op": "bind", "target_dr',
    "empty": b"",
    "garbage": bytes(range(256)) * 16,
    "array": b'["op", "bind", "bdf"]',
    "wrong types": b'{"op": 5, "bdf": [], "driver": {"x": 1}, "target_driver": 7, "bound_at": "now", "pid": "x"}',
    "huge": b'{"original_driver": "' + b"x" * (16 << 20),
}
CLAIMS_DAMAGED = {  # claims.json holds an array of claims
    "truncated": b'[{"id": "4f0c2b6e-1d", "devices": [{"bdf": "0000:10',
    "empty": b"",
    "garbage": bytes(range(256)) * 16,
    "object": b'{"id": "4f0c2b6e", "devices": []}',
    "wrong types": b'[{"id": 5, "devices": "0000:10:00.2", "expires_at": "never"}]',
    "huge": b'[{"id": "' + b"x" * (16 << 20),
}


class JournalDamage(HostCase):
    """Damaged state files at start: vfmigd starts, names each in its log and
    in Status, binds other devices, and leaves the files as they were for the
    administrator."""
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.vf_list = [d["bdf"] for d in self.ctl_json("list") if d["physfn"]]

    def write_state(self, rel, data):
        path = os.path.join(self.root, "var", "lib", "vfmig", rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def bind_elsewhere(self, vf, intents):
        """Binds vf, which must succeed. While an intent does not read, every
        bind also reports it (recovery cannot finish that operation): then the
        reply is its ParseError, with vf's result among the results."""
        try:
            results = self.call("io.vfmig.Bind", {"bdfs": [vf]})["results"]
        except VarlinkError as e:
            self.assertEqual(e.name, "io.vfmig.ParseError", e.parameters)
            self.assertTrue(any(p in e.parameters["message"] for p in intents), e.parameters["message"])
            results = e.parameters["results"]
        mine = [r for r in results if r["bdf"] == vf]
        self.assertEqual([(r["error"], r["changed"]) for r in mine], [(None, True)], mine)
        self.assertIn("vfio", self.driver(vf))
        self.assertEqual(self.driver(vf), mine[0]["driver"])

    def check_survives(self, damaged, vf, intents=()):
        """damaged: {path: the bytes written}"""
        d = self.spawn()  # it starts: Hello answers
        log = d.log()
        for path in damaged:
            self.assertIn(path, log)
        st = self.call("io.vfmig.Status")
        for path in damaged:
            self.assertTrue(any(path in p for p in st["journal_problems"]), (path, st["journal_problems"]))
        damaged_bdfs = {os.path.basename(p)[:-len(".json")] for p in damaged}
        self.assertEqual([o["bdf"] for o in st["owned"] if o["bdf"] in damaged_bdfs], [])
        self.bind_elsewhere(vf, intents)
        self.assertIsNone(d.proc.poll(), d.log()[-3000:])
        self.assertEqual(self.call("io.vfmig.Hello")["protocol_major"], 1)
        for path, data in damaged.items():
            with open(path, "rb") as f:
                self.assertTrue(f.read() == data, f"{path} changed")
        d.stop()
        self.assertEqual(d.proc.returncode, 0, d.log()[-3000:])

    def test_damaged_owned_records(self):
        kinds = [data for name, data in DAMAGED.items() if name != "wrong types"]  # see below
        damaged = {self.write_state(f"owned/{vf}.json", data): data for vf, data in zip(self.vf_list, kinds)}
        self.check_survives(damaged, self.vf_list[-1])

    def test_damaged_intent_records(self):
        damaged = {self.write_state(f"intent/{vf}.json", data): data
                   for vf, data in zip(self.vf_list, DAMAGED.values())}
        self.check_survives(damaged, self.vf_list[-1], intents=damaged)

    def test_damaged_claims_file(self):
        for vf, (name, data) in zip(self.vf_list, CLAIMS_DAMAGED.items()):
            path = self.write_state("claims.json", data)
            try:
                self.check_survives({path: data}, vf)
            except AssertionError as e:
                raise AssertionError(f"claims.json {name}: {e}") from e

    def test_wrong_typed_owned_record_is_reported(self):
        data = DAMAGED["wrong types"]
        self.check_survives({self.write_state(f"owned/{self.vf_list[0]}.json", data): data}, self.vf_list[-1])

    def test_wrong_typed_intent_leaves_the_device_alone(self):
        host = [d for d in self.ctl_json("list", "--all") if d["driver"] and "vfio" not in d["driver"]][0]
        data = b'{"op": "bind", "bdf": 3, "target_driver": 5, "previous_driver": [], "pid": "x"}'
        path = self.write_state(f"intent/{host['bdf']}.json", data)
        self.check_survives({path: data}, self.vf_list[-1], intents=[path])
        self.assertEqual(self.driver(host["bdf"]), host["driver"])

    def test_deeply_nested_records(self):
        deep = b"[" * 1000000
        damaged = {self.write_state(rel, deep): deep
                   for rel in (f"owned/{self.vf_list[0]}.json", f"intent/{self.vf_list[1]}.json", "claims.json")}
        self.check_survives(damaged, self.vf_list[-1], intents=damaged)


def ensure_user():
    if os.geteuid() != 0:
        return "needs root to create a user and a group"
    if shutil.which("useradd") is None or shutil.which("groupadd") is None:
        return "needs useradd and groupadd (passwd)"
    try:
        grp.getgrnam(GROUP)
    except KeyError:
        subprocess.run(["groupadd", "--system", GROUP], check=True)
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        TEST_USER], check=True)
    subprocess.run(["gpasswd", "-d", TEST_USER, GROUP], capture_output=True)
    return None


SKIP_AUTHZ = ensure_user() if __name__ == "__main__" else "not run as a script"


@unittest.skipIf(SKIP_AUTHZ, SKIP_AUTHZ or "")
class Authorization(HostCase):
    def as_user(self, method, parameters=None):
        """Calls in a child that dropped to the test user: (error name or None, reply)."""
        pw = pwd.getpwnam(TEST_USER)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            try:
                os.setgroups([])  # the daemon must look up supplementary groups itself
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
                with Connection(self.sock) as c:
                    try:
                        out = [None, c.call(method, parameters)]
                    except VarlinkError as e:
                        out = [e.name, e.parameters]
            except BaseException as e:  # noqa: BLE001 - reported by the parent
                out = ["exception", repr(e)]
            os.write(w, json.dumps(out).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            data = f.read()
        os.waitpid(pid, 0)
        return json.loads(data)

    def tearDown(self):
        subprocess.run(["gpasswd", "-d", TEST_USER, GROUP], capture_output=True)
        super().tearDown()

    def test_non_member_reads_but_cannot_change(self):
        vf = self.vfs()[0]
        err, reply = self.as_user("io.vfmig.List")
        self.assertIsNone(err, reply)
        self.assertEqual(reply["devices"], self.call("io.vfmig.List")["devices"])
        for method, params in [("io.vfmig.Bind", {"bdfs": [vf]}), ("io.vfmig.Unbind", {"bdfs": [vf]}),
                               ("io.vfmig.Restore", {})]:
            err, reply = self.as_user(method, params)
            self.assertEqual(err, "io.vfmig.PermissionDenied", reply)
            self.assertIn(method, reply["message"])
            self.assertIn("group vfmig", reply["message"])
        self.assertIsNone(self.driver(vf))
        self.assertIn("denied io.vfmig.Bind to uid", self.daemon.log())
        for method in ("io.vfmig.Hello", "io.vfmig.Status", "org.varlink.service.GetInfo"):
            self.assertIsNone(self.as_user(method)[0], method)
        err, _ = self.as_user("io.vfmig.Explain", {"bdf": vf})
        self.assertIsNone(err)

    def test_group_member_may_bind(self):
        vf = self.vfs()[0]
        self.assertEqual(self.as_user("io.vfmig.Bind", {"bdfs": [vf]})[0], "io.vfmig.PermissionDenied")
        # a supplementary group, looked up at the call: no new login needed
        subprocess.run(["gpasswd", "-a", TEST_USER, GROUP], check=True, capture_output=True)
        err, reply = self.as_user("io.vfmig.Bind", {"bdfs": [vf]})
        self.assertIsNone(err, reply)
        self.assertEqual(self.driver(vf), "mlx5_vfio_pci")
        err, reply = self.as_user("io.vfmig.Unbind", {"bdfs": [vf]})
        self.assertIsNone(err, reply)
        self.assertIsNone(self.driver(vf))

    def test_per_uid_connection_cap(self):
        """A user holds at most 32 connections; root may hold more."""
        cap = 32
        pw = pwd.getpwnam(TEST_USER)
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(to_child_w)
            os.close(to_parent_r)
            out = {}
            try:
                os.setgroups([])
                os.setgid(pw.pw_gid)
                os.setuid(pw.pw_uid)
                held = [Connection(self.sock) for _ in range(cap)]
                out["held_served"] = all(c.call("io.vfmig.Hello")["protocol_major"] == 1 for c in held)
                extra = [Connection(self.sock, timeout=DEADLINE) for _ in range(3)]
                out["extra_refused"] = [c.is_closed() for c in extra]
                os.write(to_parent_w, b"held\n")
                os.read(to_child_r, 1)  # the parent checks root meanwhile
                held.pop().close()

                def one_more():
                    try:
                        with Connection(self.sock, timeout=DEADLINE) as c:
                            return c.call("io.vfmig.Hello")["protocol_major"] == 1
                    except (Closed, ConnectionResetError, BrokenPipeError):
                        return False

                # a connection closed is a slot free, once the daemon saw it close
                out["after_close"] = wait_for(one_more, "the closed connection's slot")
            except BaseException as e:  # noqa: BLE001 - reported by the parent
                out["exception"] = repr(e)
            os.write(to_parent_w, json.dumps(out).encode() + b"\n")
            os._exit(0)
        os.close(to_child_r)
        os.close(to_parent_w)
        try:
            with os.fdopen(to_parent_r) as rx, os.fdopen(to_child_w, "w") as tx:
                first = rx.readline()
                self.assertEqual(first, "held\n")
                # root is not capped: it connects while the user is refused, more than the cap at once
                root = [self.connect() for _ in range(cap + 8)]
                for c in root:
                    self.assertEqual(c.call("io.vfmig.Hello")["protocol_major"], 1)
                    c.close()
                log = self.daemon.log()
                self.assertEqual(log.count(f"refusing connections from uid {pw.pw_uid}:"), 1, log[-3000:])
                tx.write("g")
                tx.flush()
                out = json.loads(rx.readline())
        finally:
            os.waitpid(pid, 0)
        self.assertEqual(out, {"held_served": True, "extra_refused": [True] * 3, "after_close": True})


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
