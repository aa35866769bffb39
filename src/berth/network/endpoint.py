"""A container's end of a network: a veth pair from the network's bridge into the container's
network namespace, with its address, MAC and (unless the network is internal) default route."""

from __future__ import annotations

import os

from berth.network import iproute
from berth.network.store import Lease, Network


def attach(netns: int, net: Network, lease: Lease, ifname: str, default_route: bool) -> None:
    """netns: an fd holding the container's network namespace (ours, for `ip` to open by path)."""
    holder = f"/proc/{os.getpid()}/fd/{netns}"
    iproute.batch([
        f"link add {lease.veth} mtu 1500 type veth peer name {ifname} mtu 1500 address {lease.mac} netns {holder}",
        f"link set {lease.veth} master {net.bridge} up",
        # a container may reach its own published port through the host: back out of the port it came in
        f"link set dev {lease.veth} type bridge_slave hairpin on",
    ])  # fmt: skip
    inside = ["link set lo up", f"addr add {lease.ip}/{net.prefix} brd + dev {ifname}", f"link set {ifname} up"]
    if default_route and not net.internal:
        inside.append(f"route add default via {net.gateway} dev {ifname}")
    iproute.batch(inside, netns=netns)


def detach(lease: Lease) -> None:
    """Deleting one end of a veth pair deletes both."""
    if iproute.link_exists(lease.veth):
        iproute.batch([f"link del {lease.veth}"])
