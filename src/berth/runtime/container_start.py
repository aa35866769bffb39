"""`start`: release a created container's init through exec.fifo (or, for `run`, its pipe)."""

from __future__ import annotations

import os

from berth.errors import FailedPrecondition
from berth.runtime.container import Container


def start(root: str, container_id: str, c: Container | None = None, start_fd: int = -1) -> Container:
    """start_fd: the write end of the pipe `run` gave init at create (closed here), in place of exec.fifo."""
    c = c or Container(root, container_id)
    if start_fd >= 0:
        try:
            os.write(start_fd, b"0")
        except BrokenPipeError:
            pass  # init has died already: the caller's wait tells how
        finally:
            os.close(start_fd)
    else:
        _release(c, container_id)
    if c.spec.hooks:
        from berth.runtime import hooks

        hooks.run(c.spec.hooks.poststart, c.oci_state(), "poststart", fatal=False)
    return c


def _release(c: Container, container_id: str) -> None:
    status = c.status()
    if status == "stopped":
        raise FailedPrecondition("cannot start a container that has stopped")
    if status != "created":
        raise FailedPrecondition(f"cannot start an already {status} container")
    fifo = os.path.join(c.dir, "exec.fifo")
    try:  # init holds the fifo open: without a reader this fails (ENXIO)
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise FailedPrecondition(f"cannot start container {container_id}: init is not waiting ({e.strerror})") from None
    # A read end of our own: once ours is closed, init's (close-on-exec, kept until its execve) is
    # the fifo's last writer, and our read end hangs up when it goes. So `start` returns once the
    # container's process is exec'd, as runc's does: a signal sent after it reaches that process,
    # not a Python init without handlers, for which the kernel drops it.
    try:
        watch = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        os.write(fd, b"0")
    finally:
        os.close(fd)
    try:
        os.unlink(fifo)
        _until_hangup(watch, EXEC_TIMEOUT)
    finally:
        os.close(watch)


EXEC_TIMEOUT = 60.0  # init's startContainer hooks run before its execve: a slow one is no failure


def _until_hangup(fd: int, timeout: float) -> None:
    import select

    poller = select.poll()
    poller.register(fd, 0)  # no events asked: poll reports the hang-up alone, never the byte init reads
    poller.poll(int(timeout * 1000))
