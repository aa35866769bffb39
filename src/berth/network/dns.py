"""The DNS server of a user network: containers find each other by name, alias and short ID.

    python -m berth.network.dns --root ROOT --network ID

It listens on the network's gateway address (port 53, UDP and TCP), which each container's
/etc/resolv.conf names, and answers from the network's live leases in networks.db, read at
each query, so a container is found as soon as it runs and gone once it ends. Other names are
forwarded to the container's --dns servers or the host's (Docker's behaviour), unless
BERTH_DNS_FORWARD=0: then they get NXDOMAIN at once, and nothing leaves the host (the tests).
It exits when its network is removed, or after IDLE seconds without a live container on it.

dnslib parses and builds the messages: small and pure Python (~14 ms to import; dnspython ~46).
"""

from __future__ import annotations

import os
import select
import socket
import sys
import threading
import time

IDLE = 30.0
FORWARD_TIMEOUT = 2.0


def pid_file(root: str, net_id: str) -> str:
    return os.path.join(root, "network-dns", net_id + ".pid")


def running(root: str, net_id: str) -> int:
    """The server's pid, or 0."""
    try:
        with open(pid_file(root, net_id)) as f:
            pid = int(f.read())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if net_id.encode() in f.read():
                return pid
    except (OSError, ValueError):
        pass
    return 0


def ensure(root: str, net) -> None:
    """Start the network's server unless it runs; return once it answers."""
    if running(root, net.id):
        return
    from berth.foreground import DEVNULL, spawn

    os.makedirs(os.path.join(root, "network-dns"), exist_ok=True)
    child = spawn([sys.executable, "-m", "berth.network.dns", "--root", root, "--network", net.id],
                  stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, setsid=True)  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if running(root, net.id):
            return
        # ours may have exited already: a twin started at the same moment holds the port, and
        # writes its pid file once it listens
        child.poll()
        time.sleep(0.01)
    if not running(root, net.id):
        from berth.network.iproute import NetworkError

        raise NetworkError(f"the DNS server of network {net.name} did not start")


def stop(root: str, net_id: str) -> None:
    pid = running(root, net_id)
    if pid:
        import signal

        os.kill(pid, signal.SIGTERM)
    try:
        os.unlink(pid_file(root, net_id))
    except FileNotFoundError:
        pass


class Server:
    def __init__(self, root: str, net_id: str) -> None:
        from berth.network.store import NetworkStore

        self.root, self.net_id = root, net_id
        self.store = NetworkStore(root)
        self.net = self.store.get(net_id)
        self.forward = os.environ.get("BERTH_DNS_FORWARD", "1") != "0"
        self.host_servers = _host_servers()

    def lookup(self, name: str) -> list[str] | None:
        """The addresses of a container on this network by name, alias or short ID; None if unknown."""
        name = name.rstrip(".").lower()
        hits = [lease.ip for lease in self.store.find(self.net_id, name)
                if name in (lease.name.lower(), lease.container[:12], *(a.lower() for a in lease.aliases))
                and lease.live]  # fmt: skip
        return hits or None

    def answer(self, data: bytes, client_ip: str):
        """(a reply, None) for a name of this network or one not to forward; (None, (servers,
        request)) for one to forward; (None, None) for a packet that gets no answer."""
        from dnslib import QTYPE, RCODE, RR, A, DNSRecord

        try:
            request = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - a malformed packet gets no answer, as from any server
            return None, None
        reply = request.reply()
        if not request.questions:
            reply.header.rcode = RCODE.FORMERR
            return reply.pack(), None
        q = request.q
        ips = self.lookup(str(q.qname))
        if ips is not None:
            if q.qtype in (QTYPE.A, QTYPE.ANY):
                for ip in ips:
                    reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(ip), ttl=600))
            return reply.pack(), None  # AAAA and others: the name exists, with no such record
        upstream = self._upstream(client_ip) if self.forward else []
        if upstream:
            reply.header.rcode = RCODE.SERVFAIL
            return None, (upstream, data, reply.pack())
        reply.header.rcode = RCODE.NXDOMAIN
        return reply.pack(), None

    def _upstream(self, client_ip: str) -> list[str]:
        for lease in self.store.leases(self.net_id):
            if lease.ip == client_ip and lease.dns:
                return lease.dns
        return self.host_servers

    def serve(self) -> int:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            udp.bind((self.net.gateway, 53))
            tcp.bind((self.net.gateway, 53))
        except OSError:
            return 1  # a twin has it
        tcp.listen(64)
        from berth.fs import atomic_write

        atomic_write(pid_file(self.root, self.net_id), str(os.getpid()).encode())
        last_busy, last_check = time.monotonic(), 0.0
        while True:
            ready, _, _ = select.select([udp, tcp], [], [], 1.0)
            for sock in ready:
                if sock is udp:
                    data, addr = udp.recvfrom(4096)
                    self._udp(udp, data, addr)
                else:
                    conn, addr = tcp.accept()
                    self._tcp(conn, addr)
            now = time.monotonic()
            if now - last_check >= 1.0:
                last_check = now
                try:
                    self.store.get(self.net_id)
                except Exception:  # noqa: BLE001 - the network is gone (or its database): so are we
                    return 0
                if self.store.leases(self.net_id):
                    last_busy = now
                elif now - last_busy > IDLE:
                    return 0

    def _udp(self, sock, data: bytes, addr) -> None:
        reply, forward = self.answer(data, addr[0])
        if reply is not None:
            sock.sendto(reply, addr)
        elif forward is not None:  # the upstream may take seconds: not in the loop that answers the rest
            threading.Thread(target=lambda: sock.sendto(_forwarded(*forward), addr), daemon=True).start()

    def _tcp(self, conn, addr) -> None:
        """One query a connection, read with a short timeout in the loop (DNS over TCP is rare here)."""
        with conn:
            conn.settimeout(0.5)
            try:
                size = int.from_bytes(_read(conn, 2), "big")
                reply, forward = self.answer(_read(conn, size), addr[0])
                if forward is not None:
                    reply = _forwarded(*forward)
                if reply is not None:
                    conn.sendall(len(reply).to_bytes(2, "big") + reply)
            except (OSError, EOFError):
                pass


def _forwarded(servers: list[str], data: bytes, failure: bytes) -> bytes:
    for server in servers:
        got = _ask(server, data)
        if got is not None:
            return got
    return failure


def _read(conn, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _ask(server: str, data: bytes) -> bytes | None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(FORWARD_TIMEOUT)
    try:
        s.sendto(data, (server, 53))
        return s.recv(4096)
    except OSError:
        return None
    finally:
        s.close()


def _host_servers() -> list[str]:
    out = []
    try:
        with open("/etc/resolv.conf") as f:
            for line in f:
                fields = line.split()
                if (
                    len(fields) >= 2
                    and fields[0] == "nameserver"
                    and not fields[1].startswith("127.")
                    and ":" not in fields[1]
                ):
                    out.append(fields[1])
    except OSError:
        pass
    return out


def main(argv: list[str] | None = None) -> int:
    from berth.argv import STR, Option, parse

    opts, _ = parse(sys.argv[1:] if argv is None else argv, [Option("root", STR, ""), Option("network", STR, "")])
    server = Server(opts["root"], opts["network"])
    try:
        return server.serve()
    finally:
        if running(opts["root"], opts["network"]) == os.getpid():
            os.unlink(pid_file(opts["root"], opts["network"]))


if __name__ == "__main__":
    sys.exit(main())
