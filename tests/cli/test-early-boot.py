#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Early-boot binding on synthetic hosts (the kernel mock): the plan the
initramfs hooks write, and what vfmig does at run time with the record the
initramfs step leaves in /run/vfmig/early-boot.json: status shows it, the
next recover/restore adopts the device (owned, origin early-boot), restore
returns it to its host driver, doctor's early-boot line. And the image's
plan kept current: the record the hooks write (early-boot plan --record),
early-boot status against the policies, early-boot refresh running a
stand-in generator (never a real one: it would write this machine's /boot)
only when stale, a failing generator leaving the record. The step itself
and the real update-initramfs run on the real kernel (tests/lab/earlyboot.sh).
Prints TAP."""
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
RELEASE = "6.12.0-vfmig"  # the synthetic host's proc/sys/kernel/osrelease

# update-initramfs as vfmig meets it: logs its arguments, runs what vfmig's
# initramfs-tools hook runs inside it (the plan, recorded for the release),
# and then exits with GEN_RC (a generator can fail after its hooks ran).
# GEN_NO_HOOK: an image built without vfmig's hook.
STAND_IN = r"""#!/bin/sh
printf '%s\n' "$*" >>"$GEN_LOG"
[ "$1 $2" = "-u -k" ] || { echo "stand-in: unexpected arguments: $*" >&2; exit 2; }
if [ -z "${GEN_NO_HOOK:-}" ]; then
    "$VFMIGCTL" --no-daemon early-boot plan --record "$3" --generator initramfs-tools >"$GEN_LOG.image-plan" || exit 3
fi
echo "stand-in: image for $3 built" >&2
exit "${GEN_RC:-0}"
"""


class EarlyBoot(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vfm-early-")
        os.rmdir(self.root)
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "2", "--vfs-per-pf", "2",
                        "--fault", "nvme-held", "--fault", "autoprobe-on", self.root], check=True)
        self.addCleanup(shutil.rmtree, self.root)

    def ctl(self, *args, rc=0, mock=True, env_extra=None):
        env = {k: v for k, v in os.environ.items() if k != "VFMIG_SOCKET"}
        env["VFMIG_SYSROOT"] = self.root
        env.update(env_extra or {})
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



class EarlyImage(unittest.TestCase):
    """early-boot status / refresh on a synthetic host whose update-initramfs
    is the stand-in above."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vfm-eimg-")
        self.addCleanup(shutil.rmtree, self.tmp)
        self.root = os.path.join(self.tmp, "host")
        subprocess.run([sys.executable, GEN_HOST, "--profile", "server", "--pfs", "2", "--vfs-per-pf", "2",
                        "--fault", "nvme-held", self.root], check=True)
        # the host has initramfs-tools and an image of its kernel
        for f in ("usr/sbin/update-initramfs", "boot/initrd.img-" + RELEASE):
            os.makedirs(os.path.dirname(os.path.join(self.root, f)), exist_ok=True)
            open(os.path.join(self.root, f), "w").close()
        self.log = os.path.join(self.tmp, "generator.log")
        script = os.path.join(self.tmp, "update-initramfs")
        with open(script, "w") as f:
            f.write(STAND_IN)
        os.chmod(script, 0o755)
        # the shipped generators.conf with the command pointed at the stand-in
        with open(os.path.join(os.environ["VFMIG_SOURCE_ROOT"], "data", "initramfs",
                               "generators.conf")) as f:
            shipped = f.read()
        self.assertIn("Command=/usr/sbin/update-initramfs -u -k {release}\n", shipped)
        self.generators = os.path.join(self.tmp, "generators.conf")
        with open(self.generators, "w") as f:
            f.write(shipped.replace("Command=/usr/sbin/update-initramfs", "Command=" + script))
        self.record = os.path.join(self.root, "var", "lib", "vfmig", "early-boot", RELEASE + ".plan")
        self.policies = os.path.join(self.root, "etc", "vfmig", "policies.d")

    def ctl(self, *args, rc=0, env_extra=None):
        env = {k: v for k, v in os.environ.items() if k not in ("VFMIG_SOCKET", "LD_PRELOAD")}
        env.update({"VFMIG_SYSROOT": self.root, "VFMIGCTL": VFMIGCTL, "GEN_LOG": self.log})
        env.update(env_extra or {})
        p = subprocess.run([VFMIGCTL, "-c", "test:///nonexistent-vfmig.xml", *args], capture_output=True,
                           text=True, env=env, timeout=120)
        self.assertEqual(p.returncode, rc, f"{args}: {p.stdout}\n{p.stderr}")
        return p

    def status(self):
        return json.loads(self.ctl("early-boot", "status", "--json").stdout)

    def refresh(self, *extra, rc=0, env_extra=None):
        return self.ctl("early-boot", "refresh", "--generators", self.generators, *extra, rc=rc,
                        env_extra=env_extra)

    def runs(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().splitlines()

    def read_record(self):
        with open(self.record) as f:
            return f.read()

    def add_ice_policy(self):
        with open(os.path.join(self.policies, "70-ice.conf"), "w") as f:
            f.write("[Policy ice0]\nIds=8086:159b\nManage=true\nAutoBind=true\n")

    def doctor_image_line(self):
        d = json.loads(self.ctl("doctor", "--json", NVME, rc=1).stdout)
        return [c for c in d["checks"] if c["id"] == "early-boot-image"][0]

    def test_no_record(self):
        st = self.status()
        self.assertEqual((st["state"], st["refresh_needed"], st["recorded_plan"]), ("no-record", True, None))
        self.assertEqual([(e["pci_path"], e["driver"], e["policy"]) for e in st["added"]],
                         [(NVME_PATH, "vfio-pci", "60-doctor-nvme/nvme0")])
        # the shipped generators: the host's update-initramfs, its image
        self.assertEqual(st["generator"], {"name": "initramfs-tools", "image": "/boot/initrd.img-" + RELEASE,
                                           "command": ["/usr/sbin/update-initramfs", "-u", "-k", RELEASE]})
        self.assertEqual(self.doctor_image_line()["state"], "n/a")
        # --dry-run with the shipped file: says what it would run, runs nothing
        p = self.ctl("early-boot", "refresh", "--dry-run")
        self.assertIn("would run: /usr/sbin/update-initramfs -u -k " + RELEASE, p.stdout)
        self.assertFalse(os.path.exists(self.record))
        # no generator on the host: one clear error, nothing run
        os.unlink(os.path.join(self.root, "usr", "sbin", "update-initramfs"))
        self.assertIsNone(self.status()["generator"])
        p = self.refresh(rc=1)
        self.assertIn("no initramfs generator on this host", p.stderr)
        self.assertEqual(self.runs(), [])

    def test_refresh_only_when_stale(self):
        # the first refresh: no record, the plan binds the NVMe
        p = self.refresh()
        self.assertIn("running: %s -u -k %s" % (os.path.join(self.tmp, "update-initramfs"), RELEASE), p.stdout)
        self.assertIn("stand-in: image for %s built" % RELEASE, p.stderr)  # the generator's output, on stderr
        self.assertEqual(self.runs(), ["-u -k " + RELEASE])
        # the record: the generator, then the plan byte for byte as the image got it
        plan = self.ctl("early-boot", "plan").stdout
        with open(self.log + ".image-plan") as f:
            self.assertEqual(f.read(), plan)
        self.assertEqual(self.read_record(), "generator initramfs-tools\n" + plan)
        st = self.status()
        self.assertEqual((st["state"], st["refresh_needed"], st["added"], st["removed"]),
                         ("up-to-date", False, [], []))
        self.assertEqual(st["recorded_plan"], st["current_plan"])
        self.assertIn("up to date", self.ctl("early-boot", "status").stdout)
        self.assertEqual(self.doctor_image_line()["state"], "ok")
        # up to date: nothing runs
        p = self.refresh()
        self.assertIn("nothing to do", p.stdout)
        j = json.loads(self.refresh("--json").stdout)
        self.assertEqual((j["state_before"], j["ran"], j["command"]), ("up-to-date", False, None))
        self.assertEqual(len(self.runs()), 1)

        # a policy added: stale, the device it adds named
        self.add_ice_policy()
        st = self.status()
        self.assertEqual((st["state"], st["refresh_needed"]), ("stale", True))
        self.assertNotEqual(st["recorded_plan"], st["current_plan"])
        self.assertEqual([(e["vendor"], e["device"], e["policy"]) for e in st["added"]],
                         [("8086", "159b", "70-ice/ice0")])
        self.assertEqual(st["removed"], [])
        text = self.ctl("early-boot", "status").stdout
        self.assertIn("stale: it carries plan %s, the policies give plan %s now" %
                      (st["recorded_plan"], st["current_plan"]), text)
        self.assertIn("fix: vfmigctl early-boot refresh -k " + RELEASE, text)
        line = self.doctor_image_line()
        self.assertEqual(line["state"], "fail", line)
        self.assertIn("added", line["detail"])
        self.assertIn("vfmigctl early-boot refresh -k " + RELEASE, line["fix"])
        # --dry-run runs nothing and keeps it stale
        self.refresh("--dry-run")
        self.assertEqual(len(self.runs()), 1)
        # refresh: the generator once more, up to date again
        j = json.loads(self.refresh("--json").stdout)
        self.assertEqual((j["state_before"], j["ran"], j["plan"]), ("stale", True, st["current_plan"]))
        self.assertEqual(len(self.runs()), 2)
        self.assertEqual(self.status()["state"], "up-to-date")
        self.assertEqual(self.doctor_image_line()["state"], "ok")

        # a policy removed: stale, the NVMe removed from the plan
        os.unlink(os.path.join(self.policies, "60-doctor-nvme.conf"))
        st = self.status()
        self.assertEqual(st["state"], "stale")
        self.assertEqual(([e["pci_path"] for e in st["removed"]], st["added"]), ([NVME_PATH], []))
        self.refresh()
        self.assertEqual(len(self.runs()), 3)
        # another kernel's image is its own: -k
        st = json.loads(self.ctl("early-boot", "status", "--json", "-k", "6.1.0-other").stdout)
        self.assertEqual((st["release"], st["state"]), ("6.1.0-other", "no-record"))

    def test_refresh_all_kernels(self):
        """--all (the path unit's service): the running kernel and every
        other kernel whose image has a record and whose modules are still
        installed; a removed kernel's record is left alone."""
        for rel in ("6.13.0-next", "5.10.0-gone"):
            self.ctl("early-boot", "plan", "--record", rel, "--generator", "initramfs-tools")
        os.makedirs(os.path.join(self.root, "lib", "modules", "6.13.0-next"))
        p = self.refresh("--all", "--dry-run")
        self.assertIn("would run: %s -u -k %s" % (os.path.join(self.tmp, "update-initramfs"), RELEASE), p.stdout)
        self.assertIn("early-boot image of 6.13.0-next: up to date", p.stdout)
        self.assertNotIn("5.10.0-gone", p.stdout)
        self.add_ice_policy()
        j = json.loads(self.refresh("--all", "--json").stdout)
        self.assertEqual([(r["release"], r["state_before"], r["ran"]) for r in j],
                         [(RELEASE, "no-record", True), ("6.13.0-next", "stale", True)])
        self.assertEqual(self.runs(), ["-u -k " + RELEASE, "-u -k 6.13.0-next"])
        j = json.loads(self.refresh("--all", "--json").stdout)
        self.assertEqual([r["ran"] for r in j], [False, False])
        self.assertEqual(len(self.runs()), 2)
        # the removed kernel's record is as it was
        st = json.loads(self.ctl("early-boot", "status", "--json", "-k", "5.10.0-gone").stdout)
        self.assertEqual(st["state"], "stale")
        self.ctl("early-boot", "refresh", "--all", "-k", RELEASE, rc=2)

    def test_failing_generator_keeps_record(self):
        self.refresh()
        before = self.read_record()
        self.add_ice_policy()
        # the hook runs (and records the new plan), then the generator fails:
        # the image was not replaced, neither is the record
        p = self.refresh(rc=1, env_extra={"GEN_RC": "7"})
        self.assertEqual(len(self.runs()), 2)
        errors = [l for l in p.stderr.splitlines() if l.startswith("error:")]
        self.assertEqual(errors, ["error: %s: initramfs generator `%s -u -k %s` failed with exit status 7" %
                                  (RELEASE, os.path.join(self.tmp, "update-initramfs"), RELEASE)])
        self.assertEqual(self.read_record(), before)
        self.assertEqual(self.status()["state"], "stale")
        # a generator that succeeds without vfmig's hook in the image
        p = self.refresh(rc=1, env_extra={"GEN_NO_HOOK": "1"})
        self.assertIn("succeeded but vfmig's hook recorded plan", p.stderr)
        self.assertIn("the image has no vfmig hook: install vfmig's hook as /usr/share/initramfs-tools/hooks/vfmig",
                      p.stderr)
        self.assertEqual(self.read_record(), before)
        # and then one that works
        self.refresh()
        self.assertEqual(self.status()["state"], "up-to-date")

    def test_bad_input(self):
        for args in (["early-boot", "status", "-k", "../../etc"], ["early-boot", "refresh", "-k", "a/b"],
                     ["early-boot", "plan", "--record", "..", "--generator", "x"]):
            p = self.ctl(*args, rc=1)
            self.assertRegex(p.stderr, r"is not a kernel release")
        self.ctl("early-boot", "plan", "--record", RELEASE, rc=2)  # --generator missing: usage
        bad = os.path.join(self.tmp, "bad.conf")
        with open(bad, "w") as f:
            f.write("[mine]\nProgram=/usr/sbin/update-initramfs\nCommand=/bin/true\n")
        p = self.ctl("early-boot", "refresh", "--generators", bad, rc=1)
        self.assertIn("%s: [mine] needs Program= (an absolute path) and Command= (shell words naming {release})" % bad,
                      p.stderr)
        # nothing recorded, nothing run
        self.assertFalse(os.path.exists(os.path.dirname(self.record)))
        self.assertEqual(self.runs(), [])


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
