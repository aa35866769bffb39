"""`start`: release a created container's init through exec.fifo."""

from __future__ import annotations

import os

from berth.errors import FailedPrecondition
from berth.runtime.container import Container


def start(root: str, container_id: str, c: Container | None = None) -> Container:
    c = c or Container(root, container_id)
    status = c.status()
    if status == "stopped":
        raise FailedPrecondition("cannot start a container that has stopped")
    if status != "created":
        raise FailedPrecondition(f"cannot start an already {status} container")
    fifo = os.path.join(c.dir, "exec.fifo")
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise FailedPrecondition(f"cannot start container {container_id}: init is not waiting ({e.strerror})") from None
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    os.unlink(fifo)
    if c.spec.hooks:
        from berth.runtime import hooks

        hooks.run(c.spec.hooks.poststart, c.oci_state(), "poststart", fatal=False)
    return c
