"""The first child of main: joins the cgroup and enters or makes the namespaces.

With a user namespace of the container's own it is the intermediate: it makes
the user namespace (which must own the others, the PID namespace among them),
forks init (PID 1 of the new PID namespace), reports init's pid and exits.
Otherwise main has already pointed it at its PID namespace and it becomes init.
"""

from __future__ import annotations

import os

from berth.linux import ns, prctl
from berth.runtime import sync

_DEBUG = bool(os.environ.get("BERTH_DEBUG"))
if _DEBUG:
    import traceback


def enter_namespaces(ch: sync.Channel, types: dict[str, str], ns_fds: dict[str, int]) -> None:
    """Join namespaces given by path (a user namespace first), ask main for id maps of a new
    user namespace, unshare the rest. A new user namespace comes after the namespaces joined, as
    runc orders it: joining one (a network namespace the engine made, say) takes privilege over
    it, which a process in a user namespace of its own no longer has on the host's."""
    user = ns_fds.pop("user", -1)
    late = user >= 0 and ns.user_joined_late()
    if user >= 0 and not late:
        _join_user(user)
    # the mount namespace last: joining it changes the root that later path lookups start from
    for t, fd in sorted(ns_fds.items(), key=lambda item: item[0] == "mount"):
        if t == "mount" and late:
            _join_user(user)
            late = False
        ns.setns(fd, ns.TYPES[t][0])
        os.close(fd)
    if late:
        _join_user(user)
    if "user" in types and not types["user"]:
        ns.unshare(ns.CLONE_NEWUSER)
        ch.send(sync.USERMAP, str(os.getpid()))
        ch.expect(sync.OK)
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    flags = 0
    for t, path in types.items():
        if not path and t != "user":
            flags |= ns.TYPES[t][0]
    if flags:
        ns.unshare(flags)


def _join_user(fd: int) -> None:
    """Into a user namespace, as its root: the ids the process came with may have no meaning
    there (the host's root has none in a mapped one), and mounts take the mounter's."""
    ns.setns(fd, ns.CLONE_NEWUSER)
    os.close(fd)
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def enter(ch: sync.Channel, types: dict[str, str], ns_fds: dict[str, int], cgroup) -> None:
    """Non-dumpable, then in the cgroup and the namespaces. An ordinary user's runtime (rootless)
    writes the maps of the user namespace it makes as that user, to whom a non-dumpable
    process's /proc files are closed: the process becomes non-dumpable once they are written."""
    late = os.geteuid() != 0 and types.get("user") == ""
    if not late:
        prctl.set_dumpable(False)
    cgroup.join()
    enter_namespaces(ch, types, ns_fds)
    if late:
        prctl.set_dumpable(False)


def run(ch: sync.Channel, types: dict[str, str], ns_fds: dict[str, int], cgroup, start_init) -> None:
    """As the intermediate: enter, fork init, report its pid, exit. Never returns."""
    try:
        enter(ch, types, ns_fds, cgroup)
        pid = os.fork()
        if pid == 0:
            start_init()
            os._exit(1)
        ch.send(sync.PID, str(pid))
    except BaseException as e:  # noqa: BLE001 - every failure goes up to main
        _report(ch, e)
    os._exit(0)


def become_init(ch: sync.Channel, types: dict[str, str], ns_fds: dict[str, int], cgroup, start_init) -> None:
    """As init already (main chose its PID namespace; `types` holds no "pid"): enter, then
    start init. Never returns."""
    try:
        enter(ch, types, ns_fds, cgroup)
    except BaseException as e:  # noqa: BLE001 - every failure goes up to main
        _report(ch, e)
    start_init()
    os._exit(1)


def _report(ch: sync.Channel, e: BaseException) -> None:
    try:
        ch.send(sync.ERROR, describe(e))
    finally:
        os._exit(1)


def describe(e: BaseException) -> str:
    """One line for the user; the traceback too when BERTH_DEBUG is set."""
    if _DEBUG:
        traceback.print_exception(e)
    if isinstance(e, OSError) and e.strerror:
        where = f" {e.filename}" if e.filename and str(e.filename) not in e.strerror else ""
        return f"{e.strerror}{where}"
    return str(e) or e.__class__.__name__
