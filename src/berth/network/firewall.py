"""berth's firewall rules: iptables chains of its own (BERTH-*), one jump into each from the built-in
chains, and every rule tagged with a comment that says whose it is.

Chains of its own in the kernel's iptables tables rather than an nftables table of its own: with
nftables a packet must be accepted by every base chain on its hook, so where Docker has set the
FORWARD policy to DROP (it does on every host it runs on) a table of berth's could not let a
container's traffic through. A jump from FORWARD is what Docker and Netavark do too.

Rules are written with `iptables-restore --noflush` (a batch, atomically, one process) and found
again by their comments in `iptables-save`: berth never touches a rule without one of its tags.
    berth              a jump from a built-in chain into berth's
    berth:net:BRIDGE   a network's forwarding and masquerading
    berth:ctr:ID       a container's published ports
"""

from __future__ import annotations

import os
import time

from berth.foreground import DEVNULL, spawn
from berth.network.iproute import NetworkError

CHAINS = {"filter": ("BERTH-FORWARD",), "nat": ("BERTH-POSTROUTING", "BERTH-DNAT")}
JUMPS = (
    ("filter", "FORWARD", "-j BERTH-FORWARD"),
    ("nat", "POSTROUTING", "-j BERTH-POSTROUTING"),
    ("nat", "PREROUTING", "-m addrtype --dst-type LOCAL -j BERTH-DNAT"),
    ("nat", "OUTPUT", "-m addrtype --dst-type LOCAL -j BERTH-DNAT"),
)


def _tool(name: str) -> str:
    for d in ("/usr/sbin", "/sbin"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    raise NetworkError(f"berth needs {name} for bridge networks: apt-get install iptables")


def _comment(tag: str) -> str:
    return f'-m comment --comment "{tag}"'


def save() -> dict[str, list[str]]:
    """The rules and chains as `iptables-save` prints them: {table: [lines]}."""
    r, w = os.pipe()
    child = spawn([_tool("iptables-save")], stdin=DEVNULL, stdout=w, stderr=DEVNULL)
    os.close(w)
    out = b""
    while chunk := os.read(r, 1 << 16):
        out += chunk
    os.close(r)
    child.wait()
    tables: dict[str, list[str]] = {}
    current = None
    for line in out.decode().splitlines():
        if line.startswith("*"):
            current = tables.setdefault(line[1:], [])
        elif current is not None and line and line[0] in ":-":
            current.append(line)
    return tables


def restore(batch: dict[str, list[str]]) -> None:
    """Apply `{table: [commands]}` in one transaction, leaving every other rule as it is."""
    text = "".join(
        f"*{table}\n" + "".join(c + "\n" for c in cmds) + "COMMIT\n" for table, cmds in batch.items() if cmds
    )
    if not text:
        return
    r, w = os.pipe()
    err_r, err_w = os.pipe()
    child = spawn([_tool("iptables-restore"), "--noflush", "--wait"], stdin=r, stdout=DEVNULL, stderr=err_w)
    os.close(r)
    os.close(err_w)
    os.write(w, text.encode())
    os.close(w)
    err = b""
    while chunk := os.read(err_r, 1 << 16):
        err += chunk
    os.close(err_r)
    if child.wait() != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise NetworkError(f"iptables-restore: {lines[0] if lines else 'failed'}")


def network_rules(bridge: str, subnet: str, internal: bool) -> dict[str, list[str]]:
    """Forwarding for a bridge: within it always; out of it and back (and to published ports) unless
    internal; never to another of berth's bridges. Accepts go first and drops last, so their order
    among networks does not matter."""
    tag = _comment(f"berth:net:{bridge}")
    accept = [f"-I BERTH-FORWARD -i {bridge} -o {bridge} {tag} -j ACCEPT"]
    nat = []
    if not internal:
        accept += [
            f"-I BERTH-FORWARD -o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED {tag} -j ACCEPT",
            f"-I BERTH-FORWARD -o {bridge} -m conntrack --ctstate DNAT {tag} -j ACCEPT",
            f"-I BERTH-FORWARD -i {bridge} ! -o berth+ {tag} -j ACCEPT",
        ]
        nat = [
            f"-A BERTH-POSTROUTING -s {subnet} ! -o {bridge} {tag} -j MASQUERADE",
            # the host (127.0.0.1 too, with route_localnet) to a published port, and a container to
            # another's (or its own) through the host: replies must come back the way they went
            f"-A BERTH-POSTROUTING -o {bridge} -m addrtype --src-type LOCAL {tag} -j MASQUERADE",
            f"-A BERTH-POSTROUTING -s {subnet} -o {bridge} -m conntrack --ctstate DNAT {tag} -j MASQUERADE",
        ]
    drop = [f"-A BERTH-FORWARD -i {bridge} {tag} -j DROP", f"-A BERTH-FORWARD -o {bridge} {tag} -j DROP"]
    return {"filter": accept + drop, "nat": nat}


def _apply(plan) -> None:
    """restore(plan(save())), computed afresh when the tables changed under us: iptables-nft-restore
    can fail a batch while another program (dockerd, netavark) rewrites the same tables."""
    for attempt in range(5):
        try:
            return restore(plan(save()))
        except NetworkError:
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))


def setup_network(bridge: str, subnet: str, internal: bool) -> None:
    """berth's chains and jumps (once) and the network's rules (unless there already)."""
    _apply(lambda current: _setup_plan(current, bridge, subnet, internal))


def _setup_plan(current: dict[str, list[str]], bridge: str, subnet: str, internal: bool) -> dict[str, list[str]]:
    batch: dict[str, list[str]] = {"filter": [], "nat": []}
    for table, chains in CHAINS.items():
        lines = current.get(table, [])
        for chain in chains:
            if f":{chain}" not in {line.split()[0] for line in lines if line.startswith(":")}:
                batch[table].append(f"-N {chain}")
    for table, chain, spec in JUMPS:
        if not any(line.startswith(f"-A {chain} ") and '"berth"' in line for line in current.get(table, [])):
            batch[table].append(f"-I {chain} 1 {spec.replace('-j', _comment('berth') + ' -j', 1)}")
    if not any(f'"berth:net:{bridge}"' in line for lines in current.values() for line in lines):
        for table, cmds in network_rules(bridge, subnet, internal).items():
            batch[table] += cmds
    return batch


def port_rules(container: str, ip: str, ports: list[dict]) -> dict[str, list[str]]:
    """DNAT of each published host port (Docker's PortBindings entries, one port each) to the container."""
    tag = _comment(f"berth:ctr:{container}")
    out = []
    for p in ports:
        dest = f"-d {p['HostIp']} " if p["HostIp"] not in ("", "0.0.0.0") else ""
        proto = p["Proto"]
        out.append(f"-A BERTH-DNAT {dest}-p {proto} -m {proto} --dport {p['HostPort']} {tag} "
                   f"-j DNAT --to-destination {ip}:{p['Port']}")  # fmt: skip
    return {"nat": out}


def publish(container: str, ip: str, ports: list[dict]) -> None:
    if ports:
        rules = port_rules(container, ip, ports)
        _apply(
            lambda current: {} if any(f'"berth:ctr:{container}"' in line for line in current.get("nat", [])) else rules
        )


def prune(live_bridges: set[str], live_containers: set[str], keep_subnets: tuple[str, ...] = ()) -> None:
    """Remove the rules of bridges and containers no longer there (but a container's whose address
    is in keep_subnets: another network state's); with none of berth's rules left, its chains and
    jumps too."""
    _apply(lambda current: _prune_plan(current, live_bridges, live_containers, keep_subnets))


def _kept_destination(line: str, subnets: tuple[str, ...]) -> bool:
    if not subnets or "--to-destination " not in line:
        return False
    import ipaddress

    ip = ipaddress.ip_address(line.split("--to-destination ")[1].split(":")[0])
    return any(ip in ipaddress.ip_network(s) for s in subnets)


def _prune_plan(current: dict[str, list[str]], live_bridges: set[str], live_containers: set[str],
                keep_subnets: tuple[str, ...] = ()) -> dict[str, list[str]]:  # fmt: skip
    batch: dict[str, list[str]] = {"filter": [], "nat": []}
    remaining = 0
    for table, lines in current.items():
        for line in lines:
            if not line.startswith("-A "):
                continue
            tag = _tag(line)
            if tag is None or tag == "berth":
                continue
            kind, _, owner = tag[len("berth:") :].partition(":")
            gone_ctr = kind == "ctr" and owner not in live_containers and not _kept_destination(line, keep_subnets)
            if (kind == "net" and owner not in live_bridges) or gone_ctr:
                batch.setdefault(table, []).append("-D" + line[2:])
            else:
                remaining += 1
    if not remaining:
        for table, lines in current.items():
            for line in lines:
                if line.startswith("-A ") and _tag(line) == "berth":
                    batch.setdefault(table, []).append("-D" + line[2:])
        for table, chains in CHAINS.items():
            names = {line.split()[0][1:] for line in current.get(table, []) if line.startswith(":")}
            batch[table] += [f"-X {chain}" for chain in chains if chain in names]
    return batch


def _tag(line: str) -> str | None:
    marker = '--comment "'
    i = line.find(marker)
    if i < 0:
        marker = "--comment "
        i = line.find(marker)
        if i < 0:
            return None
        rest = line[i + len(marker) :]
        word = rest.split()[0] if rest else ""
        return word if word == "berth" or word.startswith("berth:") else None
    rest = line[i + len(marker) :]
    word = rest[: rest.index('"')]
    return word if word == "berth" or word.startswith("berth:") else None


def enable_forwarding() -> None:
    """Routing between a bridge and the world (Docker switches it on too)."""
    path = "/proc/sys/net/ipv4/ip_forward"
    with open(path) as f:
        if f.read().strip() == "1":
            return
    with open(path, "w") as f:
        f.write("1")
