"""The cgroup v2 driver: one directory, controllers enabled down the tree."""

from __future__ import annotations

import os
import time

from berth.errors import InvalidArgument, Unavailable
from berth.oci.runtime_spec import Resources
from berth.runtime import cgroups
from berth.runtime.cgroups import device_rules, files, rdma
from berth.runtime.cgroups.v2 import cpu, cpuset, hugetlb, io, memory, pids

CONTROLLERS = (cpuset, memory, cpu, pids, io, hugetlb, rdma)


def _enable_controllers(directory: str) -> None:
    """Every controller `directory` has, enabled for its children; left as it is where it is not
    ours to change (above a subtree delegated to a rootless user: its delegator enabled them)."""
    control = os.path.join(directory, "cgroup.subtree_control")
    if not os.access(control, os.W_OK):
        return
    available = set(files.read(directory, "cgroup.controllers").split())
    wanted = " ".join("+" + c.NAME for c in CONTROLLERS if c.NAME in available)
    if wanted:
        files.write(directory, "cgroup.subtree_control", wanted)


class V2Manager(cgroups.Manager):
    def __init__(self, root: str, path: str, delegated: bool = False) -> None:
        """delegated: an unprivileged caller's, in a subtree the host delegated to it, where no
        device program can be loaded (that takes CAP_BPF on the host): a rootless container has
        the host's device nodes bound in, and its user namespace leaves their owners in charge."""
        self.root = root
        self.path = path
        self.dir = root + path
        self.delegated = delegated

    def create(self) -> tuple[str, ...]:
        made = files.make_dirs(self.dir)
        d = self.root
        for part in [p for p in self.path.split("/") if p]:  # the container's controllers, enabled down to it
            _enable_controllers(d)
            d = os.path.join(d, part)
        return made

    def apply(self, resources: Resources | None, extra_devices: tuple = (), devices: bool = True) -> None:
        """devices: load the device filter too. Always at create, rules or none: a cgroup v2
        without a device program lets a container open any device node it can mknod."""
        if devices and not self.delegated:
            from berth.runtime.cgroups.v2 import devices as device_filter

            device_filter.apply(self.dir, device_rules.rules_for(resources, extra_devices))
        if resources is None:
            return
        network = resources.network
        if network is not None and (network.class_id is not None or network.priorities):
            raise InvalidArgument("cgroup: linux.resources.network needs net_cls and net_prio, which cgroup v2 has not")
        for ctl in CONTROLLERS:
            ctl.apply(self.dir, resources)
        for key, value in resources.unified.items():
            if "/" in key or key.startswith("."):
                raise ValueError(f"linux.resources.unified: invalid file name {key!r}")
            files.write(self.dir, key, value)

    def join(self) -> None:
        files.write(self.dir, "cgroup.procs", 0)

    def pids(self) -> list[int]:
        return files.pids(self.dir)

    def _freeze(self, value: int) -> None:
        files.write(self.dir, "cgroup.freeze", value)
        for _ in range(1000):
            if f"frozen {value}" in files.read(self.dir, "cgroup.events"):
                return
            time.sleep(0.001)
        raise Unavailable(f"cgroup {self.dir} did not reach frozen={value}")

    def freeze(self) -> None:
        self._freeze(1)

    def thaw(self) -> None:
        self._freeze(0)

    def frozen(self) -> bool:
        try:
            return files.read(self.dir, "cgroup.freeze") == "1"
        except FileNotFoundError:
            return False

    def destroy(self, made: tuple[str, ...]) -> None:
        files.remove_dirs(made, leaves=[self.dir])

    def layout(self) -> list[tuple[str, str, str, str]]:
        return [("", "cgroup2", "", self.dir)]

    def stats(self) -> dict:
        cpu = files.keyed(files.read_or(self.dir, "cpu.stat"))
        service = []
        for line in files.read_or(self.dir, "io.stat").splitlines():
            device, *pairs = line.split()
            major, _, minor = device.partition(":")
            values = dict(p.partition("=")[::2] for p in pairs)
            for key, op in (("rbytes", "Read"), ("wbytes", "Write")):
                if values.get(key, "").isdigit():
                    service.append({"major": int(major), "minor": int(minor), "op": op, "value": int(values[key])})
        return {
            "cpu": {"usage": {"total": cpu.get("usage_usec", 0) * 1000, "user": cpu.get("user_usec", 0) * 1000,
                              "kernel": cpu.get("system_usec", 0) * 1000}},
            "memory": {"usage": {"usage": files.number(files.read_or(self.dir, "memory.current")),
                                 "limit": files.number(files.read_or(self.dir, "memory.max"))},
                       "stats": files.keyed(files.read_or(self.dir, "memory.stat"))},
            "pids": {"current": files.number(files.read_or(self.dir, "pids.current")),
                     "limit": files.number(files.read_or(self.dir, "pids.max"))},
            "blkio": {"ioServiceBytesRecursive": service},
        }  # fmt: skip
