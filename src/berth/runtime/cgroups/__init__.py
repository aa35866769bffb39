"""cgroups behind one manager interface; the host's mode is detected at run time.

- v2: /sys/fs/cgroup is cgroup2 with the controllers.
- v1: one hierarchy per controller (or group of controllers).
- hybrid: v1 controllers plus a cgroup2 at /sys/fs/cgroup/unified with no
  controllers, as on this project's CI host. berth drives the v1 controllers and
  leaves the empty unified tree alone: it enforces nothing, joining it costs an
  RCU grace period (8-20 ms here) on every create, and mounting it in the
  container would show the host's tree. runc does not mount it either.
"""

from __future__ import annotations

import os

from berth.oci.runtime_spec import Resources

CGROUP_ROOT = "/sys/fs/cgroup"


class Manager:
    """What the runtime asks of a cgroup driver, whatever the host's mode."""

    path: str
    lists_processes = True  # pids() names every process of the container

    def create(self) -> tuple[str, ...]:
        """Make the container's cgroup; return the directories this made."""
        raise NotImplementedError

    def apply(self, resources: Resources | None, extra_devices: tuple = (), devices: bool = True) -> None:
        raise NotImplementedError

    def join(self) -> None:
        """Move the calling process, which must be single-threaded, into the cgroup."""
        raise NotImplementedError

    def pids(self) -> list[int]:
        raise NotImplementedError

    def freeze(self) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def frozen(self) -> bool:
        raise NotImplementedError

    def destroy(self, made: tuple[str, ...]) -> None:
        """Remove the container's cgroup and the parents `create` made."""
        raise NotImplementedError

    def layout(self) -> list[tuple[str, str, str, str]]:
        """(subdir, fstype, mount data, host dir) for mounting cgroups in the container."""
        raise NotImplementedError

    def stats(self) -> dict:
        """What the cgroup has used, as runc's `events --stats` reports it (its "data"): cpu, memory,
        pids and blkio, 0 where a controller or a file is missing."""
        raise NotImplementedError


def mounts(mountinfo: str = "/proc/self/mountinfo") -> list[tuple[str, str, list[str]]]:
    """(mount point, fstype, super options) of every cgroup file system."""
    found = []
    with open(mountinfo) as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype, _source, superopts = right.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                found.append((left.split()[4], fstype, superopts.split(",")))
    return found


def detect(root: str = CGROUP_ROOT, found: list | None = None) -> str:
    """'v2', 'hybrid' or 'v1'."""
    kinds = {point: fstype for point, fstype, _ in (found if found is not None else mounts())}
    if kinds.get(root) == "cgroup2":
        return "v2"
    return "hybrid" if kinds.get(root + "/unified") == "cgroup2" else "v1"


def normalize(cgroups_path: str, container_id: str) -> str:
    """linux.cgroupsPath, or /<id> as runc does when it is empty, as an absolute path."""
    path = os.path.normpath("/" + (cgroups_path or container_id).lstrip("/"))
    if ":" in path:
        raise ValueError(
            f"cgroupsPath {cgroups_path!r}: systemd slice paths need --systemd-cgroup, which berth does not support"
        )
    return path


def manager(cgroups_path: str, root: str = CGROUP_ROOT) -> Manager:
    from berth.linux import ns

    found = None
    if (os.geteuid() != 0 or not ns.in_initial_user_namespace()) and not os.access(root, os.W_OK):
        found = mounts()
        if detect(root, found) != "v2" or not _delegated(root + cgroups_path):
            from berth.runtime.cgroups.none import NoCgroup  # rootless, nothing delegated

            return NoCgroup(cgroups_path)
    delegated = found is not None
    found = mounts() if found is None else found
    if detect(root, found) == "v2":
        from berth.runtime.cgroups.v2.manager import V2Manager

        return V2Manager(root, cgroups_path, delegated)
    from berth.runtime.cgroups.v1.manager import V1Manager

    return V1Manager(root, cgroups_path, found)


def _delegated(directory: str) -> bool:
    """Whether an unprivileged caller may make this cgroup: the nearest directory of its path that
    there is (a cgroup v2 subtree delegated to the user: owned by the user, systemd's way) is
    writable, its cgroup.procs too."""
    while not os.path.isdir(directory):
        directory = os.path.dirname(directory)
    return os.access(directory, os.W_OK) and os.access(os.path.join(directory, "cgroup.procs"), os.W_OK)
