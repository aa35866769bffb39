"""What `berth create` and `berth run` are asked for, and what `berth update` changes, as records."""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.oci.record import record

CPU_PERIOD = 100_000  # µs: Docker's --cpus N is a quota of N periods of this length


def check_ports(publish: list[str] | tuple[str, ...], expose: list[str] | tuple[str, ...] = ()) -> None:
    """-p and --expose specs, refused with Docker's messages."""
    if publish or expose:
        from berth.network import ports

        for spec in publish:
            ports.parse(spec)
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
    """`berth update`: the limits to change on a container (None, or "", leaves one as it is)."""

    cpus: float | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str = ""
    memory: int | None = None
    memory_reservation: int | None = None
    memory_swap: int | None = None  # memory + swap; -1 unlimited
    pids_limit: int | None = None  # -1 unlimited
    blkio_weight: int | None = None

    def check(self) -> None:
        if all(getattr(self, f) in (None, "") for f in self._fields):
            raise InvalidArgument("you must provide one or more flags when using this command")


@record
class CreateOptions:
    image: str
    command: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    name: str = ""
    env: tuple[str, ...] = ()
    workdir: str = ""
    user: str = ""
    hostname: str = ""
    pid: str = ""  # "", host, container:NAME
    ipc: str = ""
    uts: str = ""
    network: str = ""  # "" (the default bridge), a network's name, none, host, container:NAME
    publish: tuple[str, ...] = ()  # -p [IP:][HOSTPORT:]PORT[/PROTO]
    publish_all: bool = False
    expose: tuple[str, ...] = ()
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
    auto_remove: bool = False
    interactive: bool = False
    tty: bool = False
    ulimits: tuple[str, ...] = ()  # nofile=1024:2048
    shm_size: int = 0
    sysctls: dict[str, str] = {}
    oom_score_adj: int | None = None
    stop_signal: str = ""
    stop_timeout: int | None = None
    add_hosts: tuple[str, ...] = ()  # name:ip
    tmpfs: tuple[str, ...] = ()  # /path[:options]
    volumes: tuple[str, ...] = ()  # /host:/container[:ro]
    security_opt: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()  # --device HOST[:CONTAINER[:rwm]]
    log_driver: str = ""  # json-file (default), k8s-file, none
    log_opts: dict[str, str] = {}  # max-size, max-file
    restart: str = ""  # no, always, unless-stopped, on-failure[:N]
    healthcheck: dict[str, object] = {}  # Docker's shape: Test, Interval, Timeout, StartPeriod, Retries (overrides)
    no_healthcheck: bool = False
    init: bool = False  # --init: a small init (tini) as PID 1 that forwards signals and reaps  # seccomp=unconfined|PROFILE.json, no-new-privileges[=true|false]
