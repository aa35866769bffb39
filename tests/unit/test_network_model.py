"""The pure parts of networking: -p syntax, /etc files, firewall plans, address allocation."""

from __future__ import annotations

import pytest

from berth.engine.networking import hosts_file, resolv_conf
from berth.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from berth.network import firewall, ports
from berth.network.store import NetworkStore


def test_publish_syntax_as_dockers():
    assert ports.parse("8080:80") == [{"HostIp": "", "HostPort": "8080", "Port": 80, "Proto": "tcp"}]
    assert ports.parse("127.0.0.1:53:53/udp") == [{"HostIp": "127.0.0.1", "HostPort": "53", "Port": 53, "Proto": "udp"}]
    assert ports.parse("80") == [{"HostIp": "", "HostPort": "", "Port": 80, "Proto": "tcp"}]
    assert [b["HostPort"] for b in ports.parse("8000-8001:80-81")] == ["8000", "8001"]
    assert ports.parse("9000-9009:80")[0]["HostPort"] == "9000-9009"  # any port of the range
    for bad, message in (("x", "invalid containerPort: x"), ("80:x", "invalid containerPort: x"),
                         ("abc:80", "invalid hostPort: abc"), ("99999", "invalid containerPort: 99999"),
                         ("1.2.3:80:80", "invalid IP address: 1.2.3"), ("80/sctpx", "invalid proto: sctpx"),
                         ("8000-8002:80-81", "invalid ranges specified")):  # fmt: skip
        with pytest.raises(InvalidArgument, match=message):
            ports.parse(bad)
    assert ports.parse_expose("7000-7001/udp") == ["7000/udp", "7001/udp"]


def test_hosts_and_resolv_conf_as_docker_writes_them():
    text = hosts_file("abc", ("db:10.0.0.5",), "10.89.0.2")
    assert text.startswith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    assert text.endswith("10.0.0.5\tdb\n10.89.0.2\tabc\n")
    assert "abc" not in hosts_file("abc", ())  # no address (--network none): no line, as Docker
    with pytest.raises(InvalidArgument, match="bad format for add-host"):
        hosts_file("abc", ("nocolon",))
    host = "# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n"
    assert resolv_conf(host, (), (), ()) == "nameserver 192.0.2.53\nsearch example.org\noptions edns0\n"
    assert resolv_conf(host, ("1.1.1.1",), ("a.b",), ("ndots:2",)) == (
        "nameserver 1.1.1.1\nsearch a.b\noptions ndots:2\n"
    )
    assert resolv_conf(host, (), (), (), embedded="10.90.0.1") == (
        "nameserver 10.90.0.1\nsearch example.org\noptions ndots:0\n"
    )


def test_firewall_plans_touch_only_berths_own_rules():
    rules = firewall.network_rules("berth0", "10.89.0.0/16", internal=False)
    assert all('"berth:net:berth0"' in r for cmds in rules.values() for r in cmds)
    internal = firewall.network_rules("berth-x", "10.90.0.0/24", internal=True)
    assert not internal["nat"] and not any("! -o berth+" in r for r in internal["filter"])
    current = {
        "filter": [":FORWARD DROP [0:0]", ":BERTH-FORWARD - [0:0]", "-A FORWARD -j DOCKER-USER",
                   '-A FORWARD -m comment --comment "berth" -j BERTH-FORWARD',
                   '-A BERTH-FORWARD -i berth0 -o berth0 -m comment --comment "berth:net:berth0" -j ACCEPT',
                   '-A BERTH-FORWARD -i berth-1 -o berth-1 -m comment --comment "berth:net:berth-1" -j ACCEPT'],
        "nat": [":BERTH-DNAT - [0:0]", ":BERTH-POSTROUTING - [0:0]", "-A POSTROUTING -j MASQUERADE",
                '-A BERTH-DNAT -p tcp -m tcp --dport 8080 -m comment --comment "berth:ctr:aaa" -j DNAT --to-destination 10.89.0.2:80',
                '-A BERTH-DNAT -p tcp -m tcp --dport 8081 -m comment --comment "berth:ctr:bbb" -j DNAT --to-destination 10.77.0.2:80'],
    }  # fmt: skip
    plan = firewall._prune_plan(current, {"berth-1"}, set(), ("10.77.0.0/16",))
    assert plan["filter"] == ['-D BERTH-FORWARD -i berth0 -o berth0 -m comment --comment "berth:net:berth0" -j ACCEPT']
    assert plan["nat"] == [current["nat"][3].replace("-A", "-D", 1)]  # bbb is another state's: kept
    everything = firewall._prune_plan(current, set(), set())
    assert "-X BERTH-FORWARD" in everything["filter"] and "-X BERTH-DNAT" in everything["nat"]
    assert not any(
        "DOCKER" in r or r == "-D POSTROUTING -j MASQUERADE" for r in everything["filter"] + everything["nat"]
    )


def test_addresses_are_leased_once_and_checked(tmp_path):
    store = NetworkStore(str(tmp_path))
    net = store.create("n1", subnet="10.200.0.0/29")
    got = {store.lease(net, f"c{i}", f"c{i}").ip for i in range(5)}
    assert got == {"10.200.0.2", "10.200.0.3", "10.200.0.4", "10.200.0.5", "10.200.0.6"}
    with pytest.raises(FailedPrecondition, match="no available IPv4 address"):
        store.lease(net, "c5", "c5")
    store.release("c2")
    with pytest.raises(AlreadyExists, match="Address already in use"):
        store.lease(net, "c6", "c6", ip="10.200.0.2")
    with pytest.raises(InvalidArgument, match="is not a host address of 10.200.0.0/29"):
        store.lease(net, "c6", "c6", ip="10.200.0.1")  # the gateway
    assert store.lease(net, "c6", "c6").ip == "10.200.0.4"
    with pytest.raises(FailedPrecondition, match="Pool overlaps"):
        store.create("n2", subnet="10.200.0.0/24")
    with pytest.raises(AlreadyExists):
        store.create("n1")
    assert store.create("n3").subnet.startswith("10.9")
