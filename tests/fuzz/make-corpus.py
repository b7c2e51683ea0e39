#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Regenerates the seed corpora in tests/fuzz/corpus/TARGET/ from real files
(the host generator's modules.alias, data/drivers, data/policies) and from
hand-written broken cases. Run from anywhere; overwrites seed-* files only,
so inputs added by hand (or minimised crashes) stay."""
import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def alias():
    with tempfile.TemporaryDirectory() as t:
        for profile in ("server", "laptop", "broken-garbage"):
            root = os.path.join(t, profile)
            subprocess.run([sys.executable, os.path.join(SRC, "tests/hosts/gen-host.py"),
                            "--profile", profile, root], check=True, stdout=subprocess.DEVNULL)
            for path in glob.glob(os.path.join(root, "lib/modules/*/modules.*")):
                text = open(path, encoding="utf-8", errors="surrogateescape").read()
                # libFuzzer's -max_len would cut the 70000-byte line anyway
                lines = [ln if len(ln) < 400 else ln[:400] for ln in text.split("\n")]
                put("alias", "%s-%s" % (profile, os.path.basename(path)), "\n".join(lines))
                if profile == "server" and path.endswith("modules.alias"):
                    for i, ln in enumerate(lines):
                        if ln.startswith("alias vfio_pci:"):
                            put("alias", "line-%02d" % i, ln + "\n")
    put("alias", "empty", "")
    put("alias", "comment-only", "# nothing\n#\n")
    put("alias", "crlf", "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\r\n"
        "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\r\n")
    put("alias", "lower-hex", "alias vfio_pci:v000019e5d0000a256sv*sd*bc*sc*i* hisi-acc-vfio-pci\n")
    put("alias", "no-newline", "alias vfio_pci:v000010DEd*sv*sd*bc03sc*i* xe-vfio-pci")
    put("alias", "brackets", "alias vfio_pci:v0000[0-9]*d[!a]*sv*sd*bc*sc*i\\* odd\n"
        "alias vfio_pci:v[ x\n")
    put("alias", "many-stars", "alias vfio_pci:" + "*v*" * 20 + " stars\n")
    put("alias", "tabs-spaces", "  alias \t vfio_pci:v*d*sv*sd*bc02sc*i*\t\tnet_vfio  \n\n \n")
    put("alias", "modules-dep", "kernel/drivers/vfio/pci/mlx5/mlx5-vfio-pci.ko.xz: kernel/a.ko\n"
        ".ko\n/.ko:\nkernel/x.ko.zst\n:\n")


def driver():
    for path in sorted(glob.glob(os.path.join(SRC, "data/drivers/*.conf"))):
        put("driver", os.path.basename(path), open(path, "rb").read())
    base = "[Driver]\nName=foo_vfio_pci\nModule=foo-vfio-pci\nKind=vendor\n\n[Match]\nIds=1234:5678\n"
    bad = {
        "no-name": "[Driver]\nModule=x\nKind=generic\n",
        "name-slash": "[Driver]\nName=../x\nModule=x\nKind=generic\n",
        "kind-bogus": "[Driver]\nName=x\nModule=x\nKind=maybe\n",
        "kind-missing": "[Driver]\nName=x\nModule=x\n",
        "two-driver": base + "[Driver]\nName=y\n",
        "vendor-no-match": "[Driver]\nName=x\nModule=x\nKind=vendor\n",
        "unknown-group": base + "[Other]\nA=b\n",
        "unknown-key": base + "Typo=1\n",
        "dup-key": base + "Ids=1:2\n",
        "key-outside": "Name=x\n" + base,
        "no-equals": base + "just words\n",
        "bad-header": "[Driver\n" + base,
        "empty-header": "[]\n" + base,
        "bad-ids": base.replace("1234:5678", "12345:678;zzzz:0000;1:2:3"),
        "ids-4": base.replace("1234:5678", "0x15b3:*:*:0x0001 ; 8086:1889"),
        "class": base + "Class=0x0200,03,0c0330\n",
        "class-bad": base + "Class=0x\n",
        "revision": base + "Revision=0x\n",
        "revision-big": base + "Revision=100\n",
        "function": base + "Function=00:02.0\n",
        "function-bad": base + "Function=../../etc\n",
        "tristates": base + "VirtualFunction=yes\nHasVFs=False\nPfDriver=a,b\nBdf=0000:3b:*\nPciPath=pci*/[\n",
        "migration": base + "[Migration]\nSupported=TRUE\nStopCopy=no\nDirtyTracking=gpu\n",
        "prereq": base + "[Prerequisites]\nPfDriver=;;\nDevlinkMigratable=1\n",
        "qemu-props": base + "[Qemu]\nDeviceProperties=x-igd-opregion=on; legacy\nRomRequired=true\n",
        "not-utf8": b"[Driver]\nName=\xff\xfe\nModule=x\nKind=generic\n",
        "semicolon-comments": "; c\n# c\n[Driver]\nName = x \n Module = x\nKind=generic\n",
    }
    for name, text in bad.items():
        put("driver", name, text)


def policy():
    for path in sorted(glob.glob(os.path.join(SRC, "data/policies/*.conf"))):
        put("policy", os.path.basename(path), open(path, "rb").read())
    good = {
        "man-example": "[Policy cx6-vfs]\nIds=15b3:101e\nPciPath=pci0000:00/0000:00:01.0/*\n"
                       "Manage=true\nAutoBind=true\n\n# this GPU stays on plain vfio-pci\n"
                       "[Policy gpu0]\nPciPath=pci0000:00/0000:00:03.1/0000:65:00.0\nManage=true\n"
                       "Prefer=vfio-pci\n",
        "select-test": "[Policy mellanox]\nIds=15b3:101e\nManage=true\nAutoBind=true\n\n"
                       "[Policy no-variant]\nPciPath=pci0000:00/0000:00:01.0/*\nDeny=mlx5_vfio_pci\n\n"
                       "[Policy prefer-generic]\nBdf=0000:5e:*\nPrefer=vfio-pci\n",
        "cli-test": "[Policy mlx]\nIds=15b3:*\nManage=true\nAutoBind=true\n",
        "class-deny": "[Policy x]\nClass=02\nManage=true\nDeny=vfio-pci, other\n",
        "vf-pf": "[Policy vfs]\nVirtualFunction=true\nPfDriver=mlx5_core\nHasVFs=false\nRevision=0\n"
                 "Function=3b:00.2\n",
    }
    bad = {
        "half-bad": "[Policy a]\nIds=1234:5678\nManage=true\n[Policy b]\nManage=perhaps\n",
        "no-name": "[Policy ]\nManage=true\n",
        "wrong-group": "[Driver]\nName=x\n",
        "prefer-slash": "[Policy p]\nPrefer=../../bin/sh\n",
        "prefer-empty": "[Policy p]\nPrefer=\n",
        "unknown-key": "[Policy p]\nManage=true\nManaged=true\n",
        "glob-odd": "[Policy g]\nBdf=[[[*\nPciPath=*/*/*/*/*/*/*/*/*\n",
    }
    for name, text in {**good, **bad}.items():
        put("policy", name, text)


def bdf():
    for i, s in enumerate([
            "0000:3b:00.2", "3b:00.2", "0000:3B:00.2", "3B:1F.7", "0000:00:20.0", "0000:00:1f.8",
            "ffff:ff:1f.7", "../../../x", "0000:3b:00/2", "0000:..:00.2", "0000:3b:00.2\n",
            " 3b:00.2", "0000:3b:00.22", "00000:3b:00.2", "0000-3b-00.2", "g000:3b:00.2",
            "", "3b.00.2", "0000:3b:0.2", "\xff\xfe3b:00.2", "0000:3b:00.2 ", "+000:3b:00.2",
            "0x00:3b:00.2", "3b:00.2\x00junk"]):
        put("bdf", "%02d" % i, s.encode("utf-8", "surrogateescape"))


def journal():
    intent = {"op": "bind", "bdf": "0000:00:01.0", "target_driver": "mlx5_vfio_pci",
              "previous_driver": "mlx5_core", "previous_override": None,
              "original_driver": "mlx5_core", "original_override": None,
              "started_at": 1700000000, "pid": 4242}
    owned = {"bdf": "0000:00:01.0", "original_driver": "mlx5_core", "original_override": None,
             "driver": "mlx5_vfio_pci", "bound_at": 1700000000}
    put("journal", "intent-bind", json.dumps(intent, indent=2))
    put("journal", "intent-unbind", json.dumps(dict(intent, op="unbind", target_driver=None)))
    put("journal", "owned", json.dumps(owned, indent=2))
    mdev = {"uuid": "6695eb01-f6a4-8304-79aa-97f2502e193f", "parent": "mtty", "type": "mtty-1",
            "created_at": 1700000000, "pid": 4242}
    put("journal", "mdev", json.dumps(mdev, indent=2))
    put("journal", "mdev-path-parent", json.dumps(dict(mdev, parent="../../x")))
    put("journal", "mdev-types", json.dumps(dict(mdev, parent=1, type=None)))
    for name, text in {
            "empty": "", "null": "null", "array": "[]", "string": "\"bind\"",
            "truncated": json.dumps(intent)[:40],
            "op-unknown": json.dumps(dict(intent, op="rebind")),
            "op-number": json.dumps(dict(intent, op=1)),
            "types": json.dumps(dict(intent, target_driver=7, previous_driver=[], original_driver={})),
            "pid-string": json.dumps(dict(intent, pid="42", started_at="now")),
            "pid-big": json.dumps(dict(intent, pid=2**40, started_at=-2**63)),
            "pid-float": json.dumps(dict(intent, pid=1.5e300, started_at=0.5)),
            "pid-null": json.dumps(dict(intent, pid=None, started_at=None)),
            # pid/started_at/bound_at holding an object or array: a fatal
            # critical in json_object_get_int_member (crashes/journal/)
            "nul-escape": json.dumps(dict(intent, target_driver="a\u0000b")),
            "unicode": json.dumps(dict(intent, target_driver="\u00e9\U0001F600"), ensure_ascii=False),
            "dup-keys": '{"op":"bind","op":"unbind","pid":1,"pid":2}',
            "deep": "[" * 2000 + "]" * 2000,
            "not-utf8": b'{"op":"bind","target_driver":"\xff\xfe"}',
    }.items():
        put("journal", name, text)


def varlink():
    for i, data in enumerate([
            b'{"method":"io.vfmig.Hello"}\0{"method":"io.vfmig.Status"}\0',
            b'{"method":"io.vfmig.List","parameters":{"all":true}}\0',
            b'{"method":"io.vfmig.Bind","parameters":{"bdfs":["0000:3b:00.2","3b:00.3"],'
            b'"driver":"mlx5_vfio_pci","dry_run":false},"more":true}\0',
            b'{"method":"io.vfmig.Explain","parameters":{"bdf":"0000:3b:00.2"},"oneway":true}\0',
            b'{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.vfmig"}}\0',
            b'{"method":"io.vfmig.Bind","parameters":{"bdfs":[1,null,"x"],"driver":7,"all":"yes"}}\0',
            b'{"method":"io.vfmig.Unbind","parameters":{"bdfs":"0000:3b:00.2","bogus":{}}}\0',
            # the daemon test's malformed messages (tests/daemon/test-daemon.py)
            b"{not json}\0", b"\xff\xfe\x00", b"[1,2]\0", b"42\0", b'{"parameters":{}}\0',
            b'{"method":"nodots"}\0', b'{"method":"io.vfmig.list"}\0', b'{"method":3}\0',
            b'{"method":"io.vfmig.List","parameters":[]}\0',
            b'{"method":"io.vfmig.List","more":"yes"}\0',
            b'{"method":"io.vfmig.List","oneway":true,"more":true}\0',
            b'{"method":"io.vfmig.List","upgrade":true}\0',
            bytes(range(1, 256)) + b"\0",
            # an empty message ("\0") is a g_critical in vfm_varlink_call_parse:
            # crashes/varlink/ until fixed
            b'{"method":"io.vfmig.Hello"}']):
        put("varlink", "%02d" % i, data)


alias()
varlink()
driver()
policy()
bdf()
journal()
