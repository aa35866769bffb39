"""Networking as a user sees it: the default bridge, published ports, user networks with names,
isolation, and what is left on the host afterwards (nothing).

Traffic goes only to loopback, to the host's own addresses (delivered locally) and to the
containers and bridges these tests make; the DNS servers never forward (BERTH_DNS_FORWARD=0).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import unique, wait_for

pytestmark = pytest.mark.root

LINGER = 2.0  # berth.engine.networking.LINGER
# the host's Python, for a UDP echo server inside a busybox container
HOST_PY = ["-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro"]
UDP_ECHO = "import socket; s=socket.socket(2,2); s.bind(('0.0.0.0',9000));\nwhile True: d,a=s.recvfrom(99); s.sendto(b'echo '+d,a)"


def links() -> set[str]:
    return {name for name in os.listdir("/sys/class/net") if name.startswith(("berth", "vb"))}


def berth_rules() -> list[str]:
    out = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if '"berth' in line or "BERTH-" in line]


def host_address() -> str | None:
    """One of the host's own non-loopback IPv4 addresses (traffic to it stays on this machine)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        name, address = line.split()[1], line.split()[3].split("/")[0]
        if not name.startswith(("berth", "docker", "podman", "cni", "vb")):
            return address
    return None


def fetch(host: str, port: int, timeout: float = 5.0) -> bytes:
    """A line from a TCP server (retried while the container's server starts)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                return s.recv(100)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def network(berth):
    made = []

    def make(*flags: str) -> str:
        name = unique("net")
        berth("network", "create", *flags, name, check=True)
        made.append(name)
        return name

    yield make
    berth.cleanup()
    for name in made:
        berth("network", "rm", name)


ECHO_PEER = (
    "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', 7777))\ns.listen()\nwhile True:\n    c, a = s.accept()\n"
    "    c.sendall(a[0].encode() + b'\\n')\n    c.close()\n"
)


@pytest.fixture
def outside():
    """A network namespace of the test's own standing for the world outside the host: a veth from
    the host (10.250.77.1/30 here, .2 there) and a TCP server there that answers with the address
    it sees the caller come from. Traffic to it never leaves this machine."""
    holder = subprocess.Popen(["unshare", "-n", "sleep", "300"])
    host_if, peer_if = "vbt" + os.urandom(4).hex(), "vbp" + os.urandom(4).hex()
    server = None
    try:
        wait_for(lambda: os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"), 5)
        inside = ["nsenter", "-t", str(holder.pid), "-n"]
        for argv in (["ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if, "netns", str(holder.pid)],
                     ["ip", "addr", "add", "10.250.77.1/30", "dev", host_if], ["ip", "link", "set", host_if, "up"],
                     [*inside, "ip", "addr", "add", "10.250.77.2/30", "dev", peer_if],
                     [*inside, "ip", "link", "set", peer_if, "up"], [*inside, "ip", "link", "set", "lo", "up"]):  # fmt: skip
            subprocess.run(argv, check=True, capture_output=True)
        server = subprocess.Popen([*inside, sys.executable, "-c", ECHO_PEER])
        yield "10.250.77.2"
    finally:
        if server is not None:
            server.kill()
            server.wait()
        holder.kill()
        holder.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)  # gone with the namespace already


def test_outbound_traffic_is_masqueraded_and_internal_networks_have_none(berth, network, outside):
    out = berth("run", "--rm", "busybox", "sh", "-c", f"for i in 1 2 3 4 5; do nc -w 2 {outside} 7777 && break; sleep 0.2; done",
                timeout=60).stdout  # fmt: skip
    assert out == "10.250.77.1\n"  # the host's address: the container's own was masqueraded
    user = network()
    out = berth("run", "--rm", "--network", user, "busybox", "nc", "-w", "2", outside, "7777", timeout=60).stdout
    assert out == "10.250.77.1\n"
    internal = network("--internal")
    blocked = berth("run", "--rm", "--network", internal, "busybox", "nc", "-w", "2", outside, "7777", timeout=60)
    assert blocked.returncode != 0 and blocked.stdout == ""


def ip_of(berth, name: str, net: str = "bridge") -> str:
    return berth("inspect", "-f", f"{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}", name, check=True).stdout.strip()


def test_default_bridge_gives_an_address_a_route_and_docker_files(berth):
    out = berth("run", "--rm", "busybox", "sh", "-c", "ip -4 addr show eth0; ip route; cat /etc/hosts /etc/resolv.conf",
                check=True).stdout  # fmt: skip
    assert "inet 10.89." in out and "default via 10.89.0.1 dev eth0" in out
    assert "127.0.0.1\tlocalhost\n" in out and "ff02::2\tip6-allrouters\n" in out
    hostname_line = [line for line in out.splitlines() if line.startswith("10.89.") and "\t" in line]
    assert len(hostname_line) == 1 and len(hostname_line[0].split("\t")[1]) == 12
    assert "nameserver 127." not in out  # the host's loopback resolvers are unreachable from a container


def test_container_reaches_the_gateway_and_the_host_reaches_it(berth):
    name = unique("c")
    berth("run", "-d", "--name", name, "busybox", "sleep", "60", check=True)
    ip = ip_of(berth, name)
    assert berth("exec", name, "ping", "-c1", "-W2", "10.89.0.1").returncode == 0
    assert subprocess.run(["busybox", "ping", "-c1", "-W2", ip], capture_output=True).returncode == 0


def test_prune_never_takes_the_bridge_from_a_running_container(berth):
    berth("run", "-d", "--name", "stays", "busybox", "sleep", "60", check=True)
    berth("network", "prune", "-f", check=True)
    berth("system", "prune", "-f", check=True)
    assert "berth0" in links()
    assert berth("exec", "stays", "ping", "-c1", "-W2", "10.89.0.1").returncode == 0


def test_published_tcp_port_from_loopback_host_address_and_another_container(berth):
    name, port = unique("web"), free_port()
    berth("run", "-d", "--name", name, "-p", f"{port}:80", "busybox", "nc", "-ll", "-p", "80", "-e", "echo", "hello",
          check=True)  # fmt: skip
    assert fetch("127.0.0.1", port) == b"hello\n"
    address = host_address()
    if address:
        assert fetch(address, port) == b"hello\n"
    # another container through the host (its gateway address), and the container itself (hairpin)
    for client in ("busybox", None):
        args = ["exec", name] if client is None else ["run", "--rm", "busybox"]
        out = berth(*args, "nc", "-w", "3", "10.89.0.1", str(port), timeout=30).stdout
        assert out == "hello\n"
    assert berth("port", name, check=True).stdout == f"80/tcp -> 0.0.0.0:{port}\n"
    assert berth("port", name, "80", check=True).stdout == f"0.0.0.0:{port}\n"
    bad = berth("port", name, "81")
    assert bad.returncode == 1 and f"No public port '81/tcp' published for {name}" in bad.stderr
    ps = berth("ps", "--filter", f"name={name}", "--format", "json", check=True).stdout
    assert json.loads(ps)["Ports"] == f"0.0.0.0:{port}->80/tcp"


def test_published_udp_port(berth):
    name, port = unique("udp"), free_port()
    berth("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:9000/udp", *HOST_PY, "busybox", "/usr/bin/python3",
          "-c", UDP_ECHO, check=True)  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        for _ in range(20):  # until the server in the container has bound
            s.sendto(b"ping", ("127.0.0.1", port))
            try:
                assert s.recv(100) == b"echo ping"
                break
            except TimeoutError:
                continue
        else:
            pytest.fail("no UDP answer through the published port")


def test_publish_all_uses_exposed_ports(berth):
    name = unique("pall")
    berth("run", "-d", "--name", name, "-P", "--expose", "7000", "busybox", "nc", "-ll", "-p", "7000", "-e", "echo",
          "all", check=True)  # fmt: skip
    mapping = berth("port", name, "7000", check=True).stdout.strip()
    host_ip, _, host_port = mapping.rpartition(":")
    assert host_ip == "0.0.0.0" and int(host_port) > 1024
    assert fetch("127.0.0.1", int(host_port)) == b"all\n"


def test_inspect_network_settings_have_dockers_shape(berth):
    name, port = unique("c"), free_port()
    berth("run", "-d", "--name", name, "-p", f"{port}:80", "busybox", "sleep", "60", check=True)
    doc = json.loads(berth("inspect", name, check=True).stdout)[0]
    settings = doc["NetworkSettings"]
    for key in ("Bridge", "SandboxID", "SandboxKey", "Ports", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen",
                "MacAddress", "Networks"):  # fmt: skip
        assert key in settings
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}
    assert settings["Gateway"] == "10.89.0.1" and settings["IPPrefixLen"] == 16
    bridge = settings["Networks"]["bridge"]
    assert bridge["IPAddress"] == settings["IPAddress"] and bridge["MacAddress"].startswith("02:42:")
    assert doc["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
    assert doc["HostConfig"]["NetworkMode"] == "default"


def test_user_network_names_aliases_and_short_ids_resolve(berth, network):
    net = network()
    berth("run", "-d", "--name", "srv", "--network", net, "--network-alias", "db", "busybox", "sleep", "60", check=True)
    berth("run", "-d", "--name", "cli", "--network", net, "busybox", "sleep", "60", check=True)
    srv_ip = ip_of(berth, "srv", net)
    short = berth("inspect", "-f", "{{.Id}}", "srv", check=True).stdout.strip()[:12]
    for name in ("srv", "db", short):
        out = berth("exec", "cli", "nslookup", name, check=True).stdout
        assert f"Address: {srv_ip}" in out, out
    assert berth("exec", "cli", "ping", "-c1", "-W2", "srv").returncode == 0
    resolv = berth("exec", "cli", "cat", "/etc/resolv.conf", check=True).stdout
    gateway = json.loads(berth("network", "inspect", net, check=True).stdout)[0]["IPAM"]["Config"][0]["Gateway"]
    assert resolv == f"nameserver {gateway}\noptions ndots:0\n"
    # a name the network does not know is answered at once, and not forwarded
    t = time.monotonic()
    out = berth("exec", "cli", "nslookup", "nosuch.invalid")
    assert "NXDOMAIN" in out.stdout + out.stderr and time.monotonic() - t < 3
    doc = json.loads(berth("network", "inspect", net, check=True).stdout)[0]
    assert sorted(c["Name"] for c in doc["Containers"].values()) == ["cli", "srv"]
    assert {c["IPv4Address"] for c in doc["Containers"].values()} >= {f"{srv_ip}/24"}


def test_two_networks_are_isolated_and_internal_has_no_way_out(berth, network):
    a, b, internal = network(), network(), network("--internal")
    berth("run", "-d", "--name", "a1", "--network", a, "busybox", "sleep", "60", check=True)
    berth("run", "-d", "--name", "b1", "--network", b, "busybox", "sleep", "60", check=True)
    berth("run", "-d", "--name", "i1", "--network", internal, "busybox", "sleep", "60", check=True)
    assert berth("exec", "a1", "ping", "-c1", "-W1", ip_of(berth, "b1", b)).returncode != 0
    assert berth("exec", "b1", "ping", "-c1", "-W1", ip_of(berth, "a1", a)).returncode != 0
    assert "default" not in berth("exec", "i1", "sh", "-c", "ip route", check=True).stdout
    assert berth("exec", "i1", "ping", "-c1", "-W1", ip_of(berth, "a1", a)).returncode != 0
    address = host_address()
    if address:
        assert berth("exec", "i1", "ping", "-c1", "-W1", address).returncode != 0
    # but within the internal network, and to its gateway, all is well
    berth("run", "-d", "--name", "i2", "--network", internal, "busybox", "sleep", "60", check=True)
    assert berth("exec", "i2", "ping", "-c1", "-W2", "i1").returncode == 0


def test_static_ip_mac_and_connect_disconnect(berth, network):
    net = network("--subnet", "10.123.45.0/24")
    berth("run", "-d", "--name", "s1", "--network", net, "--ip", "10.123.45.77", "--mac-address", "02:42:0a:7b:2d:4d",
          "busybox", "sleep", "60", check=True)  # fmt: skip
    out = berth("exec", "s1", "sh", "-c", "ip addr show eth0", check=True).stdout
    assert "10.123.45.77/24" in out and "02:42:0a:7b:2d:4d" in out
    taken = berth("run", "--rm", "--network", net, "--ip", "10.123.45.77", "busybox", "true")
    assert taken.returncode == 125 and "Address already in use" in taken.stderr
    berth("run", "-d", "--name", "s2", "busybox", "sleep", "60", check=True)
    berth("network", "connect", "--alias", "second", net, "s2", check=True)
    assert "eth1" in berth("exec", "s2", "sh", "-c", "ip addr", check=True).stdout
    assert berth("exec", "s1", "ping", "-c1", "-W2", "second").returncode == 0
    berth("network", "disconnect", net, "s2", check=True)
    assert "eth1" not in berth("exec", "s2", "sh", "-c", "ip addr", check=True).stdout


def test_parallel_runs_never_share_an_address(berth, network):
    net = network()
    procs = [subprocess.Popen([berth.binary, "--root", berth.root, "run", "-d", "--network", net, "busybox", "sleep", "60"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(10)]  # fmt: skip
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    doc = json.loads(berth("network", "inspect", net, check=True).stdout)[0]
    addresses = [c["IPv4Address"] for c in doc["Containers"].values()]
    assert len(addresses) == 10 and len(set(addresses)) == 10


def test_bad_input_fails_cleanly(berth, network):
    before_links, before_rules = links(), berth_rules()
    net = network("--subnet", "10.124.0.0/24")
    cases = [
        (["network", "create", "--subnet", "10.124.0.0/25", unique("n")], "Pool overlaps with other one on this address space"),
        (["network", "create", "--subnet", "nonsense", unique("n")], "invalid subnet"),
        (["run", "--rm", "--network", net, "--ip", "10.125.0.5", "busybox", "true"], "is not a host address of 10.124.0.0/24"),
        (["run", "--rm", "--ip", "10.89.0.9", "busybox", "true"], "user specified IP address is supported on user defined networks only"),
        (["run", "--rm", "--network", "nosuch", "busybox", "true"], "network nosuch not found"),
        (["run", "--rm", "-p", "x", "busybox", "true"], "invalid containerPort: x"),
        (["run", "--rm", "-p", "80:x", "busybox", "true"], "invalid containerPort: x"),
        (["run", "--rm", "-p", "abc:80", "busybox", "true"], "invalid hostPort: abc"),
        (["run", "--rm", "--network-alias", "a", "busybox", "true"], "network-scoped aliases are only supported for user-defined networks"),
        (["run", "--rm", "--mac-address", "zz", "busybox", "true"], "zz is not a valid mac address"),
    ]  # fmt: skip
    for args, message in cases:
        proc = berth(*args)
        assert proc.returncode != 0 and message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    # a host port in use: Docker's words, and nothing left (no container, veth, lease or rule)
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        port = holder.getsockname()[1]
        proc = berth("run", "--rm", "-p", f"{port}:80", "busybox", "true")
        assert proc.returncode == 125
        assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in proc.stderr
    assert berth("ps", "-aq").stdout == ""
    berth("run", "-d", "--name", "user", "--network", net, "busybox", "sleep", "60", check=True)
    busy = berth("network", "rm", net)
    assert busy.returncode == 1 and "has active endpoints" in busy.stderr
    berth("rm", "-f", "user", check=True)
    berth("network", "rm", net, check=True)
    assert wait_for(lambda: links() <= before_links and len(berth_rules()) <= len(before_rules), LINGER + 5)


def test_everything_goes_after_rm_f_and_after_a_killed_monitor(berth, network):
    net = network()
    port = free_port()
    berth("run", "-d", "--name", "p1", "-p", f"{port}:80", "busybox", "sleep", "60", check=True)
    berth("run", "-d", "--name", "u1", "--network", net, "busybox", "sleep", "60", check=True)
    cid = berth("inspect", "-f", "{{.Id}}", "p1", check=True).stdout.strip()
    assert any(cid in rule for rule in berth_rules())
    berth("rm", "-f", "p1", "u1", check=True)
    assert not any(cid in rule for rule in berth_rules())  # the container's port rules at once
    # a killed monitor and container: the next berth command finds the leftovers
    berth("run", "-d", "--name", "k1", "-p", f"{port}:80", "busybox", "sleep", "60", check=True)
    kid = berth("inspect", "-f", "{{.Id}}", "k1", check=True).stdout.strip()
    init = int(berth("inspect", "-f", "{{.State.Pid}}", "k1", check=True).stdout)
    with open(os.path.join(berth.root, "containers", kid, "monitor.pid")) as f:
        monitor = int(f.read())
    os.kill(monitor, signal.SIGKILL)
    os.kill(init, signal.SIGKILL)
    berth("system", "prune", "-f", check=True)
    assert not any(kid in rule for rule in berth_rules())
    # the same port is free for the next container
    berth("run", "-d", "--name", "k2", "-p", f"{port}:80", "busybox", "nc", "-ll", "-p", "80", "-e", "echo", "k2",
          check=True)  # fmt: skip
    assert fetch("127.0.0.1", port) == b"k2\n"
    berth("rm", "-f", "k2", check=True)
    assert net not in berth("network", "ls", check=True).stdout  # system prune took the unused network too
    # the default bridge and every rule of berth's go once nothing uses them
    assert wait_for(lambda: "berth0" not in links(), LINGER + 5)
    assert wait_for(lambda: not berth_rules(), 5), berth_rules()


def test_a_second_network_state_neither_uses_nor_removes_anothers_bridge(berth, tmp_path):
    berth("run", "-d", "--name", "mine", "busybox", "sleep", "60", check=True)
    other = dict(os.environ, BERTH_NETWORK_ROOT=str(tmp_path / "other-state"))
    clash = subprocess.run([berth.binary, "--root", berth.root, "run", "--rm", "busybox", "true"], env=other,
                           capture_output=True, text=True)  # fmt: skip
    assert clash.returncode == 125 and "the bridge berth0 is the berth network state in" in clash.stderr
    rules = berth_rules()
    subprocess.run([berth.binary, "--root", str(tmp_path / "other-root"), "network", "prune", "-f"], env=other,
                   capture_output=True, check=True)  # fmt: skip
    assert "berth0" in links() and berth_rules() == rules
    assert berth("exec", "mine", "ping", "-c1", "-W2", "10.89.0.1").returncode == 0


def test_a_second_network_state_picks_a_subnet_anothers_bridge_does_not_use(berth, tmp_path):
    # a user network's bridge of this state, up with a container on it
    net = unique("sub")
    berth("network", "create", net, check=True)
    berth("run", "-d", "--name", "subbed", "--network", net, "busybox", "sleep", "60", check=True)
    ours = json.loads(berth("network", "inspect", net, check=True).stdout)[0]["IPAM"]["Config"][0]["Subnet"]
    other = dict(os.environ, BERTH_NETWORK_ROOT=str(tmp_path / "other-state"))

    def theirs(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([berth.binary, "--root", str(tmp_path / "other-root"), *args], env=other,
                              capture_output=True, text=True, timeout=60)  # fmt: skip

    try:
        assert theirs("network", "create", "elsewhere").returncode == 0
        got = json.loads(theirs("network", "inspect", "elsewhere").stdout)[0]["IPAM"]["Config"][0]["Subnet"]
        assert got != ours  # the same subnet on two bridges would misroute both
        clash = theirs("network", "create", "--subnet", ours, "clashing")
        assert clash.returncode != 0 and "overlaps" in clash.stderr
    finally:
        theirs("network", "prune", "-f")
        berth("rm", "-f", "subbed")
        berth("network", "rm", net)
