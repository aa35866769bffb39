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


def user_joined_late() -> bool:
    """Whether a process joining a container's namespaces joins its user namespace after the
    others (mount aside): root of the host holds privilege over every namespace, those a user
    namespace owns too, and loses it over the host's own (a network namespace the engine made)
    once it is in that user namespace. Any other caller needs that namespace's privilege first."""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]  # the host's own user namespace
    except OSError:
        return False
