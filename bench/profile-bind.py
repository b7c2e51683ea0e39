#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Where the time of a batch bind goes, step by step, on the kernel mock.

  python3 bench/profile-bind.py [--vfs 256] [--runs 3] [--build DIR]

Binds VFS VFs of one PF (`vfmigctl bind --all`, a policy managing them) on a
synthetic host through the LD_PRELOAD kernel mock, as bench/run.py's bind-mock
case does, and prints:

  - wall time without tracing: vfmigctl and the raw shell loop (override +
    drivers_probe per VF, the same mock), median of RUNS, and their ratio;
  - one run under `strace -f -T -y`: every system call classified by what it
    touches (the journal and its fsyncs, the device locks, sysfs reads, the
    kernel writes and the mock's own work behind them, /proc, the driver
    database and configuration, the rest), with count and time inside the
    calls. Tracing slows every call down alike, so the shares matter, not the
    absolute figures; what is not inside a call is user time.

Prints Markdown (for docs/BENCHMARKS.md).
"""
import argparse
import collections
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(.*?)<([\d.]+)>$")


def classify(name, args, ret, host):
    """The step a system call belongs to, from the paths it names."""
    state = f"{host}/var/lib/vfmig"
    if state in args:
        return "journal: fsync" if name in ("fsync", "fdatasync", "syncfs") else "journal: files"
    if f"{host}/run/vfmig/lock" in args:
        return "device locks"
    if f"{host}/.kmock" in args or "/proc/self/fd" in args or name in ("symlink", "pread64", "lseek"):
        return "mock: kernel work behind the writes"
    if name == "readlink" and ret.startswith("-1 EINVAL"):
        return "mock: path resolution"
    if f"{host}/sys" in args or f"{host}/dev/vfio" in args:
        if name == "write" or "O_WRONLY" in args or name == "unlink":
            return "sysfs: kernel writes"
        return "sysfs: reads"
    if "/proc/" in args:
        return "/proc (holders)"
    if f"{host}/etc" in args or f"{host}/lib/modules" in args or "/data/" in args or f"{host}/usr" in args:
        return "driver database, policies"
    return "process, libraries, output"


def gen(vfs):
    host = tempfile.mkdtemp(prefix="vfm-prof-")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "hosts", "gen-host.py"), "--profile", "server",
                    "--pfs", "1", "--vfs-per-pf", str(vfs), host], check=True, stdout=subprocess.DEVNULL)
    pol = os.path.join(host, "etc", "vfmig", "policies.d")
    os.makedirs(pol)
    with open(os.path.join(pol, "bench.conf"), "w") as f:
        f.write("[Policy cx]\nIds=15b3:101e\nManage=true\n")
    return host


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vfs", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", default=os.environ.get("VFMIG_BUILDDIR", os.path.join(ROOT, "build")))
    a = ap.parse_args()
    vfmigctl = os.path.join(a.build, "src", "cli", "vfmigctl")
    kmock = os.path.join(a.build, "tests", "mock", "libvfmig-kmock.so")
    host = gen(a.vfs)
    env = dict(os.environ, VFMIG_DATADIR=os.path.join(ROOT, "data"), LC_ALL="C.UTF-8", VFMIG_SYSROOT=host,
               LD_PRELOAD=kmock)
    devdir = os.path.join(host, "sys", "bus", "pci", "devices")
    vfs = sorted(b for b in os.listdir(devdir) if os.path.islink(os.path.join(devdir, b, "physfn")))
    probe = os.path.join(host, "sys", "bus", "pci", "drivers_probe")
    raw = "".join(f"echo mlx5_vfio_pci > {devdir}/{v}/driver_override; echo {v} > {probe}; "
                  f"[ -e {devdir}/{v}/driver ] || exit 1; " for v in vfs)

    def reset():
        subprocess.run([vfmigctl, "restore"], env=env, stdout=subprocess.DEVNULL, check=True)
        for v in vfs:
            if os.path.islink(os.path.join(devdir, v, "driver")):
                subprocess.run(["sh", "-c", f"echo {v} > {devdir}/{v}/driver/unbind"], env=env, check=True)
            with open(os.path.join(devdir, v, "driver_override"), "w") as f:
                f.write("(null)\n")

    def run(cmd):
        reset()
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t0

    try:
        t_raw, t_vfm = [], []
        run([vfmigctl, "bind", "--all"])  # warm-up
        for _ in range(a.runs):
            t_raw.append(run(["sh", "-c", raw]))
            t_vfm.append(run([vfmigctl, "bind", "--all"]))
        reset()
        with tempfile.NamedTemporaryFile(prefix="vfm-prof-", suffix=".strace") as tr:
            t0 = time.perf_counter()
            subprocess.run(["strace", "-f", "-T", "-y", "-qq", "-o", tr.name, vfmigctl, "bind", "--all"], env=env,
                           check=True, stdout=subprocess.DEVNULL)
            traced = time.perf_counter() - t0
            steps = collections.OrderedDict()
            for line in open(tr.name, errors="replace"):
                m = LINE.match(line.rstrip("\n"))
                if not m:
                    continue
                _, name, args, ret, rest, dt = m.groups()
                step = classify(name, args, ret + rest, host)
                c, t = steps.get(step, (0, 0.0))
                steps[step] = (c + 1, t + float(dt))
            fsyncs = sum(1 for line in open(tr.name, errors="replace") if re.match(r"^\d+\s+f(data)?sync\(", line))
        reset()
    finally:
        shutil.rmtree(host)

    mr, mv = statistics.median(t_raw), statistics.median(t_vfm)
    print(f"| case | ms (median of {a.runs}) | ratio |")
    print("|---|---|---|")
    print(f"| raw sysfs writes (sh), {len(vfs)} VFs | {mr * 1000:.1f} | 1.00x |")
    print(f"| vfmigctl bind --all, {len(vfs)} VFs | {mv * 1000:.1f} | {mv / mr:.2f}x |")
    print()
    insys = sum(t for _, t in steps.values())
    print(f"Under strace: {traced * 1000:.0f} ms wall, {insys * 1000:.0f} ms inside system calls, {fsyncs} fsync calls.")
    print()
    print("| step | system calls | ms inside them (traced) | share |")
    print("|---|---:|---:|---:|")
    for step, (c, t) in sorted(steps.items(), key=lambda kv: -kv[1][1]):
        print(f"| {step} | {c} | {t * 1000:.1f} | {t / traced * 100:.0f} % |")
    print(f"| user time and tracing (the rest of the wall time) | - | {(traced - insys) * 1000:.1f} | "
          f"{(traced - insys) / traced * 100:.0f} % |")


if __name__ == "__main__":
    main()
