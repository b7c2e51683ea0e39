#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vfmig's benchmark runner: every case against its baseline in the same run,
several runs each (min/median/max), results in docs/BENCHMARKS.md with the
machine facts and the command, plus a plot of time against devices.

  python3 bench/run.py [--runs N] [--sizes 64,512,2048,8192] [--cases list,bind-mock]

Cases:
  list       `vfmigctl list --json` on synthetic hosts of growing size, vs
             `lspci -Dnn`, `driverctl list-devices` and `dpdk-devbind.py --status`
             reading the same tree (mounted over /sys in a private mount
             namespace, read-only use), and a raw `cat` of three id files per device.
  bind-mock  binding on the kernel mock: one VF and a batch of 256 VFs, vfmigctl
             vs a shell loop doing the same sysfs writes (same mock, same tree).
  placement  the evacuate plan for 50 domains over 10 candidate hosts from
             profile files, vs one ranked check per domain (same files).
  lab        the real-kernel numbers from bench/bench-bind.sh (run separately,
             it boots the lab VM), included when bench/results/bind.md exists.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("VFMIG_BUILDDIR", os.path.join(ROOT, "build"))
VFMIGCTL = os.path.join(BUILD, "src", "cli", "vfmigctl")
KMOCK = os.path.join(BUILD, "tests", "mock", "libvfmig-kmock.so")
GEN = os.path.join(ROOT, "tests", "hosts", "gen-host.py")
RESULTS = os.path.join(ROOT, "bench", "results")
ENV = dict(os.environ, VFMIG_DATADIR=os.path.join(ROOT, "data"), LC_ALL="C.UTF-8")


def timed(cmd, runs, env=ENV, setup=None):
    """min/median/max seconds of cmd over runs, after one warm-up run."""
    samples = []
    for i in range(runs + 1):
        if setup:
            setup()
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)[:120]}: exit {p.returncode}: {p.stderr.decode()[-400:]}")
        if i > 0:
            samples.append(dt)
    return (min(samples), statistics.median(samples), max(samples))


def gen_host(profile, *args):
    root = tempfile.mkdtemp(prefix="vfm-bench-")
    subprocess.run([sys.executable, GEN, "--profile", profile, *args, root], check=True)
    return root


def in_sysfs_ns(host, command):
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            f"mount --bind {host}/sys /sys && {command}"]


def ms(t):
    return f"{t[0] * 1000:.1f} / {t[1] * 1000:.1f} / {t[2] * 1000:.1f}"


def machine_facts():
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "not installed"
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [("cores", str(os.cpu_count())), ("cpu", cpu), ("kernel", platform.release()),
            ("qemu", first_line(["qemu-system-x86_64", "--version"])),
            ("libvirt", first_line(["libvirtd", "--version"])),
            ("vfmigctl", first_line([VFMIGCTL, "--version"])),
            ("date", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))]


def case_list(runs, sizes):
    peers = [("lspci -Dnn", "lspci -Dnn"),
             ("driverctl list-devices", "driverctl --nosave list-devices"),
             ("dpdk-devbind.py --status", "dpdk-devbind.py --status")]
    have_ns = os.geteuid() == 0 and shutil.which("unshare")
    rows, series = [], {"vfmigctl list --json": [], "raw cat of ids": []}
    for name, _ in peers:
        series[name] = []
    for vfs in sizes:
        host = gen_host("server", "--pfs", "8", "--vfs-per-pf", str(max(1, vfs // 8)))
        try:
            devdir = os.path.join(host, "sys", "bus", "pci", "devices")
            ndev = len(os.listdir(devdir))
            res = {"vfmigctl list --json": timed([VFMIGCTL, "--sysroot", host, "list", "--json"], runs),
                   "raw cat of ids": timed(["sh", "-c", f"cd {devdir} && cat */vendor */device */class >/dev/null"], runs)}
            for name, cmd in peers:
                tool = cmd.split()[0]
                if have_ns and shutil.which(tool):
                    # the slow peers get fewer runs on large hosts
                    res[name] = timed(in_sysfs_ns(host, cmd + " >/dev/null 2>&1"), max(1, runs if vfs <= 2048 else 2))
            for name, t in res.items():
                series[name].append((ndev, t[1]))
            rows.append((vfs, ndev, res))
        finally:
            shutil.rmtree(host)

    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "list.tsv"), "w") as f:
        names = list(series)
        f.write("devices\t" + "\t".join(n.replace(" ", "_") for n in names) + "\n")
        for i, (vfs, ndev, res) in enumerate(rows):
            f.write(f"{ndev}\t" + "\t".join(f"{res[n][1] * 1000:.2f}" if n in res else "" for n in names) + "\n")

    lines = ["| VFs | PCI devices | tool | ms (min / median / max) | ratio to vfmigctl |", "|---|---|---|---|---|"]
    for vfs, ndev, res in rows:
        base = res["vfmigctl list --json"][1]
        for name, t in res.items():
            lines.append(f"| {vfs} | {ndev} | {name} | {ms(t)} | {t[1] / base:.2f}x |")
    plot(series, os.path.join(ROOT, "docs", "bench-list.png"))
    return lines


def plot(series, png):
    if not shutil.which("gnuplot"):
        return
    with tempfile.TemporaryDirectory() as d:
        plots = []
        for i, (name, pts) in enumerate(series.items()):
            if not pts:
                continue
            data = os.path.join(d, f"{i}.dat")
            with open(data, "w") as f:
                for x, y in pts:
                    f.write(f"{x} {y * 1000:.3f}\n")
            plots.append(f"'{data}' with linespoints lw 2 title '{name}'")
        script = (f"set terminal pngcairo size 900,560 font 'sans,10'\nset output '{png}'\n"
                  "set title 'Listing PCI devices on synthetic hosts (median of runs)'\n"
                  "set xlabel 'PCI devices on the host'\nset ylabel 'milliseconds'\n"
                  "set logscale xy\nset grid\nset key top left\n"
                  "plot " + ", ".join(plots) + "\n")
        subprocess.run(["gnuplot"], input=script, text=True, check=True)


def case_bind_mock(runs):
    """vfmigctl vs the same sysfs writes from a shell loop, both through the mock."""
    env = dict(ENV, LD_PRELOAD=KMOCK)
    lines = ["| case | tool | ms (min / median / max) | ratio to raw writes |", "|---|---|---|---|"]
    host = gen_host("server", "--pfs", "1", "--vfs-per-pf", "256")
    try:
        env["VFMIG_SYSROOT"] = host
        devdir = os.path.join(host, "sys", "bus", "pci", "devices")
        vfs = sorted(b for b in os.listdir(devdir) if os.path.islink(os.path.join(devdir, b, "physfn")))
        probe = os.path.join(host, "sys", "bus", "pci", "drivers_probe")

        def reset():
            subprocess.run([VFMIGCTL, "restore"], env=env, stdout=subprocess.DEVNULL, check=True)
            for v in vfs:
                link = os.path.join(devdir, v, "driver")
                if os.path.islink(link):
                    subprocess.run(["sh", "-c", f"echo {v} > {link}/unbind"], env=env, check=True)
                with open(os.path.join(devdir, v, "driver_override"), "w") as f:
                    f.write("(null)\n")

        def raw_script(targets):
            return "".join(f"echo mlx5_vfio_pci > {devdir}/{v}/driver_override; echo {v} > {probe}; "
                           f"[ -e {devdir}/{v}/driver ] || exit 1; " for v in targets)

        os.makedirs(os.path.join(host, "etc", "vfmig", "policies.d"), exist_ok=True)
        with open(os.path.join(host, "etc", "vfmig", "policies.d", "bench.conf"), "w") as f:
            f.write("[Policy cx]\nIds=15b3:101e\nManage=true\n")
        for label, targets in (("1 VF", vfs[:1]), ("256 VFs", vfs)):
            raw = timed(["sh", "-c", raw_script(targets)], runs, env=env, setup=reset)
            cmd = [VFMIGCTL, "bind", *targets] if len(targets) == 1 else [VFMIGCTL, "bind", "--all"]
            vfm = timed(cmd, runs, env=env, setup=reset)
            lines.append(f"| bind {label} (mock) | raw sysfs writes (sh) | {ms(raw)} | 1.00x |")
            lines.append(f"| bind {label} (mock) | vfmigctl bind | {ms(vfm)} | {vfm[1] / raw[1]:.2f}x |")
        reset()
    finally:
        shutil.rmtree(host)
    return lines


def case_hook(runs):
    """The libvirt hook for a domain without hostdevs (what every domain start
    and migration on a host pays) against `cat`, the floor of a process that
    copies the XML through: `vfmigctl hook`, and the installed hook (a sh
    script exec'ing vfmig-hook, which answers such domains without vfmigctl)."""
    xml = ("<domain type='kvm'><name>g</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
           "<memory>65536</memory><devices><disk type='file'/></devices></domain>")
    hook_bin = os.path.join(BUILD, "src", "hook", "vfmig-hook")
    with tempfile.TemporaryDirectory() as d:
        dom = os.path.join(d, "dom.xml")
        with open(dom, "w") as f:
            f.write(xml)
        script = os.path.join(d, "vfmig")
        with open(script, "w") as f:
            f.write(f'#!/bin/sh\nexec {hook_bin} qemu "$@"\n')
        os.chmod(script, 0o755)
        cat = timed(["sh", "-c", f"cat < {dom}"], runs * 4)
        hook = timed(["sh", "-c", f"{VFMIGCTL} hook qemu g migrate begin - < {dom}"], runs * 4)
        rows = [f"| hook, domain without hostdevs | cat | {ms(cat)} | 1.00x |",
                f"| hook, domain without hostdevs | vfmigctl hook qemu … migrate begin | {ms(hook)} | {hook[1] / cat[1]:.2f}x |"]
        if os.path.exists(hook_bin):
            fast = timed(["sh", "-c", f"{hook_bin} qemu g migrate begin - < {dom}"], runs * 4)
            inst = timed(["sh", "-c", f"{script} g migrate begin - < {dom}"], runs * 4)
            rows += [f"| hook, domain without hostdevs | vfmig-hook qemu … migrate begin | {ms(fast)} | {fast[1] / cat[1]:.2f}x |",
                     f"| hook, domain without hostdevs | installed hook (sh script, vfmig-hook) | {ms(inst)} | {inst[1] / cat[1]:.2f}x |"]
    return ["| case | tool | ms (min / median / max) | ratio to cat |", "|---|---|---|---|"] + rows


def case_check(runs):
    """Pre-flight of a domain with 8 hostdevs between two profile files."""
    host = gen_host("server", "--pfs", "8", "--vfs-per-pf", "1")
    try:
        env = dict(ENV, LD_PRELOAD=KMOCK, VFMIG_SYSROOT=host)
        devdir = os.path.join(host, "sys", "bus", "pci", "devices")
        vfs = sorted(b for b in os.listdir(devdir) if os.path.islink(os.path.join(devdir, b, "physfn")))[:8]
        subprocess.run([VFMIGCTL, "bind", *vfs], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([VFMIGCTL, "probe", *vfs], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        prof = os.path.join(host, "profile.json")
        with open(prof, "w") as f:
            subprocess.run([VFMIGCTL, "profile", "--json"], env=env, stdout=f, stderr=subprocess.DEVNULL, check=True)
        devs = "".join(f"<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x{b[0:4]}' "
                       f"bus='0x{b[5:7]}' slot='0x{b[8:10]}' function='0x{b[11]}'/></source></hostdev>" for b in vfs)
        dom = os.path.join(host, "dom.xml")
        with open(dom, "w") as f:
            f.write(f"<domain><name>d8</name><features><acpi/></features><devices>{devs}</devices></domain>")
        chk = timed([VFMIGCTL, "check", "--from", prof, "--to", prof, "--domain-xml", dom, "--json"], runs,
                    env=dict(ENV))
        ver = timed([VFMIGCTL, "--version"], runs)
    except RuntimeError as e:
        if "exit 3" not in str(e):
            raise
        raise
    finally:
        shutil.rmtree(host)
    return ["| case | tool | ms (min / median / max) | ratio to process start |", "|---|---|---|---|",
            f"| process start | vfmigctl --version | {ms(ver)} | 1.00x |",
            f"| pre-flight, 8 hostdevs, two profiles | vfmigctl check --from --to | {ms(chk)} | {chk[1] / ver[1]:.2f}x |"]


def profile_device(bdf, dirty=True, flags=True):
    """A ConnectX VF as a profile file has it (vfmigctl profile --json)."""
    return {"bdf": bdf, "vendor": "15b3", "device": "101e", "subsystem_vendor": "15b3", "subsystem_device": "0016",
            "class": "020000", "revision": "00", "driver": "mlx5_vfio_pci", "module": "mlx5_vfio_pci",
            "module_version": None, "module_srcversion": "ABC123", "selected_driver": "mlx5_vfio_pci",
            "selected_module": "mlx5_vfio_pci", "selection_kind": "vendor", "physfn": bdf[:-1] + "0",
            "pf_driver": "mlx5_core", "numa_node": 0, "iommu_group": 20, "group_viable": True, "vfio_bound": True,
            "in_use": False, "facts_migration": True, "facts_dirty_tracking": "device", "firmware": "22.39.1002",
            "vfio_migration": {"supported": flags, "stop_copy": flags, "p2p": flags, "pre_copy": flags,
                               "dirty_tracking": dirty, "source": "kernel", "detail": "flags", "probed_at": 0,
                               "age_s": 0}}


def profile_host(name, devices):
    return {"format": 1, "hostname": name, "kernel_release": "6.12.0", "iommu_mode": "on", "cpu_model": "x",
            "vfmig_version": "0.1.0", "libvirt_version": "10.10.0", "qemu_version": "9.2.0", "created_at": 0,
            "devices": devices}


def case_placement(runs, n_domains=50, n_hosts=10):
    """The evacuate plan for 50 domains (1-2 VFs each) over 10 candidate
    hosts from profile files, against the same question asked as one ranked
    check per domain (which has no memory of what the others were given)."""
    work = tempfile.mkdtemp(prefix="vfm-bp-")
    try:
        src_devs, xmls = [], []
        for d in range(n_domains):
            bdfs = [f"0000:{0x10 + d:02x}:00.{f}" for f in range(1, 2 + d % 2)]
            src_devs += [profile_device(b) for b in bdfs]
            hd = "".join(f"<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x0000' "
                         f"bus='0x{b[5:7]}' slot='0x00' function='0x{b[11]}'/></source></hostdev>" for b in bdfs)
            x = os.path.join(work, f"d{d:02d}.xml")
            with open(x, "w") as f:
                f.write(f"<domain><name>d{d:02d}</name><features><acpi/></features><devices>{hd}</devices></domain>")
            xmls.append(x)
        src = os.path.join(work, "src.json")
        with open(src, "w") as f:
            json.dump(profile_host("src", src_devs), f)
        hosts = []
        for h in range(n_hosts):
            # 4..13 free VFs; every third host's without dirty tracking (replug)
            devs = [profile_device(f"0000:{0x80 + h:02x}:{v // 8:02x}.{v % 8}", dirty=h % 3 != 0)
                    for v in range(4 + h)]
            p = os.path.join(work, f"h{h:02d}.json")
            with open(p, "w") as f:
                json.dump(profile_host(f"h{h:02d}", devs), f)
            hosts.append(p)
        to = [a for p in hosts for a in ("--to-profile", p)]
        evac = [VFMIGCTL, "evacuate", "--from", src, *[a for x in xmls for a in ("--domain-xml", x)], *to,
                "--dry-run", "--json"]
        # no destination device planned twice
        out = subprocess.run(evac, capture_output=True, text=True, env=ENV)
        plan = json.loads(out.stdout.splitlines()[0])["plan"]
        given = [(e["destination"], d.split(" → ")[1]) for e in plan if e["destination"] for d in e["devices"]]
        assert len(given) == len(set(given)), "a destination device planned twice"
        loop = " ; ".join(f"{VFMIGCTL} check --from {src} --domain-xml {x} {' '.join(to)} --json >/dev/null"
                          for x in xmls)
        ev = timed(evac, runs, env=ENV)
        checks = timed(["sh", "-c", loop + " ; true"], runs, env=ENV)
        ver = timed([VFMIGCTL, "--version"], runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    placed = sum(1 for e in plan if e["action"] != "leave")
    return [f"{n_domains} domains (1 or 2 ConnectX VFs each, {len(src_devs)} devices), {n_hosts} candidate hosts "
            f"with 4 to {3 + n_hosts} free VFs each (every third without dirty tracking: replug only); "
            f"{placed} domains placed, {n_domains - placed} left for want of devices; no device planned twice "
            "(checked on the plan).", "",
            "| case | tool | ms (min / median / max) | ratio to 50 ranked checks |", "|---|---|---|---|",
            f"| process start | vfmigctl --version | {ms(ver)} | {ver[1] / checks[1]:.2f}x |",
            f"| {n_domains} x {n_hosts} | {n_domains} x vfmigctl check --to-profile x{n_hosts} (no placement) | "
            f"{ms(checks)} | 1.00x |",
            f"| {n_domains} x {n_hosts} | vfmigctl evacuate --from --dry-run (placement) | {ms(ev)} | "
            f"{ev[1] / checks[1]:.2f}x |"]


def case_migrate(runs):
    """vfmigctl migrate against bare virsh migrate of the same tiny guest
    between the two libvirtd of the lab, alternating so both see the same
    state; includes vfmigctl's pre-flight."""
    lib = os.path.join(ROOT, "tests", "lab", "twohost")
    work = tempfile.mkdtemp(prefix="vfm-bm-")
    sa, sb = os.path.join(work, "sa"), os.path.join(work, "sb")
    subprocess.run([sys.executable, GEN, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "1", sa], check=True)
    subprocess.run([sys.executable, GEN, "--profile", "server", "--pfs", "1", "--vfs-per-pf", "1", sb], check=True)
    sh = f"source {ROOT}/tests/lab/lab-lib.sh; source {lib}/twohost-lib.sh; "
    try:
        subprocess.run(["bash", "-c", sh + f"th_install >/dev/null && th_up {work}/lab >/dev/null && "
                        "th_define_guest a bm >/dev/null && th_start_guest a bm >/dev/null"], check=True)
        uri = {h: f"qemu+unix:///system?socket={work}/lab/{h}/run/libvirt/libvirt-sock" for h in "ab"}
        vfm, virsh = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            subprocess.run([VFMIGCTL, "-c", uri["a"], "--sysroot", sa, "migrate", "bm", uri["b"], "--peer",
                            f"sysroot:{sb}"], env=ENV, check=True, stdout=subprocess.DEVNULL)
            vfm.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(["virsh", "-c", uri["b"], "migrate", "--live", "--p2p", "bm", uri["a"]], check=True,
                           stdout=subprocess.DEVNULL)
            virsh.append(time.perf_counter() - t0)
    finally:
        subprocess.run(["bash", "-c", sh + f"th_down {work}/lab"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    v = (min(vfm), statistics.median(vfm), max(vfm))
    b = (min(virsh), statistics.median(virsh), max(virsh))
    return ["| case | tool | ms (min / median / max) | ratio to virsh |", "|---|---|---|---|",
            f"| live migration, tiny TCG guest, two libvirtd | virsh migrate --live --p2p | {ms(b)} | 1.00x |",
            f"| live migration, tiny TCG guest, two libvirtd | vfmigctl migrate (with pre-flight) | {ms(v)} | {v[1] / b[1]:.2f}x |"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="64,512,2048,8192")
    ap.add_argument("--cases", default="list,bind-mock,check,placement,hook,migrate,lab")
    ap.add_argument("--output", default=os.path.join(ROOT, "docs", "BENCHMARKS.md"))
    a = ap.parse_args()
    cases = a.cases.split(",")
    sizes = [int(x) for x in a.sizes.split(",")]
    subprocess.run(["ninja", "-C", BUILD], check=True, stdout=subprocess.DEVNULL)

    out = ["# Benchmarks", "",
           "Generated by `python3 bench/run.py " + " ".join(sys.argv[1:]) + "` - every figure is a ratio "
           "against a baseline measured in the same run; times are wall clock, one warm-up run then "
           f"{a.runs} runs (fewer for the slow peers on the largest hosts), min / median / max.", "",
           "## Machine", "", "| fact | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in machine_facts()]
    if "list" in cases:
        out += ["", "## list/select on synthetic hosts", "",
                "Synthetic server hosts (8 PFs of mixed vendors, their VFs, bridges, a boot VGA), "
                "`tests/hosts/gen-host.py`. The peers read the same tree mounted over `/sys` in a private "
                "mount namespace.", ""]
        out += case_list(a.runs, sizes)
        out += ["", "![time against devices](bench-list.png)"]
    if "bind-mock" in cases:
        out += ["", "## bind on the kernel mock", "",
                "Both sides go through the LD_PRELOAD kernel mock on the same tree; vfmigctl adds the "
                "journal (intent and ownership records), the per-device lock, the host-safety and group "
                "checks, and the verification.", ""]
        out += case_bind_mock(a.runs)
    if "check" in cases:
        out += ["", "## check pre-flight", ""]
        out += case_check(a.runs)
    if "placement" in cases:
        out += ["", "## evacuate plan (placement over offline profiles)", ""]
        out += case_placement(a.runs)
    if "hook" in cases:
        out += ["", "## libvirt hook latency", ""]
        out += case_hook(a.runs)
    if "migrate" in cases:
        out += ["", "## migrate against bare virsh", "",
                "The same tiny guest, migrated a -> b by vfmigctl and back by virsh in each round "
                "(two libvirtd on this machine, tests/lab/twohost). The guest has no hostdev: this "
                "machine has no VFIO device (DESIGN.md, Decisions 15).", ""]
        out += case_migrate(a.runs)
    if "lab" in cases:
        lab = os.path.join(RESULTS, "bind.md")
        out += ["", "## bind on the real kernel (lab VM)", ""]
        if os.path.exists(lab):
            with open(lab) as f:
                out += [f.read().rstrip()]
        else:
            out += ["Not measured in this run: `bash bench/bench-bind.sh` boots the lab VM and writes "
                    "`bench/results/bind.md`."]
    with open(a.output, "w") as f:
        f.write("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
