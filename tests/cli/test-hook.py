#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The libvirt hook and the destination verbs on synthetic hosts (kernel
mock): migrate-begin filtering with claims, prepare, started, release;
claim/prepare/release as migrate drives them; hostile XML. Prints TAP."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import run_tap  # noqa: E402

VFMIGCTL = os.environ["VFMIGCTL"]
GEN_HOST = os.environ["GEN_HOST"]
KMOCK = os.environ["KMOCK"]
VFMIG_HOOK = os.environ.get("VFMIG_HOOK")
# Under the 'asan' test setup the ASan runtime must come first in LD_PRELOAD.
PRELOAD = " ".join(p for p in (os.environ.get("VFMIG_ASAN_RUNTIME"), KMOCK) if p)


def hostdev(bdf, managed="yes"):
    return (f"<hostdev mode='subsystem' type='pci' managed='{managed}'><source><address domain='0x{bdf[0:4]}' "
            f"bus='0x{bdf[5:7]}' slot='0x{bdf[8:10]}' function='0x{bdf[11]}'/></source></hostdev>")


def domain_xml(*devs):
    return ("<domain type='kvm'><name>web01</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
            "<memory>65536</memory><os><type>hvm</type></os><features><acpi/></features>"
            f"<devices>{''.join(devs)}</devices></domain>")


class Hook(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vfm-hook-")
        shutil.rmtree(self.root)
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "4", self.root],
                       check=True)
        self.env = dict(os.environ, VFMIG_SYSROOT=self.root, LD_PRELOAD=PRELOAD)
        lst = json.loads(self.ctl("list", "--json").stdout)
        self.vfs = [d["bdf"] for d in lst if d["device"] == "101e"]

    def tearDown(self):
        shutil.rmtree(self.root)

    def ctl(self, *args, stdin=None):
        return subprocess.run([VFMIGCTL, *args], input=stdin, capture_output=True, text=True, env=self.env, timeout=60)

    def hook(self, op, subop, xml):
        return self.ctl("hook", "qemu", "web01", op, subop, "-", stdin=xml)

    def claims(self):
        return json.loads(self.ctl("claims", "--json").stdout)

    def driver(self, bdf):
        link = os.path.join(self.root, "sys", "bus", "pci", "devices", bdf, "driver")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def test_no_hostdevs_passes_through(self):
        xml = domain_xml()
        t0 = time.monotonic()
        p = self.hook("migrate", "begin", xml)
        self.assertEqual(p.returncode, 0)
        self.assertEqual(p.stdout, xml)
        self.assertEqual(self.claims(), [])
        self.assertLess(time.monotonic() - t0, 5)  # sanity only: bench/ measures latency
        for op in ("prepare", "started", "stopped", "release", "reconnect"):
            self.assertEqual(self.hook(op, "begin", xml).returncode, 0, op)

    def test_incoming_migration_claims_prepares_and_releases(self):
        # the source used the first VF; here that one is in use, so another is claimed
        os.makedirs(os.path.join(self.root, ".kmock", "in-use"), exist_ok=True)
        self.assertEqual(self.ctl("bind", self.vfs[0]).returncode, 0)
        open(os.path.join(self.root, ".kmock", "in-use", self.vfs[0]), "w").close()
        p = self.hook("migrate", "begin", domain_xml(hostdev(self.vfs[0])))
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        self.assertIn("urn:vfmig:1", out)
        claims = self.claims()
        self.assertEqual(len(claims), 1)
        claimed = claims[0]["devices"][0]["bdf"]
        self.assertNotEqual(claimed, self.vfs[0])
        bus, slot, fn = claimed[5:7], claimed[8:10], claimed[11]
        self.assertIn(f'bus="0x{bus}" slot="0x{slot}" function="0x{fn}"', out)
        self.assertIn('managed="no"', out)
        self.assertEqual(claims[0]["state"], "claimed")
        # prepare binds the claimed device (verified), started adopts the claim
        self.assertEqual(self.hook("prepare", "begin", out).returncode, 0)
        self.assertEqual(self.driver(claimed), "mlx5_vfio_pci")
        self.assertEqual(self.claims()[0]["state"], "prepared")
        # started, QEMU holding the device: the domain adopts the claim (issue 16, 6)
        with open(os.path.join(self.root, ".kmock", "in-use", claimed), "w") as f:
            f.write("4242 (qemu-system-x86)")
        self.assertEqual(self.hook("started", "begin", out).returncode, 0)
        c = self.claims()[0]
        self.assertEqual((c["state"], c["expires_at"], c["held_pid"]), ("running", 0, 4242))
        self.assertEqual(c["held_by"], f"{claimed}: 4242 (qemu-system-x86)")
        self.assertEqual(c["domain_uuid"], "11111111-2222-3333-4444-555555555555")
        p = self.ctl("claims")
        self.assertIn("running", p.stdout)
        self.assertIn("web01 (11111111-2222-3333-4444-555555555555), held by " + claimed, p.stdout)
        # a migration whose XML already carries a claim is not claimed twice
        again = self.hook("migrate", "begin", out)
        self.assertEqual(again.stdout, out)
        self.assertEqual(len(self.claims()), 1)
        # release (the domain leaves or stops) ends the claim
        self.assertEqual(self.hook("release", "end", out).returncode, 0)
        self.assertEqual(self.claims(), [])

    def test_adopted_claim_lives_until_the_domain_lets_go(self):
        # issue 16, 6: started without a holder keeps the lease (renewed); once QEMU holds the device the claim
        # is the domain's, with no expiry; when nothing holds it any more (the domain stopped or left, and no
        # release hook ran) the claim ends, and the device stays on its VFIO driver, free
        os.makedirs(os.path.join(self.root, ".kmock", "in-use"), exist_ok=True)
        self.assertEqual(self.ctl("bind", self.vfs[0]).returncode, 0)
        open(os.path.join(self.root, ".kmock", "in-use", self.vfs[0]), "w").close()
        out = self.hook("migrate", "begin", domain_xml(hostdev(self.vfs[0]))).stdout
        self.assertEqual(self.hook("prepare", "begin", out).returncode, 0)
        c = self.claims()[0]
        claimed, lease = c["devices"][0]["bdf"], c["expires_at"]
        self.assertEqual(self.hook("started", "begin", out).returncode, 0)
        c = self.claims()[0]
        self.assertEqual(c["state"], "prepared")
        self.assertGreaterEqual(c["expires_at"], lease)
        self.assertIsNone(c["held_by"])
        mark = os.path.join(self.root, ".kmock", "in-use", claimed)
        with open(mark, "w") as f:
            f.write("4343 (qemu-system-x86)")
        self.assertEqual(self.hook("started", "begin", out).returncode, 0)
        self.assertEqual(self.claims()[0]["state"], "running")
        # a lease long past does not matter any more: the domain holds it
        self.assertEqual(self.claims()[0]["expires_at"], 0)
        # the device a running claim holds is not claimed again by the next migration
        os.unlink(os.path.join(self.root, ".kmock", "in-use", self.vfs[0]))
        other = self.hook("migrate", "begin", domain_xml(hostdev(self.vfs[0])).replace("web01", "web02").replace(
            "11111111-2222-3333-4444-555555555555", "11111111-2222-3333-4444-666666666666"))
        self.assertEqual(other.returncode, 0, other.stderr)
        self.assertNotIn(claimed, [c["devices"][0]["bdf"] for c in self.claims() if c["domain_name"] == "web02"])
        # its QEMU (4343) is gone - another process holds the device now, another guest: the claim ends on the
        # next look, the device stays bound
        with open(mark, "w") as f:
            f.write("5555 (qemu-system-x86)")
        self.assertEqual([c["domain_name"] for c in self.claims()], ["web02"])
        self.assertEqual(self.driver(claimed), "mlx5_vfio_pci")

    def test_incoming_interface_hostdev_keeps_mac_and_vlan(self):
        # issue 16, 5: an <interface type='hostdev'> is claimed and rewritten like a <hostdev>; what libvirt sets
        # on the destination VF (MAC, VLAN) and the guest side (alias, address) stay as the source had them
        os.makedirs(os.path.join(self.root, ".kmock", "in-use"), exist_ok=True)
        self.assertEqual(self.ctl("bind", self.vfs[0]).returncode, 0)
        open(os.path.join(self.root, ".kmock", "in-use", self.vfs[0]), "w").close()
        v = self.vfs[0]
        iface = (f"<interface type='hostdev' managed='yes'><mac address='52:54:00:aa:bb:01'/><source><address "
                 f"type='pci' domain='0x{v[0:4]}' bus='0x{v[5:7]}' slot='0x{v[8:10]}' function='0x{v[11]}'/></source>"
                 "<vlan><tag id='42'/></vlan><alias name='ua-sriov'/>"
                 "<address type='pci' domain='0x0000' bus='0x00' slot='0x09' function='0x0'/></interface>")
        p = self.hook("migrate", "begin", domain_xml(iface))
        self.assertEqual(p.returncode, 0, p.stderr)
        claimed = self.claims()[0]["devices"][0]["bdf"]
        self.assertNotEqual(claimed, v)
        root = ET.fromstring(p.stdout)
        i = root.find("./devices/interface")
        self.assertEqual(i.get("type"), "hostdev")
        self.assertEqual(i.get("managed"), "no")
        a = i.find("./source/address")
        self.assertEqual("%04x:%02x:%02x.%x" % tuple(int(a.get(k), 16) for k in ("domain", "bus", "slot", "function")),
                         claimed)
        self.assertEqual(i.find("./mac").get("address"), "52:54:00:aa:bb:01")
        self.assertEqual(i.find("./vlan/tag").get("id"), "42")
        self.assertEqual(i.find("./alias").get("name"), "ua-sriov")
        self.assertEqual(i.find("./address").get("slot"), "0x09")

    def test_no_free_device_refuses_migration(self):
        os.makedirs(os.path.join(self.root, ".kmock", "in-use"), exist_ok=True)
        for vf in self.vfs:
            self.assertEqual(self.ctl("bind", vf).returncode, 0)
            open(os.path.join(self.root, ".kmock", "in-use", vf), "w").close()
        p = self.hook("migrate", "begin", domain_xml(hostdev(self.vfs[0])))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no free device 15b3:101e", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1)  # libvirt shows it: one line
        self.assertEqual(self.claims(), [])

    def test_concurrent_claims_never_share(self):
        wants = json.dumps([{"source_bdf": self.vfs[0], "vendor": "15b3", "device": "101e",
                             "subsystem_vendor": "15b3", "subsystem_device": "0016", "class": "020000",
                             "driver": "mlx5_vfio_pci"}])
        procs = [subprocess.Popen([VFMIGCTL, "claim", "--domain-name", f"d{i}", "--json"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
                 for i in range(8)]
        got = []
        for p in procs:
            out, err = p.communicate(wants, timeout=60)
            if p.returncode == 0:
                got.append(json.loads(out)["devices"][0]["bdf"])
            else:
                self.assertIn("no free device", json.loads(out)["error"]["message"])
        self.assertEqual(len(got), len(self.vfs))   # 4 VFs, 8 claimants
        self.assertEqual(len(set(got)), len(got))   # never the same device twice

    def test_claim_prepare_release_restore(self):
        wants = json.dumps([{"source_bdf": "0000:99:00.2", "vendor": "15b3", "device": "101e",
                             "subsystem_vendor": "15b3", "subsystem_device": "0016", "class": "020000",
                             "driver": "mlx5_vfio_pci"}])
        c = json.loads(self.ctl("claim", "--domain-name", "x", "--ttl", "60", "--json", stdin=wants).stdout)
        bdf = c["devices"][0]["bdf"]
        self.assertEqual(self.ctl("prepare", c["id"]).returncode, 0)
        self.assertEqual(self.driver(bdf), "mlx5_vfio_pci")
        self.assertEqual(self.ctl("release", c["id"], "--restore").returncode, 0)
        self.assertIsNone(self.driver(bdf))
        self.assertEqual(self.ctl("release", c["id"]).returncode, 1)  # gone

    def test_claim_expires(self):
        wants = json.dumps([{"vendor": "15b3", "device": "101e", "subsystem_vendor": "15b3",
                             "subsystem_device": "0016", "class": "020000"}])
        # a lease long enough for the claim to be seen under ASan (a 1 s one had expired by the first look)
        c = json.loads(self.ctl("claim", "--ttl", "5", "--json", stdin=wants).stdout)
        self.assertEqual(len(self.claims()), 1)
        deadline = time.monotonic() + 30
        while self.claims() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.claims(), [])
        self.assertEqual(self.ctl("prepare", c["id"]).returncode, 1)

    def wants(self, n):
        return json.dumps([{"source_bdf": f"0000:99:00.{i + 2}", "vendor": "15b3", "device": "101e",
                            "subsystem_vendor": "15b3", "subsystem_device": "0016", "class": "020000",
                            "driver": "mlx5_vfio_pci"} for i in range(n)])

    def state_dir(self, kind):
        d = os.path.join(self.root, "var", "lib", "vfmig", kind)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def kmock_log_len(self):
        path = os.path.join(self.root, ".kmock", "log")
        return len(open(path).read().splitlines()) if os.path.exists(path) else 0

    def kill_prepare_sweep(self, end):
        """prepare of a 2-device claim killed after each kernel step; END(claim)
        must then return every device that prepare bound, and leak nothing."""
        c = json.loads(self.ctl("claim", "--ttl", "60", "--json", stdin=self.wants(2)).stdout)
        start = self.kmock_log_len()
        self.assertEqual(self.ctl("prepare", c["id"]).returncode, 0)
        steps = self.kmock_log_len() - start
        self.assertEqual(self.ctl("release", c["id"], "--restore").returncode, 0)
        self.assertGreaterEqual(steps, 4)
        for n in range(1, steps + 1):
            c = json.loads(self.ctl("claim", "--ttl", "60", "--json", stdin=self.wants(2)).stdout)
            with open(os.path.join(self.root, ".kmock", "kill_after"), "w") as f:
                f.write(f"{n}\n")
            p = self.ctl("prepare", c["id"])
            self.assertEqual(p.returncode, -9, f"step {n}: {p.stderr}")
            end(c)
            self.assertEqual(self.claims(), [], n)
            self.assertEqual(self.state_dir("intent"), [], n)
            self.assertEqual(self.state_dir("owned"), [], n)
            for d in c["devices"]:
                self.assertIsNone(self.driver(d["bdf"]), (n, d["bdf"]))
        return steps

    def test_prepare_killed_then_released(self):
        # what vfmigctl migrate's roll-back (or its recovery) does
        def release(c):
            p = self.ctl("release", c["id"], "--restore")
            self.assertEqual(p.returncode, 0, p.stderr)
        self.kill_prepare_sweep(release)

    def test_prepare_killed_then_lease_expires(self):
        # nobody comes back: the lease ends and returns the devices
        def expire(c):
            path = os.path.join(self.root, "var", "lib", "vfmig", "claims.json")
            with open(path) as f:
                claims = json.load(f)
            for x in claims:
                x["expires_at"] = 1  # long past: the lease ran out
            with open(path, "w") as f:
                json.dump(claims, f)
            self.assertEqual(self.claims(), [])
        self.kill_prepare_sweep(expire)

    TEST_DOMAIN_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"  # libvirt's test:///default "test"

    def write_migration_record(self, claim_id, text=None):
        d = os.path.join(self.root, "var", "lib", "vfmig", "migrations")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, self.TEST_DOMAIN_UUID + ".json")
        rec = {"domain_uuid": self.TEST_DOMAIN_UUID, "domain_name": "test", "source_uri": "test:///default",
               "dest_uri": "qemu+ssh://elsewhere/system", "peer": f"sysroot:{self.root}", "claim_id": claim_id,
               "phase": "migrating", "prepared": True, "persistent": False, "devices": [],
               "started_at": 1, "pid": 999999}
        with open(path, "w") as f:
            f.write(text if text is not None else json.dumps(rec))
        return path

    def test_recover_ends_a_dead_migration(self):
        # a vfmigctl migrate killed mid-way: its claim here is prepared, its
        # journal record left; the guest still runs on the source (libvirt's
        # test driver), so recover rolls back: the claim is released and what
        # its prepare bound is returned
        c = json.loads(self.ctl("claim", "--ttl", "600", "--json", stdin=self.wants(1)).stdout)
        self.assertEqual(self.ctl("prepare", c["id"]).returncode, 0)
        bdf = c["devices"][0]["bdf"]
        self.assertEqual(self.driver(bdf), "mlx5_vfio_pci")
        path = self.write_migration_record(c["id"])
        st = json.loads(self.ctl("status", "--json").stdout)
        self.assertEqual([m["phase"] for m in st["migrations"]], ["migrating"])
        p = self.ctl("recover", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        out = json.loads(p.stdout)
        self.assertEqual(len(out["migrations"]), 1, out)
        m = out["migrations"][0]
        self.assertIsNone(m["error"])
        self.assertTrue(m["rolled_back"])
        self.assertTrue(any("released claim" in x for x in m["steps"]), m["steps"])
        self.assertEqual(self.claims(), [])
        self.assertIsNone(self.driver(bdf))
        self.assertFalse(os.path.exists(path))
        self.assertEqual(self.ctl("recover").stdout.strip(), "nothing to recover")

    def test_recover_leaves_a_live_migration_alone(self):
        import fcntl
        path = self.write_migration_record(None)
        lockdir = os.path.join(self.root, "run", "vfmig", "lock")
        os.makedirs(lockdir, exist_ok=True)
        with open(os.path.join(lockdir, "migration-" + self.TEST_DOMAIN_UUID), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # as the running vfmigctl migrate holds it
            out = json.loads(self.ctl("recover", "--json").stdout)
            self.assertEqual(out["migrations"], [])
            self.assertTrue(os.path.exists(path))
        out = json.loads(self.ctl("recover", "--json").stdout)
        self.assertEqual(len(out["migrations"]), 1)
        self.assertFalse(os.path.exists(path))

    def test_recover_reports_a_damaged_record(self):
        for text in ("", "{", "[]", '{"domain_name": 7}', "\x00garbage"):
            path = self.write_migration_record(None, text)
            p = self.ctl("recover", "--json")
            self.assertEqual(p.returncode, 1, text)
            out = json.loads(p.stdout)
            self.assertEqual(len(out["journal_problems"]), 1, text)
            self.assertIn(path, out["journal_problems"][0])
            self.assertTrue(os.path.exists(path), "a damaged record is kept for the operator")
            st = self.ctl("status", "--json")
            self.assertIn(path, json.loads(st.stdout)["journal_problems"][0])

    def test_hostile_input(self):
        cases = ["", "<domain", "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain><name>&e;</name></domain>",
                 "<notadomain/>", domain_xml("<hostdev mode='subsystem' type='pci'><source><address bus='0x../..'/></source></hostdev>"),
                 "\x00\x01garbage"]
        for xml in cases:
            p = self.hook("migrate", "begin", xml)
            if xml == "":
                self.assertNotEqual(p.returncode, 0)
            self.assertNotIn("root:", p.stdout)
            self.assertEqual(self.claims(), [])
        for bad in (["claim"], ["prepare", "../../etc"], ["release", "x;rm"]):
            self.assertNotEqual(self.ctl(*bad, stdin="[{\"vendor\": 1}]").returncode, 0, bad)


@unittest.skipUnless(VFMIG_HOOK, "no vfmig-hook (VFMIG_HOOK)")
class FastHook(unittest.TestCase):
    """vfmig-hook, what the installed libvirt hook runs: the domains vfmig
    has nothing to do for are answered without vfmigctl (pointed at a
    missing file, it must not be needed), with vfmigctl hook's answer; the
    others go to vfmigctl hook with the same XML and end as they would
    there."""
    setUp, tearDown, ctl, hook, claims, driver = Hook.setUp, Hook.tearDown, Hook.ctl, Hook.hook, Hook.claims, Hook.driver

    def fast(self, op, subop, xml, vfmigctl=VFMIGCTL, args=None):
        env = dict(self.env, VFMIG_HOOK_VFMIGCTL=vfmigctl)
        return subprocess.run([VFMIG_HOOK, *(args or ["qemu", "web01", op, subop, "-"])], input=xml,
                              capture_output=True, text=True, env=env, timeout=60)

    def test_answers_itself_when_there_is_nothing_to_do(self):
        missing = os.path.join(self.root, "no-vfmigctl")
        plain = domain_xml("<interface type='network'><source network='default'/></interface>")
        for op, subop in (("migrate", "begin"), ("prepare", "begin"), ("started", "begin"), ("release", "end"),
                          ("start", "begin"), ("stopped", "end"), ("reconnect", "begin")):
            p = self.fast(op, subop, plain, vfmigctl=missing)
            q = self.hook(op, subop, plain)
            self.assertEqual((p.returncode, p.stdout, p.stderr), (0, q.stdout, ""), (op, p.stderr))
            self.assertEqual(q.returncode, 0, op)
        self.assertEqual(self.claims(), [])

    def test_hands_the_rest_to_vfmigctl(self):
        missing = os.path.join(self.root, "no-vfmigctl")
        nic = ("<interface type='hostdev' managed='yes'><source><address type='pci' domain='0x0000' "
               f"bus='0x{self.vfs[1][5:7]}' slot='0x{self.vfs[1][8:10]}' function='0x{self.vfs[1][11]}'/></source>"
               "</interface>")
        for xml in (domain_xml(hostdev(self.vfs[0])), domain_xml(nic)):
            p = self.fast("migrate", "begin", xml, vfmigctl=missing)
            self.assertEqual(p.returncode, 1, xml)
            self.assertIn("cannot run " + missing, p.stderr)
        # through vfmigctl: the claim is made, its id in the XML
        p = self.fast("migrate", "begin", domain_xml(hostdev(self.vfs[0])))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("urn:vfmig:1", p.stdout)
        claims = self.claims()
        self.assertEqual(len(claims), 1)
        # prepare of the XML with the claim: vfmigctl binds the claimed device
        self.assertEqual(self.fast("prepare", "begin", p.stdout, vfmigctl=missing).returncode, 1)
        q = self.fast("prepare", "begin", p.stdout)
        self.assertEqual(q.returncode, 0, q.stderr)
        self.assertEqual(self.driver(claims[0]["devices"][0]["bdf"]), "mlx5_vfio_pci")
        self.assertEqual(self.fast("release", "end", p.stdout).returncode, 0)
        self.assertEqual(self.claims(), [])
        # arguments it does not know: vfmigctl's own usage error
        r = self.fast("", "", "", args=["qemu", "web01"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("hook: expected qemu DOMAIN OPERATION", r.stderr)


class ManyClaimants(unittest.TestCase):
    """100 migrations claiming at once on a destination with 64 free VFs."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vfm-claims-")
        shutil.rmtree(self.root)
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "64",
                        self.root], check=True)
        self.env = dict(os.environ, VFMIG_SYSROOT=self.root, LD_PRELOAD=PRELOAD)

    def tearDown(self):
        shutil.rmtree(self.root)

    def test_100_concurrent_claims_never_share(self):
        wants = json.dumps([{"vendor": "15b3", "device": "101e", "subsystem_vendor": "15b3",
                             "subsystem_device": "0016", "class": "020000", "driver": "mlx5_vfio_pci"}])
        procs = [subprocess.Popen([VFMIGCTL, "claim", "--domain-name", f"d{i}", "--json"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)
                 for i in range(100)]
        got, refused = [], 0
        for p in procs:
            out, err = p.communicate(wants, timeout=600)
            if p.returncode == 0:
                got.append(json.loads(out)["devices"][0]["bdf"])
            else:
                self.assertIn("no free device", json.loads(out)["error"]["message"], err)
                refused += 1
        self.assertEqual(len(got), 64)              # every free VF handed out …
        self.assertEqual(len(set(got)), 64)         # … each exactly once
        self.assertEqual(refused, 36)
        p = subprocess.run([VFMIGCTL, "claims", "--json"], capture_output=True, text=True, env=self.env, timeout=60)
        on_file = [c["devices"][0]["bdf"] for c in json.loads(p.stdout)]
        self.assertEqual(sorted(on_file), sorted(got))


MDEV_A = "c2177883-f1bb-47f0-914d-32a22e3a8804"
MDEV_B = "5b3a0b0e-9a8f-4d3e-8e4c-2f1f5d3c9a11"


def mdev_domain(uuid):
    return ("<domain type='kvm'><name>tty01</name><uuid>11111111-2222-3333-4444-666666666666</uuid>"
            "<memory>65536</memory><os><type>hvm</type></os><devices><hostdev mode='subsystem' type='mdev' "
            f"model='vfio-pci'><source><address uuid='{uuid}'/></source><alias name='hostdev0'/></hostdev>"
            "</devices></domain>")


class HookMdev(unittest.TestCase):
    """The destination's side of a migration of a guest with a mediated
    device that someone else started: the type learnt from the local instance
    with the source's UUID (one machine), a free instance claimed or one
    created, the UUID rewritten; a failed migration removes what was created."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vfm-hook-mdev-")
        shutil.rmtree(self.root)
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "1",
                        "--mdev-parent", "mtty:mtty-1=2,mtty-2=1", self.root], check=True)
        self.env = dict(os.environ, VFMIG_SYSROOT=self.root, LD_PRELOAD=PRELOAD)
        self.assertEqual(self.ctl("mdev", "create", "mtty", "mtty-1", "--uuid", MDEV_A).returncode, 0)
        # the source's guest holds A
        os.makedirs(os.path.join(self.root, ".kmock", "in-use"), exist_ok=True)
        with open(os.path.join(self.root, ".kmock", "in-use", MDEV_A), "w") as f:
            f.write("4242 (qemu-system-x86)")

    def tearDown(self):
        shutil.rmtree(self.root)

    def ctl(self, *args, stdin=None):
        return subprocess.run([VFMIGCTL, *args], input=stdin, capture_output=True, text=True, env=self.env, timeout=60)

    def instances(self):
        d = os.path.join(self.root, "sys", "bus", "mdev", "devices")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def uuid_in(self, xml):
        import re
        return re.findall(r"uuid=['\"]([0-9a-f-]{36})['\"]", xml)

    def test_creates_one_when_none_is_free_and_removes_it_on_failure(self):
        p = self.ctl("hook", "qemu", "tty01", "migrate", "begin", "-", stdin=mdev_domain(MDEV_A))
        self.assertEqual(p.returncode, 0, p.stderr)
        new = [u for u in self.uuid_in(p.stdout) if u != MDEV_A]
        self.assertEqual(len(new), 1, p.stdout)
        self.assertNotIn(MDEV_A, self.uuid_in(p.stdout))
        self.assertEqual(self.instances(), sorted([MDEV_A, new[0]]))
        claims = json.loads(self.ctl("claims", "--json").stdout)
        self.assertEqual(len(claims), 1)
        dev = claims[0]["devices"][0]
        self.assertEqual((dev["uuid"], dev["source_uuid"], dev["mdev_type"], dev["created"]),
                         (new[0], MDEV_A, "mtty-1", True))
        self.assertIn(claims[0]["id"], p.stdout)
        # the migration failed: libvirt releases the domain here, which never started; the claim goes
        # with what it created
        r = self.ctl("hook", "qemu", "tty01", "release", "end", "-", stdin=p.stdout)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.instances(), [MDEV_A])
        self.assertEqual(json.loads(self.ctl("claims", "--json").stdout), [])

    def set_mig_state(self, uuid, text):
        d = os.path.join(self.root, ".kmock", "mig-state")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, uuid), "w") as f:
            f.write(text)

    def test_a_free_instance_left_resuming_is_reset_before_it_is_taken(self):
        # issue 15, the hook path's "load of migration failed: Bad file descriptor": mtty keeps an instance's
        # VFIO migration state across close, so one whose QEMU died while RESUMING gave the next incoming
        # QEMU no data fd. vfmig resets such an instance before handing it out.
        self.assertEqual(self.ctl("mdev", "create", "mtty", "mtty-1", "--uuid", MDEV_B).returncode, 0)
        self.set_mig_state(MDEV_B, "resuming")
        p = self.ctl("hook", "qemu", "tty01", "migrate", "begin", "-", stdin=mdev_domain(MDEV_A))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.uuid_in(p.stdout), [MDEV_B])
        self.assertIn("was resuming", p.stderr)
        self.assertIn("reset to running", p.stderr)
        with open(os.path.join(self.root, ".kmock", "mig-state", MDEV_B)) as f:
            self.assertEqual(f.read().strip(), "running")

    def test_a_failed_incoming_migration_hands_a_taken_instance_back_running(self):
        self.assertEqual(self.ctl("mdev", "create", "mtty", "mtty-1", "--uuid", MDEV_B).returncode, 0)
        p = self.ctl("hook", "qemu", "tty01", "migrate", "begin", "-", stdin=mdev_domain(MDEV_A))
        self.assertEqual(self.uuid_in(p.stdout), [MDEV_B])
        self.set_mig_state(MDEV_B, "resuming")  # the incoming QEMU died mid-migration
        r = self.ctl("hook", "qemu", "tty01", "release", "end", "-", stdin=p.stdout)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.instances(), sorted([MDEV_A, MDEV_B]))  # B stays: vfmig did not create it
        with open(os.path.join(self.root, ".kmock", "mig-state", MDEV_B)) as f:
            self.assertEqual(f.read().strip(), "running")
        self.assertEqual(json.loads(self.ctl("claims", "--json").stdout), [])

    def test_an_instance_a_reset_does_not_bring_back_is_passed_over(self):
        self.assertEqual(self.ctl("mdev", "create", "mtty", "mtty-1", "--uuid", MDEV_B).returncode, 0)
        self.set_mig_state(MDEV_B, "resuming noreset")
        p = self.ctl("hook", "qemu", "tty01", "migrate", "begin", "-", stdin=mdev_domain(MDEV_A))
        # mtty-1 is full (A and B): refused, naming why B was not taken, nothing claimed or created
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(f"mediated device {MDEV_B} passed over", p.stderr)
        self.assertIn("a reset did not end it", p.stderr)
        self.assertIn("no free mediated device of type mtty-1", p.stderr)
        self.assertEqual(self.instances(), sorted([MDEV_A, MDEV_B]))
        self.assertEqual(json.loads(self.ctl("claims", "--json").stdout), [])

    def test_takes_a_free_instance_and_keeps_it_after_success(self):
        self.assertEqual(self.ctl("mdev", "create", "mtty", "mtty-1", "--uuid", MDEV_B).returncode, 0)
        p = self.ctl("hook", "qemu", "tty01", "migrate", "begin", "-", stdin=mdev_domain(MDEV_A))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(self.uuid_in(p.stdout), [MDEV_B])
        self.assertEqual(self.instances(), sorted([MDEV_A, MDEV_B]))
        claim = json.loads(self.ctl("claims", "--json").stdout)[0]
        self.assertFalse(claim["devices"][0]["created"])
        # libvirt prepares the destination: the claim's mdev is ready as it is (this crashed once)
        p2 = self.ctl("hook", "qemu", "tty01", "prepare", "begin", "-", stdin=p.stdout)
        self.assertEqual(p2.returncode, 0, p2.stderr)
        self.assertEqual(json.loads(self.ctl("claims", "--json").stdout)[0]["state"], "prepared")
        # started on the destination, then the claim ends: the guest keeps its device
        self.assertEqual(self.ctl("hook", "qemu", "tty01", "started", "begin", "-", stdin=p.stdout).returncode, 0)
        self.assertEqual(self.ctl("release", claim["id"]).returncode, 0)
        self.assertEqual(self.instances(), sorted([MDEV_A, MDEV_B]))

    def test_no_free_instance_and_no_room_is_refused(self):
        # the type's only other slot is taken by an instance someone else holds
        other = "9d6a3c1e-1111-4222-8333-944455556666"
        self.assertEqual(self.ctl("mdev", "create", "mtty", "mtty-1", "--uuid", other).returncode, 0)
        with open(os.path.join(self.root, ".kmock", "in-use", other), "w") as f:
            f.write("777 (qemu-system-x86)")
        before = self.instances()
        p = self.ctl("hook", "qemu", "tty01", "migrate", "begin", "-", stdin=mdev_domain(MDEV_A))
        self.assertEqual(p.returncode, 1)
        self.assertIn("no free mediated device of type mtty-1", p.stderr)
        self.assertEqual(self.instances(), before)
        self.assertEqual(json.loads(self.ctl("claims", "--json").stdout), [])

    def test_probe_by_uuid_never_opens_a_held_instance(self):
        with open(os.path.join(self.root, ".kmock", "vfio", "mdev-mtty-1") if os.path.isdir(
                os.path.join(self.root, ".kmock", "vfio")) else self._vfio_decl(), "w") as f:
            f.write("stop_copy p2p pre_copy")
        self.assertEqual(self.ctl("mdev", "create", "mtty", "mtty-1", "--uuid", MDEV_B).returncode, 0)
        p = self.ctl("probe", MDEV_B, MDEV_A, "--json")
        self.assertEqual(p.returncode, 1)
        free, held = json.loads(p.stdout)["results"]
        self.assertEqual((free["uuid"], free["migration"], free["stop_copy"], free["p2p"]), (MDEV_B, True, True, True))
        self.assertEqual(held["uuid"], MDEV_A)
        self.assertEqual(held["error"]["name"], "io.vfmig.Busy")
        self.assertIn("4242 (qemu-system-x86)", held["error"]["message"])
        # the profile carries the answer (and for the held one, nothing invented)
        prof = json.loads(self.ctl("profile", "--json").stdout)
        m = {x["uuid"]: x for x in prof["mdevs"]}
        self.assertTrue(m[MDEV_B]["vfio_migration"]["stop_copy"])
        self.assertTrue(m[MDEV_A]["in_use"])
        self.assertIsNone(m[MDEV_A]["vfio_migration"])

    def _vfio_decl(self):
        os.makedirs(os.path.join(self.root, ".kmock", "vfio"), exist_ok=True)
        return os.path.join(self.root, ".kmock", "vfio", "mdev-mtty-1")

    def test_unknown_uuid_names_the_cause(self):
        p = self.ctl("hook", "qemu", "tty01", "migrate", "begin", "-",
                     stdin=mdev_domain("00000000-1111-4222-8333-444455556666"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("no instance with that UUID", p.stderr)


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
