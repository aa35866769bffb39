"""Published ports: Docker's -p syntax, and the host ports held while a container runs.

A published port is a DNAT rule (firewall.py), so nothing would stop two containers, or a
container and a host program, from claiming one port; the engine therefore binds each host
port (without listening) and the container's monitor holds the socket for as long as the
container lives, as Podman's conmon does: a port in use fails `run` at once, with Docker's words.
"""

from __future__ import annotations

from berth.errors import FailedPrecondition, InvalidArgument

PROTOS = ("tcp", "udp")


def _port_range(text: str, what: str) -> list[int]:
    lo, sep, hi = text.partition("-")
    try:
        first = int(lo)
        last = int(hi) if sep else first
    except ValueError:
        raise InvalidArgument(f"invalid {what}: {text}") from None
    if not (0 < first <= last <= 65535):
        raise InvalidArgument(f"invalid {what}: {text}")
    return list(range(first, last + 1))


def parse(spec: str) -> list[dict]:
    """`[IP:][HOSTPORT[-END]:]PORT[-END][/PROTO]` -> one binding a port:
    {"HostIp": "", "HostPort": "8080" or "" (any free port), "Port": 80, "Proto": "tcp"}."""
    rest, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOS:
        raise InvalidArgument(f"invalid proto: {proto}")
    ip, host, container = "", "", rest
    if rest.startswith("["):  # [IPv6]:host:container
        end = rest.find("]")
        ip, rest = rest[1:end], rest[end + 2 :]
        host, _, container = rest.rpartition(":")
    elif rest.count(":") == 1:
        host, container = rest.split(":")
    elif rest.count(":") == 2:
        ip, host, container = rest.split(":")
    elif rest.count(":") > 2:
        raise InvalidArgument(f"invalid port format: {spec}")
    if ip:
        import ipaddress  # only for an address given: ~3 ms to import

        try:
            if ipaddress.ip_address(ip).version != 4:
                raise InvalidArgument(f"berth publishes on IPv4 addresses only: {ip}")
        except ValueError:
            raise InvalidArgument(f"invalid IP address: {ip}") from None
    ports = _port_range(container, "containerPort")
    if not host:
        return [{"HostIp": ip, "HostPort": "", "Port": p, "Proto": proto} for p in ports]
    hosts = _port_range(host, "hostPort")
    if len(hosts) != len(ports):
        if len(ports) == 1 and "-" in host:  # Docker: a host range for one port means any port of it
            return [{"HostIp": ip, "HostPort": host, "Port": ports[0], "Proto": proto}]
        raise InvalidArgument(f"invalid ranges specified for container and host Ports: {container} and {host}")
    return [{"HostIp": ip, "HostPort": str(h), "Port": p, "Proto": proto} for h, p in zip(hosts, ports, strict=True)]


def parse_expose(spec: str) -> list[str]:
    """--expose PORT[-END][/PROTO] -> ["80/tcp", ...]."""
    rest, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOS:
        raise InvalidArgument(f"invalid proto: {proto}")
    return [f"{p}/{proto}" for p in _port_range(rest, "range format for --expose")]


def reserve(bindings: list[dict]) -> tuple[list[dict], list[int]]:
    """Bind every host port: (the bindings with their ports filled in, the sockets' fds to hold).
    On a port in use, nothing stays bound and FailedPrecondition says which."""
    import socket  # here, not at the top: parsing -p is on every `create`, binding only with ports

    sockets = []
    out = []
    try:
        for b in bindings:
            kind = socket.SOCK_DGRAM if b["Proto"] == "udp" else socket.SOCK_STREAM
            host_ip = b["HostIp"] or "0.0.0.0"
            candidates = [0]
            if b["HostPort"]:
                candidates = _port_range(b["HostPort"], "hostPort")
            for i, port in enumerate(candidates):
                s = socket.socket(socket.AF_INET, kind)
                try:
                    s.bind((host_ip, port))
                except OSError as e:
                    s.close()
                    if i + 1 < len(candidates):
                        continue  # a range: try its next port
                    if e.errno in (98,):  # EADDRINUSE
                        raise FailedPrecondition(
                            f"Bind for {host_ip}:{port} failed: port is already allocated"
                        ) from None
                    raise FailedPrecondition(f"Bind for {host_ip}:{port} failed: {e.strerror}") from None
                sockets.append(s)
                out.append({**b, "HostIp": b["HostIp"] or "0.0.0.0", "HostPort": str(s.getsockname()[1])})
                break
    except BaseException:
        for s in sockets:
            s.close()
        raise
    return out, [s.detach() for s in sockets]
