"""What `berth create` and `berth run` are asked for, and what `berth update` changes, as records."""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.oci.record import record

CPU_PERIOD = 100_000  # µs: Docker's --cpus N is a quota of N periods of this length


def check_expose(expose: list[str] | tuple[str, ...]) -> None:
    """--expose specs, refused with Docker's messages."""
    if expose:
        from berth.network import ports

        for spec in expose:
            ports.parse_expose(spec)


def check_signal(name: str) -> None:
    """A signal's name or number (--stop-signal, kill -s)."""
    from berth.linux import signals

    try:
        signals.parse(name)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None


def cpu_quota(cpus: float) -> int:
    """--cpus as a CFS quota over CPU_PERIOD."""
    return int(cpus * CPU_PERIOD)


@record
class ResourceUpdate:
    """`berth update`: the limits and restart policy to change on a container (None, or "",
    leaves one as it is)."""

    cpus: float | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str = ""
    memory: int | None = None
    memory_reservation: int | None = None
    memory_swap: int | None = None  # memory + swap; -1 unlimited
    pids_limit: int | None = None  # -1 unlimited
    blkio_weight: int | None = None
    restart: RestartPolicy | None = None

    def check(self) -> None:
        if all(getattr(self, f) in (None, "") for f in self._fields):
            raise InvalidArgument("you must provide one or more flags when using this command")


@record
class PortBinding:
    """A container port published on the host (Docker's HostConfig.PortBindings entry)."""

    port: int
    proto: str = "tcp"
    host_ip: str = ""  # "": every address
    host_port: str = ""  # "": a free port the kernel picks

    @staticmethod
    def parse(spec: str) -> tuple[PortBinding, ...]:
        """-p [IP:][HOSTPORT[-END]:]PORT[-END][/PROTO], refused with Docker's messages."""
        from berth.network import ports

        return tuple(PortBinding(port=b["Port"], proto=b["Proto"], host_ip=b["HostIp"], host_port=b["HostPort"])
                     for b in ports.parse(spec))  # fmt: skip

    def docker(self) -> dict:
        return {"HostIp": self.host_ip, "HostPort": self.host_port, "Port": self.port, "Proto": self.proto}


@record
class CniNetwork:
    """A network namespace joined to a network by CNI plugins (the CRI's pods: `network="cni"`):
    where the configuration and the plugins are, and the CNI_ARGS the plugins get."""

    conf_dir: str = "/etc/cni/net.d"
    bin_dirs: tuple[str, ...] = ("/opt/cni/bin", "/usr/lib/cni")
    args: dict[str, str] = {}  # K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID
    plugin_timeout: float = 60.0  # seconds each plugin may take before it is killed


MOUNT_TYPES = ("bind", "volume", "tmpfs")
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def _check_propagation(propagation: str, kind: str) -> None:
    """A bind mount's propagation, as Docker takes it; never shared: a container's mounts are made
    in a mount namespace that receives the host's mounts (its monitor's, a slave of the host's)
    and never sends any back, so a shared bind could not reach the host."""
    if propagation not in PROPAGATIONS:
        raise InvalidArgument(f"invalid bind propagation {propagation!r}: {', '.join(PROPAGATIONS)}")
    if kind != "bind":
        raise InvalidArgument(f"propagation {propagation} is for bind mounts only, not {kind} mounts")
    if propagation in ("shared", "rshared"):
        raise InvalidArgument(f"bind propagation {propagation}: a container's mounts never reach the host with "
                              "berth (they are made in a namespace that only receives the host's): use rslave "
                              "to see the host's new mounts, or rprivate")  # fmt: skip


@record
class Mount:
    """A file system in the container besides its root (Docker's HostConfig.Mounts entry)."""

    type: str  # bind (a host path), volume (a named one; "" source: anonymous), tmpfs
    target: str
    source: str = ""
    read_only: bool = False
    options: tuple[str, ...] = ()  # tmpfs: size=, mode= and mount options
    chown: bool = False  # -v's U (Podman's): its content made the container's user's, recursively
    propagation: str = ""  # a bind mount's: rprivate (the default), private, rslave or slave

    def check(self) -> None:
        if self.type not in MOUNT_TYPES:
            raise InvalidArgument(f"mount type unknown: {self.type!r}: bind, volume or tmpfs")
        if self.propagation:
            _check_propagation(self.propagation, self.type)
        if not self.target.startswith("/"):
            raise InvalidArgument(f"invalid mount target {self.target!r}: it must be an absolute path")
        if self.type == "bind" and not self.source.startswith("/"):
            raise InvalidArgument(f"invalid mount source {self.source!r}: a bind mount needs an absolute path")
        if self.type == "tmpfs" and self.source:
            raise InvalidArgument("a tmpfs mount takes no source")

    @staticmethod
    def parse_volume(item: str) -> Mount:
        """-v's forms: /path (anonymous), NAME:/path or /host:/path, with :ro, :rw, :z, :Z or :U after."""
        parts = item.split(":")
        if len(parts) == 1 and parts[0].startswith("/"):
            return Mount(type="volume", target=parts[0])
        if len(parts) not in (2, 3) or not parts[1].startswith("/") or not parts[0]:
            raise InvalidArgument(f"invalid volume specification: '{item}'")
        mode = parts[2].split(",") if len(parts) == 3 else []
        propagation = [m for m in mode if m in PROPAGATIONS]
        if any(m not in ("ro", "rw", "z", "Z", "U", *PROPAGATIONS) for m in mode) or len(propagation) > 1:
            raise InvalidArgument(f"invalid mode: {parts[2]}")
        kind = "bind" if parts[0].startswith("/") else "volume"
        mount = Mount(type=kind, source=parts[0], target=parts[1], read_only="ro" in mode, chown="U" in mode,
                      propagation=propagation[0] if propagation else "")  # fmt: skip
        if mount.propagation:
            _check_propagation(mount.propagation, kind)
        return mount

    @staticmethod
    def parse_tmpfs(item: str) -> Mount:
        """--tmpfs /path[:OPTIONS]."""
        target, _, options = item.partition(":")
        if not target.startswith("/"):
            raise InvalidArgument(f"invalid --tmpfs {item!r}: the path must be absolute")
        return Mount(type="tmpfs", target=target, options=tuple(o for o in options.split(",") if o))

    @staticmethod
    def parse_mount(spec: str) -> Mount:
        """--mount type=bind|volume|tmpfs,source=,target=[,readonly][,tmpfs-size=][,tmpfs-mode=]."""
        fields: dict[str, str] = {}
        for part in spec.split(","):
            key, sep, value = part.partition("=")
            key = {"src": "source", "dst": "target", "destination": "target", "ro": "readonly"}.get(key, key)
            if key not in ("type", "source", "target", "readonly", "tmpfs-size", "tmpfs-mode", "bind-propagation"):
                raise InvalidArgument(
                    f"invalid argument \"{spec}\" for \"--mount\" flag: unexpected key '{key}' in '{part}'"
                )
            fields[key] = value if sep else "true"
        kind, target = fields.get("type", "volume"), fields.get("target", "")
        if kind not in MOUNT_TYPES:
            raise InvalidArgument(f'invalid argument "{spec}" for "--mount" flag: mount type unknown: {kind!r}')
        if not target.startswith("/"):
            raise InvalidArgument(
                f'invalid argument "{spec}" for "--mount" flag: target is required and must be absolute'
            )
        if kind == "bind" and not fields.get("source", "").startswith("/"):
            raise InvalidArgument(
                f'invalid argument "{spec}" for "--mount" flag: a bind mount needs an absolute source'
            )
        options = tuple(f"{name}={fields[key]}" for key, name in (("tmpfs-size", "size"), ("tmpfs-mode", "mode"))
                        if kind == "tmpfs" and fields.get(key))  # fmt: skip
        propagation = fields.get("bind-propagation", "")
        if propagation:
            _check_propagation(propagation, kind)
        return Mount(type=kind, target=target, source=fields.get("source", "") if kind != "tmpfs" else "",
                     read_only=fields.get("readonly", "false") in ("true", "1"), options=options,
                     propagation=propagation)  # fmt: skip


@record
class Ulimit:
    """A resource limit of the container's processes (Docker's HostConfig.Ulimits entry)."""

    name: str  # nofile, nproc, core...
    soft: int
    hard: int

    @staticmethod
    def parse(item: str) -> Ulimit:
        """--ulimit NAME=SOFT[:HARD]."""
        name, sep, values = item.partition("=")
        soft, _, hard = values.partition(":")
        try:
            soft_n = int(soft)
            hard_n = int(hard) if hard else soft_n
        except ValueError:
            raise InvalidArgument(f"invalid ulimit argument: {item}") from None
        limit = Ulimit(name=name, soft=soft_n, hard=hard_n)
        if not sep:
            raise InvalidArgument(f"invalid ulimit argument: {item}")
        limit.check()
        return limit

    def check(self) -> None:
        if not self.name.isalpha() or self.soft > self.hard:
            raise InvalidArgument(f"invalid ulimit argument: {self.name}={self.soft}:{self.hard}")


@record
class DeviceMapping:
    """A host device made in the container (Docker's HostConfig.Devices entry)."""

    path_on_host: str
    path_in_container: str = ""  # "": the same path
    permissions: str = "rwm"

    @staticmethod
    def parse(item: str) -> DeviceMapping:
        """--device HOST[:CONTAINER[:PERMISSIONS]]."""
        parts = item.split(":")
        device = DeviceMapping(path_on_host=parts[0], path_in_container=parts[1] if len(parts) > 1 else "",
                               permissions=parts[2] if len(parts) > 2 else "rwm")  # fmt: skip
        if len(parts) > 3 or not device.valid():
            raise InvalidArgument(f'invalid argument "{item}" for "--device" flag: bad format for path: {item}')
        return device

    def valid(self) -> bool:
        path = self.path_in_container or self.path_on_host
        return bool(self.permissions) and all(c in "rwm" for c in self.permissions) and path.startswith("/")


RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


@record
class RestartPolicy:
    """What the monitor does when the container exits (Docker's HostConfig.RestartPolicy)."""

    name: str = "no"
    maximum_retry_count: int = 0  # on-failure only; 0: no limit

    @staticmethod
    def parse(text: str) -> RestartPolicy:
        """--restart no|always|unless-stopped|on-failure[:max-retries]."""
        name, _, count = text.partition(":")
        if count and (name != "on-failure" or not count.isdigit()):
            if name == "on-failure":
                raise InvalidArgument(
                    f"invalid restart policy {text!r}: maximum retry count must be a positive integer"
                )
            name = ""  # refused below
        policy = RestartPolicy(name=name, maximum_retry_count=int(count or 0))
        policy.check(text)
        return policy

    def check(self, text: str = "") -> None:
        if self.name not in RESTART_POLICIES or (self.maximum_retry_count and self.name != "on-failure"):
            raise InvalidArgument(
                f"invalid restart policy {text or self.name!r}: no, always, unless-stopped or on-failure[:max-retries]"
            )
        if self.maximum_retry_count < 0:
            raise InvalidArgument(f"invalid restart policy {text!r}: maximum retry count must be a positive integer")

    def docker(self) -> dict:
        return {"Name": self.name, "MaximumRetryCount": self.maximum_retry_count}


_CGROUP_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-")


@record
class CreateOptions:
    image: str
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    name: str = ""
    env: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    group_add: tuple[str, ...] = ()  # --group-add: supplementary groups, GIDs or names in the image's /etc/group
    hostname: str = ""
    pid: str = ""  # "", host, container:NAME
    ipc: str = ""
    uts: str = ""
    userns: str = ""  # "", host, auto[:size=N] (berth.engine.userns)
    uidmap: tuple[str, ...] = ()  # CONTAINER:HOST:SIZE, Podman's --uidmap
    gidmap: tuple[str, ...] = ()
    network: str = ""  # "" (the default bridge), a network's name, none, host, container:NAME, cni
    cni: CniNetwork | None = None  # with network="cni": the CNI configuration it is joined by
    publish: tuple[PortBinding, ...] = ()
    publish_all: bool = False
    expose: tuple[str, ...] = ()  # PORT[-END][/PROTO]
    ip: str = ""
    mac_address: str = ""
    network_aliases: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    labels: dict[str, str] = {}
    memory: int = 0
    pids_limit: int = 0
    cpus: float = 0.0
    memory_swap: int = 0  # memory + swap; -1 unlimited; 0: twice --memory, as Docker
    memory_reservation: int = 0
    cpu_shares: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    read_only: bool = False
    runtime: str = ""  # --runtime: berth-runtime, runc, crun or one named in daemon.json ("" the default)
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    masked_paths: tuple[str, ...] | None = None  # None: Docker's defaults (none when privileged)
    readonly_paths: tuple[str, ...] | None = None  # None: Docker's defaults (none when privileged)
    auto_remove: bool = False
    interactive: bool = False
    stdin_once: bool = False  # the first attached client to close its input closes the container's (Docker's StdinOnce)
    tty: bool = False
    ulimits: tuple[Ulimit, ...] = ()
    shm_size: int = 0
    sysctls: dict[str, str] = {}
    oom_score_adj: int | None = None
    stop_signal: str = ""
    stop_timeout: int | None = None
    add_hosts: tuple[str, ...] = ()  # name:ip
    mounts: tuple[Mount, ...] = ()  # -v, --tmpfs and --mount
    security_opt: tuple[str, ...] = ()  # seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false]
    devices: tuple[DeviceMapping, ...] = ()
    log_driver: str = ""  # json-file (default), k8s-file, none
    log_opts: dict[str, str] = {}  # max-size, max-file
    restart: RestartPolicy | None = None
    healthcheck: dict[str, object] = {}  # Docker's shape: Test, Interval, Timeout, StartPeriod, Retries (overrides)
    no_healthcheck: bool = False
    init: bool = False  # --init: a small init (tini) as PID 1 that forwards signals and reaps
    pod: str = ""  # --pod: the pod (name or ID) whose shared namespaces it joins; its ID once made
    pod_infra: bool = False  # the container that holds its pod's namespaces (berth.engine.pods)
    cgroup_parent: str = ""  # --cgroup-parent: the cgroup its own is made under ("": /berth)

    def check(self) -> None:
        """What no container may be made with, whoever asked (the flags' own forms are checked where
        they are parsed)."""
        for m in self.mounts:
            m.check()
        for limit in self.ulimits:
            limit.check()
        for device in self.devices:
            if not device.valid():
                raise InvalidArgument(f"invalid device mapping {device.path_on_host!r}: bad format for path")
        if self.restart is not None:
            self.restart.check()
            if self.auto_remove and self.restart.name != "no":
                raise InvalidArgument("Conflicting options: --restart and --rm")
        check_cgroup_parent(self.cgroup_parent)
        for path in (*(self.masked_paths or ()), *(self.readonly_paths or ())):
            if not path.startswith("/"):
                raise InvalidArgument(f"masked and read-only paths are absolute: {path!r}")
        if (self.network == "cni") != (self.cni is not None):
            raise InvalidArgument("--network cni is the CRI's: its pods' networks are made by CNI plugins")
        if self.userns or self.uidmap or self.gidmap:
            from berth.engine import userns

            userns.check(self)


def check_cgroup_parent(path: str) -> None:
    parts = [p for p in path.split("/") if p]
    if path and (not parts or any(p in (".", "..") for p in parts) or not all(set(p) <= _CGROUP_CHARS for p in parts)):
        raise InvalidArgument(f"invalid --cgroup-parent {path!r}: a cgroup path of names ([a-zA-Z0-9_.:-]), no '..'")


def upgrade_config(cfg: dict) -> dict:
    """A container's stored options from before they were records (containers.db version 1): the
    flags' strings as the records' JSON. Anything unreadable is left out rather than kept as text
    the records cannot read; version 1 had checked it all at create."""
    from berth.oci.record import to_json

    def each(items, parse) -> list:
        out = []
        for item in items or ():
            if not isinstance(item, str):
                out.append(item)  # a record's JSON already
                continue
            try:
                got = parse(item)
            except InvalidArgument:
                continue
            out += [to_json(g) for g in (got if isinstance(got, tuple) else (got,))]
        return out

    cfg = dict(cfg)
    if cfg.get("publish"):
        cfg["publish"] = each(cfg["publish"], PortBinding.parse)
    mounts = each(cfg.pop("volumes", None), Mount.parse_volume) + each(cfg.pop("tmpfs", None), Mount.parse_tmpfs)
    if mounts:
        cfg["mounts"] = mounts
    for key, parse in (("ulimits", Ulimit.parse), ("devices", DeviceMapping.parse)):
        if cfg.get(key):
            cfg[key] = each(cfg[key], parse)
    restart = cfg.pop("restart", None)
    if isinstance(restart, str):
        restart = (each([restart], RestartPolicy.parse) or [None])[0] if restart not in ("", "no") else None
    if restart:
        cfg["restart"] = restart
    return cfg
