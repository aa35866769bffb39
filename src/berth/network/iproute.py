"""iproute2's `ip -batch -`: links, addresses and routes, in the host's or a given network namespace.

iproute2 rather than a netlink library: pyroute2 costs ~100 ms to import, more than all of
`berth run`; an `ip` process costs ~2 ms and does a whole batch at once.
"""

from __future__ import annotations

import os

from berth.errors import Unavailable
from berth.foreground import DEVNULL, spawn

IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"
# sysfs shows the network namespace of whoever mounted it: the host's at /sys; rootless berth's
# networks live in a namespace of the user's, whose sysfs it mounts elsewhere and names here
SYS_NET = os.path.join(os.environ.get("BERTH_NET_SYSFS") or "/sys", "class", "net")


class NetworkError(Unavailable):
    pass


def batch(commands: list[str], netns: int | None = None) -> None:
    """Run `ip` commands in one process, in the network namespace held by fd `netns` if given."""
    if not os.path.exists(IP):
        raise NetworkError("berth needs iproute2's ip for networking: apt-get install iproute2")
    r, w = os.pipe()
    err_r, err_w = os.pipe()
    os.set_inheritable(r, False)
    try:
        if netns is None:
            child = spawn([IP, "-batch", "-"], stdin=r, stdout=DEVNULL, stderr=err_w)
        else:
            from berth.linux.ns import InNetNamespace

            with InNetNamespace(netns):
                child = spawn([IP, "-batch", "-"], stdin=r, stdout=DEVNULL, stderr=err_w)
    finally:
        os.close(r)
        os.close(err_w)
    try:
        os.write(w, ("\n".join(commands) + "\n").encode())
    finally:
        os.close(w)
    err = b""
    while chunk := os.read(err_r, 65536):
        err += chunk
    os.close(err_r)
    if child.wait() != 0:
        lines = [line for line in err.decode(errors="replace").splitlines() if line and "Command failed" not in line]
        raise NetworkError(f"ip: {lines[0] if lines else 'failed'}")


def link_exists(name: str) -> bool:
    """In the namespace where berth's networks live (the host's, or a rootless user's)."""
    return os.path.exists(f"{SYS_NET}/{name}")


def routes() -> list[tuple[str, str]]:
    """The IPv4 routes but the default one of the calling thread's network namespace:
    [(interface, "net/len")]."""
    try:
        with open("/proc/thread-self/net/route") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return []
    import ipaddress

    out = []
    for line in lines:
        fields = line.split()
        dest, mask = int(fields[1], 16), int(fields[7], 16)
        if mask:
            out.append((fields[0], f"{ipaddress.ip_address(dest.to_bytes(4, 'little'))}/{bin(mask).count('1')}"))
    return out


def owner(bridge: str) -> str | None:
    """The berth network state a bridge belongs to (its ifalias, "berth:" + the state directory),
    "" if it is not berth's, None if there is no such link."""
    try:
        with open(f"{SYS_NET}/{bridge}/ifalias") as f:
            alias = f.read().strip()
    except FileNotFoundError:
        return None
    return alias[len("berth:") :] if alias.startswith("berth:") else ""
