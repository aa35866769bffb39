"""The intermediate process: joins the cgroup, enters or makes the namespaces,
forks init (which becomes PID 1 of a new PID namespace), reports its pid, exits.
"""

from __future__ import annotations

import os

from berth.linux import ns, prctl
from berth.runtime import sync

_DEBUG = bool(os.environ.get("BERTH_DEBUG"))
if _DEBUG:
    import traceback


def enter_namespaces(ch: sync.Channel, types: dict[str, str], ns_fds: dict[str, int]) -> None:
    """Join namespaces given by path (user first), ask main for id maps, unshare the rest."""
    if "user" in ns_fds:
        ns.setns(ns_fds.pop("user"), ns.CLONE_NEWUSER)
    elif "user" in types:
        ns.unshare(ns.CLONE_NEWUSER)
        ch.send(sync.USERMAP, str(os.getpid()))
        ch.expect(sync.OK)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    for t, fd in ns_fds.items():
        ns.setns(fd, ns.TYPES[t][0])
        os.close(fd)
    flags = 0
    for t, path in types.items():
        if not path and t != "user":
            flags |= ns.TYPES[t][0]
    if flags:
        ns.unshare(flags)


def run(ch: sync.Channel, types: dict[str, str], ns_fds: dict[str, int], cgroup, start_init) -> None:
    """Never returns."""
    try:
        prctl.set_dumpable(False)
        cgroup.join()
        enter_namespaces(ch, types, ns_fds)
        pid = os.fork()
        if pid == 0:
            start_init()
            os._exit(1)
        ch.send(sync.PID, str(pid))
    except BaseException as e:  # noqa: BLE001 - every failure goes up to main
        try:
            ch.send(sync.ERROR, describe(e))
        finally:
            os._exit(1)
    os._exit(0)


def describe(e: BaseException) -> str:
    """One line for the user; the traceback too when BERTH_DEBUG is set."""
    if _DEBUG:
        traceback.print_exception(e)
    if isinstance(e, OSError) and e.strerror:
        where = f" {e.filename}" if e.filename and str(e.filename) not in e.strerror else ""
        return f"{e.strerror}{where}"
    return str(e) or e.__class__.__name__
