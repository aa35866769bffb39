"""Networks and address leases in SQLite (<root>/networks.db): the state every berth process shares.

A lease is live while its host-side veth exists: the kernel removes the pair when the container's
network namespace goes, however the container and its monitor ended, so no process has to be alive
to give an address back; a lease younger than SETUP_GRACE seconds counts as live while its
endpoint is being made. Allocation takes the database's write lock, drops stale leases, then picks:
two parallel runs never get one address.
"""

from __future__ import annotations

import ipaddress
import os
import time

from berth import fastjson
from berth.clock import rfc3339
from berth.db import Transaction, by_name_or_id, connect
from berth.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from berth.network.iproute import link_exists, owner, routes

SETUP_GRACE = 60.0
DEFAULT_NAME = "bridge"
DEFAULT_BRIDGE = "berth0"
DEFAULT_SUBNET = "10.89.0.0/16"
USER_POOL = "10.90.0.0/15"  # user networks get a /24 from here unless --subnet says otherwise
PSEUDO = ("host", "none")

SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, subnet TEXT NOT NULL,
    gateway TEXT NOT NULL, bridge TEXT UNIQUE NOT NULL, internal INTEGER NOT NULL, labels TEXT NOT NULL,
    created TEXT NOT NULL, configured INTEGER NOT NULL, next_ip INTEGER NOT NULL DEFAULT 0,
    idle_since REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS leases (network TEXT NOT NULL, ip TEXT NOT NULL, container TEXT NOT NULL,
    name TEXT NOT NULL, aliases TEXT NOT NULL, mac TEXT NOT NULL, veth TEXT NOT NULL, dns TEXT NOT NULL,
    ports TEXT NOT NULL, made REAL NOT NULL, PRIMARY KEY (network, ip), UNIQUE (network, container));
"""


class Network:
    """A network as networks.db keeps it (a plain class: dataclasses costs ~5 ms on `run`)."""

    __slots__ = ("id", "name", "subnet", "gateway", "bridge", "internal", "labels", "created", "configured")

    def __init__(self, id: str, name: str, subnet: str, gateway: str, bridge: str, internal: bool = False,
                 labels: dict[str, str] | None = None, created: str = "", configured: bool = False) -> None:  # fmt: skip
        self.id, self.name, self.subnet, self.gateway, self.bridge = id, name, subnet, gateway, bridge
        self.internal, self.labels, self.created = internal, labels or {}, created
        self.configured = configured  # the subnet was given by the user (Docker's "user configured subnets")

    @property
    def prefix(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_NAME


class Lease:
    """A container's address on a network, with what its endpoint needs and publishes."""

    __slots__ = ("network", "ip", "container", "name", "aliases", "mac", "veth", "dns", "ports", "made")

    def __init__(self, network: str, ip: str, container: str, name: str, aliases: list[str], mac: str, veth: str,
                 dns: list[str], ports: list[dict], made: float) -> None:  # fmt: skip
        self.network, self.ip, self.container, self.name, self.aliases = network, ip, container, name, aliases
        self.mac, self.veth, self.dns, self.ports, self.made = mac, veth, dns, ports, made

    @property
    def live(self) -> bool:
        return link_exists(self.veth) or time.time() - self.made < SETUP_GRACE


_NET_COLUMNS = "id, name, subnet, gateway, bridge, internal, labels, created, configured"
_LEASE_COLUMNS = "network, ip, container, name, aliases, mac, veth, dns, ports, made"


def state_dir() -> str:
    """Where networks.db lives: one place per host, whatever berth root a command uses, because
    bridges, addresses and firewall rules belong to the host (two roots must never hand out one
    address or prune each other's rules). $BERTH_NETWORK_ROOT, else /var/lib/berth."""
    return os.environ.get("BERTH_NETWORK_ROOT") or "/var/lib/berth"


def _network(row) -> Network:
    return Network(row[0], row[1], row[2], row[3], row[4], bool(row[5]), fastjson.loads(row[6]), row[7], bool(row[8]))


def _lease(row) -> Lease:
    return Lease(row[0], row[1], row[2], row[3], fastjson.loads(row[4]), row[5], row[6], fastjson.loads(row[7]),
                 fastjson.loads(row[8]), row[9])  # fmt: skip


class NetworkStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self.db = connect(os.path.join(root, "networks.db"), SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -- networks ------------------------------------------------------------
    def list(self) -> list[Network]:
        self._ensure_default()
        return [_network(r) for r in self.db.execute(f"SELECT {_NET_COLUMNS} FROM networks ORDER BY created")]

    def get(self, ref: str) -> Network:
        if ref in ("", "default", DEFAULT_NAME):
            self._ensure_default()
            ref = DEFAULT_NAME
        rows = by_name_or_id(self.db, _NET_COLUMNS, "networks", ref)
        if len(rows) > 1:
            raise InvalidArgument(f"network {ref} is ambiguous ({len(rows)} matches found based on ID prefix)")
        if not rows:
            raise NotFound(f"network {ref} not found")
        return _network(rows[0])

    def _ensure_default(self) -> None:
        if self.db.execute("SELECT 1 FROM networks WHERE name = ?", (DEFAULT_NAME,)).fetchone() is None:
            net = ipaddress.ip_network(DEFAULT_SUBNET)
            self.db.execute(f"INSERT OR IGNORE INTO networks ({_NET_COLUMNS}) VALUES (?, ?, ?, ?, ?, 0, '{{}}', ?, 0)",
                            (os.urandom(32).hex(), DEFAULT_NAME, str(net), str(net[1]), DEFAULT_BRIDGE, rfc3339()))  # fmt: skip

    def create(self, name: str, subnet: str = "", gateway: str = "", internal: bool = False,
               labels: dict[str, str] | None = None) -> Network:  # fmt: skip
        if name in PSEUDO or name in ("default", DEFAULT_NAME):
            raise FailedPrecondition(f"{name} is a pre-defined network and cannot be created")
        if not name or not all(c.isalnum() or c in "_.-" for c in name) or not name[0].isalnum():
            raise InvalidArgument(f"invalid network name {name!r}: use letters, digits, '_', '.' and '-'")
        self._ensure_default()
        net_id = os.urandom(32).hex()
        with Transaction(self.db):
            if self.db.execute("SELECT 1 FROM networks WHERE name = ?", (name,)).fetchone():
                raise AlreadyExists(f"network with name {name} already exists")
            taken = [ipaddress.ip_network(r[0]) for r in self.db.execute("SELECT subnet FROM networks")]
            if subnet:
                try:
                    net = ipaddress.ip_network(subnet)
                except ValueError:
                    raise InvalidArgument(
                        f"invalid subnet {subnet!r}: give an IPv4 network such as 10.99.0.0/24"
                    ) from None
                if net.version != 4 or net.prefixlen > 30:
                    raise InvalidArgument(f"invalid subnet {subnet}: berth needs an IPv4 network of /30 or larger")
                if any(net.overlaps(t) for t in taken) or _overlaps_host_routes(net, self.root):
                    raise FailedPrecondition("Pool overlaps with other one on this address space")
            else:
                if gateway:
                    raise InvalidArgument("a --gateway needs a --subnet to belong to")
                net = _free_subnet(taken, self.root)
            if gateway:
                try:
                    gw = ipaddress.ip_address(gateway)
                except ValueError:
                    raise InvalidArgument(f"invalid gateway {gateway!r}") from None
                if gw not in net or gw in (net.network_address, net.broadcast_address):
                    raise InvalidArgument(f"no matching subnet for gateway {gateway}")
            else:
                gw = net[1]
            bridge = "berth-" + net_id[:9]
            self.db.execute(f"INSERT INTO networks ({_NET_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (net_id, name, str(net), str(gw), bridge, int(internal), fastjson.dumps(labels or {}),
                             rfc3339(), int(bool(subnet))))  # fmt: skip
        return self.get(net_id)

    def remove(self, net: Network) -> None:
        self.db.execute("DELETE FROM networks WHERE id = ?", (net.id,))
        self.db.execute("DELETE FROM leases WHERE network = ?", (net.id,))

    # -- leases ----------------------------------------------------------------
    def leases(self, network: str | None = None, live: bool = True) -> list[Lease]:
        if network is None:
            rows = self.db.execute(f"SELECT {_LEASE_COLUMNS} FROM leases").fetchall()
        else:
            rows = self.db.execute(f"SELECT {_LEASE_COLUMNS} FROM leases WHERE network = ?", (network,)).fetchall()
        out = [_lease(r) for r in rows]
        return [lease for lease in out if lease.live] if live else out

    def find(self, network: str, name: str) -> list[Lease]:
        """Leases on `network` whose name, short ID or an alias may be `name` (the caller checks
        exactly): one indexed query a DNS lookup, not a scan of the network's leases."""
        rows = self.db.execute(
            f"SELECT {_LEASE_COLUMNS} FROM leases WHERE network = ? AND (lower(name) = ? OR substr(container, 1, 12) = ?"
            " OR instr(lower(aliases), ?) > 0)", (network, name, name, f'"{name}"'),
        ).fetchall()  # fmt: skip
        return [_lease(r) for r in rows]

    def container_leases(self, container: str) -> list[Lease]:
        rows = self.db.execute(f"SELECT {_LEASE_COLUMNS} FROM leases WHERE container = ?", (container,)).fetchall()
        return [_lease(r) for r in rows]

    def lease(self, net: Network, container: str, name: str, ip: str = "", mac: str = "",
              aliases: list[str] | None = None, dns: list[str] | None = None, locked=None) -> Lease:  # fmt: skip
        """An address on `net` for `container` (the one asked for, or the next free one); `locked()`
        runs before the write lock is let go (the bridge is made there: see `locked`)."""
        subnet = ipaddress.ip_network(net.subnet)
        gateway = ipaddress.ip_address(net.gateway)
        wanted = None
        if ip:
            try:
                wanted = ipaddress.ip_address(ip)
            except ValueError:
                raise InvalidArgument(f"invalid IP address {ip!r}") from None
            if wanted not in subnet or wanted in (subnet.network_address, subnet.broadcast_address, gateway):
                raise InvalidArgument(f"no available IPv4 address: {ip} is not a host address of {net.subnet}")
        veth = "vb" + os.urandom(5).hex()
        mac = mac or _random_mac()
        with Transaction(self.db):
            rows = [
                _lease(r) for r in self.db.execute(f"SELECT {_LEASE_COLUMNS} FROM leases WHERE network = ?", (net.id,))
            ]
            taken = set()
            for old in rows:
                if old.container == container or not old.live:
                    self.db.execute("DELETE FROM leases WHERE network = ? AND ip = ?", (old.network, old.ip))
                else:
                    taken.add(ipaddress.ip_address(old.ip))
            if wanted is not None:
                if wanted in taken:
                    raise AlreadyExists(f"Address already in use: {wanted} on network {net.name}")
                address = wanted
            else:
                address = self._next_free(net, subnet, gateway, taken)
            self.db.execute(f"INSERT INTO leases ({_LEASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '[]', ?)",
                            (net.id, str(address), container, name, fastjson.dumps(aliases or []), mac, veth,
                             fastjson.dumps(dns or []), time.time()))  # fmt: skip
            if locked is not None:
                locked()
        return next(lease for lease in self.container_leases(container) if lease.network == net.id)

    def _next_free(self, net: Network, subnet, gateway, taken: set) -> ipaddress.IPv4Address:
        """Round robin from the last address handed out, so a released address is not reused at once."""
        first, last = int(subnet.network_address) + 1, int(subnet.broadcast_address) - 1
        start = self.db.execute("SELECT next_ip FROM networks WHERE id = ?", (net.id,)).fetchone()[0] or first
        size = last - first + 1
        for i in range(size):
            n = first + (start - first + i) % size
            address = ipaddress.ip_address(n)
            if address != gateway and address not in taken:
                self.db.execute("UPDATE networks SET next_ip = ? WHERE id = ?", (n + 1 if n < last else first, net.id))
                return address
        raise FailedPrecondition(f"no available IPv4 address on network {net.name}: all of {net.subnet} is in use")

    def set_ports(self, lease: Lease, ports: list[dict]) -> None:
        self.db.execute("UPDATE leases SET ports = ? WHERE network = ? AND ip = ?",
                        (fastjson.dumps(ports), lease.network, lease.ip))  # fmt: skip

    def touch(self, lease: Lease) -> None:
        """The endpoint is made: from now on the veth tells whether the lease is live."""
        self.db.execute("UPDATE leases SET made = 0 WHERE network = ? AND ip = ?", (lease.network, lease.ip))

    def release(self, container: str, network: str | None = None) -> list[Lease]:
        leases = [lease for lease in self.container_leases(container) if network in (None, lease.network)]
        for lease in leases:
            self.db.execute("DELETE FROM leases WHERE network = ? AND ip = ?", (lease.network, lease.ip))
            self.db.execute("UPDATE networks SET idle_since = ? WHERE id = ?", (time.time(), lease.network))
        return leases

    def idle_for(self, net: Network) -> float:
        """Seconds since the network's last lease was given back; -1 while it has a live one."""
        if self.leases(net.id):
            return -1.0
        row = self.db.execute("SELECT idle_since FROM networks WHERE id = ?", (net.id,)).fetchone()
        return time.time() - row[0] if row and row[0] else float("inf")

    def stale(self) -> list[Lease]:
        return [lease for lease in self.leases(live=False) if not lease.live]

    def locked(self, action):
        """action() under the database's write lock: what makes or removes a bridge (and its rules)
        runs under it, so a bridge never goes while an address on it is being handed out."""
        with Transaction(self.db):
            result = action()
        return result


def _random_mac() -> str:
    """Locally administered and unicast (the first byte's low bits 10), like Docker's 02:42:..."""
    b = bytearray(os.urandom(6))
    b[0] = 0x02
    b[1] = 0x42
    return ":".join(f"{x:02x}" for x in b)


def _host_routes(state: str) -> list:
    """The host's routes but the default one and those of this state's own bridges (its networks'
    subnets are checked apart): a new subnet must hide none, another berth state's included."""
    return [ipaddress.ip_network(net, strict=False) for name, net in routes()
            if not (name.startswith("berth") and owner(name) == state)]  # fmt: skip


def _overlaps_host_routes(net, state: str) -> bool:
    return any(net.overlaps(route) for route in _host_routes(state))


def _free_subnet(taken: list, state: str) -> ipaddress.IPv4Network:
    routes = _host_routes(state)
    for candidate in ipaddress.ip_network(USER_POOL).subnets(new_prefix=24):
        if not any(candidate.overlaps(t) for t in taken) and not any(candidate.overlaps(r) for r in routes):
            return candidate
    raise FailedPrecondition("could not find an available, non-overlapping IPv4 address pool among the defaults")
