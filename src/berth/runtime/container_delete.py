"""`delete`: remove a stopped (or, with --force, any) container and all it made."""

from __future__ import annotations

import os
import time

from berth.errors import FailedPrecondition, NotFound
from berth.fs import remove_tree
from berth.runtime import statedir
from berth.runtime.container import Container


def _wait_gone(c: Container, timeout: float = 10.0) -> None:
    import select

    try:
        pidfd = os.pidfd_open(c.state.pid)
    except ProcessLookupError:
        pidfd = -1
    deadline = time.monotonic() + timeout
    try:
        if pidfd >= 0 and statedir.is_alive(c.state):
            p = select.poll()
            p.register(pidfd, select.POLLIN)
            p.poll(timeout * 1000)
        while c.cgroup.pids() and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def destroy(c: Container) -> None:
    """Kill whatever is left, remove the cgroup, run poststop hooks, drop the state."""
    if c.cgroup.frozen():
        c.cgroup.thaw()
    if statedir.is_alive(c.state) or c.cgroup.pids():
        if statedir.is_alive(c.state):
            try:
                os.kill(c.state.pid, 9)
            except ProcessLookupError:
                pass
        from berth.runtime.container_kill import signal_all  # only for what is left running

        signal_all(c, 9)
        _wait_gone(c)
    c.cgroup.destroy(c.state.cgroup_dirs)
    try:
        spec_hooks = c.spec.hooks
    except OSError:
        spec_hooks = None
    if spec_hooks:
        from berth.runtime import hooks

        hooks.run(spec_hooks.poststop, statedir.oci_state(c.state, "stopped"), "poststop", fatal=False)
    remove_tree(c.dir)


def delete(root: str, container_id: str, force: bool = False) -> None:
    try:
        c = Container(root, container_id)
    except NotFound:
        # an aborted create may leave a directory without state.json
        remove_tree(statedir.container_dir(root, container_id))
        if force:
            return
        raise
    status = c.status()
    if status in ("running", "paused") and not force:
        raise FailedPrecondition(f"cannot delete container {container_id} that is not stopped: {status}")
    destroy(c)
