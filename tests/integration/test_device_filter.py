"""The cgroup v2 device filter, loaded into the kernel and attached to a cgroup of the host's
cgroup2 hierarchy (the unified one of a hybrid host, the only one of a v2 host): what a process
in that cgroup may open and mknod. Probes only open device nodes it made, never write them."""

from __future__ import annotations

import os
import stat
import uuid

import pytest

from berth.errors import FailedPrecondition
from berth.linux import bpf
from berth.oci.runtime_spec import DeviceRule, Resources
from berth.runtime import cgroups
from berth.runtime.cgroups import device_rules
from berth.runtime.cgroups.v2 import devices

pytestmark = pytest.mark.root


@pytest.fixture
def cgroup2():
    """A fresh cgroup in the host's cgroup2 hierarchy; removed at the end (its programs go with it)."""
    point = next((p for p, fstype, _ in cgroups.mounts() if fstype == "cgroup2"), None)
    assert point, "no cgroup2 hierarchy mounted: the device filter cannot be tested"
    path = os.path.join(point, f"berth-devtest-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    yield path
    os.rmdir(path)


def probe(cgroup: str, tmp_path, nodes: dict[str, tuple[str, int, int]], flags: int = os.O_RDONLY) -> dict[str, str]:
    """From a child in `cgroup`: mknod each node, open it; 'open', 'mknod denied' or 'open denied'.
    An open that passes the filter and fails in the driver (no such loop or pty: ENXIO, EIO) is 'open'."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write("0")
            out = []
            for name, (kind, major, minor) in nodes.items():
                path = str(tmp_path / name)
                mode = (stat.S_IFBLK if kind == "b" else stat.S_IFCHR) | 0o600
                try:
                    os.mknod(path, mode, os.makedev(major, minor))
                except PermissionError:
                    out.append(f"{name}=mknod denied")
                    continue
                try:
                    os.close(os.open(path, flags))
                    out.append(f"{name}=open")
                except PermissionError:
                    out.append(f"{name}=open denied")
                except OSError:
                    out.append(f"{name}=open")
            os.write(w, "\n".join(out).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return dict(line.split("=") for line in text.splitlines())


NODES = {"null": ("c", 1, 3), "kmsg": ("c", 1, 11), "tun": ("c", 10, 200), "loop0": ("b", 7, 0),
         "pts": ("c", 136, 9)}  # fmt: skip


def test_default_rules_keep_made_nodes_closed(cgroup2, tmp_path):
    devices.apply(cgroup2, device_rules.rules_for(None))
    fd = os.open(cgroup2, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert len(bpf.prog_query(fd, bpf.ATTACH_CGROUP_DEVICE)) == 1
    finally:
        os.close(fd)
    assert probe(cgroup2, tmp_path, NODES) == {"null": "open", "kmsg": "open denied", "tun": "open",
                                              "loop0": "open denied", "pts": "open"}  # fmt: skip


def test_config_rules_and_linux_devices(cgroup2, tmp_path):
    """An allow rule grants what it lists (read only here), a later deny overrides an earlier allow,
    a linux.devices entry is allowed, and a FIFO entry is no cgroup rule at all."""
    from berth.oci.runtime_spec import Device

    config = Resources(devices=(DeviceRule(allow=True, type="c", major=1, minor=11, access="r"),
                                DeviceRule(allow=True, type="b", major=7, access="rwm"),
                                DeviceRule(allow=False, type="b", major=7, minor=0, access="w")))  # fmt: skip
    extra = device_rules.for_devices((Device(type="c", path="/dev/x", major=1, minor=7),
                                      Device(type="p", path="/dev/fifo", major=0, minor=0)))  # fmt: skip
    assert [r.type for r in extra] == ["c"]
    devices.apply(cgroup2, device_rules.rules_for(config, extra))
    nodes = {"kmsg": ("c", 1, 11), "loop0": ("b", 7, 0), "loop1": ("b", 7, 1), "full": ("c", 1, 7)}
    assert probe(cgroup2, tmp_path, nodes) == {"kmsg": "open", "loop0": "open", "loop1": "open", "full": "open"}
    for p in tmp_path.iterdir():
        p.unlink()
    rw = probe(cgroup2, tmp_path, nodes, os.O_RDWR)
    assert rw == {"kmsg": "open denied", "loop0": "open denied", "loop1": "open", "full": "open"}


def test_allow_all_and_no_mknod(cgroup2, tmp_path):
    devices.apply(cgroup2, [DeviceRule(allow=False), DeviceRule(allow=True, type="a")])
    assert probe(cgroup2, tmp_path, {"kmsg": ("c", 1, 11)}) == {"kmsg": "open"}
    (tmp_path / "kmsg").unlink()
    # a second program on the same cgroup: all of them must allow (BPF_F_ALLOW_MULTI)
    devices.apply(cgroup2, [DeviceRule(allow=False), DeviceRule(allow=True, type="c", major=1, minor=3, access="rw")])
    assert probe(cgroup2, tmp_path, {"kmsg": ("c", 1, 11), "null": ("c", 1, 3)}) == {"kmsg": "mknod denied",
                                                                                     "null": "mknod denied"}  # fmt: skip


def test_bad_rule_and_bad_cgroup_fail_clearly(tmp_path, cgroup2):
    with pytest.raises(FailedPrecondition, match="invalid type 'x'"):
        devices.apply(cgroup2, [DeviceRule(allow=True, type="x")])
    with pytest.raises(FailedPrecondition, match="invalid access 'rq'"):
        devices.apply(cgroup2, [DeviceRule(allow=True, type="c", access="rq")])
    with pytest.raises(FailedPrecondition, match=f"attaching to {tmp_path}"):
        devices.apply(str(tmp_path), device_rules.rules_for(None))  # not a cgroup
    fd = os.open(cgroup2, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert bpf.prog_query(fd, bpf.ATTACH_CGROUP_DEVICE) == []  # nothing was left attached
    finally:
        os.close(fd)


def test_a_program_the_verifier_refuses_names_its_reason():
    endless = bytes((0x05, 0, 0xFF, 0xFF, 0, 0, 0, 0))  # goto -1: a loop, which the verifier refuses
    with pytest.raises(OSError, match="verifier"):
        bpf.prog_load(bpf.PROG_TYPE_CGROUP_DEVICE, endless)
