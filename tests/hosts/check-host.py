#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generate every profile with gen-host.py and check it against LAYOUT.md.

usage: check-host.py GEN_HOST
"""

import os
import re
import subprocess
import sys
import tempfile
import time

MODALIAS = re.compile(r"^pci:v[0-9A-F]{8}d[0-9A-F]{8}sv[0-9A-F]{8}"
                      r"sd[0-9A-F]{8}bc[0-9A-F]{2}sc[0-9A-F]{2}i[0-9A-F]{2}$")
ALIAS = re.compile(r"^alias (pci|vfio_pci):v(\*|[0-9A-F]{8})d(\*|[0-9A-F]{8})"
                   r"sv\*sd\*bc(\*|[0-9A-F]{2})sc(\*|[0-9A-F]{2})"
                   r"i(\*|[0-9A-F]{2})?\* [a-z0-9_]+$")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def read(path):
    with open(path) as f:
        return f.read()


def check_host(root, profile):
    sys_ = os.path.join(root, "sys")
    rel = read(os.path.join(root, "proc/sys/kernel/osrelease")).strip()
    moddir = os.path.join(root, "lib/modules", rel)
    for f in ("modules.alias", "modules.dep", "modules.builtin"):
        check(os.path.isfile(os.path.join(moddir, f)), "%s: %s" % (profile, f))
    if profile != "broken-garbage":
        for line in read(os.path.join(moddir, "modules.alias")).splitlines():
            if line.startswith("alias pci:") or line.startswith("alias vfio_pci:"):
                check(ALIAS.match(line), "%s: alias line %r" % (profile, line))
    devs = os.path.join(sys_, "bus/pci/devices")
    for bdf in os.listdir(devs):
        link = os.path.join(devs, bdf)
        target = os.readlink(link)
        check(not os.path.isabs(target), "%s: absolute link %s" % (profile, bdf))
        if not os.path.isdir(link):
            check(profile == "broken-dangling", "%s: dangling %s" % (profile, bdf))
            continue
        if profile.startswith("broken-"):
            continue
        for f in ("vendor", "device", "subsystem_vendor", "subsystem_device"):
            check(re.match(r"^0x[0-9a-f]{4}\n$", read(os.path.join(link, f))),
                  "%s: %s/%s" % (profile, bdf, f))
        check(re.match(r"^0x[0-9a-f]{6}\n$", read(os.path.join(link, "class"))),
              "%s: %s/class" % (profile, bdf))
        check(MODALIAS.match(read(os.path.join(link, "modalias")).strip()),
              "%s: %s/modalias" % (profile, bdf))
        drv = os.path.join(link, "driver")
        if os.path.islink(drv):
            check(os.path.isdir(drv), "%s: %s driver link" % (profile, bdf))
            back = os.path.join(drv, bdf)
            check(os.path.realpath(back) == os.path.realpath(link),
                  "%s: %s driver back link" % (profile, bdf))
        grp = os.path.join(link, "iommu_group")
        check(os.path.isdir(os.path.join(grp, "devices", bdf)),
              "%s: %s group membership" % (profile, bdf))
        pf = os.path.join(link, "physfn")
        if os.path.islink(pf):
            check(os.path.isfile(os.path.join(pf, "sriov_numvfs")),
                  "%s: %s physfn" % (profile, bdf))
    for d in os.listdir(os.path.join(sys_, "bus/pci/drivers")):
        m = os.path.join(sys_, "bus/pci/drivers", d, "module")
        if os.path.islink(m):
            check(os.path.isdir(m), "%s: driver %s module link" % (profile, d))


def main():
    gen = sys.argv[1]
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    with tempfile.TemporaryDirectory() as tmp:
        for p in ("laptop", "server", "broken-missing", "broken-dangling",
                  "broken-garbage"):
            out = os.path.join(tmp, p)
            args = [gen, "--profile", p, out]
            if p == "server":
                args[1:1] = ["--pfs", "3", "--vfs-per-pf", "8"]
            r = subprocess.run(args, env=env, capture_output=True, text=True)
            check(r.returncode == 0 and not r.stdout and not r.stderr,
                  "%s: generator failed: %s" % (p, r.stderr))
            if r.returncode == 0:
                check_host(out, p)
        # Default server: 8 PFs x 256 VFs.
        out = os.path.join(tmp, "big")
        t = time.monotonic()
        r = subprocess.run([gen, out], env=env)
        check(r.returncode == 0, "default server")
        vfs = sum(1 for b in os.listdir(os.path.join(out, "sys/bus/pci/devices"))
                  if os.path.islink(os.path.join(out, "sys/bus/pci/devices", b,
                                                 "physfn")))
        check(vfs == 2048, "default server has %d VFs" % vfs)
        print("# default server generated in %.1f s" % (time.monotonic() - t))
        for bad in (["--profile", "laptop", "--pfs", "2"], ["--pfs", "-1"],
                    ["--profile", "nope"], ["--kernel", "a/b"], [],
                    [out]):
            r = subprocess.run([gen] + bad + ([] if bad == [out] or not bad
                                              else [os.path.join(tmp, "x")]),
                               env=env, capture_output=True)
            check(r.returncode != 0 and r.stderr, "bad args %r accepted" % bad)
    for f in failures:
        print("not ok - " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
