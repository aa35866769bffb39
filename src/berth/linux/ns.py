"""Namespaces: unshare(2), setns(2) and the names the OCI spec uses for them."""

import os

from berth.linux.libc import check, libc

CLONE_NEWTIME = 0x80
CLONE_NEWNS = 0x20000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# OCI namespace type -> (clone flag, file name under /proc/PID/ns)
TYPES = {
    "user": (CLONE_NEWUSER, "user"),
    "pid": (CLONE_NEWPID, "pid"),
    "network": (CLONE_NEWNET, "net"),
    "ipc": (CLONE_NEWIPC, "ipc"),
    "uts": (CLONE_NEWUTS, "uts"),
    "mount": (CLONE_NEWNS, "mnt"),
    "cgroup": (CLONE_NEWCGROUP, "cgroup"),
    "time": (CLONE_NEWTIME, "time"),
}


def unshare(flags: int) -> None:
    check(libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    check(libc.setns(fd, nstype), "setns")


def ns_inode(pid: int | str, name: str) -> str:
    """The namespace identity as the kernel shows it, e.g. 'pid:[4026531836]'."""
    return os.readlink(f"/proc/{pid}/ns/{name}")


def new_net_namespace() -> int:
    """A new network namespace, held by the fd returned; the calling thread stays where it was."""
    if not in_initial_user_namespace():
        return _net_namespace_of_a_child()
    host = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        unshare(CLONE_NEWNET)
        try:
            return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            setns(host, CLONE_NEWNET)
    finally:
        os.close(host)


class InNetNamespace:
    """`with InNetNamespace(fd):` the calling thread in that network namespace, and back afterwards:
    a process spawned inside the block starts there (children inherit the spawning thread's)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.home = -1

    def __enter__(self) -> None:
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        setns(self.fd, CLONE_NEWNET)

    def __exit__(self, *exc) -> None:
        try:
            setns(self.home, CLONE_NEWNET)
        finally:
            os.close(self.home)


def in_initial_user_namespace() -> bool:
    """The caller's user namespace is the host's own (its uid map is the whole range)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def user_joined_late() -> bool:
    """Whether a process joining a container's namespaces joins its user namespace after the
    others (mount aside): root of the host holds privilege over every namespace, those a user
    namespace owns too, and loses it over the host's own (a network namespace the engine made)
    once it is in that user namespace. Any other caller needs that namespace's privilege first."""
    return os.geteuid() == 0 and in_initial_user_namespace()


def _net_namespace_of_a_child() -> int:
    """In a user namespace other than the host's (rootless) a thread that made a network
    namespace could not go back to the host's: a child makes it."""
    return in_a_child(CLONE_NEWNET, names=("net",))[1]["net"]


def in_a_child(flags: int, between=None, names: tuple[str, ...] = (), then=None) -> tuple[int, dict[str, int]]:
    """A child that unshares `flags` and waits while the caller runs between(pid) and opens
    /proc/PID/ns/NAME for each of `names`; then it runs then() (which must not return), or
    exits and is reaped before this returns. (its pid, {name: fd})."""
    made_r, made_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(made_r)
            os.close(go_w)
            unshare(flags)
            os.write(made_w, b"n")
            if os.read(go_r, 1) == b"g" and then is not None:
                then()
        finally:
            os._exit(0)
    os.close(made_w)
    os.close(go_r)
    fds: dict[str, int] = {}
    try:
        if os.read(made_r, 1) != b"n":
            raise OSError(1, "a child could not make its namespaces")
        if between is not None:
            between(pid)
        for name in names:
            fds[name] = os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
        os.write(go_w, b"g")
    except BaseException:
        for fd in fds.values():
            os.close(fd)
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(made_r)
        os.close(go_w)
    if then is None:
        os.waitpid(pid, 0)
    return pid, fds
