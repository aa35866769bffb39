"""`berth cri` driven as a kubelet drives a runtime, with a gRPC client of the tests' own: a pod
sandbox with two containers that share localhost, their states, logs at the kubelet's path and
ExecSync; images; and bad requests with the status codes a kubelet understands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from tests.conftest import wait_for

grpc = pytest.importorskip("grpc")
cri = pytest.importorskip("cri_api.v1.api_pb2")
stubs = pytest.importorskip("cri_api.v1.api_pb2_grpc")

pytestmark = pytest.mark.root

BERTH = os.path.join(os.path.dirname(sys.executable), "berth")


@pytest.fixture
def server(berth, tmp_path):
    sock = str(tmp_path / "cri.sock")
    proc = subprocess.Popen([BERTH, "--root", berth.root, "cri", "--listen", f"unix://{sock}"],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert wait_for(lambda: os.path.exists(sock) or proc.poll() is not None, 30), "no socket"
    channel = grpc.insecure_channel(f"unix://{sock}")
    yield stubs.RuntimeServiceStub(channel), stubs.ImageServiceStub(channel), tmp_path
    channel.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.stderr.read()
    assert not os.path.exists(sock)


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
    assert conditions["RuntimeReady"].status and not conditions["NetworkReady"].status
    assert conditions["NetworkReady"].reason == "NetworkPluginNotReady"
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
    assert not os.path.lexists(os.path.join(logs, "client", "0.log"))
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
