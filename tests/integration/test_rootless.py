"""Rootless berth: an ordinary user with a subordinate range and nothing else runs the seed's
walkthrough (build, image ls, run -d, exec, --pid=container:c1, rm --force), publishes a port
that the host's loopback reaches (slirp4netns), and root in the container is the user's own id
on the host.

The tests make their own users (bt18r*, with a home and a range after every range in
/etc/subuid and /etc/subgid) and remove them, their homes and their lines at the end; the
namespace holder a user's berth starts is ended by its pid. /dev/net/tun is 0600 on this
machine (Debian's udev rule makes it 0666): the network test sets 0666 for its run and puts the
mode back."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from bench.anchors import free_port, subordinate_user

from tests.integration.test_hardening_vs_docker import PROBE, assert_not_looser, probe

pytestmark = pytest.mark.root

BERTH = str(Path(sys.executable).parent / "berth")


class User:
    """berth run as `name`, with a runtime directory of its own."""

    def __init__(self, name: str, rundir: str) -> None:
        self.name, self.rundir = name, rundir
        self.home = os.path.expanduser(f"~{name}")

    def sh(self, script: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = f"XDG_RUNTIME_DIR={self.rundir} BERTH_PULL_POLICY=never"
        return subprocess.run(["su", "--login", "-s", "/bin/sh", self.name, "-c", f"export {env} && {script}"],
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip

    def berth(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = self.sh(" ".join([BERTH, *(shlex.quote(a) for a in args)]))
        if check and proc.returncode != 0:
            raise AssertionError(f"berth {' '.join(args)} as {self.name} -> {proc.returncode}: {proc.stderr}")
        return proc

    def end(self) -> None:
        """Its containers and networks (their DNS servers), then its namespace holders (by the pids
        berth and Podman wrote)."""
        ids = self.berth("ps", "-aq", check=False).stdout.split()
        if ids:
            self.berth("rm", "-f", *ids, check=False)
        self.berth("network", "prune", "-f", check=False)
        for path in ("berth/netns.pid", "berth/holder.pid", "libpod/tmp/pause.pid"):
            try:
                with open(os.path.join(self.rundir, path)) as f:
                    os.kill(int(f.read().split()[0]), 9)
            except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
                pass
        try:  # rootless Podman's lock file outlives its user
            os.unlink(f"/dev/shm/libpod_rootless_lock_{os.stat(self.home).st_uid}")
        except FileNotFoundError:
            pass


def _user(name: str, count: int):
    with subordinate_user(name, count, home=True):
        rundir = f"/tmp/{name}-run"
        os.makedirs(rundir, mode=0o700, exist_ok=True)
        subprocess.run(["chown", f"{name}:", rundir], check=True)
        user = User(name, rundir)
        try:
            yield user
        finally:
            user.end()
            subprocess.run(["rm", "-rf", rundir], check=True)


@pytest.fixture(scope="module")
def user():
    yield from _user(f"bt18r{os.getpid() % 100000}", 65536 * 2)


@pytest.fixture
def tun_for_users():
    """Debian's usual mode of /dev/net/tun for the test's run; this machine's back after."""
    mode = os.stat("/dev/net/tun").st_mode & 0o777
    os.chmod("/dev/net/tun", 0o666)
    yield
    os.chmod("/dev/net/tun", mode)


def test_the_seed_walkthrough_as_an_ordinary_user(user, tun_for_users):
    user.berth("image", "bootstrap", "busybox")
    assert user.sh("mkdir -p ctx && printf 'FROM busybox\\nRUN echo built > /built\\nCMD [\"sleep\", \"1000\"]\\n' "
                   "> ctx/Dockerfile").returncode == 0  # fmt: skip
    user.berth("build", "-q", "-t", "simple", "ctx")
    assert "simple" in user.berth("image", "ls").stdout
    user.berth("run", "--name", "c1", "-d", "simple")
    assert "sleep 1000" in user.berth("exec", "c1", "ps", "aux").stdout
    shared = user.berth("run", "--rm", "--pid=container:c1", "simple", "ps", "aux").stdout
    assert "sleep 1000" in shared
    pid = user.berth("inspect", "-f", "{{.State.Pid}}", "c1").stdout.strip()
    with open(f"/proc/{pid}/status") as f:
        uid_line = next(line for line in f if line.startswith("Uid:"))
    assert uid_line.split()[1] == str(os.stat(user.home).st_uid), "root in the container is the user on the host"
    assert user.berth("exec", "c1", "cat", "/built").stdout == "built\n"
    started = time.monotonic()
    user.berth("rm", "--force", "c1")
    assert time.monotonic() - started < 10, (
        "rm -f waited for a kill that reached nothing (no cgroup lists the processes)"
    )
    assert user.berth("ps", "-aq").stdout == ""
    info = user.berth("info").stdout
    uid = os.stat(user.home).st_uid
    assert "  rootless\n" in info and "  Rootless: true" in info and f"Engine's uid map: 0 {uid} 1, 1 " in info, info


def _fetched(url: str) -> bytes:
    """The body once the server answers: 50 tries over 5 s at most (b"" if it never does)."""
    for _ in range(50):
        try:
            return urllib.request.urlopen(url, timeout=2).read()
        except OSError:
            time.sleep(0.1)
    return b""


def test_a_published_port_is_reached_from_the_hosts_loopback(user, tun_for_users):
    user.berth("image", "bootstrap", "busybox")
    port = free_port()
    user.berth("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c",
               "echo served-rootless > /index.html && httpd -f -p 80 -h /")  # fmt: skip
    try:
        assert _fetched(f"http://127.0.0.1:{port}/index.html") == b"served-rootless\n"
        assert "10.0.2.100" in user.berth("exec", "web", "ip", "-o", "-4", "addr", "show", "tap0").stdout
    finally:
        user.berth("rm", "-f", "web", check=False)


def test_a_user_network_resolves_its_containers_by_name_and_publishes_ports(user, tun_for_users):
    """The user's network lives in a network namespace of the user's (its bridge, firewall and DNS
    server there, slirp4netns the way out and the way in): the host's namespace never sees its
    bridge, and a published port is slirp4netns's forward, gone with the container."""
    user.berth("image", "bootstrap", "busybox")
    user.berth("network", "create", "--subnet", "10.231.7.0/24", "unet")
    port = free_port()
    try:
        bridge = "berth-" + user.berth("network", "inspect", "-f", "{{.Id}}", "unet").stdout.strip()[:9]
        user.berth("run", "-d", "--name", "srv", "--network", "unet", "-p", f"127.0.0.1:{port}:80", "busybox", "sh",
                   "-c", "echo found-by-name > /index.html && httpd -f -p 80 -h /")  # fmt: skip
        address = user.berth("inspect", "-f", "{{.NetworkSettings.Networks.unet.IPAddress}}", "srv").stdout.strip()
        assert address.startswith("10.231.7."), address
        got = user.berth("run", "--rm", "--network", "unet", "busybox", "sh", "-c",
                         "nslookup srv; for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://srv/index.html && exit; "
                         "sleep 0.2; done; exit 1")  # fmt: skip
        assert f"Address: {address}" in got.stdout and got.stdout.endswith("found-by-name\n"), got.stdout
        assert _fetched(f"http://127.0.0.1:{port}/index.html") == b"found-by-name\n"
        assert bridge not in os.listdir("/sys/class/net"), "the user's bridge is in the host's namespace"
        user.berth("rm", "-f", "srv")
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=2)
    finally:
        user.berth("rm", "-f", "srv", check=False)
        user.berth("network", "rm", "unet", check=False)


def test_user_namespaces_of_the_users_containers(user):
    """keep-id: the user's uid is the container's same uid, and what it writes to a bind mount is
    the user's on the host; nomap: the user's own ids are not in the container; two auto
    containers get disjoint ranges of the user's subordinate ids. The image's files stay root's
    inside: an ordinary user cannot idmap the host's file system, so the layers are chowned
    copies (made once per maps, kept)."""
    user.berth("image", "bootstrap", "busybox")
    uid = os.stat(user.home).st_uid
    share = f"/tmp/{user.name}-share"
    assert user.sh(f"mkdir -m 755 {share} && echo mine > {share}/f").returncode == 0
    try:
        out = user.berth("run", "--rm", "--network", "none", "--userns=keep-id", "-v", f"{share}:/share", "busybox",
                         "sh", "-c", "id -u; cat /share/f; echo new > /share/g; stat -c %u /bin/busybox").stdout  # fmt: skip
        assert out.split() == [str(uid), "mine", "0"], out
        assert os.stat(f"{share}/g").st_uid == uid, "keep-id wrote the file as someone else"
        out = user.berth("run", "--rm", "--network", "none", "--userns=nomap", "-v", f"{share}:/share", "busybox",
                         "sh", "-c", "id -u; stat -c %u /share/f").stdout  # fmt: skip
        assert out.split() == ["0", "65534"], out  # the user's own file: nobody's inside
        hosts = []
        for name in ("a1", "a2"):
            user.berth("run", "-d", "--name", name, "--network", "none", "--userns=auto:size=2000", "busybox",
                       "sleep", "1000")  # fmt: skip
            pid = user.berth("inspect", "-f", "{{.State.Pid}}", name).stdout.strip()
            with open(f"/proc/{pid}/status") as f:
                hosts.append(int(next(line for line in f if line.startswith("Uid:")).split()[1]))
        assert uid not in hosts and abs(hosts[0] - hosts[1]) >= 2000, hosts
        proc = user.berth("run", "--rm", "--network", "none", "--userns=auto:size=200000", "busybox", "true",
                          check=False)  # fmt: skip
        assert proc.returncode == 125 and "no 200000 free ids left in this user's" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    finally:
        user.berth("rm", "-f", "a1", "a2", check=False)
        subprocess.run(["rm", "-rf", share], check=True)


def test_limits_and_no_subordinate_ids_are_refused_in_one_line(user):
    user.berth("image", "bootstrap", "busybox")
    proc = user.berth("run", "--rm", "--network", "none", "--memory", "64m", "busybox", "true", check=False)
    assert proc.returncode != 0 and "delegates no cgroup to the user" in proc.stderr, proc.stderr
    proc = user.berth("run", "--rm", "--network", "none", "--uidmap", "0:1:100", "busybox", "true", check=False)
    assert proc.returncode == 125 and "--uidmap and --gidmap are not there yet" in proc.stderr, proc.stderr
    assert user.berth("ps", "-aq").stdout == ""
    proc = user.berth("cri", check=False)
    assert proc.returncode == 1 and "rootless berth has no CRI server" in proc.stderr, proc.stderr
    for bare in _user(f"bt18n{os.getpid() % 100000}", 0):
        proc = bare.berth("images", check=False)
        assert proc.returncode != 0 and "has no subordinate ids in /etc/subuid" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


def test_the_probes_are_never_looser_than_rootless_podman(user):
    """The hardening probes inside a container, the same user running berth and Podman."""
    user.berth("image", "bootstrap", "busybox")
    with open(os.path.join(user.home, "probe.sh"), "w") as f:
        f.write(PROBE)
    user.berth("save", "-o", "busybox.tar", "busybox")
    assert user.sh("podman load -q -i busybox.tar").returncode == 0
    run = 'run --rm --network none busybox sh -c "$(cat probe.sh)"'
    ours = user.sh(f"{BERTH} {run}")
    theirs = user.sh(f"podman {run.replace('run --rm', 'run --rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024')}")
    assert ours.returncode == 0 and theirs.returncode == 0, (ours.stderr, theirs.stderr)
    assert_not_looser(probe(ours.stdout), probe(theirs.stdout))


def test_berth_runtime_runs_a_rootless_bundle_as_the_user(user):
    """`berth-runtime spec --rootless` (runc's): the user's own ids mapped to root, the host's
    network, /sys bound; the runtime run by the user itself, its state in $XDG_RUNTIME_DIR."""
    from berth.image.bootstrap import make_busybox_rootfs

    bundle = os.path.join(user.home, "bundle")
    make_busybox_rootfs(os.path.join(bundle, "rootfs"))
    subprocess.run(["chown", "-R", f"{user.name}:", bundle], check=True)
    runtime = str(Path(sys.executable).parent / "berth-runtime")
    assert user.sh(f"cd bundle && {runtime} spec --rootless").returncode == 0
    import json

    with open(os.path.join(bundle, "config.json")) as f:
        doc = json.load(f)
    uid = os.stat(user.home).st_uid
    assert doc["linux"]["uidMappings"] == [{"containerID": 0, "hostID": uid, "size": 1}]
    assert "network" not in [n["type"] for n in doc["linux"]["namespaces"]] and "resources" not in doc["linux"]
    doc["process"].update(args=["sh", "-c", "id -u; cat /proc/self/uid_map"], terminal=False)
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(doc, f)
    out = user.sh(f"{runtime} run --bundle bundle rootless-1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0", str(uid), "1"]
    assert os.listdir(os.path.join(user.rundir, "berth-runtime")) == [], "the run left state behind"


def test_the_docker_cli_drives_the_users_own_service(user):
    """`berth system service` run by the user serves the user's engine on
    $XDG_RUNTIME_DIR/berth/berth.sock; `--time 3` ends it once the client is done."""
    user.berth("image", "bootstrap", "busybox")
    sock = os.path.join(user.rundir, "berth", "berth.sock")
    out = user.sh(f"({BERTH} system service --time 3 2>service.err &) && "
                  f"for i in $(seq 50); do [ -S {sock} ] && break; sleep 0.1; done && "
                  f"docker -H unix://{sock} run --rm --network none busybox cat /proc/self/uid_map")  # fmt: skip
    assert out.returncode == 0, out.stderr
    uid = os.stat(user.home).st_uid
    assert out.stdout.split()[:3] == ["0", str(uid), "1"]
    for _ in range(100):  # bounded: the service's idle time is 3 s
        if not os.path.exists(sock):
            break
        time.sleep(0.1)
    assert not os.path.exists(sock), "the user's service did not end after its idle time"


def test_a_pod_of_the_users_publishes_its_port(user, tun_for_users):
    """Pods work rootless too: the infra container holds the slirp4netns network, its port
    reaches the member that serves it."""
    user.berth("image", "bootstrap", "busybox")
    port = free_port()
    user.berth("pod", "create", "--name", "rp1", "-p", f"127.0.0.1:{port}:80")
    try:
        user.berth(
            "run", "--pod", "rp1", "-d", "busybox", "sh", "-c", "echo pod-served > /i.html && httpd -f -p 80 -h /"
        )
        assert _fetched(f"http://127.0.0.1:{port}/i.html") == b"pod-served\n"
    finally:
        user.berth("pod", "rm", "-f", "rp1", check=False)
    assert user.berth("ps", "-aq").stdout == ""
