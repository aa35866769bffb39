"""/containers: Docker's create body read into the engine's records, and the lifecycle calls.

Docker's wording and status codes: 404 "No such container: X", 409 for a conflict (a name in
use, a container not running), 304 for a start or stop with nothing to do."""

from __future__ import annotations

import os
import time

from berth import fastjson, streams
from berth.api.http import ApiError, Request, Response, Stream, json_line, json_response, no_content
from berth.engine.options import CreateOptions, DeviceMapping, Mount, PortBinding, RestartPolicy, Ulimit
from berth.errors import FailedPrecondition

_GO = {str: "string", int: "number", bool: "bool", list: "array", dict: "object", float: "number"}


def _field(doc: dict, key: str, kind: type, where: str, default=None):
    """doc[key] when it is of `kind` (null and absent: `default`); else Go's unmarshal message."""
    value = doc.get(key)
    if value is None:
        return default
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(400, f"json: cannot unmarshal {_GO.get(type(value), 'value')} into Go struct field "
                            f"{where}.{key} of type {_GO[kind]}")  # fmt: skip
    return value


def _strings(doc: dict, key: str, where: str) -> tuple[str, ...]:
    value = doc.get(key)
    if isinstance(value, str):  # Docker takes "Cmd": "echo hi" as ["echo hi"]... and Entrypoint likewise
        return (value,)
    items = _field(doc, key, list, where, [])
    if not all(isinstance(v, str) for v in items):
        raise ApiError(400, f"json: cannot unmarshal array into Go struct field {where}.{key} of type []string")
    return tuple(items)


def _str_map(doc: dict, key: str, where: str) -> dict[str, str]:
    value = _field(doc, key, dict, where, {})
    if not all(isinstance(v, str) for v in value.values()):
        raise ApiError(
            400, f"json: cannot unmarshal object into Go struct field {where}.{key} of type map[string]string"
        )
    return dict(value)


def create_options(body: dict, name: str) -> CreateOptions:
    """Docker's create body (Config, with HostConfig and NetworkingConfig in it) as CreateOptions."""
    cfg, where = body, "ContainerConfigWrapper"
    host = _field(body, "HostConfig", dict, where, {})
    image = _field(cfg, "Image", str, where, "")
    if not image:
        raise ApiError(400, "no image was specified")
    entrypoint = _strings(cfg, "Entrypoint", where) if cfg.get("Entrypoint") is not None else None
    mounts = [Mount.parse_volume(b) for b in _strings(host, "Binds", "HostConfig")]
    for m in _field(host, "Mounts", list, "HostConfig", []):
        mounts.append(_mount(m))
    mounts += [Mount(type="tmpfs", target=path, options=tuple(o for o in opts.split(",") if o))
               for path, opts in _str_map(host, "Tmpfs", "HostConfig").items()]  # fmt: skip
    mounts += [Mount(type="volume", target=path) for path in _field(cfg, "Volumes", dict, where, {})
               if not any(m.target == path for m in mounts)]  # fmt: skip
    publish = []
    for port, bindings in _field(host, "PortBindings", dict, "HostConfig", {}).items():
        number, _, proto = port.partition("/")
        if not number.isdigit():
            raise ApiError(400, f"invalid port specification: {port!r}")
        for b in bindings or [{}]:
            publish.append(PortBinding(port=int(number), proto=proto or "tcp", host_ip=b.get("HostIp") or "",
                                       host_port=str(b.get("HostPort") or "")))  # fmt: skip
    restart = None
    policy = _field(host, "RestartPolicy", dict, "HostConfig", {})
    if policy.get("Name") not in (None, "", "no"):
        restart = RestartPolicy(name=policy["Name"], maximum_retry_count=int(policy.get("MaximumRetryCount") or 0))
    network = _field(host, "NetworkMode", str, "HostConfig", "")
    endpoints = _field(_field(body, "NetworkingConfig", dict, where, {}), "EndpointsConfig", dict,
                       "NetworkingConfig", {})  # fmt: skip
    endpoint = endpoints.get(network) or (next(iter(endpoints.values())) if len(endpoints) == 1 else {}) or {}
    health = _field(cfg, "Healthcheck", dict, where, {})
    log = _field(host, "LogConfig", dict, "HostConfig", {})
    nano = _field(host, "NanoCpus", int, "HostConfig", 0)
    try:
        return CreateOptions(
            image=image, command=_strings(cfg, "Cmd", where), entrypoint=entrypoint, name=name,
            env=_strings(cfg, "Env", where), workdir=_field(cfg, "WorkingDir", str, where, ""),
            user=_field(cfg, "User", str, where, ""), hostname=_field(cfg, "Hostname", str, where, ""),
            pid=_field(host, "PidMode", str, "HostConfig", ""), ipc=_ipc(_field(host, "IpcMode", str, "HostConfig", "")),
            uts=_field(host, "UTSMode", str, "HostConfig", ""), userns=_field(host, "UsernsMode", str, "HostConfig", ""),
            network="" if network in ("default", "bridge") else network, publish=tuple(publish),
            publish_all=_field(host, "PublishAllPorts", bool, "HostConfig", False),
            expose=tuple(_field(cfg, "ExposedPorts", dict, where, {})),
            ip=((endpoint.get("IPAMConfig") or {}).get("IPv4Address") or ""),
            mac_address=_field(cfg, "MacAddress", str, where, ""), network_aliases=tuple(endpoint.get("Aliases") or ()),
            dns=_strings(host, "Dns", "HostConfig"), dns_search=_strings(host, "DnsSearch", "HostConfig"),
            dns_options=_strings(host, "DnsOptions", "HostConfig"), labels=_str_map(cfg, "Labels", where),
            memory=_field(host, "Memory", int, "HostConfig", 0), pids_limit=_field(host, "PidsLimit", int, "HostConfig", 0),
            cpus=nano / 1e9, memory_swap=_field(host, "MemorySwap", int, "HostConfig", 0),
            memory_reservation=_field(host, "MemoryReservation", int, "HostConfig", 0),
            cpu_shares=_field(host, "CpuShares", int, "HostConfig", 0),
            cpuset_cpus=_field(host, "CpusetCpus", str, "HostConfig", ""),
            cpuset_mems=_field(host, "CpusetMems", str, "HostConfig", ""),
            read_only=_field(host, "ReadonlyRootfs", bool, "HostConfig", False),
            runtime=_field(host, "Runtime", str, "HostConfig", ""),
            cap_add=_strings(host, "CapAdd", "HostConfig"), cap_drop=_strings(host, "CapDrop", "HostConfig"),
            privileged=_field(host, "Privileged", bool, "HostConfig", False),
            auto_remove=_field(host, "AutoRemove", bool, "HostConfig", False),
            interactive=_field(cfg, "OpenStdin", bool, where, False), tty=_field(cfg, "Tty", bool, where, False),
            ulimits=tuple(Ulimit(name=u.get("Name", ""), soft=int(u.get("Soft", 0)), hard=int(u.get("Hard", 0)))
                          for u in _field(host, "Ulimits", list, "HostConfig", [])),
            shm_size=_field(host, "ShmSize", int, "HostConfig", 0), sysctls=_str_map(host, "Sysctls", "HostConfig"),
            oom_score_adj=_field(host, "OomScoreAdj", int, "HostConfig", None) or None,
            stop_signal=_field(cfg, "StopSignal", str, where, ""),
            stop_timeout=_field(cfg, "StopTimeout", int, where, None),
            add_hosts=_strings(host, "ExtraHosts", "HostConfig"), group_add=_strings(host, "GroupAdd", "HostConfig"),
            mounts=tuple(mounts),
            security_opt=_strings(host, "SecurityOpt", "HostConfig"),
            devices=tuple(DeviceMapping(path_on_host=d.get("PathOnHost", ""), path_in_container=d.get("PathInContainer", ""),
                                        permissions=d.get("CgroupPermissions") or "rwm")
                          for d in _field(host, "Devices", list, "HostConfig", [])),
            log_driver=log.get("Type") or "", log_opts=dict(log.get("Config") or {}), restart=restart,
            healthcheck={k: v for k, v in health.items() if k in ("Test", "Interval", "Timeout", "StartPeriod", "Retries")
                         and v} if health.get("Test") != ["NONE"] else {},
            no_healthcheck=health.get("Test") == ["NONE"], init=bool(_field(host, "Init", bool, "HostConfig", False)),
            cgroup_parent=_field(host, "CgroupParent", str, "HostConfig", ""),
        )  # fmt: skip
    except (TypeError, ValueError, AttributeError) as e:
        raise ApiError(400, f"invalid container configuration: {e}") from None


def _ipc(mode: str) -> str:
    return "" if mode in ("private", "shareable") else mode


def _mount(m) -> Mount:
    if not isinstance(m, dict):
        raise ApiError(400, "json: cannot unmarshal value into Go struct field HostConfig.Mounts of type mount.Mount")
    tmpfs = m.get("TmpfsOptions") or {}
    options = tuple(o for o in (f"size={tmpfs['SizeBytes']}" if tmpfs.get("SizeBytes") else "",
                                f"mode={tmpfs['Mode']:o}" if tmpfs.get("Mode") else "") if o)  # fmt: skip
    return Mount(type=m.get("Type") or "volume", target=m.get("Target") or "", source=m.get("Source") or "",
                 read_only=bool(m.get("ReadOnly")), options=options,
                 propagation=(m.get("BindOptions") or {}).get("Propagation") or "")  # fmt: skip


def create(engine, req: Request) -> Response:
    name = req.arg("name")
    if req.arg("platform") not in ("", "linux", "linux/amd64", "linux/arm64"):
        raise ApiError(400, f"platform {req.arg('platform')} is not supported: berth runs the host's platform only")
    opts = create_options(req.json(), name)  # checked, and its image looked up, by the engine
    c = engine.create(opts)
    return json_response({"Id": c.id, "Warnings": []}, 201)


def list_(engine, req: Request) -> Response:
    from berth.engine import documents

    filters = req.filters()
    every = req.flag("all") or bool(filters)
    containers = [c for c in engine.list(filters) if every or c.status == "running"]
    limit = req.int_arg("limit", -1)
    if limit is not None and limit > 0:
        containers = containers[:limit]
    return json_response(documents.container_summaries(containers, engine.published_ports, req.flag("size") and engine))


def inspect(engine, req: Request, ref: str) -> Response:
    doc = engine.inspect(ref)
    if req.flag("size"):
        own, image = engine.sizes(engine.get(ref))
        doc["SizeRw"], doc["SizeRootFs"] = own, own + image
    return json_response(doc)


def start(engine, req: Request, ref: str) -> Response:
    from berth.api import attach

    c = engine.get(ref)
    if c.status == "running":
        return Response(304, content_type="")
    if not attach.start_waiting(engine, c.id):  # a client attached before the start is let in first
        engine.start(c.id)
    return no_content()


def _timeout(req: Request) -> float | None:
    t = req.int_arg("t")
    if t is None:
        t = req.int_arg("timeout")
    return None if t is None or t < 0 else float(t)


def stop(engine, req: Request, ref: str) -> Response:
    c = engine.get(ref)
    if c.status != "running":
        return Response(304, content_type="")
    engine.stop(c.id, _timeout(req), req.arg("signal"))
    return no_content()


def restart(engine, req: Request, ref: str) -> Response:
    c = engine.get(ref)
    if c.status == "running":
        engine.stop(c.id, _timeout(req), req.arg("signal"))
    engine.start(c.id)
    return no_content()


def kill(engine, req: Request, ref: str) -> Response:
    c = engine.get(ref)
    if c.status != "running":
        raise FailedPrecondition(f"Cannot kill container: {ref}: Container {c.id} is not running")
    engine.kill(c.id, req.arg("signal", "KILL"))
    return no_content()


def wait(engine, req: Request, ref: str) -> Stream:
    """Docker's conditions: not-running (the default), next-exit, removed. The response's head
    goes out at once and the body once the condition holds: the docker CLI sends `start` only
    after the head of its `wait` has come (its `run`)."""
    from berth.errors import BerthError, NotFound

    condition = req.arg("condition", "not-running")
    if condition not in ("not-running", "next-exit", "removed"):
        raise ApiError(400, f"invalid condition: {condition!r}: not-running, next-exit or removed")
    c = engine.get(ref)
    cid, last_exit = c.id, c.exit if c.status != "running" else None
    last_exit_code = int((last_exit or {}).get("code", 0))

    def body():
        try:
            if condition in ("next-exit", "removed"):
                # the exit of its next run (docker run --rm waits for `removed` before it starts the
                # container): a run may start and end between two looks, so the exit record is
                # compared, never the state alone
                while True:
                    now = engine.get(cid)
                    if now.status == "running" or (now.exit is not None and now.exit != last_exit):
                        break
                    yield b""  # the connection looks for a client gone meanwhile
                    time.sleep(0.02)
            code = engine.wait(cid)
            if condition == "removed":
                while True:
                    try:
                        engine.get(cid)
                    except NotFound:
                        break
                    yield b""
                    time.sleep(0.02)
            yield json_line({"StatusCode": code, "Error": None})
        except NotFound:  # removed meanwhile (--rm): Docker answers with the last code it knew
            from berth.api import attach

            known = attach.last_exit(cid)
            yield json_line({"StatusCode": known if known is not None else last_exit_code, "Error": None})
        except BerthError as e:
            yield json_line({"StatusCode": -1, "Error": {"Message": str(e)}})

    return Stream(body())


def remove(engine, req: Request, ref: str) -> Response:
    engine.remove(ref, force=req.flag("force"), volumes=req.flag("v"))
    return no_content()


def pause(engine, req: Request, ref: str) -> Response:
    engine.pause(ref)
    return no_content()


def unpause(engine, req: Request, ref: str) -> Response:
    engine.pause(ref, resume=True)
    return no_content()


def rename(engine, req: Request, ref: str) -> Response:
    new = req.arg("name")
    if not new:
        raise ApiError(400, "a new name is required (name=...)")
    engine.rename(ref, new)
    return no_content()


def top(engine, req: Request, ref: str) -> Response:
    text = engine.top(ref, req.arg("ps_args", "-ef").split())
    lines = [line for line in text.splitlines() if line.strip()]
    titles = lines[0].split() if lines else []
    processes = [line.split(None, len(titles) - 1) for line in lines[1:]] if titles else []
    return json_response({"Titles": titles, "Processes": processes})


def logs(engine, req: Request, ref: str) -> Stream:
    """The log records as Docker sends them: framed by stream (8-byte headers) without a tty, as
    they are with one."""
    from berth.engine import logs as logs_

    want_out, want_err = req.flag("stdout"), req.flag("stderr")
    if not (want_out or want_err):
        raise ApiError(400, "Bad parameters: you must choose at least one stream")
    tail = req.arg("tail", "all")
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise ApiError(400, f"invalid tail value {tail!r}: a number or all")
    c = engine.get(ref)
    tty = bool(c.config.get("tty"))
    records = logs_.read(engine, c.id, follow=req.flag("follow"),
                         tail=None if tail == "all" or int(tail) < 0 else int(tail),
                         since=req.time_arg("since"), until=req.time_arg("until"), idle=True)  # fmt: skip
    stamps = req.flag("timestamps")

    def chunks():
        for r in records:
            if r is None:
                yield b""  # nothing new: the connection checks its client is still there
                continue
            if (r.stream == "stdout" and not want_out) or (r.stream == "stderr" and not want_err):
                continue
            text = (f"{r.time} " if stamps else "") + r.text
            data = text.encode()
            yield data if tty else streams.frame(streams.STDERR if r.stream == "stderr" else streams.STDOUT, data)

    kind = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    return Stream(chunks(), kind)


def resize(engine, req: Request, ref: str) -> Response:
    rows, cols = req.int_arg("h", 0), req.int_arg("w", 0)
    if not (0 < rows < 65536 and 0 < cols < 65536):
        raise ApiError(400, "invalid terminal size: h and w must be between 1 and 65535")
    engine.resize(ref, rows, cols)
    return Response(200, content_type="text/plain; charset=utf-8")


def changes(engine, req: Request, ref: str) -> Response:
    from berth.engine.container_files import changes as diff

    kinds = {"C": 0, "A": 1, "D": 2}
    return json_response([{"Path": path, "Kind": kinds[kind]} for kind, path in diff(engine, ref)] or None)


def export(engine, req: Request, ref: str) -> Stream:
    from berth.api import streaming
    from berth.engine.container_files import export as export_

    c = engine.get(ref)  # a 404 before the stream starts
    return Stream(streaming.piped(lambda out: export_(engine, c.id, out)), "application/x-tar")


def _path_stat(engine, cid: str, path: str) -> str:
    """X-Docker-Container-Path-Stat: base64 JSON of what PATH is in the container."""
    import base64

    from berth.engine.container_files import stat

    st = stat(engine, cid, path)
    return base64.b64encode(fastjson.dumps(st).encode()).decode()


def archive_get(engine, req: Request, ref: str) -> Stream:
    from berth.api import streaming
    from berth.engine.container_files import archive_out

    path = _archive_path(req)
    c = engine.get(ref)
    header = _path_stat(engine, c.id, path)  # a 404 for a missing path, before the stream starts
    return Stream(
        streaming.piped(lambda out: archive_out(engine, c.id, path, out)),
        "application/x-tar",
        headers=[("X-Docker-Container-Path-Stat", header)],
    )


def archive_head(engine, req: Request, ref: str) -> Response:
    path = _archive_path(req)
    c = engine.get(ref)
    return Response(200, content_type="", headers=[("X-Docker-Container-Path-Stat", _path_stat(engine, c.id, path))])


def archive_put(engine, req: Request, ref: str) -> Response:
    from berth.engine.container_files import archive_in

    path = _archive_path(req)
    c = engine.get(ref)
    if c.config.get("read_only") and c.status == "running":
        raise ApiError(403, "container rootfs is marked read-only")
    archive_in(engine, req.stream, c.id, path, keep_owner=req.flag("copyUIDGID"))
    return Response(200, content_type="")


def _archive_path(req: Request) -> str:
    path = req.arg("path")
    if not path:
        raise ApiError(400, "path is required (path=...)")
    return path


def stats(engine, req: Request, ref: str):
    """Docker's stats document: one (stream=false: with the CPU read twice, half a second apart,
    so a percentage can be had; one-shot: once), or one a second until the client goes."""
    from berth.engine import stats as stats_

    c = engine.get(ref)
    stream, one_shot = req.flag("stream", True), req.flag("one-shot")

    def take():
        try:
            return stats_.sample(engine, engine.get(c.id)), time.time()
        except FailedPrecondition:
            return None, time.time()

    if not stream:
        first = take()
        second = take() if one_shot else (time.sleep(0.5), take())[1]
        return json_response(_stats_doc(c, second, None if one_shot else first))

    def docs():
        last = take()
        yield json_line(_stats_doc(c, last, None))
        while True:
            time.sleep(1.0)
            now = take()
            yield json_line(_stats_doc(c, now, last))
            last = now

    return Stream(docs())


def _stats_doc(c, now, before) -> dict:
    from berth.clock import rfc3339

    def cpu(taken) -> dict:
        sample = taken[0] if taken else None
        return {"cpu_usage": {"total_usage": sample.cpu if sample else 0, "usage_in_kernelmode": 0,
                              "usage_in_usermode": 0},
                "system_cpu_usage": sample.host_cpu if sample else 0, "online_cpus": os.cpu_count() or 1,
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}  # fmt: skip

    sample, when = now
    doc = {
        "read": rfc3339(when) if sample else "0001-01-01T00:00:00Z",
        "preread": rfc3339(before[1]) if before and before[0] else "0001-01-01T00:00:00Z",
        "pids_stats": {"current": sample.pids} if sample else {}, "num_procs": 0, "storage_stats": {},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": sample.block[0]},
            {"major": 0, "minor": 0, "op": "write", "value": sample.block[1]}] if sample else None},
        "cpu_stats": cpu(now), "precpu_stats": cpu(before),
        "memory_stats": {"usage": sample.memory, "stats": {}, "limit": sample.limit} if sample else {},
        "name": "/" + c.name, "id": c.id,
    }  # fmt: skip
    if sample:
        doc["networks"] = {"eth0": {"rx_bytes": sample.net[0], "tx_bytes": sample.net[1], "rx_packets": 0,
                                    "tx_packets": 0, "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0,
                                    "tx_dropped": 0}}  # fmt: skip
    return doc


def update(engine, req: Request, ref: str) -> Response:
    from berth.engine.options import ResourceUpdate, RestartPolicy

    body, where = req.json(), "UpdateConfig"
    nano = _field(body, "NanoCpus", int, where, None)
    limits = ResourceUpdate(
        cpus=nano / 1e9 if nano else None, cpu_shares=_field(body, "CpuShares", int, where, None) or None,
        cpuset_cpus=_field(body, "CpusetCpus", str, where, ""), memory=_field(body, "Memory", int, where, None) or None,
        memory_reservation=_field(body, "MemoryReservation", int, where, None) or None,
        memory_swap=_field(body, "MemorySwap", int, where, None) or None,
        pids_limit=_field(body, "PidsLimit", int, where, None) or None,
        blkio_weight=_field(body, "BlkioWeight", int, where, None) or None,
    )  # fmt: skip
    policy = _field(body, "RestartPolicy", dict, where, {})
    if policy.get("Name"):
        restart = RestartPolicy(name=str(policy["Name"]),
                                maximum_retry_count=_field(policy, "MaximumRetryCount", int, where, 0) or 0)  # fmt: skip
        restart.check()
        limits = limits.replace(restart=restart)
    if any(getattr(limits, f) not in (None, "") for f in limits._fields):
        engine.update(ref, limits)
    else:
        engine.get(ref)
    return json_response({"Warnings": []})


def prune(engine, req: Request) -> Response:
    filters = req.filters()
    if set(filters) - {"until", "label"}:
        raise ApiError(400, f"invalid filter '{sorted(set(filters) - {'until', 'label'})[0]}'")
    from berth.clock import parse_rfc3339

    until = filters.pop("until", [])
    cutoff = None
    if until:
        value = until[-1]
        cutoff = float(value) if value.replace(".", "", 1).isdigit() else parse_rfc3339(value)
        if not cutoff:
            raise ApiError(400, f"invalid filter 'until={value}'")
    gone, freed = [], 0
    for c in engine.prunable(filters):
        if cutoff is not None and parse_rfc3339(c.created) > cutoff:
            continue
        own, _ = engine.sizes(c)
        engine.remove(c.id)
        gone.append(c.id)
        freed += own
    return json_response({"ContainersDeleted": gone or None, "SpaceReclaimed": freed})
