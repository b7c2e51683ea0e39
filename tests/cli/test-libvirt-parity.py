#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Driver selection against libvirt's rule on a real kernel's vfio_pci aliases.

The alias lines are those of a kernel that builds VFIO variant drivers
(tests/data/modules-alias/, origin in the file). For every line a synthetic
device that the line names is put on a synthetic host; vfmig's choice (and the
choice vfmig says libvirt would make) is compared with a small reference of
libvirt's rule written here from its description (libvirt >= 10.0,
src/util/virpci.c, virPCIDeviceFindBestVFIOVariant): the seven modalias
fields compared one by one, a field that is exactly '*' matches anything, the
matching line with the fewest wildcards wins, the first such line on a tie,
no match -> plain vfio-pci. Prints TAP; the comparison table goes to the TAP
comments."""
import importlib.util
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
SOURCE = os.environ["VFMIG_SOURCE_ROOT"]
KMOCK = os.environ["KMOCK"]
PRELOAD = " ".join(p for p in (os.environ.get("VFMIG_ASAN_RUNTIME"), KMOCK) if p)
ALIAS_FILE = os.path.join(SOURCE, "tests", "data", "modules-alias", "ubuntu-26.04-7.0.0-44-generic.vfio_pci")
RELEASE = "7.0.0-44-generic"
HEADER = "# Aliases extracted from modules themselves.\n"

_spec = importlib.util.spec_from_file_location("gen_host", os.environ["GEN_HOST"])
gen_host = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_host)


# ---- the reference: libvirt's rule, independently of vfmig's code ----------
FIELDS = re.compile(r"v([0-9A-F]{8}|\*)d([0-9A-F]{8}|\*)sv([0-9A-F]{8}|\*)sd([0-9A-F]{8}|\*)"
                    r"bc([0-9A-F]{2}|\*)sc([0-9A-F]{2}|\*)i([0-9A-F]{2}|\*)$")


def libvirt_reference(alias_text, modalias):
    """(module, line) libvirt picks for a device's modalias; line None for
    the vfio-pci fallback."""
    device = FIELDS.match(modalias[len("pci:"):]).groups()
    best = None
    for lineno, line in enumerate(alias_text.split("\n"), 1):
        # libvirt looks for "\nalias vfio_pci:": never the file's first line
        if lineno == 1 or not line.startswith("alias vfio_pci:"):
            continue
        pattern, _, module = line[len("alias vfio_pci:"):].partition(" ")
        m = FIELDS.match(pattern)
        if m is None:
            continue
        fields = m.groups()
        if all(f == "*" or f == d for f, d in zip(fields, device)):
            wildcards = fields.count("*")
            if best is None or wildcards < best[0]:
                best = (wildcards, lineno, module.strip())
    return ("vfio_pci", None) if best is None else (best[2], best[1])


def modalias(vendor, device, svid, sdid, cls):
    return "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X" % (
        vendor, device, svid, sdid, cls >> 16, (cls >> 8) & 0xFF, cls & 0xFF)


def real_lines():
    with open(ALIAS_FILE) as f:
        return [l.rstrip("\n") for l in f if l.startswith("alias ")]


# ---- synthetic hosts -------------------------------------------------------
class Host:
    """One device per alias line (the ids the line names; the generic line
    gets ids no other line names), modules as the alias lines say."""

    def __init__(self, lines, builtin_vfio=False, loaded_vfio=True):
        self.root = tempfile.mkdtemp(prefix="vfm-parity-")
        h = gen_host.Host(self.root, RELEASE)
        h.driver("pcieport")
        if loaded_vfio:
            h.driver("vfio-pci", None if builtin_vfio else "vfio_pci")
        hb = h.host_bridge(0)
        self.devices = []
        for i, line in enumerate(lines + (["alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci"] if builtin_vfio else [])):
            pattern = line.split()[1][len("vfio_pci:"):]
            m = FIELDS.match(pattern)
            vendor = 0x1234 if m.group(1) == "*" else int(m.group(1), 16)
            device = 0x5678 if m.group(2) == "*" else int(m.group(2), 16)
            bdf = "0000:%02x:00.0" % (i + 1)
            svid, sdid, cls = 0x17aa, 0x1000 + i, 0x120000
            h.device(hb, bdf, vendor, device, cls, svid=svid, sdid=sdid)
            self.devices.append((bdf, vendor, device, modalias(vendor, device, svid, sdid, cls)))
        self.alias_text = HEADER + "alias pci:v00008086d00001889sv*sd*bc*sc*i* iavf\n" + "\n".join(lines) + "\n"
        moddir = os.path.join(self.root, "lib", "modules", RELEASE)
        modules = sorted({l.split()[2] for l in lines} | {"vfio_pci_core", "vfio"})
        if builtin_vfio:
            modules.remove("vfio_pci") if "vfio_pci" in modules else None
        with open(os.path.join(moddir, "modules.alias"), "w") as f:
            f.write(self.alias_text)
        with open(os.path.join(moddir, "modules.dep"), "w") as f:
            f.write("".join("kernel/drivers/vfio/pci/%s.ko:\n" % m for m in modules))
        with open(os.path.join(moddir, "modules.builtin"), "w") as f:
            f.write("kernel/drivers/vfio/pci/vfio-pci.ko\n" if builtin_vfio else "")
        with open(os.path.join(self.root, ".kmock", "modules", "xe_vfio_pci"), "w") as f:
            f.write("xe-vfio-pci\n")

    def ctl(self, *args, datadir=None, mock=False, rc=0):
        env = dict(os.environ, VFMIG_SYSROOT=self.root)
        if datadir is not None:
            env["VFMIG_DATADIR"] = datadir
        if mock:
            env["LD_PRELOAD"] = PRELOAD
        p = subprocess.run([VFMIGCTL, *args], capture_output=True, text=True, env=env, timeout=120)
        if rc is not None and p.returncode != rc:
            raise AssertionError(f"vfmigctl {' '.join(args)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def explain(self, bdf, **kw):
        return json.loads(self.ctl("explain", bdf, "--json", **kw).stdout)

    def driver(self, bdf):
        link = os.path.join(self.root, "sys", "bus", "pci", "devices", bdf, "driver")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


def datadir_with(*entries):
    """A database of only the named curated entries and no policy."""
    d = tempfile.mkdtemp(prefix="vfm-parity-data-")
    os.makedirs(os.path.join(d, "drivers"))
    os.makedirs(os.path.join(d, "policies"))
    for e in entries:
        shutil.copy(os.path.join(SOURCE, "data", "drivers", e + ".conf"), os.path.join(d, "drivers"))
    return d


class Parity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.host = Host(real_lines())
        cls.generic_only = datadir_with("vfio-pci")

    @classmethod
    def tearDownClass(cls):
        cls.host.remove()
        shutil.rmtree(cls.generic_only, ignore_errors=True)

    def compare(self, datadir, title):
        rows, differ = [], []
        for bdf, vendor, device, alias in self.host.devices:
            ref_module, ref_line = libvirt_reference(self.host.alias_text, alias)
            out = self.host.explain(bdf, datadir=datadir)
            sel = out["selected"]
            picked = sel["module"] if sel else None
            rows.append("%s %04x:%04x  vfmig %-16s %-13s  libvirt-ref %-16s %s" % (
                bdf, vendor, device, picked, sel["driver"] if sel else "-", ref_module,
                "line %d" % ref_line if ref_line else "fallback"))
            if picked != ref_module or out["libvirt"]["module"] != ref_module or not out["libvirt"]["agrees"]:
                differ.append((bdf, picked, out["libvirt"], ref_module))
        print("# %s: device -> vfmig pick -> libvirt reference pick" % title)
        for r in rows:
            print("#   " + r)
        self.assertEqual(len(rows), len(real_lines()))
        self.assertEqual(differ, [])

    def test_parity_with_the_shipped_database(self):
        # the curated entries add facts; none of them, nor the default
        # policy, changes a pick on this kernel
        self.compare(os.path.join(SOURCE, "data"), "shipped database")

    def test_parity_with_a_generic_only_database(self):
        self.compare(self.generic_only, "database of plain vfio-pci only")

    def test_reference_sanity(self):
        # the reference itself on the cases that matter: variant, generic, tie
        text = HEADER + ("alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
                         "alias vfio_pci:v00008086d0000E223sv*sd*bc*sc*i* b_vfio_pci\n"
                         "alias vfio_pci:v00008086d0000E223sv*sd*bc*sc*i* a_vfio_pci\n")
        self.assertEqual(libvirt_reference(text, modalias(0x8086, 0xe223, 0, 0, 0x30000)), ("b_vfio_pci", 3))
        self.assertEqual(libvirt_reference(text, modalias(0x8086, 0xe224, 0, 0, 0x30000)), ("vfio_pci", 2))
        self.assertEqual(libvirt_reference(HEADER, modalias(0x8086, 0xe224, 0, 0, 0x30000)), ("vfio_pci", None))

    def test_policy_difference_is_explained(self):
        etc = os.path.join(self.host.root, "etc", "vfmig", "policies.d")
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "site.conf"), "w") as f:
            f.write("[Policy generic-xe]\nIds=8086:e223\nPrefer=vfio_pci\n")
        try:
            bdf = next(d[0] for d in self.host.devices if d[2] == 0xe223)
            out = self.host.explain(bdf)
            self.assertEqual(out["selected"]["driver"], "vfio-pci")
            self.assertEqual(out["libvirt"]["module"], "xe_vfio_pci")
            self.assertEqual(out["libvirt"]["driver"], "xe-vfio-pci")
            self.assertFalse(out["libvirt"]["agrees"])
            text = self.host.ctl("explain", bdf).stdout
            line = next(l for l in text.splitlines() if l.startswith("libvirt:"))
            self.assertIn("xe-vfio-pci", line)
            self.assertIn("vfmig differs because preferred by policy site/generic-xe", " ".join(text.split()))
        finally:
            shutil.rmtree(os.path.join(self.host.root, "etc"))

    def test_curated_ids_are_the_kernels(self):
        # every curated entry whose module this kernel builds names exactly
        # the ids the kernel's lines give that module
        by_module = {}
        for line in real_lines():
            pattern, module = line.split()[1:]
            m = FIELDS.match(pattern[len("vfio_pci:"):])
            if m.group(1) != "*":
                by_module.setdefault(module, set()).add("%04x:%04x" % (int(m.group(1), 16), int(m.group(2), 16)))
        checked = 0
        ddir = os.path.join(SOURCE, "data", "drivers")
        for name in sorted(os.listdir(ddir)):
            with open(os.path.join(ddir, name)) as f:
                text = f.read()
            module = re.search(r"^Module=(.*)$", text, re.M).group(1).strip().replace("-", "_")
            ids = re.search(r"^Ids=(.*)$", text, re.M)
            if module not in by_module or ids is None or "*" in ids.group(1):
                continue
            self.assertEqual(set(ids.group(1).strip().lower().split(";")), by_module[module], name)
            checked += 1
        self.assertGreaterEqual(checked, 4)  # mlx5, pds, virtio, qat


class BuiltinAndNames(unittest.TestCase):
    def test_builtin_vfio_pci_is_the_fallback(self):
        lines = [l for l in real_lines() if not l.endswith(" vfio_pci")]
        host = Host(lines, builtin_vfio=True)
        try:
            bdf, _, _, alias = host.devices[-1]
            self.assertEqual(libvirt_reference(host.alias_text, alias), ("vfio_pci", None))
            out = host.explain(bdf)
            self.assertEqual(out["selected"]["driver"], "vfio-pci")
            self.assertEqual(out["selected"]["source"], "fallback")
            self.assertEqual(out["libvirt"]["source"], "fallback")
            self.assertTrue(out["libvirt"]["agrees"])
            host.ctl("bind", bdf, mock=True)
            self.assertEqual(host.driver(bdf), "vfio-pci")
        finally:
            host.remove()

    def test_bind_resolves_driver_names_without_curated_entries(self):
        # vfio_pci and xe_vfio_pci not loaded; the database knows neither:
        # the modules' own drivers/pci:NAME links give vfio-pci and xe-vfio-pci
        host = Host(real_lines(), loaded_vfio=False)
        data = datadir_with("qat_vfio_pci")
        try:
            generic = next(d[0] for d in host.devices if d[1] == 0x1234)
            xe = next(d[0] for d in host.devices if d[2] == 0xe223)
            host.ctl("bind", generic, datadir=data, mock=True)
            self.assertEqual(host.driver(generic), "vfio-pci")
            host.ctl("bind", xe, datadir=data, mock=True)
            self.assertEqual(host.driver(xe), "xe-vfio-pci")
            # once loaded, selection names the driver as the host does
            self.assertEqual(host.explain(xe, datadir=data)["selected"]["driver"], "xe-vfio-pci")
        finally:
            host.remove()
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_tap(sys.modules[__name__]))
