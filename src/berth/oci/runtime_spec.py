"""The OCI runtime-spec config.json as records (opencontainers/runtime-spec 1.2)."""

from __future__ import annotations

from berth import OCI_VERSION
from berth.oci.record import SpecError, from_json, record, to_json

__all__ = ["SpecError", "Spec", "parse_spec", "spec_to_json", "default_spec"]


@record
class User:
    uid: int = 0
    gid: int = 0
    umask: int | None = None
    additional_gids: tuple[int, ...] = ()


@record
class Capabilities:
    bounding: tuple[str, ...] = ()
    effective: tuple[str, ...] = ()
    inheritable: tuple[str, ...] = ()
    permitted: tuple[str, ...] = ()
    ambient: tuple[str, ...] = ()


@record
class Rlimit:
    type: str
    hard: int
    soft: int


@record
class ConsoleSize:
    height: int
    width: int


@record
class Process:
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    cwd: str = "/"
    terminal: bool = False
    console_size: ConsoleSize | None = None
    user: User = User()
    capabilities: Capabilities | None = None
    rlimits: tuple[Rlimit, ...] = ()
    no_new_privileges: bool = False
    apparmor_profile: str = ""
    selinux_label: str = ""
    oom_score_adj: int | None = None


@record
class Root:
    path: str
    readonly: bool = False


@record
class Mount:
    destination: str
    type: str = ""
    source: str = ""
    options: tuple[str, ...] = ()


@record
class Hook:
    path: str
    args: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    timeout: int | None = None


@record
class Hooks:
    prestart: tuple[Hook, ...] = ()
    create_runtime: tuple[Hook, ...] = ()
    create_container: tuple[Hook, ...] = ()
    start_container: tuple[Hook, ...] = ()
    poststart: tuple[Hook, ...] = ()
    poststop: tuple[Hook, ...] = ()


@record
class Namespace:
    type: str
    path: str = ""


@record
class IDMapping:
    _json_names = {"container_id": "containerID", "host_id": "hostID"}
    container_id: int
    host_id: int
    size: int


@record
class Device:
    type: str
    path: str
    major: int = 0
    minor: int = 0
    file_mode: int | None = None
    uid: int | None = None
    gid: int | None = None


@record
class DeviceRule:
    allow: bool
    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"


@record
class Memory:
    _json_names = {"disable_oom_killer": "disableOOMKiller"}
    limit: int | None = None
    reservation: int | None = None
    swap: int | None = None
    kernel: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None


@record
class CPU:
    shares: int | None = None
    quota: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str = ""
    mems: str = ""
    idle: int | None = None


@record
class Pids:
    limit: int


@record
class BlockIO:
    weight: int | None = None
    leaf_weight: int | None = None


@record
class HugepageLimit:
    page_size: str
    limit: int


@record
class InterfacePriority:
    name: str
    priority: int


@record
class Network:
    _json_names = {"class_id": "classID"}
    class_id: int | None = None
    priorities: tuple[InterfacePriority, ...] = ()


@record
class Resources:
    _json_names = {"block_io": "blockIO"}
    devices: tuple[DeviceRule, ...] = ()
    memory: Memory | None = None
    cpu: CPU | None = None
    pids: Pids | None = None
    block_io: BlockIO | None = None
    hugepage_limits: tuple[HugepageLimit, ...] = ()
    network: Network | None = None
    rdma: dict[str, object] = {}
    unified: dict[str, str] = {}


@record
class SeccompArg:
    index: int
    value: int
    op: str
    value_two: int = 0


@record
class SyscallRule:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[SeccompArg, ...] = ()


@record
class Seccomp:
    default_action: str
    default_errno_ret: int | None = None
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    listener_path: str = ""
    syscalls: tuple[SyscallRule, ...] = ()


@record
class Linux:
    namespaces: tuple[Namespace, ...] = ()
    uid_mappings: tuple[IDMapping, ...] = ()
    gid_mappings: tuple[IDMapping, ...] = ()
    devices: tuple[Device, ...] = ()
    cgroups_path: str = ""
    resources: Resources | None = None
    rootfs_propagation: str = ""
    masked_paths: tuple[str, ...] = ()
    readonly_paths: tuple[str, ...] = ()
    sysctl: dict[str, str] = {}
    seccomp: Seccomp | None = None
    mount_label: str = ""


@record
class Spec:
    oci_version: str
    root: Root | None = None
    process: Process | None = None
    hostname: str = ""
    domainname: str = ""
    mounts: tuple[Mount, ...] = ()
    hooks: Hooks | None = None
    annotations: dict[str, str] = {}
    linux: Linux | None = None


def parse_spec(data: object) -> Spec:
    """config.json (already parsed) -> Spec; raise SpecError naming the bad field."""
    return from_json(Spec, data)


def spec_to_json(spec: Spec) -> dict:
    return to_json(spec)


DEFAULT_CAPS = ("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE")
MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)  # fmt: skip
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def default_spec(args: tuple[str, ...] = ("sh",), terminal: bool = True) -> Spec:
    """What `berth-runtime spec` writes: the same shape as `runc spec`."""
    caps = Capabilities(bounding=DEFAULT_CAPS, effective=DEFAULT_CAPS, permitted=DEFAULT_CAPS)
    mounts = (
        Mount(destination="/proc", type="proc", source="proc"),
        Mount(destination="/dev", type="tmpfs", source="tmpfs", options=("nosuid", "strictatime", "mode=755", "size=65536k")),
        Mount(destination="/dev/pts", type="devpts", source="devpts",
              options=("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
        Mount(destination="/dev/shm", type="tmpfs", source="shm", options=("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")),
        Mount(destination="/dev/mqueue", type="mqueue", source="mqueue", options=("nosuid", "noexec", "nodev")),
        Mount(destination="/sys", type="sysfs", source="sysfs", options=("nosuid", "noexec", "nodev", "ro")),
        Mount(destination="/sys/fs/cgroup", type="cgroup", source="cgroup", options=("nosuid", "noexec", "nodev", "relatime", "ro")),
    )  # fmt: skip
    namespaces = tuple(Namespace(type=t) for t in ("pid", "network", "ipc", "uts", "mount", "cgroup"))
    return Spec(
        oci_version=OCI_VERSION,
        root=Root(path="rootfs", readonly=True),
        process=Process(
            terminal=terminal,
            user=User(uid=0, gid=0),
            args=args,
            env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"),
            cwd="/",
            capabilities=caps,
            rlimits=(Rlimit(type="RLIMIT_NOFILE", hard=1024, soft=1024),),
            no_new_privileges=True,
        ),
        hostname="berth",
        mounts=mounts,
        linux=Linux(
            resources=Resources(devices=(DeviceRule(allow=False, access="rwm"),)),
            namespaces=namespaces,
            masked_paths=MASKED_PATHS,
            readonly_paths=READONLY_PATHS,
        ),
    )


def rootless_spec(spec: Spec, uid: int, gid: int) -> Spec:
    """`spec --rootless`, as runc makes it: a user namespace mapping root to the caller's ids
    alone, the host's network namespace (nothing could configure a new one), /sys bound from the
    host (a sysfs needs a network namespace of the user namespace's), no gid= or uid= mount
    options (ids the namespace does not map), no cgroup limits."""
    linux = spec.linux
    namespaces = tuple(n for n in linux.namespaces if n.type != "network") + (Namespace(type="user"),)
    mounts = []
    for m in spec.mounts:
        if m.destination == "/sys":
            m = Mount(
                destination="/sys", type="none", source="/sys", options=("rbind", "nosuid", "noexec", "nodev", "ro")
            )
        else:
            m = m.replace(options=tuple(o for o in m.options if not o.startswith(("gid=", "uid="))))
        mounts.append(m)
    return spec.replace(mounts=tuple(mounts), linux=linux.replace(
        namespaces=namespaces, resources=None,
        uid_mappings=(IDMapping(container_id=0, host_id=uid, size=1),),
        gid_mappings=(IDMapping(container_id=0, host_id=gid, size=1),)))  # fmt: skip
