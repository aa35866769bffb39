"""Networks as Docker shows them, for every front end: the summaries `network ls` filters, the
inspect document, and prune. The pseudo networks host and none are listed beside the bridges
berth keeps (Docker lists them too)."""

from __future__ import annotations

import hashlib

from berth.errors import InvalidArgument

PSEUDO_DRIVERS = {"host": "host", "none": "null"}
FILTERS = ("name", "id", "driver", "label", "type", "dangling")


def _pseudo_id(name: str) -> str:
    return hashlib.sha256(b"berth-network-" + name.encode()).hexdigest()


def summaries(engine, filters: dict[str, list[str]] | None = None) -> list[dict]:
    """{ID, Name, Driver, Scope, Internal, Labels, CreatedAt} by name, those every filter lets through."""
    rows = [{"ID": n.id, "Name": n.name, "Driver": "bridge", "Scope": "local", "Internal": n.internal,
             "Labels": n.labels, "CreatedAt": n.created} for n in engine.networking.store.list()]  # fmt: skip
    rows += [{"ID": _pseudo_id(name), "Name": name, "Driver": driver, "Scope": "local", "Internal": False,
              "Labels": {}, "CreatedAt": ""} for name, driver in PSEUDO_DRIVERS.items()]  # fmt: skip
    for key, values in (filters or {}).items():
        if key not in FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
        rows = [r for r in rows if any(_matches(engine, r, key, v) for v in values)]
    return sorted(rows, key=lambda r: r["Name"])


def _matches(engine, row: dict, key: str, value: str) -> bool:
    if key == "name":
        return value in row["Name"]
    if key == "id":
        return row["ID"].startswith(value)
    if key == "driver":
        return row["Driver"] == value
    if key == "label":
        k, sep, val = value.partition("=")
        return k in row["Labels"] and (not sep or row["Labels"][k] == val)
    if key == "type":
        if value not in ("builtin", "custom"):
            raise InvalidArgument(f"invalid filter: 'type'='{value}'")
        return (row["Name"] in ("bridge", "host", "none")) == (value == "builtin")
    if value not in ("true", "false", "1", "0"):
        raise InvalidArgument(f"invalid filter: 'dangling'='{value}'")
    builtin = row["Name"] in ("bridge", "host", "none")
    unused = not builtin and not engine.network_users(row["ID"])
    return unused == (value in ("true", "1"))


def document(engine, ref: str) -> dict:
    """Docker's network inspect document."""
    if ref in PSEUDO_DRIVERS:
        return {"Name": ref, "Id": _pseudo_id(ref), "Created": "0001-01-01T00:00:00Z", "Scope": "local", "Driver": PSEUDO_DRIVERS[ref],
                "EnableIPv6": False, "IPAM": {"Driver": "default", "Options": None, "Config": []}, "Internal": False,
                "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""}, "ConfigOnly": False,
                "Containers": {}, "Options": {}, "Labels": {}}  # fmt: skip
    net = engine.networking.store.get(ref)
    containers = {}
    names = {c.id: c.name for c in engine.list()}
    for lease in engine.networking.store.leases(net.id):
        containers[lease.container] = {"Name": names.get(lease.container, ""), "EndpointID": lease.veth,
                                       "MacAddress": lease.mac, "IPv4Address": f"{lease.ip}/{net.prefix}",
                                       "IPv6Address": ""}  # fmt: skip
    options = {"com.docker.network.bridge.name": net.bridge}
    if net.is_default:
        options = {"com.docker.network.bridge.default_bridge": "true", "com.docker.network.bridge.enable_icc": "true",
                   "com.docker.network.bridge.enable_ip_masquerade": "true",
                   "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0", **options,
                   "com.docker.network.driver.mtu": "1500"}  # fmt: skip
    return {"Name": net.name, "Id": net.id, "Created": net.created, "Scope": "local", "Driver": "bridge",
            "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None if net.is_default else {},
                     "Config": [{"Subnet": net.subnet, "Gateway": net.gateway}]},
            "Internal": net.internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Containers": containers, "Options": options, "Labels": net.labels}  # fmt: skip


def prune(engine) -> list[str]:
    """Remove the networks no container is on (the default bridge's device too, if idle): their names."""
    gone = []
    for net in engine.networking.store.list():
        if not net.is_default and not engine.network_users(net.id):
            engine.networking.remove(net.id)
            gone.append(net.name)
    engine.networking.retire_default()
    return gone
