"""Bringing a network interface up with ioctl(SIOCSIFFLAGS), without the socket module."""

from berth.linux.libc import Structure, byref, c_char, c_short, check, libc

AF_INET = 2
SOCK_DGRAM = 2
SOCK_CLOEXEC = 0o2000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


class _IfReq(Structure):
    _fields_ = [("name", c_char * 16), ("flags", c_short), ("pad", c_char * 22)]


def set_up(name: str = "lo") -> None:
    """What `ip link set NAME up` does, in the caller's network namespace."""
    fd = check(libc.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket")
    try:
        req = _IfReq(name.encode())
        check(libc.ioctl(fd, SIOCGIFFLAGS, byref(req)), f"SIOCGIFFLAGS {name}")
        req.flags |= IFF_UP
        check(libc.ioctl(fd, SIOCSIFFLAGS, byref(req)), f"SIOCSIFFLAGS {name}")
    finally:
        libc.close(fd)
