"""`kill`: signal init through a pidfd (never a bare pid), or every process with --all."""

from __future__ import annotations

import os

from berth.errors import FailedPrecondition
from berth.runtime import statedir
from berth.runtime.container import Container


def signal_init(c: Container, sig: int) -> None:
    try:
        pidfd = os.pidfd_open(c.state.pid)
    except ProcessLookupError:
        raise FailedPrecondition("container not running") from None
    try:
        # the pid could have been reused before the pidfd was taken: check it is still init
        if not statedir.is_alive(c.state):
            raise FailedPrecondition("container not running")
        import _signal

        _signal.pidfd_send_signal(pidfd, sig)
    finally:
        os.close(pidfd)


def signal_all(c: Container, sig: int) -> None:
    if not c.cgroup.lists_processes:
        # no cgroup (rootless, none delegated): init, PID 1 of its namespace, whose end on
        # SIGKILL takes every other process of the container with it
        try:
            signal_init(c, sig)
        except FailedPrecondition:
            pass  # gone already, with the rest
        return
    for pid in c.cgroup.pids():
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def kill(root: str, container_id: str, sig: int, all_processes: bool = False) -> None:
    c = Container(root, container_id)
    if c.status() == "stopped":
        raise FailedPrecondition("container not running")
    if all_processes:
        signal_all(c, sig)
    else:
        signal_init(c, sig)
