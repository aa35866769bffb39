"""Pods, Podman's: containers that share the network, IPC and UTS namespaces (and with
`--share pid` the PID namespace) of the pod's infra container. The infra container holds them and
does nothing else: catatonit in pause mode, from `localhost/berth-pause:VERSION`, an image made
here from the host's static catatonit on first use (nothing is pulled).

A pod is a record, `<root>/pods/<id>.json`; its containers carry its ID in their own record
("pod"), the infra container also "podInfra". Creates and removals of pods hold `pods/.lock`, so
two pods never take one name. The infra container is made with the pod and started with the
first of its containers (the namespaces a container joins are those of the infra container as
it runs at that container's start)."""

from __future__ import annotations

import io
import os

from berth import __version__, fastjson
from berth.clock import rfc3339
from berth.engine import names
from berth.engine.container import RUNNING, Container
from berth.engine.options import CniNetwork, CreateOptions, PortBinding
from berth.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from berth.fs import Flock, atomic_write, unlink_if_present
from berth.oci.record import record

PAUSE_IMAGE = f"localhost/berth-pause:{__version__}"
CATATONIT = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit")
SHARES = ("net", "ipc", "uts", "pid")
DEFAULT_SHARE = ("net", "ipc", "uts")
_KINDS = {"net": "network", "ipc": "ipc", "uts": "uts", "pid": "pid"}  # --share name -> CreateOptions field


@record
class PodOptions:
    name: str = ""
    hostname: str = ""  # "": the pod's name
    labels: dict[str, str] = {}
    network: str = ""  # as a container's --network: "" (the default bridge), a network, none, host, cni
    cni: CniNetwork | None = None  # with network="cni" (the CRI's sandboxes)
    publish: tuple[PortBinding, ...] = ()
    share: tuple[str, ...] = DEFAULT_SHARE
    cgroup_parent: str = ""  # its containers' cgroups are made under it ("": /berth)
    sysctls: dict[str, str] = {}  # set in the shared namespaces, by the infra container's start

    def check(self) -> None:
        unknown = [s for s in self.share if s not in SHARES]
        if unknown:
            raise InvalidArgument(f"invalid --share {unknown[0]!r}: net, ipc, uts or pid")
        if self.publish and "net" not in self.share:
            raise InvalidArgument("published ports need the pod's network namespace shared (--share net)")
        from berth.engine.options import check_cgroup_parent

        check_cgroup_parent(self.cgroup_parent)
        if self.network.startswith("container:"):
            raise InvalidArgument("a pod cannot join another container's network: --network none, host or a network")


def catatonit() -> str:
    """The host's static catatonit (the pause program of infra containers and of CNI namespaces)."""
    binary = next((p for p in CATATONIT if os.path.exists(p)), None)
    if binary is None:
        raise FailedPrecondition("pods need catatonit (Debian's catatonit package) for their infra container")
    return binary


class Pods:
    def __init__(self, engine) -> None:
        self.engine = engine
        self.dir = os.path.join(engine.root, "pods")

    # -- records -----------------------------------------------------------------------
    def list(self) -> list[dict]:
        """Every pod's record, newest first."""
        try:
            files = [n for n in os.listdir(self.dir) if n.endswith(".json")]
        except FileNotFoundError:
            return []
        out = []
        for name in files:
            try:
                with open(os.path.join(self.dir, name), "rb") as f:
                    out.append(fastjson.loads(f.read()))
            except FileNotFoundError:
                continue  # removed meanwhile
        return sorted(out, key=lambda p: p["Created"], reverse=True)

    def get(self, ref: str) -> dict:
        """A pod by name, ID or unique ID prefix."""
        pods = self.list()
        for pod in pods:
            if ref in (pod["Name"], pod["Id"]):
                return pod
        hits = [p for p in pods if len(ref) >= 3 and p["Id"].startswith(ref)]
        if len(hits) > 1:
            raise InvalidArgument(f"more than one pod matches {ref}: give more of the ID")
        if not hits:
            raise NotFound(f"no pod with name or ID {ref} found: no such pod")
        return hits[0]

    def containers(self, pod: dict) -> list[Container]:
        """Its containers, the infra container among them."""
        return [c for c in self.engine.list() if c.config.get("pod") == pod["Id"]]

    def status(self, pod: dict, members: list[Container] | None = None) -> str:
        """Podman's words: Created, Running, Paused, Degraded (some of its containers run), Exited."""
        members = self.containers(pod) if members is None else members
        workers = [c for c in members if not c.config.get("podInfra")]
        states = [c.status for c in workers] or [c.status for c in members]
        if not states or all(s == "created" for s in states):
            return "Created"
        running = sum(s == RUNNING for s in states)
        if running == len(states) and all(c.paused for c in workers or members):
            return "Paused"
        return "Running" if running == len(states) else "Degraded" if running else "Exited"

    def document(self, pod: dict) -> dict:
        """`pod inspect`: Podman's fields that berth has."""
        members = self.containers(pod)
        return {
            "Id": pod["Id"], "Name": pod["Name"], "Created": pod["Created"], "State": self.status(pod, members),
            "Hostname": pod["Hostname"], "Labels": pod["Labels"], "CreateInfra": True,
            "InfraContainerID": pod["InfraId"], "SharedNamespaces": pod["Share"],
            "NumContainers": len(members),
            "Containers": [{"Id": c.id, "Name": c.name, "State": c.status} for c in members],
        }  # fmt: skip

    # -- create and join ----------------------------------------------------------------
    def create(self, opts: PodOptions) -> dict:
        opts.check()
        os.makedirs(self.dir, exist_ok=True)
        with Flock(os.path.join(self.dir, ".lock"), file=True):
            name = names.validate(opts.name) if opts.name else names.generate(self._name_taken)
            if self._name_taken(name):
                raise AlreadyExists(f"pod {name} already exists")
            pod_id = os.urandom(32).hex()
            self._pause_image()
            infra = self.engine.create(CreateOptions(
                image=PAUSE_IMAGE, name=f"{pod_id[:12]}-infra", hostname=opts.hostname or name,
                network=opts.network, cni=opts.cni, publish=opts.publish, ipc="shareable", labels=dict(opts.labels),
                pod=pod_id, pod_infra=True, cgroup_parent=opts.cgroup_parent, sysctls=dict(opts.sysctls)))  # fmt: skip
            pod = {"Id": pod_id, "Name": name, "Created": rfc3339(), "Labels": dict(opts.labels),
                   "Hostname": opts.hostname or name, "Share": list(opts.share), "InfraId": infra.id,
                   "CgroupParent": opts.cgroup_parent}  # fmt: skip
            try:
                atomic_write(self._path(pod_id), fastjson.dumps(pod).encode())
            except BaseException:
                self.engine.remove(infra.id, force=True)
                raise
        return pod

    def joined(self, opts: CreateOptions) -> CreateOptions:
        """A container's options for joining its pod (`--pod`): the shared namespaces are the infra
        container's, which is started if it is not running."""
        pod = self.get(opts.pod)
        share = pod["Share"]
        if "net" in share and (opts.network or opts.publish or opts.publish_all or opts.ip or opts.network_aliases):
            raise InvalidArgument(f"pod {pod['Name']} shares its network: networks and ports are set on the pod, "
                                  "at `pod create`")  # fmt: skip
        if "uts" in share and opts.hostname:
            raise InvalidArgument(f"pod {pod['Name']} shares its UTS namespace: the hostname is the pod's")
        for kind in share:
            if getattr(opts, _KINDS[kind]):
                raise InvalidArgument(f"pod {pod['Name']} shares its {kind} namespace: --{_KINDS[kind]} cannot be set")
        self.start_infra(pod)
        donor = f"container:{pod['InfraId']}"
        parent = opts.cgroup_parent or pod.get("CgroupParent", "")
        return opts.replace(pod=pod["Id"], cgroup_parent=parent, **{_KINDS[kind]: donor for kind in share})

    def start_infra(self, pod: dict) -> None:
        if self.engine.get(pod["InfraId"]).status != RUNNING:
            self.engine.start(pod["InfraId"])

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, ref: str) -> dict:
        """The infra container, then every container of the pod that is not running."""
        pod = self.get(ref)
        self.start_infra(pod)
        for c in self.containers(pod):
            if not c.config.get("podInfra") and c.status != RUNNING:
                self.engine.start(c.id)
        return pod

    def stop(self, ref: str, timeout: float | None = None) -> dict:
        """Its containers, then the infra container."""
        pod = self.get(ref)
        members = self.containers(pod)
        for c in sorted(members, key=lambda c: bool(c.config.get("podInfra"))):
            self.engine.stop(c.id, timeout)
        return pod

    def kill(self, ref: str, signal: str = "KILL") -> dict:
        pod = self.get(ref)
        running = [c for c in self.containers(pod) if c.status == RUNNING]
        if not running:
            raise FailedPrecondition(f"no containers in pod {pod['Name']} are running")
        for c in running:
            self.engine.kill(c.id, signal)
        return pod

    def pause(self, ref: str, resume: bool = False) -> dict:
        """Every running container of the pod frozen (or thawed), the infra container too."""
        pod = self.get(ref)
        members = [c for c in self.containers(pod) if c.status == RUNNING and c.paused == resume]
        if not members:
            raise FailedPrecondition(f"no containers in pod {pod['Name']} are {'paused' if resume else 'running'}")
        for c in members:
            self.engine.pause(c.id, resume)
        return pod

    def prune(self) -> list[str]:
        """Pods none of whose containers runs, removed with them; their IDs."""
        gone = []
        for pod in self.list():
            if not any(c.status == RUNNING for c in self.containers(pod)):
                try:
                    gone.append(self.remove(pod["Id"])["Id"])
                except (NotFound, FailedPrecondition):
                    pass  # removed, or started, meanwhile
        return gone

    def top(self, ref: str, ps_args: list[str]) -> str:
        """`ps` of every running container of the pod, the infra container first, under one header."""
        pod = self.get(ref)
        running = sorted((c for c in self.containers(pod) if c.status == RUNNING),
                         key=lambda c: not c.config.get("podInfra"))  # fmt: skip
        if not running:
            raise FailedPrecondition(f"pod {pod['Name']} is not running")
        lines: list[str] = []
        for c in running:
            try:
                text = self.engine.top(c.id, ps_args).splitlines()
            except FailedPrecondition:
                continue  # stopped meanwhile
            lines += text if not lines else text[1:]
        return "".join(line + "\n" for line in lines)

    def remove(self, ref: str, force: bool = False) -> dict:
        """The pod with its containers; with running ones only when forced."""
        pod = self.get(ref)
        with Flock(os.path.join(self.dir, ".lock"), file=True):
            members = self.containers(pod)
            running = [c.name for c in members if c.status == RUNNING and not c.config.get("podInfra")]
            if running and not force:
                raise FailedPrecondition(f"pod {pod['Name']} has running containers ({', '.join(running)}): "
                                         "stop them first, or remove the pod with --force")  # fmt: skip
            for c in members:
                if not c.config.get("podInfra"):
                    self._remove(c)
            unlink_if_present(self._path(pod["Id"]))  # the infra container may go now
            for c in members:
                if c.config.get("podInfra"):
                    self._remove(c)
        return pod

    def _remove(self, c: Container) -> None:
        try:
            self.engine.remove(c.id, force=True, volumes=True)
        except NotFound:
            pass  # removed meanwhile

    def connect(self, ref: str, port: int, timeout: float = 10.0):
        """A TCP connection to `port` on the pod's own localhost (its infra container's network
        namespace, whatever network it is on): what a port-forward relays."""
        import socket

        from berth.linux.ns import InNetNamespace

        pod = self.get(ref)
        infra = self.engine.get(pod["InfraId"])
        if infra.status != RUNNING:
            raise FailedPrecondition(f"pod {pod['Name']} is not running")
        fd = os.open(f"/proc/{infra.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            with InNetNamespace(fd):  # a socket belongs to the namespace it was made in
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        finally:
            os.close(fd)
        try:
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", port))
            sock.settimeout(None)
        except OSError as e:
            sock.close()
            raise FailedPrecondition(f"failed to connect to localhost:{port} inside pod {pod['Name']}: "
                                     f"{e.strerror or e}") from None  # fmt: skip
        return sock

    # -- helpers --------------------------------------------------------------------------
    def _path(self, pod_id: str) -> str:
        return os.path.join(self.dir, pod_id + ".json")

    def _name_taken(self, name: str) -> bool:
        return any(p["Name"] == name for p in self.list())

    def _pause_image(self) -> None:
        """localhost/berth-pause:VERSION, made from the host's static catatonit if missing."""
        from berth.errors import BerthError

        try:
            self.engine.store.get(PAUSE_IMAGE)
            return
        except BerthError:
            pass
        binary = catatonit()
        import tarfile

        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar, open(binary, "rb") as f:
            info = tar.gettarinfo(fileobj=f, arcname="catatonit")
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mode = 0o755
            tar.addfile(info, f)
        archive.seek(0)
        self.engine.images.import_("-", archive, PAUSE_IMAGE, ['ENTRYPOINT ["/catatonit", "-P"]'],
                                   "berth's pod infra image")  # fmt: skip
