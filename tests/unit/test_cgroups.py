"""The cgroup drivers. v2 runs against a directory laid out like a cgroup2 file
system (this host has no v2 controllers); v1 rule rendering is pure."""

import os

import pytest

from berth.oci.runtime_spec import CPU, BlockIO, DeviceRule, Memory, Pids, Resources
from berth.runtime import cgroups
from berth.runtime.cgroups import device_rules
from berth.runtime.cgroups.v1 import devices as v1devices
from berth.runtime.cgroups.v2 import cpu as v2cpu
from berth.runtime.cgroups.v2.manager import V2Manager

FILES = ("cgroup.procs", "cgroup.subtree_control", "cgroup.freeze", "cgroup.events", "memory.max", "memory.low",
         "memory.swap.max", "cpu.weight", "cpu.max", "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight")  # fmt: skip


@pytest.fixture
def fake_v2(tmp_path):
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    orig_mkdir = os.mkdir

    def mkdir(path, mode=0o777):
        orig_mkdir(path, mode)
        for name in FILES:  # the kernel fills a new cgroup with its files
            open(os.path.join(path, name), "w").close()
        # the kernel's shows what its parent enables, at each read: here, what the root has
        with open(os.path.join(path, "cgroup.controllers"), "w") as f:
            f.write("cpuset cpu io memory pids\n")

    return root, mkdir


def test_v2_create_apply_and_destroy(fake_v2, monkeypatch):
    root, mkdir = fake_v2
    monkeypatch.setattr(os, "mkdir", mkdir)
    mgr = V2Manager(str(root), "/a/b")
    made = mgr.create()
    assert made == (str(root / "a"), str(root / "a/b"))
    assert (root / "cgroup.subtree_control").read_text() == "+cpuset +memory +cpu +pids +io"
    assert (root / "a/cgroup.subtree_control").read_text() == "+cpuset +memory +cpu +pids +io"
    mgr.apply(
        Resources(
            memory=Memory(limit=64 << 20, swap=128 << 20, reservation=-1),
            cpu=CPU(shares=1024, quota=50000, period=100000, cpus="0"),
            pids=Pids(limit=20),
            block_io=BlockIO(weight=500),
            unified={"memory.low": "4096"},
        ),
        devices=False,
    )  # the device program needs a real cgroup: test_device_filter.py
    d = root / "a/b"
    assert (d / "memory.max").read_text() == str(64 << 20)
    assert (d / "memory.swap.max").read_text() == str(64 << 20)
    assert (d / "memory.low").read_text() == "4096"
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "cpu.weight").read_text() == "39"
    assert (d / "cpuset.cpus").read_text() == "0"
    assert (d / "pids.max").read_text() == "20"
    assert (d / "io.weight").read_text() == "default 4950"
    mgr.join()
    assert (d / "cgroup.procs").read_text() == "0"
    assert mgr.layout() == [("", "cgroup2", "", str(d))]


def test_v2_rejects_path_escape_in_unified(fake_v2, monkeypatch):
    root, mkdir = fake_v2
    monkeypatch.setattr(os, "mkdir", mkdir)
    mgr = V2Manager(str(root), "/c")
    mgr.create()
    with pytest.raises(ValueError, match="invalid file name"):
        mgr.apply(Resources(unified={"../x": "1"}), devices=False)


def test_shares_conversion_matches_runc():
    assert v2cpu.shares_to_weight(2) == 1
    assert v2cpu.shares_to_weight(262144) == 10000
    assert v2cpu.shares_to_weight(1024) == 39


def test_v1_device_rules_deny_first_then_config_then_defaults():
    rules = device_rules.rules_for(Resources(devices=(DeviceRule(allow=False, access="rwm"),
                                                   DeviceRule(allow=True, type="c", major=10, minor=200, access="rw"))))  # fmt: skip
    texts = [(r.allow, v1devices.rule_text(r)) for r in rules]
    assert texts[0] == (False, "a")
    assert (True, "c 10:200 rw") in texts
    assert (True, "c 1:3 rwm") in texts and (True, "c 136:* rwm") in texts


def test_normalize_paths():
    assert cgroups.normalize("", "abc") == "/abc"
    assert cgroups.normalize("x/y", "abc") == "/x/y"
    assert cgroups.normalize("/a/../b", "abc") == "/b"
    with pytest.raises(ValueError, match="systemd"):
        cgroups.normalize("system.slice:berth:abc", "abc")


def test_detect_reads_mountinfo():
    assert cgroups.detect() in ("v1", "v2", "hybrid")
