"""sethostname(2) and setdomainname(2)."""

from berth.linux.libc import check, libc


def sethostname(name: str) -> None:
    b = name.encode()
    check(libc.sethostname(b, len(b)), "sethostname")


def setdomainname(name: str) -> None:
    b = name.encode()
    check(libc.setdomainname(b, len(b)), "setdomainname")
