"""A network's Linux bridge: made with its gateway address and firewall rules on first use, removed
with them.

Its alias (ifalias) names the network state it belongs to ("berth:" + the state directory): two
network states on one host (another $BERTH_NETWORK_ROOT) would otherwise hand out the same
addresses on one bridge, or remove each other's; berth refuses to use or remove a bridge that is
not its own.
"""

from __future__ import annotations

from berth.network import firewall, iproute
from berth.network.iproute import NetworkError, owner
from berth.network.store import Network

MTU = 1500


def _check_owner(bridge: str, state: str) -> bool:
    """True if the bridge is there and ours; False if there is none."""
    found = owner(bridge)
    if found is None:
        return False
    if found != state:
        whose = f"the berth network state in {found}" if found else "not berth's"
        raise NetworkError(f"the bridge {bridge} is {whose}: use that state ($BERTH_NETWORK_ROOT) or remove the bridge")
    return True


def ensure(net: Network, state: str) -> None:
    """The bridge of `net`, made if need be; `state`: the network state directory it belongs to."""
    if _check_owner(net.bridge, state):
        return
    try:
        iproute.batch([f"link add {net.bridge} mtu {MTU} type bridge", f"link set {net.bridge} alias berth:{state}",
                       f"addr add {net.gateway}/{net.prefix} dev {net.bridge}", f"link set {net.bridge} up"])  # fmt: skip
    except NetworkError:
        if not _check_owner(net.bridge, state):
            raise
        return  # another berth process made it at the same moment; that one sets it up
    try:
        # the host's 127.0.0.1 may reach a published port: routed onto this bridge after DNAT
        with open(f"/proc/sys/net/ipv4/conf/{net.bridge}/route_localnet", "w") as f:
            f.write("1")
        firewall.setup_network(net.bridge, net.subnet, net.internal)
        if not net.internal:
            firewall.enable_forwarding()
    except BaseException:
        remove(net.bridge, state)
        raise


def remove(bridge: str, state: str) -> None:
    """The bridge (its veths go with their namespaces) if it is ours; the caller prunes the firewall."""
    if owner(bridge) == state:
        try:
            iproute.batch([f"link del {bridge}"])
        except NetworkError:
            if iproute.link_exists(bridge):
                raise


def foreign(state: str) -> dict[str, str]:
    """Bridges of another berth network state on this host, with their subnets: their rules and
    their containers' rules are theirs to remove."""
    return {
        name: net for name, net in iproute.routes() if name.startswith("berth") and owner(name) not in (None, state)
    }
