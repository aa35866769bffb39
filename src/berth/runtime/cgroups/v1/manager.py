"""The cgroup v1 driver: one directory per hierarchy, controllers applied in turn."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument
from berth.oci.runtime_spec import Resources
from berth.runtime import cgroups
from berth.runtime.cgroups import files

# controller module -> the Resources field it applies; each is imported only when
# a config sets that field (every module costs start-up time)
CONTROLLERS = (("cpuset", "cpu"), ("memory", "memory"), ("cpu", "cpu"), ("pids", "pids"),
               ("blkio", "block_io"), ("hugetlb", "hugepage_limits"), ("net_cls", "network"),
               ("net_prio", "network"), ("rdma", "rdma"), ("devices", "devices"))  # fmt: skip


def _asks(name: str, resources: Resources, field: str) -> bool:
    """Whether the config sets something the controller `name` applies."""
    if name == "net_cls":
        return resources.network is not None and resources.network.class_id is not None
    if name == "net_prio":
        return resources.network is not None and bool(resources.network.priorities)
    return bool(getattr(resources, field))


def _controller(name: str):
    # __import__ rather than importlib, which is one more module to load
    return __import__(f"berth.runtime.cgroups.v1.{name}", fromlist=["NAME"])


class V1Manager(cgroups.Manager):
    def __init__(self, root: str, path: str, found: list | None = None) -> None:
        self.path = path
        self.hierarchies: dict[str, str] = {}  # controller or name=x -> mount point
        self.layout_: list[tuple[str, str, str, str]] = []
        for point, fstype, opts in found if found is not None else cgroups.mounts():
            if fstype != "cgroup" or not point.startswith(root + "/"):
                continue
            names = [o for o in opts if o not in ("rw", "ro", "relatime", "nosuid", "nodev", "noexec")]
            for n in names:
                self.hierarchies[n] = point
            self.layout_.append((os.path.basename(point), "cgroup", ",".join(names), point + path))

    def _dirs(self) -> list[str]:
        return [p + self.path for p in sorted(set(self.hierarchies.values()))]

    def _dir(self, controller: str) -> str | None:
        point = self.hierarchies.get(controller)
        return point + self.path if point else None

    def create(self) -> tuple[str, ...]:
        made: list[str] = []
        for d in self._dirs():
            made += files.make_dirs(d)
        cs = self._dir("cpuset")
        if cs:
            _controller("cpuset").prepare(cs)
        return tuple(made)

    def apply(self, resources: Resources | None, extra_devices: tuple = (), devices: bool = True) -> None:
        """devices: write the device rules too. Always at create, rules or none: a config without
        any still gets deny-all and the defaults (a new cgroup inherits its parent's "a *:* rwm",
        which would let a container open any device node it can mknod). `update` leaves them."""
        resources = resources or Resources()
        for name, field in CONTROLLERS:
            wanted = devices if name == "devices" else _asks(name, resources, field)
            if not wanted:
                continue
            d = self._dir(name)
            if d is None:  # never run without a limit the config asked for
                raise InvalidArgument(
                    f"cgroup: linux.resources.{field} needs the {name} controller, which this host lacks"
                )
            if name == "devices":
                _controller(name).apply(d, resources, extra_devices)
            else:
                _controller(name).apply(d, resources)

    def join(self) -> None:
        # "0" in `tasks` moves the calling thread; the kernel then skips the global
        # threadgroup lock (and its RCU grace period) that a cgroup.procs write
        # takes. berth's processes are single-threaded, so the thread is the process.
        for d in self._dirs():
            files.write(d, "tasks", 0)

    def pids(self) -> list[int]:
        d = self._dir("pids") or self._dir("memory") or self._dirs()[0]
        return files.pids(d)

    def freeze(self) -> None:
        _controller("freezer").set_state(self._dir("freezer"), "FROZEN")

    def thaw(self) -> None:
        _controller("freezer").set_state(self._dir("freezer"), "THAWED")

    def frozen(self) -> bool:
        d = self._dir("freezer")
        try:
            return bool(d) and files.read(d, "freezer.state") != "THAWED"
        except FileNotFoundError:
            return False

    def destroy(self, made: tuple[str, ...]) -> None:
        files.remove_dirs(made, leaves=self._dirs())

    def layout(self) -> list[tuple[str, str, str, str]]:
        return self.layout_

    def stats(self) -> dict:
        memory, blkio = self._dir("memory"), self._dir("blkio")
        service = []
        for line in files.read_or(blkio, "blkio.throttle.io_service_bytes").splitlines():
            fields = line.split()
            if len(fields) == 3 and ":" in fields[0]:
                major, _, minor = fields[0].partition(":")
                service.append({"major": int(major), "minor": int(minor), "op": fields[1], "value": int(fields[2])})
        return {
            "cpu": {"usage": {"total": files.number(files.read_or(self._dir("cpuacct"), "cpuacct.usage"))}},
            "memory": {"usage": {"usage": files.number(files.read_or(memory, "memory.usage_in_bytes")),
                                 "limit": files.number(files.read_or(memory, "memory.limit_in_bytes"))},
                       "stats": files.keyed(files.read_or(memory, "memory.stat"))},
            "pids": {"current": files.number(files.read_or(self._dir("pids"), "pids.current")),
                     "limit": files.number(files.read_or(self._dir("pids"), "pids.max"))},
            "blkio": {"ioServiceBytesRecursive": service},
        }  # fmt: skip
