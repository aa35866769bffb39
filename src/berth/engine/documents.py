"""Docker's inspect documents for containers and images, made once for every front end."""

from __future__ import annotations

import os
import time

from berth import fastjson
from berth.clock import parse_rfc3339
from berth.engine.container import SPEC
from berth.oci import image_spec, reference
from berth.units import human_duration


def _limits(spec: dict) -> dict:
    """The resource limits as the bundle's spec holds them: what the container was made with,
    or what `update` has set since (it writes them there)."""
    resources = (spec.get("linux") or {}).get("resources") or {}
    memory, cpu = resources.get("memory") or {}, resources.get("cpu") or {}
    quota, period = cpu.get("quota"), cpu.get("period")
    return {
        "Memory": memory.get("limit") or 0, "MemorySwap": memory.get("swap") or 0,
        "MemoryReservation": memory.get("reservation") or 0, "CpuShares": cpu.get("shares") or 0,
        "CpusetCpus": cpu.get("cpus") or "", "CpusetMems": cpu.get("mems") or "",
        "NanoCpus": int(quota * 1e9 / period) if quota and period and quota > 0 else 0,
        "PidsLimit": (resources.get("pids") or {}).get("limit") or None,
    }  # fmt: skip


def _host_config_rest(cfg: dict, spec: dict) -> dict:
    """The rest of docker's HostConfig: what berth has, else docker's value for "not set"."""
    linux = spec.get("linux") or {}
    cpu = (linux.get("resources") or {}).get("cpu") or {}
    ulimits = [{"Name": u["name"], "Hard": u["hard"], "Soft": u["soft"]} for u in cfg.get("ulimits") or []]
    mounts = cfg.get("mounts") or []
    binds = [_bind(m) for m in mounts if m["type"] in ("bind", "volume") and m.get("source")]
    tmpfs = {m["target"]: ",".join(m.get("options") or []) for m in mounts if m["type"] == "tmpfs"}
    return {
        "Binds": binds or None, "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "Cgroup": "",
        "CgroupParent": cfg.get("cgroupParent") or "", "CgroupnsMode": "private", "ConsoleSize": [0, 0], "ContainerIDFile": "",
        "CpuCount": 0, "CpuPercent": 0, "CpuPeriod": cpu.get("period") or 0, "CpuQuota": cpu.get("quota") or 0,
        "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "DeviceCgroupRules": None, "DeviceRequests": None,
        "GroupAdd": list(cfg.get("groupAdd") or []) or None, "IOMaximumBandwidth": 0, "IOMaximumIOps": 0, "Isolation": "", "KernelMemory": 0,
        "KernelMemoryTCP": 0, "Links": None, "MaskedPaths": linux.get("maskedPaths") or None,
        "ReadonlyPaths": linux.get("readonlyPaths") or None, "MemorySwappiness": None, "OomKillDisable": False,
        "OomScoreAdj": cfg.get("oomScoreAdj") or 0, "Runtime": cfg.get("runtime") or "berth-runtime",
        "SecurityOpt": list(cfg.get("securityOpt") or []) or None, "ShmSize": cfg.get("shmSize") or 67108864,
        "Tmpfs": tmpfs or None, "Ulimits": ulimits or None, "UsernsMode": cfg.get("userns") or "", "VolumeDriver": "", "VolumesFrom": None,
        **_id_mappings(cfg),
    }  # fmt: skip


def _id_mappings(cfg: dict) -> dict:
    """A container with a user namespace: its maps, as Podman's inspect shows them."""
    if not cfg.get("IdMappings"):
        return {}
    from berth.engine.userns import from_config

    return {"IDMappings": from_config(cfg).docker()}


def _graph_driver(c) -> dict:
    """docker's GraphDriver: the snapshot's directories (an overlay's lower, upper and work dirs)."""
    try:
        with open(f"{c.dir}/rootfs-mounts.json", "rb") as f:
            mounts = fastjson.loads(f.read())
    except (OSError, ValueError):
        return {"Data": None, "Name": ""}
    data = {}
    for m in mounts:
        for opt in m.get("options") or []:
            key, _, value = opt.partition("=")
            name = {"lowerdir": "LowerDir", "upperdir": "UpperDir", "workdir": "WorkDir"}.get(key)
            if name:
                data[name] = value
    if data:
        data["MergedDir"] = f"{c.dir}/bundle/rootfs"
    return {"Data": data or None, "Name": mounts[0].get("type", "") if mounts else ""}


def container_document(c) -> dict:
    """Docker's container inspect document."""
    with open(f"{c.dir}/bundle/config.json", "rb") as f:
        spec = fastjson.loads(f.read())
    process = spec["process"]
    from berth.engine.filters import state

    status = c.status
    word = state(c, status)
    health = c.health
    exit = c.exit or {}
    cfg = c.config
    return {
        "Id": c.id,
        "Created": c.created,
        "Path": process["args"][0],
        "Args": process["args"][1:],
        "State": {
            "Status": word,
            "Running": status == "running",
            "Paused": word == "paused",
            "Restarting": word == "restarting",
            "OOMKilled": False,
            "Dead": False,
            "Pid": c.pid,
            "ExitCode": exit.get("code", 0),
            "Error": exit.get("error", ""),
            "StartedAt": c.started_at or "0001-01-01T00:00:00Z",
            "FinishedAt": exit.get("finished", "0001-01-01T00:00:00Z"),
            **({"Health": health} if health else {}),
        },  # fmt: skip
        "Image": c.image,
        "ResolvConfPath": f"{c.dir}/resolv.conf",
        "HostnamePath": f"{c.dir}/hostname",
        "HostsPath": f"{c.dir}/hosts",
        "LogPath": f"{c.dir}/container.log",
        "Name": "/" + c.name,
        "RestartCount": int(c._read("restart-count") or 0),
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "AutoRemove": cfg.get("autoRemove", False),
            "RestartPolicy": {
                "Name": (cfg.get("restart") or {}).get("name") or "no",
                "MaximumRetryCount": (cfg.get("restart") or {}).get("maximumRetryCount") or 0,
            },
            "NetworkMode": cfg.get("network") or "default",
            "PortBindings": _port_bindings(cfg.get("PortBindings") or []),
            "PublishAllPorts": cfg.get("publishAll", False),
            "Dns": list(cfg.get("dns") or []),
            "DnsSearch": list(cfg.get("dnsSearch") or []),
            "DnsOptions": list(cfg.get("dnsOptions") or []),
            "ExtraHosts": list(cfg.get("addHosts") or []) or None,
            "Devices": [_device(d) for d in cfg.get("devices") or []],
            "LogConfig": cfg.get("LogConfig") or {"Type": "json-file", "Config": {}},
            "PidMode": cfg.get("pid", ""),
            "IpcMode": cfg.get("ipc") or "private",
            "UTSMode": cfg.get("uts", ""),
            **_limits(spec),
            "ReadonlyRootfs": cfg.get("readOnly", False),
            "CapAdd": cfg.get("capAdd"),
            "CapDrop": cfg.get("capDrop"),
            "Privileged": cfg.get("privileged", False),
            **_host_config_rest(cfg, spec),
        },  # fmt: skip
        "GraphDriver": _graph_driver(c),
        "AppArmorProfile": "",
        "ExecIDs": None,
        "MountLabel": "",
        "ProcessLabel": "",
        "Mounts": _mounts(c, cfg, spec),
        "Config": {
            "Hostname": spec.get("hostname", ""),
            "Domainname": "",
            "User": cfg.get("user", ""),
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": cfg.get("tty", False),
            "OpenStdin": cfg.get("interactive", False),
            "StdinOnce": bool(cfg.get("stdinOnce")),
            "Env": process.get("env"),
            "Cmd": list(cfg.get("command") or []) or None,
            "Image": c.image_name,
            "Volumes": None,
            "WorkingDir": process.get("cwd", ""),
            "Entrypoint": cfg.get("entrypoint"),
            "OnBuild": None,
            "Labels": cfg.get("labels") or {},
            **({"ExposedPorts": {p: {} for p in cfg["ExposedPorts"]}} if cfg.get("ExposedPorts") else {}),
            **({"MacAddress": cfg["macAddress"]} if cfg.get("macAddress") else {}),
        },  # fmt: skip
        "NetworkSettings": c.engine.networking.settings(c, c.status == "running"),
    }


def _bind(m: dict) -> str:
    """HostConfig.Binds' form of a mount: SOURCE:TARGET[:MODES], the modes comma-separated."""
    modes = ",".join(mode for mode in ("ro" if m.get("readOnly") else "", m.get("propagation") or "") if mode)
    return f"{m['source']}:{m['target']}" + (f":{modes}" if modes else "")


_PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")


def _mounts(c, cfg: dict, spec: dict) -> list[dict]:
    """Docker's Mounts: the container's volumes (the image's too), binds and tmpfs mounts, as its
    spec mounts them."""
    volumes = os.path.join(c.engine.root, "volumes") + "/"
    asked = {(m.get("target") or "").rstrip("/") or "/": m.get("type") for m in cfg.get("mounts") or []}
    anonymous = set(cfg.get("AnonymousVolumes") or [])
    out = []
    for m in spec.get("mounts") or []:
        dest, source, options = m.get("destination", ""), m.get("source", ""), m.get("options") or []
        rw = "ro" not in options
        if source.startswith(volumes):
            name = source[len(volumes) :].split("/")[0]
            out.append({"Type": "volume", "Name": name, "Source": source, "Destination": dest, "Driver": "local",
                        "Mode": "" if name in anonymous else "z", "RW": rw, "Propagation": ""})  # fmt: skip
        elif asked.get(dest) == "bind":
            propagation = next((o for o in options if o in _PROPAGATIONS), "rprivate")
            out.append({"Type": "bind", "Source": source, "Destination": dest, "Mode": "" if rw else "ro", "RW": rw,
                        "Propagation": propagation})  # fmt: skip
        elif asked.get(dest) == "tmpfs":
            out.append({"Type": "tmpfs", "Source": "", "Destination": dest, "Mode": "", "RW": rw, "Propagation": ""})
    return out


def _device(d: dict) -> dict:
    return {"PathOnHost": d["pathOnHost"], "PathInContainer": d.get("pathInContainer") or d["pathOnHost"],
            "CgroupPermissions": d.get("permissions") or "rwm"}  # fmt: skip


def _port_bindings(bindings: list[dict]) -> dict:
    out: dict[str, list] = {}
    for b in bindings:
        out.setdefault(f"{b['Port']}/{b['Proto']}", []).append({"HostIp": b["HostIp"], "HostPort": b["HostPort"]})
    return out


def image_document(store, image) -> dict:
    """Docker's image inspect document."""
    config = store.config(image)
    raw_config = store.json_blob(image.id).get("config") or {}
    manifest = store.manifest(image)
    repo_tags = [f"{r.familiar_name()}:{r.tag}" for r in map(reference.parse, image.tags)]
    repo_digests = sorted({f"{reference.parse(t).familiar_name()}@{image.manifest}" for t in image.tags})
    container_config = {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": False,
        "AttachStderr": False, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": None, "Cmd": None,
        "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
    }  # fmt: skip
    container_config.update(raw_config)
    return {
        "Id": image.id,
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": config.history[-1].comment if config.history else "",
        "Created": config.created,
        "DockerVersion": "",
        "Author": config.author,
        "Config": container_config,
        "Architecture": config.architecture,
        "Os": config.os,
        "Size": image.size,
        "GraphDriver": {"Data": None, "Name": "overlay"},
        "RootFS": {"Type": config.rootfs.type, "Layers": list(config.rootfs.diff_ids)},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
        "Descriptor": {
            "mediaType": manifest.media_type or image_spec.OCI_MANIFEST,
            "digest": image.manifest,
            "size": store.content.size(image.manifest),
        },  # fmt: skip
    }


def status_text(c, status: str) -> str:
    """Docker's STATUS words: "Up 5 minutes (healthy)", "Exited (0) 2 hours ago", "Created"."""
    restarting = c.restarting if status == "running" else None
    if restarting:
        since = time.time() - parse_rfc3339(restarting.get("finished", ""))
        return f"Restarting ({restarting.get('code', 0)}) {human_duration(since)} ago"
    if status == "running":
        started = parse_rfc3339(c.started_at)
        health = c.health
        mark = {"starting": " (health: starting)", "healthy": " (healthy)", "unhealthy": " (unhealthy)"}
        suffix = " (Paused)" if c.paused else mark.get((health or {}).get("Status", ""), "")
        return "Up " + human_duration(time.time() - started) + suffix
    if status == "exited":
        return _exited_words(c.exit)
    return "Created"


def _exited_words(exit: dict | None) -> str:
    exit = exit or {}
    finished = parse_rfc3339(exit.get("finished", ""))
    return (
        f"Exited ({exit.get('code', 255)}) {human_duration(time.time() - finished)} ago" if finished else "Exited (255)"
    )


# The list entries of containers that are not running, kept between listings: such a container
# changes only through its record (compared whole) or through files made, replaced or removed in
# its directory, each of which moves the directory's mtime. An entry is kept only once that mtime
# is STABLE seconds old, so that a change within the same clock tick cannot go unseen. Entries of
# removed containers never match again (IDs are not reused) and go when KEPT_MAX is reached.
_kept: dict[str, tuple] = {}  # container directory -> (record, mtime in ns, entry, exit record)
STABLE = 1.0
KEPT_MAX = 10000


def container_summaries(containers: list, published_ports, sizes_of=None) -> list[dict]:
    """container_summary of each (GET /containers/json): entries kept from an earlier listing
    for those that have not changed, their Status words made anew (100 containers: 1.5 -> 0.5
    ms). `published_ports(containers)`: Engine.published_ports, asked about running ones only."""
    now = time.time_ns()
    out: list = []
    todo = []  # (index in out, container, status, directory mtime) of those not kept
    for c in containers:
        try:
            mtime = os.stat(c.dir).st_mtime_ns
        except FileNotFoundError:
            mtime = -1
        kept = None if sizes_of else _kept.get(c.dir)
        if kept is not None and kept[1] == mtime and kept[0] == c.row:
            entry = kept[2]  # shared with later listings: callers only read it
            if kept[3] is not None:  # exited: its words change with time
                entry = {**entry, "Status": _exited_words(kept[3])}
            out.append(entry)
        else:
            todo.append((len(out), c, c.status, mtime))
            out.append(None)
    published = published_ports([c for _, c, status, _ in todo if status == "running"])
    for i, c, status, mtime in todo:
        out[i] = entry = container_summary(c, published.get(c.id), sizes_of, status)
        if status != "running" and not sizes_of and mtime >= 0 and now - mtime > STABLE * 1e9:
            if len(_kept) >= KEPT_MAX:
                _kept.clear()
            _kept[c.dir] = (c.row, mtime, entry, (c.exit or {}) if status == "exited" else None)
    return out


def _summary_networks(cfg: dict) -> dict:
    """The list's networks: their names (what `docker ps --format {{.Networks}}` shows); addresses
    are inspect's."""
    mode = cfg.get("network") or "bridge"
    names = [] if mode.startswith("container:") else ["bridge" if mode == "default" else mode]
    names += [n["Name"] for n in cfg.get("ExtraNetworks") or [] if n.get("Name")]
    return {name: {"NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
                   "MacAddress": ""} for name in names}  # fmt: skip


def _summary_mounts(c, cfg: dict) -> list[dict]:
    """inspect's Mounts, read from the spec only for a container that has some."""
    if not cfg.get("mounts") and not cfg.get("VolumeNames"):
        return []
    try:
        with open(os.path.join(c.dir, SPEC), "rb") as f:
            return _mounts(c, cfg, fastjson.loads(f.read()))
    except FileNotFoundError:
        return []  # removed meanwhile


def container_summary(c, published: list[dict] | None = None, sizes_of=None, status: str = "") -> dict:
    """Docker's container list entry (GET /containers/json). `published`: the container's bound
    ports (Engine.published_ports); `sizes_of`: the engine, when sizes are asked for."""
    from berth.engine.filters import state

    status = status or c.status
    cfg = c.config
    ports, seen = [], set()
    for b in published or []:
        ports.append({"IP": b["HostIp"] or "0.0.0.0", "PrivatePort": b["Port"], "PublicPort": int(b["HostPort"]),
                      "Type": b["Proto"]})  # fmt: skip
        seen.add(f"{b['Port']}/{b['Proto']}")
    for p in cfg.get("ExposedPorts") or []:
        if p not in seen:
            number, _, proto = p.partition("/")
            ports.append({"PrivatePort": int(number), "Type": proto})
    out = {
        "Id": c.id, "Names": ["/" + c.name], "Image": c.image_name, "ImageID": c.image,
        "Command": " ".join(c.args), "Created": int(parse_rfc3339(c.created)) if c.created else 0,
        "Ports": ports, "Labels": dict(cfg.get("labels") or {}), "State": state(c, status),
        "Status": status_text(c, status), "HostConfig": {"NetworkMode": cfg.get("network") or "bridge"},
        "NetworkSettings": {"Networks": _summary_networks(cfg)}, "Mounts": _summary_mounts(c, cfg),
    }  # fmt: skip
    if sizes_of:
        own, image = sizes_of.sizes(c)
        out["SizeRw"], out["SizeRootFs"] = own, own + image
    return out
