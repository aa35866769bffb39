"""`pause` and `resume` through the freezer."""

from __future__ import annotations

from berth.errors import FailedPrecondition
from berth.runtime.container import Container


def pause(root: str, container_id: str) -> None:
    c = Container(root, container_id)
    status = c.status()
    if status not in ("running", "created"):
        raise FailedPrecondition(f"container not running or created: {status}")
    c.cgroup.freeze()


def resume(root: str, container_id: str) -> None:
    c = Container(root, container_id)
    if c.status() != "paused":
        raise FailedPrecondition("container not paused")
    c.cgroup.thaw()
