"""The CRI RuntimeService over the engine façade: a sandbox is a pod (berth.engine.pods), its
containers the pod's members. The kubelet's metadata, labels and annotations are kept beside them
(berth.cri.records). What is not served yet answers UNIMPLEMENTED (the servicer's default)."""

from __future__ import annotations

import os
import re

import grpc
from cri_api.v1 import api_pb2 as cri
from cri_api.v1 import api_pb2_grpc

from berth import __version__
from berth.clock import parse_rfc3339
from berth.cri.errors import rpc
from berth.engine.records import Records
from berth.errors import FailedPrecondition, InvalidArgument, NotFound

_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]")


def _nanos(rfc3339: str) -> int:
    return int(parse_rfc3339(rfc3339) * 1e9) if rfc3339 else 0


def _passes(f, obj_id: str, record: dict, state: int | None = None) -> bool:
    """Whether a sandbox or container passes a List call's filter: an ID prefix, its sandbox's
    (containers'), its state, and every label of the selector."""
    if f.id and not obj_id.startswith(f.id):
        return False
    if getattr(f, "pod_sandbox_id", "") and not record["sandbox"].startswith(f.pod_sandbox_id):
        return False
    if state is not None and f.HasField("state") and state != f.state.state:
        return False
    return all(record["labels"].get(k) == v for k, v in f.label_selector.items())


def _name(*parts: object) -> str:
    """An engine name from the kubelet's metadata (containers': k8s_NAME_POD_NAMESPACE_UID_ATTEMPT,
    as dockershim named them; sandboxes': NAME_NAMESPACE_UID_ATTEMPT), unique per attempt."""
    return _NAME_CHARS.sub("-", "_".join(str(p) for p in parts))


class RuntimeService(api_pb2_grpc.RuntimeServiceServicer):
    def __init__(self, engine, config, streams) -> None:
        self.engine = engine
        self.config = config  # berth.cri.config.CriConfig
        self.streams = streams  # berth.cri.streaming.StreamServer
        self.sandboxes = Records(engine.root, "sandboxes")
        self.containers = Records(engine.root, "containers")

    # -- the runtime -----------------------------------------------------------------------
    @rpc
    def Version(self, request, context):
        return cri.VersionResponse(version="0.1.0", runtime_name="berth", runtime_version=__version__,
                                   runtime_api_version="v1")  # fmt: skip

    @rpc
    def Status(self, request, context):
        # the network is ready once a CNI configuration is there with its plugins installed; until
        # then, in containerd's words, and a kubelet runs only hostNetwork pods
        network = cri.RuntimeCondition(type="NetworkReady", status=True)
        problem = self.engine.networking.cni_problem(self.config.cni)
        if problem:
            network = cri.RuntimeCondition(type="NetworkReady", status=False, reason="NetworkPluginNotReady",
                                           message=f"Network plugin returns error: {problem}")  # fmt: skip
        return cri.StatusResponse(status=cri.RuntimeStatus(conditions=[
            cri.RuntimeCondition(type="RuntimeReady", status=True), network]))  # fmt: skip

    @rpc
    def UpdateRuntimeConfig(self, request, context):
        # the kubelet's pod CIDR: containerd writes it into a CNI configuration template when it has
        # one, and accepts it otherwise; berth has no template (the CNI configuration is the
        # operator's), so it is accepted
        return cri.UpdateRuntimeConfigResponse()

    @rpc
    def RuntimeConfig(self, request, context):
        return cri.RuntimeConfigResponse(linux=cri.LinuxRuntimeConfiguration(cgroup_driver=cri.CGROUPFS))

    def GetContainerEvents(self, request, context):
        """The engine's events of the CRI's containers, as they come, until the client goes."""
        import time

        from berth.engine import events

        kinds = {"create": cri.CONTAINER_CREATED_EVENT, "start": cri.CONTAINER_STARTED_EVENT,
                 "die": cri.CONTAINER_STOPPED_EVENT, "destroy": cri.CONTAINER_DELETED_EVENT}  # fmt: skip
        for event in events.stream(self.engine, {"type": ["container"]}, since=time.time(), idle=True):
            if not context.is_active():
                return
            if event is None or event.get("Action") not in kinds:
                continue
            actor = event.get("Actor") or {}
            if not (actor.get("Attributes") or {}).get("name", "").startswith("k8s_"):
                continue  # not made through the CRI (its record may not be written yet: the name says)
            cid = actor.get("ID", "")
            yield cri.ContainerEventResponse(
                container_id=cid, container_event_type=kinds[event["Action"]],
                created_at=int(event.get("timeNano") or time.time_ns()))  # fmt: skip

    # -- sandboxes -------------------------------------------------------------------------
    @rpc
    def RunPodSandbox(self, request, context):
        from berth.engine.pods import PodOptions

        config = request.config
        meta = config.metadata
        if not meta.name or not meta.namespace or not meta.uid:
            raise InvalidArgument("sandbox config must include metadata.name, namespace and uid")
        options = config.linux.security_context.namespace_options
        share = ["net", "ipc", "uts"] + (["pid"] if options.pid == cri.POD else [])
        host_network = options.network == cri.NODE
        network = self.config.cni.replace(args={
            "K8S_POD_NAMESPACE": meta.namespace, "K8S_POD_NAME": meta.name, "K8S_POD_UID": meta.uid})  # fmt: skip
        pod = self.engine.pods.create(PodOptions(
            name=_name(meta.name, meta.namespace, meta.uid, meta.attempt), hostname=config.hostname,
            network="host" if host_network else "cni", cni=None if host_network else network,
            publish=() if host_network else _published(config.port_mappings), share=tuple(share),
            sysctls=dict(config.linux.sysctls),
            cgroup_parent=config.linux.cgroup_parent))  # fmt: skip
        self.sandboxes.put(pod["Id"], {
            "metadata": {"name": meta.name, "uid": meta.uid, "namespace": meta.namespace, "attempt": meta.attempt},
            "labels": dict(config.labels), "annotations": dict(config.annotations),
            "logDirectory": config.log_directory, "network": options.network, "pid": options.pid,
            "ipc": options.ipc, "dns": {"servers": list(config.dns_config.servers),
                                        "searches": list(config.dns_config.searches),
                                        "options": list(config.dns_config.options)}})  # fmt: skip
        try:
            self.engine.pods.start_infra(pod)
        except BaseException:
            self.engine.pods.remove(pod["Id"], force=True)
            self.sandboxes.drop(pod["Id"])
            raise
        return cri.RunPodSandboxResponse(pod_sandbox_id=pod["Id"])

    @rpc
    def StopPodSandbox(self, request, context):
        try:
            self.engine.pods.stop(request.pod_sandbox_id, 10)
        except NotFound:
            pass  # stopping is idempotent: a sandbox removed already is stopped
        return cri.StopPodSandboxResponse()

    @rpc
    def RemovePodSandbox(self, request, context):
        try:
            pod = self.engine.pods.get(request.pod_sandbox_id)
        except NotFound:
            return cri.RemovePodSandboxResponse()  # removed already
        members = self.engine.pods.containers(pod)
        self.engine.pods.remove(pod["Id"], force=True)
        for c in members:
            self.containers.drop(c.id)  # its log stays for the kubelet's garbage collection, as containerd's
        self.sandboxes.drop(pod["Id"])
        return cri.RemovePodSandboxResponse()

    @rpc
    def PodSandboxStatus(self, request, context):
        pod, record = self._our_sandbox(request.pod_sandbox_id)
        return cri.PodSandboxStatusResponse(status=self._sandbox_status(pod, record))

    @rpc
    def ListPodSandbox(self, request, context):
        f = request.filter
        out = []
        for pod, record in self._our_pods():
            item = cri.PodSandbox(id=pod["Id"], metadata=cri.PodSandboxMetadata(**record["metadata"]),
                                  state=self._sandbox_state(pod), created_at=_nanos(pod["Created"]),
                                  labels=record["labels"], annotations=record["annotations"])  # fmt: skip
            if _passes(f, pod["Id"], record, item.state):
                out.append(item)
        return cri.ListPodSandboxResponse(items=out)

    def _sandbox_state(self, pod: dict) -> int:
        try:
            running = self.engine.get(pod["InfraId"]).status == "running"
        except NotFound:
            running = False
        return cri.SANDBOX_READY if running else cri.SANDBOX_NOTREADY

    def _our_pods(self):
        """(pod, CRI record) for each pod the CRI made (not those of `berth pod`)."""
        for pod in self.engine.pods.list():
            record = self.sandboxes.get(pod["Id"])
            if record:
                yield pod, record

    def _our_containers(self):
        """(container, CRI record) for each container the CRI made (not the infra containers,
        nor those of `berth run`)."""
        for c in self.engine.list():
            record = self.containers.get(c.id)
            if record:
                yield c, record

    def _our_sandbox(self, sandbox_id: str) -> tuple[dict, dict]:
        """(the pod, its CRI record) for a sandbox the CRI made; NotFound otherwise."""
        pod = self.engine.pods.get(sandbox_id)
        record = self.sandboxes.get(pod["Id"])
        if not record:
            raise NotFound(f"sandbox {pod['Id']} was not made through the CRI")
        return pod, record

    def _sandbox_status(self, pod: dict, record: dict):
        try:
            ips = self.engine.networking.cni_addresses(self.engine.get(pod["InfraId"]))
        except NotFound:
            ips = []
        network = cri.PodSandboxNetworkStatus(ip=ips[0] if ips else "",
                                              additional_ips=[cri.PodIP(ip=ip) for ip in ips[1:]])  # fmt: skip
        return cri.PodSandboxStatus(
            id=pod["Id"], metadata=cri.PodSandboxMetadata(**record["metadata"]), state=self._sandbox_state(pod),
            created_at=_nanos(pod["Created"]), network=network,
            linux=cri.LinuxPodSandboxStatus(namespaces=cri.Namespace(options=cri.NamespaceOption(
                network=record["network"], pid=record["pid"], ipc=record["ipc"]))),
            labels=record["labels"], annotations=record["annotations"])  # fmt: skip

    # -- containers ------------------------------------------------------------------------
    @rpc
    def CreateContainer(self, request, context):
        from berth.engine.options import CreateOptions, DeviceMapping, Mount

        pod, sandbox = self._our_sandbox(request.pod_sandbox_id)
        if self._sandbox_state(pod) != cri.SANDBOX_READY:  # a kubelet makes another sandbox, not restarts one
            raise FailedPrecondition(f"sandbox {pod['Id']} is not ready: containers are made in a running sandbox")
        config = request.config
        meta = config.metadata
        if not meta.name:
            raise InvalidArgument("container config must include metadata.name")
        if not config.image.image:
            raise InvalidArgument("container config must include image.image")
        from berth.engine.images import check_reference

        check_reference(config.image.image)
        self.engine.store.get(config.image.image)  # the kubelet pulls first: NotFound otherwise
        linux = config.linux
        resources, security = linux.resources, linux.security_context
        mounts = tuple(Mount(type="bind", source=m.host_path, target=m.container_path, read_only=m.readonly,
                             propagation=_propagation(m)) for m in config.mounts)  # fmt: skip
        quota, period = resources.cpu_quota, resources.cpu_period or 100000
        user = ""
        if security.HasField("run_as_user"):
            user = str(security.run_as_user.value)
            if security.HasField("run_as_group"):
                user += f":{security.run_as_group.value}"
        elif security.run_as_username:
            user = security.run_as_username
        dns = sandbox.get("dns") or {}
        log_path = os.path.join(sandbox["logDirectory"], config.log_path) if config.log_path else ""
        if config.log_path and not os.path.isabs(log_path):
            raise InvalidArgument(f"log path {log_path!r}: the sandbox's log_directory must be absolute")
        opts = CreateOptions(
            dns=tuple(dns.get("servers") or ()), dns_search=tuple(dns.get("searches") or ()),
            dns_options=tuple(dns.get("options") or ()), security_opt=_security_opts(security),
            oom_score_adj=_allowed_oom_score_adj(resources.oom_score_adj) if resources.oom_score_adj else None,
            image=config.image.image, entrypoint=tuple(config.command) or None, command=tuple(config.args),
            name=_name("k8s", meta.name, sandbox["metadata"]["name"], sandbox["metadata"]["namespace"],
                       sandbox["metadata"]["uid"], meta.attempt),
            env=tuple(f"{kv.key}={kv.value}" for kv in config.envs), workdir=config.working_dir, user=user,
            group_add=tuple(str(g) for g in security.supplemental_groups),
            masked_paths=tuple(security.masked_paths) or None, readonly_paths=tuple(security.readonly_paths) or None,
            devices=tuple(DeviceMapping(path_on_host=d.host_path, path_in_container=d.container_path,
                                        permissions=d.permissions or "rwm") for d in config.devices),
            labels=dict(config.labels), mounts=mounts, interactive=config.stdin, stdin_once=config.stdin_once, tty=config.tty,
            memory=resources.memory_limit_in_bytes, cpus=quota / period if quota > 0 else 0.0,
            cpu_shares=resources.cpu_shares, cpuset_cpus=resources.cpuset_cpus, cpuset_mems=resources.cpuset_mems,
            privileged=security.privileged, read_only=security.readonly_rootfs,
            cap_add=tuple(security.capabilities.add_capabilities), cap_drop=tuple(security.capabilities.drop_capabilities),
            log_driver="k8s-file", log_opts={"path": log_path} if log_path else {}, pod=pod["Id"])  # fmt: skip
        c = self.engine.create(opts)  # its monitor writes the CRI's format where the kubelet reads it
        self.containers.put(c.id, {
            "sandbox": pod["Id"], "metadata": {"name": meta.name, "attempt": meta.attempt},
            "labels": dict(config.labels), "annotations": dict(config.annotations), "image": config.image.image,
            "logPath": log_path})  # fmt: skip
        return cri.CreateContainerResponse(container_id=c.id)

    @rpc
    def StartContainer(self, request, context):
        self._ours(request.container_id)  # a container the CRI made, or NOT_FOUND
        self.engine.start(request.container_id)
        return cri.StartContainerResponse()

    @rpc
    def StopContainer(self, request, context):
        try:
            self.engine.stop(request.container_id, float(request.timeout))
        except NotFound:
            pass  # idempotent
        return cri.StopContainerResponse()

    @rpc
    def RemoveContainer(self, request, context):
        try:
            c = self.engine.get(request.container_id)
        except NotFound:
            return cri.RemoveContainerResponse()
        self.engine.remove(c.id, force=True)
        self.containers.drop(c.id)
        return cri.RemoveContainerResponse()

    @rpc
    def ListContainers(self, request, context):
        f = request.filter
        out = []
        for c, record in self._our_containers():
            item = cri.Container(id=c.id, pod_sandbox_id=record["sandbox"],
                                 metadata=cri.ContainerMetadata(**record["metadata"]),
                                 image=cri.ImageSpec(image=record["image"]), image_ref=c.image,
                                 state=_state(c.status), created_at=_nanos(c.created), labels=record["labels"],
                                 annotations=record["annotations"])  # fmt: skip
            if _passes(f, c.id, record, item.state):
                out.append(item)
        return cri.ListContainersResponse(containers=out)

    @rpc
    def ContainerStatus(self, request, context):
        c, record = self._ours(request.container_id)
        status = c.status
        exit = c.exit or {}
        finished = _nanos(exit.get("finished", "")) if status == "exited" else 0
        code = int(exit.get("code", 0)) if status == "exited" else 0
        return cri.ContainerStatusResponse(status=cri.ContainerStatus(
            id=c.id, metadata=cri.ContainerMetadata(**record["metadata"]), state=_state(status),
            created_at=_nanos(c.created), started_at=_nanos(c.started_at), finished_at=finished, exit_code=code,
            image=cri.ImageSpec(image=record["image"]), image_ref=c.image, image_id=c.image,
            reason=("Completed" if code == 0 else "Error") if status == "exited" else "",
            labels=record["labels"], annotations=record["annotations"], log_path=record["logPath"],
            mounts=[cri.Mount(container_path=m.get("target", ""), host_path=m.get("source", ""),
                              readonly=bool(m.get("readOnly")),
                              propagation=cri.PROPAGATION_HOST_TO_CONTAINER if m.get("propagation") == "rslave"
                              else cri.PROPAGATION_PRIVATE) for m in c.config.get("mounts") or []]))  # fmt: skip

    @rpc
    def ReopenContainerLog(self, request, context):
        c = self._running(request.container_id)
        self.engine.reopen_log(c.id)
        return cri.ReopenContainerLogResponse()

    @rpc
    def ExecSync(self, request, context):
        import subprocess

        from berth.engine import exec as execs

        c, _record = self._ours(request.container_id)
        if not request.cmd:
            raise InvalidArgument("ExecSync needs a command")
        argv = execs.command(self.engine, c.id, list(request.cmd), [], "", "", False, False, False)
        timeout = request.timeout or None
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, f"command timed out after {request.timeout} s")
        return cri.ExecSyncResponse(stdout=proc.stdout, stderr=proc.stderr, exit_code=proc.returncode)

    # -- streams: a URL on the streaming server, which the client upgrades -------------------
    @rpc
    def Exec(self, request, context):
        from berth.cri.streaming import Request

        c = self._running(request.container_id)
        if not request.cmd:
            raise InvalidArgument("Exec needs a command")
        _check_streams(request)
        return cri.ExecResponse(url=self.streams.url(Request("exec", c.id, tuple(request.cmd), request.tty,
                                                             request.stdin, request.stdout, request.stderr)))  # fmt: skip

    @rpc
    def Attach(self, request, context):
        from berth.cri.streaming import Request

        c = self._running(request.container_id)
        _check_streams(request)
        if request.stdin and not c.config.get("interactive"):
            raise InvalidArgument(f"container {c.id} was made without stdin: attach with stdin needs config.stdin")
        tty = bool(c.config.get("tty"))
        return cri.AttachResponse(url=self.streams.url(Request("attach", c.id, (), tty, request.stdin,
                                                               request.stdout, request.stderr)))  # fmt: skip

    @rpc
    def PortForward(self, request, context):
        from berth.cri.streaming import Request

        pod, _record = self._our_sandbox(request.pod_sandbox_id)
        if self._sandbox_state(pod) != cri.SANDBOX_READY:
            raise FailedPrecondition(f"sandbox {pod['Id']} is not ready")
        return cri.PortForwardResponse(url=self.streams.url(Request("portforward", pod["Id"])))

    def _running(self, container_id: str):
        c, _record = self._ours(container_id)
        if c.status != "running":
            raise FailedPrecondition(f"container {c.id} is not running (state {c.status})")
        return c

    @rpc
    def UpdateContainerResources(self, request, context):
        from berth.engine.options import ResourceUpdate

        c, _record = self._ours(request.container_id)
        r = request.linux
        quota, period = r.cpu_quota, r.cpu_period or 100000
        limits = ResourceUpdate(cpus=quota / period if quota > 0 else None, cpu_shares=r.cpu_shares or None,
                                cpuset_cpus=r.cpuset_cpus, memory=r.memory_limit_in_bytes or None)  # fmt: skip
        if any(getattr(limits, f) not in (None, "") for f in limits._fields):
            self.engine.update(c.id, limits)
        return cri.UpdateContainerResourcesResponse()

    @rpc
    def ContainerStats(self, request, context):
        c, record = self._ours(request.container_id)
        return cri.ContainerStatsResponse(stats=self._stats(c, record))

    @rpc
    def ListContainerStats(self, request, context):
        f = request.filter
        out = []
        for c, record in self._our_containers():
            if c.status == "running" and _passes(f, c.id, record):
                out.append(self._stats(c, record))
        return cri.ListContainerStatsResponse(stats=out)

    @rpc
    def PodSandboxStats(self, request, context):
        pod, record = self._our_sandbox(request.pod_sandbox_id)
        return cri.PodSandboxStatsResponse(stats=self._sandbox_stats(pod, record))

    @rpc
    def ListPodSandboxStats(self, request, context):
        f = request.filter
        out = []
        for pod, record in self._our_pods():
            if _passes(f, pod["Id"], record) and self._sandbox_state(pod) == cri.SANDBOX_READY:
                out.append(self._sandbox_stats(pod, record))
        return cri.ListPodSandboxStatsResponse(stats=out)

    @rpc
    def ListMetricDescriptors(self, request, context):
        return cri.ListMetricDescriptorsResponse(descriptors=[
            cri.MetricDescriptor(name=name, help=text, label_keys=list(labels)) for name, (_kind, text, labels) in _METRICS.items()])  # fmt: skip

    @rpc
    def ListPodSandboxMetrics(self, request, context):
        """cAdvisor's names for what PodSandboxStats measures: each container's CPU, memory and
        processes, and the pod's network."""
        out = []
        for pod, record in self._our_pods():
            if self._sandbox_state(pod) != cri.SANDBOX_READY:
                continue
            stats = self._sandbox_stats(pod, record)
            meta = record["metadata"]
            net = stats.linux.network
            pod_metrics = [_metric(name, net.timestamp, [meta["name"], meta["namespace"], "eth0"], value)
                           for name, value in (("container_network_receive_bytes_total", net.default_interface.rx_bytes.value),
                                               ("container_network_transmit_bytes_total", net.default_interface.tx_bytes.value))]  # fmt: skip
            containers = []
            for c in stats.linux.containers:
                labels = [c.attributes.metadata.name, c.attributes.id, meta["name"], meta["namespace"]]
                containers.append(cri.ContainerMetrics(container_id=c.attributes.id, metrics=[
                    _metric("container_cpu_usage_seconds_total", c.cpu.timestamp, labels,
                            c.cpu.usage_core_nano_seconds.value // 10**9),
                    _metric("container_memory_working_set_bytes", c.memory.timestamp, labels,
                            c.memory.working_set_bytes.value)]))  # fmt: skip
            out.append(
                cri.PodSandboxMetrics(pod_sandbox_id=pod["Id"], metrics=pod_metrics, container_metrics=containers)
            )
        return cri.ListPodSandboxMetricsResponse(pod_metrics=out)

    @rpc
    def UpdatePodSandboxResources(self, request, context):
        # the kubelet resizes the pod's own cgroup itself (cgroupfs); the runtime is told, as
        # containerd is, for plugins (NRI) that berth does not have: the sandbox must exist
        self._our_sandbox(request.pod_sandbox_id)
        return cri.UpdatePodSandboxResourcesResponse()

    def _sandbox_stats(self, pod: dict, record: dict):
        """The pod's containers' CPU, memory and processes summed (its infra container's too), the
        network counters of its namespace, and each of its containers' own stats."""
        import time

        from berth.engine.stats import sample
        from berth.errors import FailedPrecondition

        attributes = cri.PodSandboxAttributes(id=pod["Id"], metadata=cri.PodSandboxMetadata(**record["metadata"]),
                                              labels=record["labels"], annotations=record["annotations"])  # fmt: skip
        cpu = memory = processes = 0
        rx = tx = 0
        containers = []
        for c in self.engine.pods.containers(pod):
            if c.status != "running":
                continue
            try:
                s = sample(self.engine, c)
            except FailedPrecondition:
                continue  # stopped meanwhile
            cpu, memory, processes = cpu + s.cpu, memory + s.memory, processes + s.pids
            if c.config.get("podInfra"):
                rx, tx = s.net
            elif self.containers.get(c.id):
                containers.append(self._stats(c, self.containers.get(c.id), s))
        now = time.time_ns()
        return cri.PodSandboxStats(attributes=attributes, linux=cri.LinuxPodSandboxStats(
            cpu=cri.CpuUsage(timestamp=now, usage_core_nano_seconds=cri.UInt64Value(value=cpu)),
            memory=cri.MemoryUsage(timestamp=now, working_set_bytes=cri.UInt64Value(value=memory),
                                   usage_bytes=cri.UInt64Value(value=memory)),
            network=cri.NetworkUsage(timestamp=now, default_interface=cri.NetworkInterfaceUsage(
                name="eth0", rx_bytes=cri.UInt64Value(value=rx), tx_bytes=cri.UInt64Value(value=tx))),
            process=cri.ProcessUsage(timestamp=now, process_count=cri.UInt64Value(value=processes)),
            containers=containers))  # fmt: skip

    def _stats(self, c, record: dict, s=None):
        """CPU and memory as the cgroup counts them (a stopped container: its attributes alone);
        `s`, a sample taken already."""
        import time

        from berth.engine.stats import sample

        attributes = cri.ContainerAttributes(id=c.id, metadata=cri.ContainerMetadata(**record["metadata"]),
                                             labels=record["labels"], annotations=record["annotations"])  # fmt: skip
        if c.status != "running":
            return cri.ContainerStats(attributes=attributes)
        s = s or sample(self.engine, c)
        now = time.time_ns()
        return cri.ContainerStats(
            attributes=attributes,
            cpu=cri.CpuUsage(timestamp=now, usage_core_nano_seconds=cri.UInt64Value(value=s.cpu)),
            memory=cri.MemoryUsage(timestamp=now, working_set_bytes=cri.UInt64Value(value=s.memory),
                                   usage_bytes=cri.UInt64Value(value=s.memory),
                                   available_bytes=cri.UInt64Value(value=max(s.limit - s.memory, 0))))  # fmt: skip

    def _ours(self, container_id: str):
        """(the container, its CRI record) for a container the CRI made; NotFound otherwise."""
        c = self.engine.get(container_id)
        record = self.containers.get(c.id)
        if not record:
            raise NotFound(f"container {container_id} was not made through the CRI")
        return c, record


# cAdvisor's metrics that the CRI's own stats carry: name -> (type, help, label keys)
_METRICS = {
    "container_cpu_usage_seconds_total": ("COUNTER", "Cumulative cpu time consumed in seconds.",
                                          ("container", "id", "pod", "namespace")),
    "container_memory_working_set_bytes": ("GAUGE", "Current working set in bytes.",
                                           ("container", "id", "pod", "namespace")),
    "container_network_receive_bytes_total": ("COUNTER", "Cumulative count of bytes received.",
                                              ("pod", "namespace", "interface")),
    "container_network_transmit_bytes_total": ("COUNTER", "Cumulative count of bytes transmitted.",
                                               ("pod", "namespace", "interface")),
}  # fmt: skip


def _metric(name: str, timestamp: int, labels: list[str], value: int):
    kind = cri.COUNTER if _METRICS[name][0] == "COUNTER" else cri.GAUGE
    return cri.Metric(name=name, timestamp=timestamp, metric_type=kind, label_values=labels,
                      value=cri.UInt64Value(value=value))  # fmt: skip


def _check_streams(request) -> None:
    if not (request.stdin or request.stdout or request.stderr):
        raise InvalidArgument("one of stdin, stdout, or stderr must be set")
    if request.tty and request.stderr:
        raise InvalidArgument("tty and stderr cannot both be true: a terminal has one output")


def _published(mappings) -> tuple:
    """The sandbox's port mappings with a host port (the portmap plugin's; those without are only
    informational, as containerd takes them)."""
    from berth.engine.options import PortBinding

    protos = {cri.TCP: "tcp", cri.UDP: "udp"}
    out = []
    for m in mappings:
        if m.host_port <= 0:
            continue
        if m.protocol not in protos:
            raise InvalidArgument(f"port mapping {m.host_port}:{m.container_port}: protocol SCTP is not supported")
        if not 0 < m.container_port < 65536 or m.host_port > 65535:
            raise InvalidArgument(f"port mapping {m.host_port}:{m.container_port}: ports are 1 to 65535")
        out.append(PortBinding(port=m.container_port, proto=protos[m.protocol], host_ip=m.host_ip,
                               host_port=str(m.host_port)))  # fmt: skip
    return tuple(out)


def _security_opts(security) -> tuple[str, ...]:
    """The container's seccomp profile (RuntimeDefault: berth's, as Docker's default) and no_new_privs."""
    out = []
    profile = security.seccomp
    if profile.profile_type == cri.SecurityProfile.Unconfined:
        out.append("seccomp=unconfined")
    elif profile.profile_type == cri.SecurityProfile.Localhost:
        if not profile.localhost_ref.startswith("/"):
            raise InvalidArgument(f"seccomp profile {profile.localhost_ref!r}: a Localhost profile is an absolute path")
        out.append(f"seccomp={profile.localhost_ref}")
    if security.no_new_privs:
        out.append("no-new-privileges")
    return tuple(out)


def _allowed_oom_score_adj(wanted: int) -> int:
    """containerd's restrict_oom_score_adj: a score below this process's own (the host refuses it
    without CAP_SYS_RESOURCE) is raised to it, rather than failing the container."""
    try:
        with open("/proc/self/oom_score_adj") as f:
            floor = int(f.read())
    except (OSError, ValueError):
        return wanted
    return max(wanted, floor)


def _state(status: str) -> int:
    return {"created": cri.CONTAINER_CREATED, "running": cri.CONTAINER_RUNNING,
            "exited": cri.CONTAINER_EXITED}.get(status, cri.CONTAINER_UNKNOWN)  # fmt: skip


def _propagation(m) -> str:
    """A CRI mount's propagation as a bind's: host-to-container is rslave (what containerd sets);
    bidirectional cannot be given (berth.engine.options: a container's mounts never reach the
    host), and says so."""
    if m.propagation == cri.PROPAGATION_BIDIRECTIONAL:
        raise InvalidArgument(f"mount {m.container_path}: bidirectional propagation is not supported: a container's "
                              "mounts never reach the host with berth (host-to-container and private are)")  # fmt: skip
    return "rslave" if m.propagation == cri.PROPAGATION_HOST_TO_CONTAINER else ""
