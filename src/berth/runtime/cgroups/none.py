"""No cgroup: a rootless runtime on a host that delegates none to the user (cgroup v1 and
hybrid hosts, as runc's rootless mode). A container that asks for no limit runs; one that asks
for limits is refused, saying why."""

from __future__ import annotations

from berth.errors import Unsupported
from berth.oci.runtime_spec import Resources
from berth.runtime.cgroups import Manager


class NoCgroup(Manager):
    lists_processes = False

    def __init__(self, cgroups_path: str) -> None:
        self.path = cgroups_path

    def create(self) -> tuple[str, ...]:
        return ()

    def apply(self, resources: Resources | None, extra_devices: tuple = (), devices: bool = True) -> None:
        asked = [name for name, value in (("memory", resources and resources.memory),
                                          ("cpu", resources and resources.cpu), ("pids", resources and resources.pids),
                                          ("blkio", resources and resources.block_io)) if value]  # fmt: skip
        if asked:
            raise Unsupported(f"rootless: this host delegates no cgroup to the user (cgroup v2 with a delegated "
                              f"subtree is needed): the container's {', '.join(asked)} limits cannot be applied")  # fmt: skip

    def join(self) -> None:
        pass

    def pids(self) -> list[int]:
        return []

    def freeze(self) -> None:
        raise Unsupported("rootless: pausing needs a cgroup, and this host delegates none to the user")

    def thaw(self) -> None:
        self.freeze()

    def frozen(self) -> bool:
        return False

    def destroy(self, made: tuple[str, ...]) -> None:
        pass

    def layout(self) -> list[tuple[str, str, str, str]]:
        return []

    def stats(self) -> dict:
        return {"cpu": {}, "memory": {}, "pids": {}, "blkio": {}}
