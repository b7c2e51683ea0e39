#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The library's layering, from the sources (docs/ARCHITECTURE.md): every
folder of src/lib includes only itself and the folders below it, in the order
src/lib/meson.build builds them; no two files include each other in a
circle (a module being a .c with its .h); drivers-db and common include
nothing of the library; the daemon
holds no sysfs path (it reaches the host only through the library). Prints
TAP; with --dot, the include graph between folders in Graphviz form."""
import os
import re
import sys
from collections import defaultdict

SRC = os.path.join(os.environ.get("VFMIG_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", "..")), "src")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer_order():
    text = open(os.path.join(SRC, "lib", "meson.build")).read()
    block = text[text.index("vfm_layers = ["):]
    block = block[:block.index("\n]")]
    return re.findall(r"^\s*\['([a-z]+)',", block, re.M)


def sources():
    """file name -> (area, path) for every .c/.h under src; area is the lib
    folder name or the top directory (common, drivers-db, cli, daemon)."""
    out = {}
    for top in sorted(os.listdir(SRC)):
        base = os.path.join(SRC, top)
        for dirpath, _, files in os.walk(base):
            for f in files:
                if f.endswith((".c", ".h")):
                    rel = os.path.relpath(dirpath, SRC).split(os.sep)
                    area = rel[1] if rel[0] == "lib" and len(rel) > 1 else rel[0]
                    out.setdefault(f, (area, os.path.join(dirpath, f)))
    return out


def stem(name):
    """A module: a header and its .c are one (vfm-claims.h + vfm-claims.c)."""
    return name.rsplit(".", 1)[0]


def main():
    order = layer_order()
    rank = {name: i + 2 for i, name in enumerate(order)}
    rank.update({"common": 0, "drivers-db": 1, "cli": 100, "daemon": 100})
    files = sources()
    edges = defaultdict(set)          # file -> included files
    folder_edges = defaultdict(int)   # (area, area) -> count
    bad = []
    for name, (area, path) in files.items():
        for inc in INCLUDE.findall(open(path).read()):
            if inc not in files:
                continue  # generated (vfm-config.h, resources)
            to_area = files[inc][0]
            if stem(inc) != stem(name):
                edges[stem(name)].add(stem(inc))
            if to_area != area:
                folder_edges[(area, to_area)] += 1
            if rank.get(to_area, 0) > rank.get(area, 0) or (area in ("cli", "daemon") and to_area in ("cli", "daemon") and to_area != area):
                bad.append(f"{os.path.relpath(path, SRC)} ({area}) includes {inc} ({to_area})")
    if "--dot" in sys.argv:
        print("digraph layers {\n  rankdir=BT;")
        for (a, b), n in sorted(folder_edges.items()):
            print(f'  "{a}" -> "{b}" [label="{n}"];')
        print("}")
        return 0

    n = 0
    fail = 0

    def report(ok, what, details=()):
        nonlocal n, fail
        n += 1
        print(f"{'ok' if ok else 'not ok'} {n} - {what}")
        for d in details:
            print(f"# {d}")
        fail |= not ok

    report(order[:2] == ["base", "proto"] and order[-1] == "api", f"layers in order: {' < '.join(order)}")
    report(not bad, "no include runs up a layer (or between cli and daemon)", bad)

    # circles between files: Tarjan's strongly connected components
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted({stem(f) for f in files}):
        if v not in index:
            strong(v)
    report(not sccs, "no two modules (a .c with its .h) use each other, directly or around a circle",
           [" <-> ".join(c) for c in sccs])

    daemon_hits = []
    for name, (area, path) in files.items():
        if area != "daemon":
            continue
        text = open(path).read()
        for pat in ('"vfm-sysfs.h"', "vfm_sysfs_", "vfm_sysroot_pci_", "vfm_sysroot_sys_path"):
            if pat in text:
                daemon_hits.append(f"{os.path.relpath(path, SRC)}: {pat}")
    report(not daemon_hits, "the daemon holds no sysfs path (uevent in, library call out)", daemon_hits)

    sizes = defaultdict(int)
    for name, (area, path) in files.items():
        if area in rank and 2 <= rank[area] < 100:
            sizes[area] += sum(1 for _ in open(path))
    total = sum(sizes.values())
    big = [f"{a}: {s} of {total} lines" for a, s in sizes.items() if s > total * 0.30]
    report(not big, "no library folder holds more than about a quarter of the library (30 %)", big)
    print(f"1..{n}")
    return fail


if __name__ == "__main__":
    sys.exit(main())
