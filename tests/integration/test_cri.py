"""`berth cri` driven as a kubelet drives a runtime, with a gRPC client of the tests' own: a pod
sandbox with two containers that share localhost, their states, logs at the kubelet's path and
ExecSync; images; and bad requests with the status codes a kubelet understands."""

from __future__ import annotations

import glob
import ipaddress
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from tests.conftest import wait_for

grpc = pytest.importorskip("grpc")
cri = pytest.importorskip("cri_api.v1.api_pb2")
stubs = pytest.importorskip("cri_api.v1.api_pb2_grpc")

pytestmark = pytest.mark.root

BERTH = os.path.join(os.path.dirname(sys.executable), "berth")


SUBNET = "10.251.7.0/24"  # the tests' CNI network (a route to it would be the host's: checked below)


class CniNetwork:
    """A CNI configuration of the test's own: a bridge of its own, addresses from SUBNET, IPAM
    state under the test's directory, portmap for port mappings."""

    def __init__(self, tmp) -> None:
        self.conf_dir, self.ipam, self.bin = tmp / "net.d", tmp / "ipam", tmp / "bin"
        self.bridge = f"bcni{os.getpid() % 100000}"
        self.conf_dir.mkdir()
        self.config = tmp / "cri.toml"
        self.config.write_text(f'[cni]\nconf_dir = "{self.conf_dir}"\n')

    def bridge_plugin(self) -> dict:
        return {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": True, "hairpinMode": True,
                "ipam": {"type": "host-local", "dataDir": str(self.ipam), "ranges": [[{"subnet": SUBNET}]],
                         "routes": [{"dst": "0.0.0.0/0"}]}}  # fmt: skip

    def write(self, plugins: list | None = None) -> None:
        if plugins is None:
            plugins = [self.bridge_plugin(), {"type": "portmap", "capabilities": {"portMappings": True}}]
        doc = {"cniVersion": "1.0.0", "name": "berth-test", "plugins": plugins}
        (self.conf_dir / "10-test.conflist").write_text(json.dumps(doc))

    def with_plugin(self, kind: str, program: str, settings: str = "") -> None:
        """A plugin of the test's own after the bridge: its program in the test's bin directory,
        the configuration, and cri.toml finding it there (`settings` added to its [cni])."""
        self.bin.mkdir(exist_ok=True)
        (self.bin / kind).write_text(program)
        (self.bin / kind).chmod(0o755)
        self.write(plugins=[self.bridge_plugin(), {"type": kind}])
        self.config.write_text(f'[cni]\nconf_dir = "{self.conf_dir}"\n{settings}'
                               f'bin_dirs = ["{self.bin}", "/usr/lib/cni"]\n')  # fmt: skip

    def allocated(self) -> list[str]:
        """The addresses host-local has handed out and not been given back."""
        d = self.ipam / "berth-test"
        return sorted(n for n in os.listdir(d) if n[0].isdigit()) if d.is_dir() else []


def nat_chains() -> set[str]:
    return {line.split()[1] for line in subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True,
                                                       check=True).stdout.splitlines() if line.startswith("-N ")}  # fmt: skip


@pytest.fixture
def cni_network(tmp_path):
    """The test's CNI network; afterwards its bridge and the NAT chains its plugins made (and the
    jumps to them) are gone, those that were there before left alone."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    assert SUBNET.rsplit(".", 1)[0] + "." not in routes, f"{SUBNET} is routed on this host: the tests need another"
    before = nat_chains()
    net = CniNetwork(tmp_path)
    net.write()
    yield net
    subprocess.run(["ip", "link", "del", net.bridge], capture_output=True)
    made = nat_chains() - before
    rules = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    for rule in rules.splitlines():
        fields = rule.split()
        if fields[:1] == ["-A"] and fields[1] not in made and "-j" in fields and fields[fields.index("-j") + 1] in made:
            subprocess.run(["iptables", "-t", "nat", "-D", *shlex.split(rule)[1:]], check=True)
    for chain in made:
        subprocess.run(["iptables", "-t", "nat", "-F", chain], check=True)
    for chain in made:
        subprocess.run(["iptables", "-t", "nat", "-X", chain], check=True)


class Server:
    """`berth cri` with the test's settings, and a gRPC client of it."""

    def __init__(self, berth, tmp, config, prefix: tuple[str, ...] = ()) -> None:
        """prefix: what the server is run under (it execs the server's command line)."""
        self.sock = str(tmp / "cri.sock")
        self.proc = subprocess.Popen([*prefix, BERTH, "--root", berth.root, "cri", "--listen", f"unix://{self.sock}",
                                      "--config", str(config)], stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, 30), "no socket"
        assert self.proc.poll() is None, self.proc.stderr.read()
        self.channel = grpc.insecure_channel(f"unix://{self.sock}")
        self.runtime, self.images = stubs.RuntimeServiceStub(self.channel), stubs.ImageServiceStub(self.channel)

    def stop(self) -> None:
        self.channel.close()
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(30) == 0, self.proc.stderr.read()
        assert not os.path.exists(self.sock)

    def kill(self) -> None:
        self.channel.close()
        self.proc.kill()
        self.proc.wait(30)


@pytest.fixture
def server(berth, tmp_path, cni_network):
    s = Server(berth, tmp_path, cni_network.config)
    yield s.runtime, s.images, tmp_path
    s.stop()


CGROUP_PARENT = "berth-cri-test"


@pytest.fixture
def cgroup_parents():
    """The kubelet's cgroups a test's sandboxes are made under, removed after it in every hierarchy."""
    yield f"/{CGROUP_PARENT}"
    for top in [f"/sys/fs/cgroup/{h}" for h in os.listdir("/sys/fs/cgroup")] + ["/sys/fs/cgroup"]:
        base = os.path.join(top, CGROUP_PARENT)
        if os.path.isdir(base):
            for sub in os.listdir(base):
                if os.path.isdir(os.path.join(base, sub)):
                    os.rmdir(os.path.join(base, sub))
            os.rmdir(base)


def sandbox_config(name: str, logs: str, host_network: bool = False, cgroup_parent: str = ""):
    namespaces = cri.NamespaceOption(network=cri.NODE if host_network else cri.POD, pid=cri.CONTAINER)
    return cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=name, namespace="default", uid=f"uid-{name}", attempt=0),
        hostname=name, log_directory=logs, labels={"app": name}, annotations={"note": "from the test"},
        dns_config=cri.DNSConfig(servers=["10.96.0.10"], searches=["default.svc.cluster.local"], options=["ndots:5"]),
        linux=cri.LinuxPodSandboxConfig(cgroup_parent=cgroup_parent,
                                        security_context=cri.LinuxSandboxSecurityContext(namespace_options=namespaces)),
    )  # fmt: skip


def container_config(name: str, *args: str):
    security = cri.LinuxContainerSecurityContext(no_new_privs=True, seccomp=cri.SecurityProfile(
        profile_type=cri.SecurityProfile.RuntimeDefault))  # fmt: skip
    return cri.ContainerConfig(metadata=cri.ContainerMetadata(name=name), image=cri.ImageSpec(image="busybox"),
                               command=list(args[:1]), args=list(args[1:]), log_path=f"{name}/0.log",
                               labels={"container": name},
                               linux=cri.LinuxContainerConfig(security_context=security,
                                                              resources=cri.LinuxContainerResources(oom_score_adj=-998)))  # fmt: skip


def test_a_pod_with_two_containers_as_a_kubelet_runs_it(server, berth, cgroup_parents):
    runtime, images, tmp = server
    assert runtime.Version(cri.VersionRequest()).runtime_name == "berth"
    conditions = {c.type: c for c in runtime.Status(cri.StatusRequest()).status.conditions}
    assert conditions["RuntimeReady"].status and conditions["NetworkReady"].status
    assert any("busybox" in tag for i in images.ListImages(cri.ListImagesRequest()).images for tag in i.repo_tags)
    assert runtime.RuntimeConfig(cri.RuntimeConfigRequest()).linux.cgroup_driver == cri.CGROUPFS
    seen: list = []
    ended: list = []
    watch = runtime.GetContainerEvents(cri.GetEventsRequest())

    def collect() -> None:
        try:
            for e in watch:
                seen.append((e.container_id, e.container_event_type))
        except grpc.RpcError as e:
            ended.append(e.code())

    watcher = threading.Thread(target=collect, daemon=True)
    watcher.start()
    logs = str(tmp / "pods" / "web")
    config = sandbox_config("web", logs, cgroup_parent=f"{cgroup_parents}/pod-uid-web")
    sandbox = runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config)).pod_sandbox_id
    try:
        status = runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=sandbox)).status
        assert (status.state, status.metadata.name, dict(status.labels)) == (cri.SANDBOX_READY, "web", {"app": "web"})
        server_id = runtime.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=sandbox, config=container_config("server", "httpd", "-f", "-p", "8080", "-h", "/etc"),
            sandbox_config=config)).container_id  # fmt: skip
        runtime.StartContainer(cri.StartContainerRequest(container_id=server_id))
        client_id = runtime.CreateContainer(cri.CreateContainerRequest(
            pod_sandbox_id=sandbox, config=container_config("client", "sh", "-c", "echo said; sleep 300"),
            sandbox_config=config)).container_id  # fmt: skip
        runtime.StartContainer(cri.StartContainerRequest(container_id=client_id))
        fetch = ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://localhost:8080/hostname && exit; "
                 "sleep 0.2; done; exit 1"]  # fmt: skip
        got = runtime.ExecSync(cri.ExecSyncRequest(container_id=client_id, cmd=fetch, timeout=20))
        assert (got.exit_code, got.stdout) == (0, b"web\n"), got.stderr  # localhost and the hostname are the pod's
        pid = berth("inspect", "-f", "{{.State.Pid}}", server_id, check=True).stdout.strip()
        with open(f"/proc/{pid}/cgroup") as f:  # under the kubelet's pod cgroup
            assert f"{cgroup_parents}/pod-uid-web/{server_id}" in f.read()
        resolv = runtime.ExecSync(cri.ExecSyncRequest(container_id=client_id, cmd=["cat", "/etc/resolv.conf"])).stdout
        assert b"nameserver 10.96.0.10" in resolv and b"search default.svc.cluster.local" in resolv, resolv
        assert b"options ndots:5" in resolv
        status = runtime.ExecSync(cri.ExecSyncRequest(container_id=client_id, cmd=["cat", "/proc/self/status"])).stdout
        assert b"NoNewPrivs:\t1" in status and b"Seccomp:\t2" in status  # RuntimeDefault: berth's profile
        score = runtime.ExecSync(cri.ExecSyncRequest(container_id=client_id, cmd=["cat", "/proc/self/oom_score_adj"]))
        with open("/proc/self/oom_score_adj") as f:  # -998 asked; raised to what the host allows us
            assert int(score.stdout) == max(-998, int(f.read()))
        listed = runtime.ListContainers(cri.ListContainersRequest(filter=cri.ContainerFilter(pod_sandbox_id=sandbox)))
        assert sorted((c.metadata.name, c.state) for c in listed.containers) == [
            ("client", cri.CONTAINER_RUNNING), ("server", cri.CONTAINER_RUNNING)]  # fmt: skip
        assert wait_for(lambda: os.path.exists(os.path.join(logs, "client", "0.log")) and
                        " stdout F said" in open(os.path.join(logs, "client", "0.log")).read())  # fmt: skip
        stats = runtime.ContainerStats(cri.ContainerStatsRequest(container_id=client_id)).stats
        assert stats.attributes.metadata.name == "client" and stats.memory.working_set_bytes.value > 0
        assert stats.cpu.usage_core_nano_seconds.value > 0
        listed = runtime.ListContainerStats(cri.ListContainerStatsRequest(filter=cri.ContainerStatsFilter(
            pod_sandbox_id=sandbox, label_selector={"container": "server"}))).stats  # fmt: skip
        assert [s.attributes.id for s in listed] == [server_id]
        runtime.UpdateContainerResources(cri.UpdateContainerResourcesRequest(
            container_id=client_id, linux=cri.LinuxContainerResources(memory_limit_in_bytes=64 << 20)))  # fmt: skip
        limit = runtime.ExecSync(
            cri.ExecSyncRequest(container_id=client_id, cmd=["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
        )  # noqa: E501
        if limit.exit_code != 0:  # a cgroup v2 host
            limit = runtime.ExecSync(
                cri.ExecSyncRequest(container_id=client_id, cmd=["cat", "/sys/fs/cgroup/memory.max"])
            )  # noqa: E501
        assert limit.stdout == b"67108864\n", limit.stderr
        runtime.StopContainer(cri.StopContainerRequest(container_id=client_id, timeout=1))
        status = runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=client_id)).status
        assert status.state == cri.CONTAINER_EXITED and status.exit_code == 137 and status.reason == "Error"
        assert status.finished_at >= status.started_at > status.created_at > 0
        assert status.log_path == os.path.join(logs, "client", "0.log")
        sandboxes = runtime.ListPodSandbox(cri.ListPodSandboxRequest(filter=cri.PodSandboxFilter(
            label_selector={"app": "web"}))).items  # fmt: skip
        assert [s.id for s in sandboxes] == [sandbox]
        assert wait_for(lambda: (client_id, cri.CONTAINER_STOPPED_EVENT) in seen)
        assert [k for c, k in seen if c == client_id][:3] == [
            cri.CONTAINER_CREATED_EVENT, cri.CONTAINER_STARTED_EVENT, cri.CONTAINER_STOPPED_EVENT]  # fmt: skip
        watch.cancel()  # a client that goes away: the server's stream ends
        watcher.join(10)
        assert ended == [grpc.StatusCode.CANCELLED]
        runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=sandbox))
        status = runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=sandbox)).status
        assert status.state == cri.SANDBOX_NOTREADY
    finally:
        runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox))
    assert runtime.ListPodSandbox(cri.ListPodSandboxRequest()).items == []
    assert runtime.ListContainers(cri.ListContainersRequest()).containers == []
    assert os.path.isfile(os.path.join(logs, "client", "0.log"))  # left to the kubelet's garbage collection
    runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox))  # idempotent


def test_bad_requests_get_the_codes_a_kubelet_understands(server, berth):
    runtime, images, tmp = server

    def code(call, request) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as e:
            call(request)
        return e.value.code()

    assert code(runtime.PodSandboxStatus, cri.PodSandboxStatusRequest(pod_sandbox_id="nosuch")) == \
        grpc.StatusCode.NOT_FOUND  # fmt: skip
    assert code(runtime.RunPodSandbox, cri.RunPodSandboxRequest(config=cri.PodSandboxConfig())) == \
        grpc.StatusCode.INVALID_ARGUMENT  # fmt: skip
    config = sandbox_config("twice", str(tmp / "twice"))
    sandbox = runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config)).pod_sandbox_id
    try:
        assert code(runtime.RunPodSandbox, cri.RunPodSandboxRequest(config=config)) == grpc.StatusCode.ALREADY_EXISTS
        assert code(runtime.CreateContainer, cri.CreateContainerRequest(
            pod_sandbox_id="nosuch", config=container_config("x", "true"))) == grpc.StatusCode.NOT_FOUND  # fmt: skip
        missing = container_config("x", "true")
        missing.image.image = "no/such-image:1"
        assert code(runtime.CreateContainer, cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=missing)) == \
            grpc.StatusCode.NOT_FOUND  # fmt: skip
        assert code(runtime.StartContainer, cri.StartContainerRequest(container_id="nosuch")) == \
            grpc.StatusCode.NOT_FOUND  # fmt: skip
        assert code(runtime.ExecSync, cri.ExecSyncRequest(container_id="nosuch", cmd=["true"])) == \
            grpc.StatusCode.NOT_FOUND  # fmt: skip
        assert not images.ImageStatus(cri.ImageStatusRequest(image=cri.ImageSpec(image="no/such:1"))).HasField("image")
        made = runtime.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=container_config(
            "once", "true"))).container_id  # fmt: skip
        assert code(runtime.CreateContainer, cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=container_config(
            "once", "true"))) == grpc.StatusCode.ALREADY_EXISTS  # the same name and attempt  # fmt: skip
        bad_ref = container_config("x", "true")
        bad_ref.image.image = "Bad Reference::1"
        assert code(runtime.CreateContainer, cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=bad_ref)) == \
            grpc.StatusCode.INVALID_ARGUMENT  # fmt: skip
        for host, inside in (("../etc", "/host-etc"), ("/etc", "relative/etc")):
            mounted = container_config("x", "true")
            mounted.mounts.append(cri.Mount(host_path=host, container_path=inside))
            assert code(runtime.CreateContainer, cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=mounted)) \
                == grpc.StatusCode.INVALID_ARGUMENT  # fmt: skip
        for ref in ("/no/such/profile.json", "relative.json"):
            confined = container_config("x", "true")
            confined.linux.security_context.seccomp.CopyFrom(cri.SecurityProfile(
                profile_type=cri.SecurityProfile.Localhost, localhost_ref=ref))  # fmt: skip
            assert code(runtime.CreateContainer, cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=confined)) \
                == grpc.StatusCode.INVALID_ARGUMENT  # fmt: skip
        assert [c.id for c in runtime.ListContainers(cri.ListContainersRequest()).containers] == [made]
        runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=sandbox))
        stopped = code(runtime.CreateContainer, cri.CreateContainerRequest(pod_sandbox_id=sandbox,
                                                                            config=container_config("late", "true")))  # fmt: skip
        assert stopped == grpc.StatusCode.FAILED_PRECONDITION
        assert runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=sandbox)).status.state == \
            cri.SANDBOX_NOTREADY  # not started again by the refused create  # fmt: skip
    finally:
        runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox))
    assert berth("ps", "-aq").stdout == "" and berth("pod", "ls", "-q").stdout == ""


def test_images_pulled_with_the_requests_credentials(server, berth, password_registry):
    """PullImage from a local registry that wants a password: with the request's AuthConfig it
    pulls, without it the registry's refusal comes back; ImageStatus, RemoveImage, ImageFsInfo."""
    _runtime, images, _tmp = server
    reg = password_registry
    name = f"{reg.host}/k8s/busybox:v1"
    berth("tag", "busybox", name, check=True)
    berth("login", "-u", "alice", "--password-stdin", reg.host, input=b"s3cret\n", check=True)
    berth("push", name, check=True)
    berth("logout", reg.host, check=True)
    berth("rmi", name, check=True)
    spec = cri.ImageSpec(image=name)
    with pytest.raises(grpc.RpcError) as refused:
        images.PullImage(cri.PullImageRequest(image=spec))
    assert "unauthorized" in refused.value.details().lower()
    auth = cri.AuthConfig(username="alice", password="s3cret")
    ref = images.PullImage(cri.PullImageRequest(image=spec, auth=auth)).image_ref
    status = images.ImageStatus(cri.ImageStatusRequest(image=spec)).image
    assert status.id == ref and name in status.repo_tags
    images.RemoveImage(cri.RemoveImageRequest(image=spec))
    assert not images.ImageStatus(cri.ImageStatusRequest(image=spec)).HasField("image")
    images.RemoveImage(cri.RemoveImageRequest(image=spec))  # idempotent
    usage = images.ImageFsInfo(cri.ImageFsInfoRequest()).image_filesystems[0]
    assert usage.used_bytes.value > 0 and usage.inodes_used.value > 0
    assert usage.fs_id.mountpoint.startswith(berth.root)


def started_ahead(parent: int, root: str) -> list[int]:
    """The monitors `parent` started ahead that wait for a container (no container's monitor.pid
    names them), with the runtimes they started ahead."""
    running = {open(p).read() for p in glob.glob(f"{root}/containers/*/monitor.pid")}
    found, parents = [], {str(parent)}
    for _ in range(2):  # the monitors, then their runtimes
        level = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                ppid = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()[1]
                waiting = b"--prestarted" in open(f"/proc/{pid}/cmdline", "rb").read()
            except OSError:
                continue
            if ppid in parents and waiting and pid not in running:
                level.append(pid)
        found += level
        parents = set(level)
    return [int(pid) for pid in found]


def alive(pid: int) -> bool:
    """Running (a zombie that no one reaped yet is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url: str) -> str:
    """A GET from the host, tried for a few seconds while the server starts."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_pods_are_networked_by_the_cni_plugins(server, berth, cni_network):
    """A pod's address from the CNI network (host-local on the test's bridge), a port mapping
    through portmap reached on the host's loopback, one pod reaching another by address; and at
    StopPodSandbox the address given back and the pod's rules gone."""
    runtime, _images, tmp = server
    port = free_port()
    web = sandbox_config("web", str(tmp / "web"))
    web.port_mappings.append(cri.PortMapping(protocol=cri.TCP, container_port=8080, host_port=port))
    web_id = runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=web)).pod_sandbox_id
    other = sandbox_config("other", str(tmp / "other"))
    other_id = runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=other)).pod_sandbox_id
    try:
        ip = runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=web_id)).status.network.ip
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(SUBNET)
        assert cni_network.allocated() == sorted(
            [ip, runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=other_id)).status.network.ip]
        )
        infra = berth("pod", "inspect", "-f", "{{.InfraContainerID}}", web_id, check=True).stdout.strip()
        assert berth("inspect", "-f", "{{.NetworkSettings.IPAddress}}", infra, check=True).stdout.strip() == ip
        server_id = runtime.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=web_id, config=container_config(
            "server", "httpd", "-f", "-p", "8080", "-h", "/etc"), sandbox_config=web)).container_id  # fmt: skip
        runtime.StartContainer(cri.StartContainerRequest(container_id=server_id))
        assert fetch(f"http://{ip}:8080/hostname") == "web\n"
        assert fetch(f"http://127.0.0.1:{port}/hostname") == "web\n"  # the port mapping
        client_id = runtime.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=other_id, config=container_config(
            "client", "sleep", "300"), sandbox_config=other)).container_id  # fmt: skip
        runtime.StartContainer(cri.StartContainerRequest(container_id=client_id))
        got = runtime.ExecSync(cri.ExecSyncRequest(container_id=client_id, cmd=["wget", "-qO-", f"http://{ip}:8080/hostname"],
                                                   timeout=20))  # fmt: skip
        assert (got.exit_code, got.stdout) == (0, b"web\n"), got.stderr
        route = runtime.ExecSync(cri.ExecSyncRequest(container_id=client_id, cmd=["ip", "route"])).stdout.decode()
        assert route.startswith("default via 10.251.7.1 dev eth0"), route
        runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=web_id))
        status = runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=web_id)).status
        assert (status.state, status.network.ip) == (cri.SANDBOX_NOTREADY, "")
        assert ip not in cni_network.allocated()
        assert ip not in subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True).stdout
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/hostname", timeout=2)
        runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=web_id))  # idempotent
    finally:
        for sandbox in (web_id, other_id):
            runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox))
    assert cni_network.allocated() == []


def test_cni_teardown_survives_kills(berth, tmp_path, cni_network):
    """The server killed with SIGKILL in the middle of a RunPodSandbox (a plugin of the list still
    running), and a pod whose server and infra container were both killed: the next server gives
    the addresses back and removes the rules (the namespace was kept for the DEL), leaving no
    process behind."""
    cni_network.with_plugin("slow", f"#!{sys.executable}\nimport json, os, sys, time\nconf = json.load(sys.stdin)\n"
                            "if os.environ['CNI_COMMAND'] == 'ADD':\n    open(sys.argv[0] + '.adding', 'w').close()\n"
                            "    time.sleep(float(open(sys.argv[0] + '.sleep').read()))\n"
                            "    print(json.dumps(conf['prevResult']))\n")  # fmt: skip
    slow = cni_network.bin / "slow"
    (cni_network.bin / "slow.sleep").write_text("0")
    s = Server(berth, tmp_path, cni_network.config)
    try:
        done = s.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=sandbox_config("done", str(tmp_path / "d"))))
        status = s.runtime.PodSandboxStatus(cri.PodSandboxStatusRequest(pod_sandbox_id=done.pod_sandbox_id)).status
        assert status.network.ip in cni_network.allocated()
        os.unlink(str(slow) + ".adding")
        infra = berth("pod", "inspect", "-f", "{{.InfraContainerID}}", done.pod_sandbox_id, check=True).stdout.strip()
        infra_pid = int(berth("inspect", "-f", "{{.State.Pid}}", infra, check=True).stdout)
        (cni_network.bin / "slow.sleep").write_text("4")
        pending = s.runtime.RunPodSandbox.future(
            cri.RunPodSandboxRequest(config=sandbox_config("cut", str(tmp_path / "c")))
        )
        assert wait_for(lambda: os.path.exists(str(slow) + ".adding"), 20)  # the bridge's ADD done, slow's running
        assert len(cni_network.allocated()) == 2
        holders = [json.loads(open(p).read())["holder"] for p in glob.glob(f"{berth.root}/containers/*/cni.json")]
        assert len(holders) == 2
        # a pod's worth of monitors, each with the runtime it starts once it has imported
        assert wait_for(lambda: len(started_ahead(s.proc.pid, berth.root)) == 4, 10), started_ahead(
            s.proc.pid, berth.root
        )
        ahead = started_ahead(s.proc.pid, berth.root)
        s.kill()
        assert wait_for(lambda: not any(alive(pid) for pid in ahead), 10), "a monitor started ahead outlived its server"
        os.kill(infra_pid, signal.SIGKILL)  # the infra container of the pod that was running
        with pytest.raises(grpc.RpcError):
            pending.result(30)
        assert wait_for(lambda: berth("inspect", "-f", "{{.State.Status}}", infra).stdout.strip() == "exited", 20)
        time.sleep(4)  # the slow plugin's ADD ends (its server gone, nobody reads it)
        (cni_network.bin / "slow.sleep").write_text("0")
    except BaseException:
        s.kill()
        raise
    s = Server(berth, tmp_path, cni_network.config)
    try:
        assert wait_for(lambda: cni_network.allocated() == [], 30), cni_network.allocated()
        # the bridge plugin's DEL gives the address back first, then removes its masquerade rule
        assert wait_for(lambda: status.network.ip not in subprocess.run(["iptables", "-t", "nat", "-S"],
                                                                        capture_output=True, text=True).stdout, 30)  # fmt: skip
        assert wait_for(lambda: not any(alive(pid) for pid in holders)), "a namespace holder was left"
        sandboxes = s.runtime.ListPodSandbox(cri.ListPodSandboxRequest()).items
        assert {x.metadata.name: x.state for x in sandboxes} == {
            "done": cri.SANDBOX_NOTREADY,
            "cut": cri.SANDBOX_NOTREADY,
        }
        for x in sandboxes:
            s.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=x.id))
            s.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=x.id))
        ahead = started_ahead(s.proc.pid, berth.root)
    finally:
        s.stop()
    assert wait_for(lambda: not any(alive(pid) for pid in ahead), 10), "a monitor started ahead outlived its server"
    assert berth("ps", "-aq").stdout == "" and berth("pod", "ls", "-q").stdout == ""


def test_bad_network_settings_are_refused_and_leave_nothing(berth, tmp_path, cni_network):
    """A settings file with a typo or a missing --config file stops the server with one line; no
    network configuration, or a plugin that is not installed, is NetworkReady false with the
    reason; a sandbox that cannot be networked fails with nothing left, its address given back."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[cni]\nconf_dirr = "/etc/cni/net.d"\n')
    for config, words in ((bad, "unknown setting 'cni.conf_dirr'"), (tmp_path / "none.toml", "no such file")):
        proc = subprocess.run([BERTH, "--root", berth.root, "cri", "--listen", f"unix://{tmp_path}/x.sock",
                               "--config", str(config)], capture_output=True, text=True, timeout=30)  # fmt: skip
        assert proc.returncode != 0 and words in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    (cni_network.conf_dir / "10-test.conflist").unlink()
    s = Server(berth, tmp_path, cni_network.config)
    try:
        runtime = s.runtime

        def network() -> cri.RuntimeCondition:
            return {c.type: c for c in runtime.Status(cri.StatusRequest()).status.conditions}["NetworkReady"]

        assert not network().status and network().reason == "NetworkPluginNotReady"
        assert "no network config found" in network().message
        cni_network.write(plugins=[cni_network.bridge_plugin(), {"type": "no-such-plugin"}])
        assert not network().status and 'failed to find plugin "no-such-plugin"' in network().message
        with pytest.raises(grpc.RpcError) as e:
            runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=sandbox_config("x", str(tmp_path / "x"))))
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "no-such-plugin" in e.value.details()
        s.stop()
        cni_network.with_plugin("failing", '#!/bin/sh\ncat >/dev/null\n[ "$CNI_COMMAND" = ADD ] || exit 0\n'
                                'echo \'{"cniVersion": "1.0.0", "code": 11, "msg": "no route to the moon"}\'\nexit 1\n')  # fmt: skip
        s = Server(berth, tmp_path, cni_network.config)
        runtime = s.runtime
        assert network().status
        with pytest.raises(grpc.RpcError) as e:
            runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=sandbox_config("x", str(tmp_path / "x"))))
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "plugin type='failing' failed (ADD): no route to the moon" in e.value.details()
        assert cni_network.allocated() == []  # the bridge's address given back by the DEL
        s.stop()
        cni_network.with_plugin("hang", '#!/bin/sh\n[ "$CNI_COMMAND" = ADD ] && exec sleep 60\nexit 0\n',
                                settings="plugin_timeout = 1\n")  # fmt: skip
        s = Server(berth, tmp_path, cni_network.config)
        runtime = s.runtime
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=sandbox_config("x", str(tmp_path / "x"))))
        assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED and time.monotonic() - started < 20
        assert "plugin type='hang' ADD did not finish in 1 s" in e.value.details()
        assert cni_network.allocated() == []
        sctp = sandbox_config("y", str(tmp_path / "y"))
        sctp.port_mappings.append(cri.PortMapping(protocol=cri.SCTP, container_port=80, host_port=8080))
        with pytest.raises(grpc.RpcError) as e:
            runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=sctp))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "SCTP" in e.value.details()
        assert runtime.ListPodSandbox(cri.ListPodSandboxRequest()).items == []
        ahead = started_ahead(s.proc.pid, berth.root)
    finally:
        s.stop()
    assert wait_for(lambda: not any(alive(pid) for pid in ahead), 10), "a monitor started ahead outlived its server"
    assert berth("ps", "-aq").stdout == "" and berth("pod", "ls", "-q").stdout == ""
    assert not glob.glob(f"{berth.root}/cri/sandboxes/*.json")


def status_of(raw: bytes) -> tuple[str, str]:
    """(status, exit code) from the error channel's Kubernetes Status."""
    doc = json.loads(raw)
    causes = (doc.get("details") or {}).get("causes") or [{}]
    return doc["status"], causes[0].get("message", "")


def test_mounts_propagate_from_the_host_as_asked(berth, tmp_path, cni_network):
    """HOST_TO_CONTAINER (rslave): a mount made under the source once the container runs shows
    inside; PRIVATE (rprivate): it does not; BIDIRECTIONAL: INVALID_ARGUMENT, a container's mounts
    never reaching the host. The server runs in a mount namespace of the test's own, where the
    sources are shared mounts and the new mounts are made: the host's mount table is never touched."""
    seen, hidden = tmp_path / "seen", tmp_path / "hidden"
    for d in (seen, hidden):
        (d / "sub").mkdir(parents=True)
    shared = " && ".join(f"mount --bind {d} {d} && mount --make-shared {d}" for d in (seen, hidden))
    s = Server(berth, tmp_path, cni_network.config,
               prefix=("unshare", "--mount", "--propagation", "private", "sh", "-c", f'{shared} && exec "$@"', "sh"))  # fmt: skip
    try:
        config = sandbox_config("mounts", str(tmp_path / "logs"))
        sandbox = s.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config)).pod_sandbox_id
        container = container_config("c", "sleep", "1000")
        container.mounts.extend([
            cri.Mount(container_path="/seen", host_path=str(seen), propagation=cri.PROPAGATION_HOST_TO_CONTAINER),
            cri.Mount(container_path="/hidden", host_path=str(hidden), propagation=cri.PROPAGATION_PRIVATE)])  # fmt: skip
        cid = s.runtime.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=container,
                                                                   sandbox_config=config)).container_id  # fmt: skip
        s.runtime.StartContainer(cri.StartContainerRequest(container_id=cid))
        status = s.runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=cid)).status
        assert {m.container_path: m.propagation for m in status.mounts} == {
            "/seen": cri.PROPAGATION_HOST_TO_CONTAINER, "/hidden": cri.PROPAGATION_PRIVATE}  # fmt: skip
        for d in (seen, hidden):
            subprocess.run(["nsenter", f"--mount=/proc/{s.proc.pid}/ns/mnt", "sh", "-c",
                            f"mount -t tmpfs none {d}/sub && echo mounted-later > {d}/sub/file"], check=True)  # fmt: skip
        got = s.runtime.ExecSync(cri.ExecSyncRequest(container_id=cid, cmd=["cat", "/seen/sub/file"], timeout=10))
        assert (got.exit_code, got.stdout) == (0, b"mounted-later\n"), got
        got = s.runtime.ExecSync(cri.ExecSyncRequest(container_id=cid, cmd=["ls", "/hidden/sub"], timeout=10))
        assert (got.exit_code, got.stdout) == (0, b""), got
        both = container_config("both", "true")
        both.mounts.append(
            cri.Mount(container_path="/b", host_path=str(seen), propagation=cri.PROPAGATION_BIDIRECTIONAL)
        )
        with pytest.raises(grpc.RpcError) as refused:
            s.runtime.CreateContainer(
                cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=both, sandbox_config=config)
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "bidirectional" in refused.value.details()
        s.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=sandbox))
        s.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox))
    finally:
        s.stop()
    assert berth("ps", "-aq").stdout == ""


def test_exec_attach_and_port_forward_through_the_streaming_server(server, berth):
    """Exec, Attach and PortForward as a kubelet (SPDY/3.1) and as crictl 1.30+ (WebSocket,
    v5.channel.k8s.io) use them: stdin in, stdout and stderr out, a terminal sized by the resize
    channel, the exit code in the Status on the error channel; a port on the pod's localhost
    reached through a pair of streams; used or unknown URLs and unknown protocols refused."""
    from websockets.sync.client import connect

    from tests.integration.spdy_client import Refused, SpdyClient

    runtime, _images, tmp = server
    config = sandbox_config("stream", str(tmp / "stream"))
    sandbox = runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config)).pod_sandbox_id
    try:
        web = container_config("web", "httpd", "-f", "-p", "8080", "-h", "/etc")
        web_id = runtime.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=web,
                                                                    sandbox_config=config)).container_id  # fmt: skip
        runtime.StartContainer(cri.StartContainerRequest(container_id=web_id))
        echo = container_config("echo", "sh", "-c", 'while read l; do echo "echo:$l"; done; echo bye >&2')
        echo.stdin = echo.stdin_once = True  # the attached client's end of input ends the loop
        echo_id = runtime.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=echo,
                                                                     sandbox_config=config)).container_id  # fmt: skip
        runtime.StartContainer(cri.StartContainerRequest(container_id=echo_id))

        # exec over SPDY, without a terminal: stdin, stdout, stderr and the exit code
        url = runtime.Exec(cri.ExecRequest(container_id=web_id, cmd=["sh", "-c", "read x; echo got $x; echo err >&2; exit 3"],
                                           stdin=True, stdout=True, stderr=True)).url  # fmt: skip
        assert url.startswith("http://127.0.0.1:")
        c = SpdyClient(url)
        assert c.headers["x-stream-protocol-version"] == "v4.channel.k8s.io"
        error = c.open({"streamType": "error"})
        stdin = c.open({"streamType": "stdin"})
        out, err = c.open({"streamType": "stdout"}), c.open({"streamType": "stderr"})
        c.send(stdin, b"hello\n", fin=True)
        assert c.wait(lambda: error in c.ended), c.received(out)
        assert (c.received(out), c.received(err)) == (b"got hello\n", b"err\n")
        assert status_of(c.received(error)) == ("Failure", "3")
        assert c.window_updates > 0  # what it sent was acknowledged
        c.close()
        with pytest.raises(Refused) as refused:  # a URL serves once
            SpdyClient(url)
        assert refused.value.status == 404

        # exec over SPDY with a terminal, sized through the resize stream
        url = runtime.Exec(cri.ExecRequest(container_id=web_id, cmd=["sh"], tty=True, stdin=True, stdout=True)).url
        c = SpdyClient(url)
        error, stdin, out = (
            c.open({"streamType": "error"}),
            c.open({"streamType": "stdin"}),
            c.open({"streamType": "stdout"}),
        )
        resize = c.open({"streamType": "resize"})
        c.send(resize, json.dumps({"Width": 101, "Height": 37}).encode())
        c.ping()
        time.sleep(0.3)
        c.send(stdin, b"stty size; tty; exit 5\n")
        assert c.wait(lambda: error in c.ended), c.received(out)
        assert b"37 101" in c.received(out) and b"/dev/pts/" in c.received(out), c.received(out)
        assert status_of(c.received(error)) == ("Failure", "5")
        c.close()

        # an unknown protocol version: 403, as the kubelet's server answers
        url = runtime.Exec(cri.ExecRequest(container_id=web_id, cmd=["true"], stdout=True)).url
        with pytest.raises(Refused) as refused:
            SpdyClient(url, protocols=("v9.channel.k8s.io",))
        assert refused.value.status == 403 and "unable to negotiate protocol" in refused.value.body

        # exec over WebSocket (v5.channel.k8s.io), as crictl 1.30+
        url = runtime.Exec(cri.ExecRequest(container_id=web_id, cmd=["sh", "-c", "echo out; echo err >&2; exit 2"],
                                           stdout=True, stderr=True)).url  # fmt: skip
        got: dict[int, bytes] = {}
        with connect("ws" + url[4:], subprotocols=["v5.channel.k8s.io"], open_timeout=20) as ws:
            assert ws.subprotocol == "v5.channel.k8s.io"
            for message in ws:
                got[message[0]] = got.get(message[0], b"") + message[1:]
        assert (got.get(1), got.get(2)) == (b"out\n", b"err\n")
        assert status_of(got[3]) == ("Failure", "2")

        # attach over WebSocket: the container's stdin and output, v5's close of stdin ends it
        url = runtime.Attach(cri.AttachRequest(container_id=echo_id, stdin=True, stdout=True, stderr=True)).url
        got = {}
        with connect("ws" + url[4:], subprotocols=["v5.channel.k8s.io"], open_timeout=20) as ws:
            ws.send(b"\x00ping\n")
            ws.send(b"\xff\x00")  # stdin closed
            for message in ws:
                got[message[0]] = got.get(message[0], b"") + message[1:]
        assert got.get(1) == b"echo:ping\n" and got.get(2) == b"bye\n"
        assert status_of(got[3])[0] == "Success"
        assert wait_for(lambda: runtime.ContainerStatus(cri.ContainerStatusRequest(
            container_id=echo_id)).status.state == cri.CONTAINER_EXITED)  # fmt: skip

        # port-forward over SPDY: a connection to the pod's localhost:8080, and one to a closed port
        url = runtime.PortForward(cri.PortForwardRequest(pod_sandbox_id=sandbox, port=[8080])).url
        c = SpdyClient(url, protocols=("portforward.k8s.io",))
        error = c.open({"streamType": "error", "port": "8080", "requestID": "0"})
        data = c.open({"streamType": "data", "port": "8080", "requestID": "0"})
        c.send(data, b"GET /hostname HTTP/1.0\r\n\r\n", fin=True)
        assert c.wait(lambda: data in c.ended)
        assert c.received(data).startswith(b"HTTP/1.") and c.received(data).endswith(b"\r\n\r\nstream\n")
        assert c.received(error) == b""
        error = c.open({"streamType": "error", "port": "9", "requestID": "1"})
        data = c.open({"streamType": "data", "port": "9", "requestID": "1"})
        assert c.wait(lambda: error in c.ended)
        assert b"failed to connect to localhost:9" in c.received(error)
        c.close()

        def code(call, request) -> grpc.StatusCode:
            with pytest.raises(grpc.RpcError) as e:
                call(request)
            return e.value.code()

        assert code(runtime.Exec, cri.ExecRequest(container_id=web_id, cmd=["sh"], tty=True, stdout=True,
                                                  stderr=True)) == grpc.StatusCode.INVALID_ARGUMENT  # fmt: skip
        assert code(runtime.Exec, cri.ExecRequest(container_id=web_id, cmd=["true"])) == \
            grpc.StatusCode.INVALID_ARGUMENT  # no stream at all  # fmt: skip
        assert code(runtime.Exec, cri.ExecRequest(container_id=echo_id, cmd=["true"], stdout=True)) == \
            grpc.StatusCode.FAILED_PRECONDITION  # it has exited  # fmt: skip
        assert code(runtime.Attach, cri.AttachRequest(container_id=web_id, stdin=True, stdout=True)) == \
            grpc.StatusCode.INVALID_ARGUMENT  # made without stdin  # fmt: skip
        assert code(runtime.PortForward, cri.PortForwardRequest(pod_sandbox_id="nosuch")) == grpc.StatusCode.NOT_FOUND
    finally:
        runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox))


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration, which crictl's CREATED column uses."""
    if seconds < 1:
        return "Less than a second"
    if seconds < 2:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes < 2:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    return f"{int(minutes / 60)} hours"


def crictl_ps(runtime) -> str:
    """`crictl ps` as crictl renders it (a tabwriter: cells padded to 20, 3 spaces apart; IDs cut
    to 13 characters without `sha256:`), from the same two calls it makes."""
    pods = {p.id: p.metadata.name for p in runtime.ListPodSandbox(cri.ListPodSandboxRequest()).items}
    running = cri.ContainerFilter(state=cri.ContainerStateValue(state=cri.CONTAINER_RUNNING))
    rows = [["CONTAINER", "IMAGE", "CREATED", "STATE", "NAME", "ATTEMPT", "POD ID", "POD"]]
    for c in runtime.ListContainers(cri.ListContainersRequest(filter=running)).containers:
        created = human_duration(time.time() - c.created_at / 1e9) + " ago"
        state = cri.ContainerState.Name(c.state).removeprefix("CONTAINER_").title()
        rows.append([c.id[:13], c.image.image.removeprefix("sha256:")[:13], created, state, c.metadata.name,
                     str(c.metadata.attempt), c.pod_sandbox_id[:13], pods.get(c.pod_sandbox_id, "")])  # fmt: skip
    widths = [max(20, *(len(r[i]) + 3 for r in rows)) for i in range(len(rows[0]))]
    return "".join("".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=False)) + r[-1] + "\n" for r in rows)


def test_the_seeds_crictl_ps_view(server, berth):
    """The seed's `crictl ps` on a node whose runtime endpoint is berth's socket: its columns, and
    the containers a kubelet made (by image ID, as a kubelet passes it) shown Running with their
    attempt and pod."""
    runtime, images, tmp = server
    image_id = images.ImageStatus(cri.ImageStatusRequest(image=cri.ImageSpec(image="busybox"))).image.id
    config = sandbox_config("coredns-6d4b75cb6d-gkxhk", str(tmp / "dns"))
    sandbox = runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config)).pod_sandbox_id
    try:
        made = container_config("coredns", "sleep", "300")
        made.image.image = image_id
        made.metadata.attempt = 1
        cid = runtime.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=made,
                                                                 sandbox_config=config)).container_id  # fmt: skip
        runtime.StartContainer(cri.StartContainerRequest(container_id=cid))
        longest = container_config("kube-controller-manager", "sleep", "300")  # the seed's widest NAME
        runtime.StartContainer(cri.StartContainerRequest(container_id=runtime.CreateContainer(
            cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=longest, sandbox_config=config)).container_id))  # fmt: skip
        time.sleep(
            2
        )  # "N seconds ago", as the seed's "38 minutes ago", fits the column's 20 (not "Less than a second ago")
        view = sorted(crictl_ps(runtime).splitlines(), key=lambda line: not line.startswith("CONTAINER"))
        view = [view[0]] + [line for line in view[1:] if " coredns " in line]
        seed = "CONTAINER           IMAGE               CREATED             STATE               NAME                      ATTEMPT             POD ID              POD"
        assert view[0] == seed
        cells = view[1].split()
        assert cells[0] == cid[:13] and cells[1] == image_id.removeprefix("sha256:")[:13]
        assert re.fullmatch(r"\d+ seconds ago +", view[1][40:60]), view[1]
        assert cells[-5:] == ["Running", "coredns", "1", sandbox[:13], "coredns-6d4b75cb6d-gkxhk"]
    finally:
        runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox))


def test_logs_are_reopened_after_the_kubelets_rotation_and_pods_have_stats(server, berth):
    """The kubelet rotates a container's log by moving the file away and calling
    ReopenContainerLog: what the container writes next lands in a new file at the path. And
    PodSandboxStats / ListPodSandboxStats: the pod's CPU, memory, processes and network, with its
    containers' own; the pod's sysctls, a container's supplemental groups, masked and read-only
    paths and devices."""
    runtime, _images, tmp = server
    logs = str(tmp / "pods" / "talk")
    config = sandbox_config("talk", logs)
    config.linux.sysctls["net.ipv4.ip_unprivileged_port_start"] = "99"  # the pod's namespaced sysctls
    sandbox = runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config)).pod_sandbox_id
    try:
        talker = container_config("talker", "sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.1; done")
        talker.linux.security_context.supplemental_groups.extend([1234, 4321])
        talker.linux.security_context.masked_paths.append("/proc/cpuinfo")  # the kubelet's lists replace the defaults
        talker.linux.security_context.readonly_paths.append("/etc")
        talker.devices.append(cri.Device(host_path="/dev/null", container_path="/dev/xnull", permissions="rw"))
        cid = runtime.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=talker,
                                                                 sandbox_config=config)).container_id  # fmt: skip
        runtime.StartContainer(cri.StartContainerRequest(container_id=cid))
        groups = runtime.ExecSync(cri.ExecSyncRequest(container_id=cid, cmd=["id", "-G"])).stdout.split()
        assert groups == [b"0", b"1234", b"4321"]
        port = runtime.ExecSync(
            cri.ExecSyncRequest(container_id=cid, cmd=["cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"])
        )
        assert port.stdout == b"99\n"
        probe = ("wc -c < /proc/cpuinfo; touch /etc/x 2>&1 | grep -c Read-only; echo hi > /dev/xnull && echo wrote; "
                 "wc -c < /proc/version")  # fmt: skip
        got = runtime.ExecSync(cri.ExecSyncRequest(container_id=cid, cmd=["sh", "-c", probe])).stdout.split()
        assert got[:3] == [b"0", b"1", b"wrote"] and int(got[3]) > 0, got
        path = os.path.join(logs, "talker", "0.log")
        assert wait_for(lambda: os.path.exists(path) and "line3" in open(path).read())
        assert not os.path.islink(path)
        os.rename(path, path + ".20261207-000000")  # the kubelet's rotation
        runtime.ReopenContainerLog(cri.ReopenContainerLogRequest(container_id=cid))
        assert wait_for(lambda: os.path.exists(path) and open(path).read().count(" stdout F line") >= 2)
        old, new = open(path + ".20261207-000000").read(), open(path).read()
        last_old = int(old.strip().splitlines()[-1].rsplit("line", 1)[1])
        first_new = int(new.splitlines()[0].rsplit("line", 1)[1])
        assert first_new == last_old + 1  # nothing lost, nothing twice
        assert "line" in berth("logs", "--tail", "1", cid, check=True).stdout  # berth reads the live file too

        stats = runtime.PodSandboxStats(cri.PodSandboxStatsRequest(pod_sandbox_id=sandbox)).stats
        assert stats.attributes.id == sandbox and stats.attributes.metadata.name == "talk"
        linux = stats.linux
        assert linux.cpu.usage_core_nano_seconds.value > 0 and linux.memory.working_set_bytes.value > 0
        assert linux.process.process_count.value >= 3  # catatonit, sh, sleep
        assert linux.network.default_interface.name == "eth0" and linux.network.default_interface.tx_bytes.value > 0
        assert [c.attributes.id for c in linux.containers] == [cid]
        listed = runtime.ListPodSandboxStats(cri.ListPodSandboxStatsRequest(filter=cri.PodSandboxStatsFilter(
            label_selector={"app": "talk"}))).stats  # fmt: skip
        assert [s.attributes.id for s in listed] == [sandbox]
        assert runtime.ListPodSandboxStats(cri.ListPodSandboxStatsRequest(filter=cri.PodSandboxStatsFilter(
            label_selector={"app": "other"}))).stats == []  # fmt: skip

        names = [d.name for d in runtime.ListMetricDescriptors(cri.ListMetricDescriptorsRequest()).descriptors]
        assert "container_memory_working_set_bytes" in names and "container_network_receive_bytes_total" in names
        metrics = {
            m.pod_sandbox_id: m for m in runtime.ListPodSandboxMetrics(cri.ListPodSandboxMetricsRequest()).pod_metrics
        }
        pod_metrics = metrics[sandbox]
        assert {m.name: list(m.label_values) for m in pod_metrics.metrics}["container_network_transmit_bytes_total"] == \
            ["talk", "default", "eth0"]  # fmt: skip
        [own] = pod_metrics.container_metrics
        memory = {m.name: m for m in own.metrics}["container_memory_working_set_bytes"]
        assert own.container_id == cid and memory.value.value > 0 and memory.metric_type == cri.GAUGE
        runtime.UpdatePodSandboxResources(cri.UpdatePodSandboxResourcesRequest(pod_sandbox_id=sandbox))
        with pytest.raises(grpc.RpcError) as e:
            runtime.UpdatePodSandboxResources(cri.UpdatePodSandboxResourcesRequest(pod_sandbox_id="nosuch"))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND

        runtime.StopContainer(cri.StopContainerRequest(container_id=cid, timeout=1))
        with pytest.raises(grpc.RpcError) as e:
            runtime.ReopenContainerLog(cri.ReopenContainerLogRequest(container_id=cid))
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        runtime.UpdateRuntimeConfig(cri.UpdateRuntimeConfigRequest(runtime_config=cri.RuntimeConfig(
            network_config=cri.NetworkConfig(pod_cidr="10.244.0.0/24"))))  # fmt: skip
    finally:
        runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=sandbox))


def test_images_pulled_through_a_registry_mirror(berth, tmp_path, cni_network):
    """`[registry.mirrors."registry.k8s.io"]` in cri.toml: a kubelet's `registry.k8s.io/...`
    image comes from the local registry named there, and keeps its own name."""
    from bench.anchors import Registry

    reg = Registry(tmp_path / "mirror")
    try:
        berth("tag", "busybox", f"{reg.host}/pause:3.9", check=True)
        berth("push", f"{reg.host}/pause:3.9", check=True)
        berth("rmi", f"{reg.host}/pause:3.9", check=True)
        cni_network.config.write_text(f'[cni]\nconf_dir = "{cni_network.conf_dir}"\n'
                                      f'[registry.mirrors."registry.k8s.io"]\nendpoint = ["http://{reg.host}"]\n')  # fmt: skip
        s = Server(berth, tmp_path, cni_network.config)
        try:
            spec = cri.ImageSpec(image="registry.k8s.io/pause:3.9")
            ref = s.images.PullImage(cri.PullImageRequest(image=spec)).image_ref
            status = s.images.ImageStatus(cri.ImageStatusRequest(image=spec)).image
            assert status.id == ref and "registry.k8s.io/pause:3.9" in status.repo_tags
            s.images.RemoveImage(cri.RemoveImageRequest(image=spec))
        finally:
            s.stop()
    finally:
        reg.stop()
