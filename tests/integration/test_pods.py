"""Pods through `berth pod` and `berth run --pod`, asserted from inside the containers and from the
host's /proc: containers of a pod reach each other on localhost, share the hostname and the IPC
namespace (and with --share pid see each other's processes), the infra container holds the
namespaces across its members' restarts, and a pod goes with everything it made."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.root


def ns(pid: int, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def pid_of(berth, name: str) -> int:
    return int(berth("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout)


def test_containers_of_a_pod_share_localhost_hostname_and_ipc(berth):
    pod = berth("pod", "create", "--name", "shop", "--network", "none", "-l", "tier=web", check=True).stdout.strip()
    try:
        assert len(pod) == 64
        berth("run", "-d", "--pod", "shop", "--name", "shop-web", "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc",
              check=True)  # fmt: skip
        got = berth("run", "--rm", "--pod", "shop", "busybox", "sh", "-c",
                    "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://localhost:8080/hostname && exit; sleep 0.2; done; "
                    "exit 1")  # fmt: skip
        assert (got.returncode, got.stdout) == (0, "shop\n"), got.stderr  # the pod's name is the hostname
        berth("run", "-d", "--pod", "shop", "--name", "shop-side", "busybox", "sleep", "300", check=True)
        web, side = pid_of(berth, "shop-web"), pid_of(berth, "shop-side")
        infra = pid_of(berth, berth("pod", "inspect", "-f", "{{.InfraContainerID}}", "shop", check=True).stdout.strip())
        for kind in ("net", "ipc", "uts"):
            assert ns(web, kind) == ns(side, kind) == ns(infra, kind), kind
        for kind in ("pid", "mnt"):
            assert len({ns(web, kind), ns(side, kind), ns(infra, kind)}) == 3, kind
        assert berth("exec", "shop-side", "hostname", check=True).stdout == "shop\n"
        security = berth("security", "shop-side", check=True).stdout.splitlines()
        assert security[1] == f"Pod:              shop ({pod[:12]}), sharing its net, ipc, uts namespaces"
        doc = json.loads(berth("pod", "inspect", "shop", check=True).stdout)[0]
        assert (doc["Id"], doc["State"], doc["NumContainers"], doc["Labels"]) == (pod, "Running", 3, {"tier": "web"})
        assert doc["SharedNamespaces"] == ["net", "ipc", "uts"]
        berth("run", "-d", "--name", "not-in-shop", "--network", "none", "busybox", "sleep", "300", check=True)
        members = berth("ps", "--filter", "pod=shop", "--format", "{{.Names}} {{.PodName}}", check=True).stdout
        assert sorted(members.splitlines()) == [f"{pod[:12]}-infra shop", "shop-side shop", "shop-web shop"]
        table = berth("ps", "--pod", check=True).stdout.splitlines()
        assert table[0].split()[-3:] == ["POD", "ID", "PODNAME"]
        assert [line.split()[-1] for line in table[1:] if "not-in-shop" not in line] == ["shop"] * 3
        berth("rm", "-f", "not-in-shop", check=True)
        listed = berth("pod", "ls", check=True).stdout.splitlines()
        assert listed[0].split()[:3] == ["POD", "ID", "NAME"] and listed[1].split()[:3] == [pod[:12], "shop", "Running"]
    finally:
        berth("pod", "rm", "-f", "shop")
    assert berth("ps", "-aq").stdout == ""


def test_share_pid_and_the_pods_lifecycle(berth):
    berth("pod", "create", "--name", "pids", "--network", "none", "--share", "net,ipc,uts,pid", check=True)
    try:
        berth("run", "-d", "--pod", "pids", "--name", "pids-a", "busybox", "sleep", "300", check=True)
        seen = berth("run", "--rm", "--pod", "pids", "busybox", "ps", "-o", "comm", check=True).stdout.split()
        assert seen[:2] == ["COMMAND", "catatonit"] and "sleep" in seen  # the infra is its PID 1
        berth("pod", "stop", "-t", "1", "pids", check=True)
        assert berth("pod", "inspect", "-f", "{{.State}}", "pids").stdout.strip() == "Exited"
        # started again, the infra container's namespaces are new ones: its members join those
        started = berth("pod", "start", "pids")
        assert started.returncode == 0, started.stderr
        infra = berth("pod", "inspect", "-f", "{{.InfraContainerID}}", "pids", check=True).stdout.strip()
        assert wait_for(lambda: berth("inspect", "-f", "{{.State.Status}}", "pids-a").stdout.strip() == "running")
        assert ns(pid_of(berth, "pids-a"), "pid") == ns(pid_of(berth, infra), "pid")
        assert ns(pid_of(berth, "pids-a"), "net") == ns(pid_of(berth, infra), "net")
        top = berth("pod", "top", "pids", "-o", "pid,comm", check=True).stdout.split()
        assert top[:2] == ["PID", "COMMAND"] and "catatonit" in top and "sleep" in top
        berth("run", "--pod", "pids", "--name", "pids-said", "busybox", "echo", "said", check=True)
        logs = berth("pod", "logs", "--names", "pids", check=True).stdout
        assert logs == "pids-said said\n"
        only = berth("pod", "logs", "-c", "pids-said", "pids", check=True).stdout
        assert only.split() == [berth("inspect", "-f", "{{.Id}}", "pids-said").stdout[:12], "said"]
        berth("rm", "pids-said", check=True)
        stats = json.loads(berth("pod", "stats", "--no-stream", "--format", "json", "pids", check=True).stdout)
        infra_name = berth("inspect", "-f", "{{.Name}}", infra, check=True).stdout.strip().lstrip("/")
        assert sorted(r["Name"] for r in stats) == sorted([infra_name, "pids-a"])
        assert all(len(r["Pod"]) == 12 and int(r["PIDs"]) >= 1 for r in stats)
        berth("pod", "pause", "pids", check=True)
        assert berth("pod", "inspect", "-f", "{{.State}}", "pids").stdout.strip() == "Paused"
        berth("pod", "unpause", "pids", check=True)
        assert berth("pod", "inspect", "-f", "{{.State}}", "pids").stdout.strip() == "Running"
        idle = berth("pod", "create", "--name", "idle", "--network", "none", check=True).stdout.strip()
        berth("container", "prune", "-f", check=True)  # a pod's infra container is not the prune's
        berth("system", "prune", "-f", check=True)
        assert berth("pod", "inspect", "-f", "{{.NumContainers}}", "idle").stdout.strip() == "1"
        assert berth("pod", "prune", "-f", check=True).stdout == idle + "\n"  # the running pod stays
        refused = berth("pod", "rm", "pids")
        assert refused.returncode == 125 and "has running containers (pids-a)" in refused.stderr
        busy = berth("rm", "-f", infra)
        assert busy.returncode == 1 and "infra container of a pod" in busy.stderr
    finally:
        gone = berth("pod", "rm", "-f", "pids")
    assert gone.returncode == 0, gone.stderr
    assert berth("ps", "-aq").stdout == "" and berth("pod", "ls", "-q").stdout == ""
    assert berth("pod", "inspect", "pids").returncode == 125


@pytest.mark.parametrize("args, message", [
    (("pod", "create", "--share", "net,mnt"), "invalid --share 'mnt'"),
    (("pod", "create", "--share", "ipc", "-p", "8080"), "need the pod's network namespace shared"),
    (("pod", "create", "--name", "bad name"), "Invalid container name (bad name)"),
    (("run", "--rm", "--pod", "nosuch", "busybox", "true"), "no such pod"),
    (("pod", "start", "nosuch"), "no such pod"),
    (("pod", "rm", "nosuch"), "no such pod"),
    (("pod", "create", "--cgroup-parent", "kube/../x"), "invalid --cgroup-parent 'kube/../x'"),
    (("run", "--rm", "--cgroup-parent", "a b", "busybox", "true"), "invalid --cgroup-parent 'a b'"),
])  # fmt: skip
def test_bad_pod_input(berth, args, message):
    got = berth(*args)
    assert got.returncode != 0 and message in got.stderr, got.stderr
    assert berth("ps", "-aq").stdout == "" and berth("pod", "ls", "-q").stdout == ""


def test_a_pods_namespaces_cannot_be_set_by_its_containers(berth):
    berth("pod", "create", "--name", "strict", "--network", "none", check=True)
    try:
        for flags, message in ((("--network", "host"), "networks and ports are set on the pod"),
                               (("-p", "8080"), "networks and ports are set on the pod"),
                               (("--hostname", "x"), "the hostname is the pod's"),
                               (("--ipc", "host"), "--ipc cannot be set")):  # fmt: skip
            got = berth("run", "--rm", "--pod", "strict", *flags, "busybox", "true")
            assert got.returncode == 125 and message in got.stderr, (flags, got.stderr)
        taken = berth("pod", "create", "--name", "strict")
        assert taken.returncode != 0 and "pod strict already exists" in taken.stderr
    finally:
        berth("pod", "rm", "-f", "strict", check=True)


def test_a_pod_on_a_user_network_publishes_its_members_port(berth):
    """The pod's network and ports are the infra container's: a member's server is reached on the
    host's loopback through the pod's published port, and at the pod's address on the network."""
    from tests.integration.test_network import fetch, free_port

    port = free_port()
    berth("network", "create", "podnet", check=True)
    try:
        berth("pod", "create", "--name", "pub", "--network", "podnet", "-p", f"127.0.0.1:{port}:80", check=True)
        berth("run", "-d", "--pod", "pub", "--name", "pub-web", "busybox", "nc", "-ll", "-p", "80", "-e", "echo",
              "hello", check=True)  # fmt: skip
        assert fetch("127.0.0.1", port) == b"hello\n"
        infra = berth("pod", "inspect", "-f", "{{.InfraContainerID}}", "pub", check=True).stdout.strip()
        networks = json.loads(berth("inspect", infra, check=True).stdout)[0]["NetworkSettings"]["Networks"]
        got = berth("run", "--rm", "--network", "podnet", "busybox", "nc", networks["podnet"]["IPAddress"], "80")
        assert got.stdout == "hello\n", got.stderr
    finally:
        berth("pod", "rm", "-f", "pub")
        berth("network", "rm", "podnet")


def test_an_infra_container_whose_pod_was_never_recorded_is_pruned(berth):
    """What a `pod create` killed between its infra container and its record leaves: a prune takes it."""
    pod = berth("pod", "create", "--name", "halfmade", "--network", "none", check=True).stdout.strip()
    os.unlink(os.path.join(berth.root, "pods", pod + ".json"))
    assert berth("container", "prune", "-f", check=True).stdout.startswith("Deleted Containers:\n")
    assert berth("ps", "-aq").stdout == ""
