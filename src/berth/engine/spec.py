"""Create options and an image's config -> the container's OCI spec, with
Docker's defaults (capabilities, masked and read-only paths, /dev, /etc files)."""

from __future__ import annotations

import os

from berth import OCI_VERSION
from berth.engine.options import CPU_PERIOD, CreateOptions, cpu_quota
from berth.errors import InvalidArgument
from berth.oci import image_spec
from berth.oci.runtime_spec import (
    CPU,
    Capabilities,
    Device,
    DeviceRule,
    IDMapping,
    Linux,
    Memory,
    Mount,
    Namespace,
    Pids,
    Process,
    Resources,
    Rlimit,
    Root,
    Spec,
    User,
)  # fmt: skip

DOCKER_CAPS = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)  # fmt: skip
# rootless berth's: Podman's defaults, never looser than rootless Podman (no mknod, raw sockets or
# audit writes; none of them works in a user namespace of an ordinary user's anyway)
ROOTLESS_CAPS = tuple(c for c in DOCKER_CAPS if c not in ("CAP_MKNOD", "CAP_NET_RAW", "CAP_AUDIT_WRITE"))
MASKED = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)  # fmt: skip
READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def memory_resources(opts: CreateOptions) -> Memory | None:
    """Docker's: --memory-swap needs --memory and must be above it; left out, swap is as much again
    as memory (where the host accounts swap); the reservation must stay below the limit."""
    if opts.memory_swap and not opts.memory:
        raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit, see usage")
    if opts.memory_swap > 0 and opts.memory_swap < opts.memory:
        raise InvalidArgument("Minimum memoryswap limit should be larger than memory limit, see usage")
    if opts.memory and opts.memory_reservation > opts.memory:
        raise InvalidArgument("Minimum memory limit can not be less than memory reservation limit, see usage")
    if not (opts.memory or opts.memory_reservation):
        return None
    swap = opts.memory_swap or None
    if opts.memory and not opts.memory_swap and os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"):
        swap = 2 * opts.memory
    return Memory(limit=opts.memory or None, swap=swap, reservation=opts.memory_reservation or None)


def command(opts, config: image_spec.ContainerConfig | None) -> tuple[str, ...]:
    """Docker's rule: ENTRYPOINT + CMD, where --entrypoint resets CMD and a given command replaces it."""
    entrypoint = opts.entrypoint if opts.entrypoint is not None else (config.entrypoint if config else ())
    cmd = opts.command or (() if opts.entrypoint is not None else (config.cmd if config else ()))
    args = tuple(entrypoint) + tuple(cmd)
    if not args:
        raise InvalidArgument("No command specified")
    return args


def merge_env(*groups: tuple[str, ...]) -> tuple[str, ...]:
    out: dict[str, str] = {}
    for group in groups:
        for entry in group:
            key, sep, value = entry.partition("=")
            out[key] = entry if sep else f"{key}="
    return tuple(out.values())


def namespaces(opts, pid_of) -> tuple[Namespace, ...]:
    """pid_of(name) -> the init pid of another container, for container:NAME modes."""
    out = [Namespace(type="mount"), Namespace(type="cgroup")]
    for kind, mode in (("pid", opts.pid), ("ipc", opts.ipc), ("uts", opts.uts), ("network", opts.network)):
        if mode == "host":
            continue
        if mode.startswith("container:"):
            proc = {"network": "net"}.get(kind, kind)
            out.append(Namespace(type=kind, path=f"/proc/{pid_of(mode[len('container:') :])}/ns/{proc}"))
        elif kind == "network" and mode != "none":
            from berth.monitor import MONITOR_NETNS  # a bridge network: the namespace its monitor is in

            out.append(Namespace(type=kind, path=MONITOR_NETNS))
        elif mode in ("", "none", "private") or (kind == "ipc" and mode == "shareable"):
            # (shareable: docker's donor mode for --ipc container:NAME; any berth container may be one)
            out.append(Namespace(type=kind))
        else:
            raise InvalidArgument(
                f"invalid --{'net' if kind == 'network' else kind} mode {mode!r}: use host or container:NAME"
            )
    return tuple(out)


def rlimits(ulimits: tuple) -> tuple[Rlimit, ...]:
    """The container's rlimits: the Ulimits asked, and Docker's default for open files."""
    out = [Rlimit(type="RLIMIT_" + u.name.upper(), soft=u.soft, hard=u.hard) for u in ulimits]
    if not any(r.type == "RLIMIT_NOFILE" for r in out):
        # Docker 25's default: a soft limit of 1024 (select() and old programs break above it) and a
        # generous hard one, never above what berth itself may grant
        import resource

        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        hard = 524288 if hard == resource.RLIM_INFINITY else min(hard, 524288)
        out.append(Rlimit(type="RLIMIT_NOFILE", soft=min(1024, hard), hard=hard))
    return tuple(out)


def extra_mounts(opts) -> tuple[Mount, ...]:
    """tmpfs mounts and bind mounts of host paths (volumes are binds of their directories by now)."""
    import os

    out = []
    for m in opts.mounts:
        if m.type == "tmpfs":
            out.append(Mount(destination=m.target, type="tmpfs", source="tmpfs",
                             options=("noexec", "nosuid", "nodev", *m.options, *(("ro",) if m.read_only else ()))))  # fmt: skip
            continue
        if m.type != "bind":
            raise InvalidArgument(f"mount of {m.target}: a {m.type} mount was not resolved")  # the engine's own bug
        if not os.path.exists(m.source):
            raise InvalidArgument(f"invalid mount config: bind source path does not exist: {m.source}")
        out.append(Mount(destination=m.target, type="bind", source=m.source,
                         options=("rbind", "ro" if m.read_only else "rw", m.propagation or "rprivate")))  # fmt: skip
    # parents before what is under them, whatever the order asked (the API's volumes come in the
    # order of a Go map): as Docker sorts them, by the depth of their path in the container
    out.sort(key=lambda m: len([p for p in m.destination.split("/") if p]))
    return tuple(out)


INIT_PATH = "/sbin/docker-init"
INIT_CANDIDATES = (
    "/usr/bin/docker-init",
    "/usr/bin/tini-static",
    "/usr/bin/catatonit",
    "/usr/libexec/podman/catatonit",
)


def init_binary() -> str:
    """The host's static init for --init: Debian's tini-static (docker-init) or podman's catatonit."""
    import os

    for path in INIT_CANDIDATES:
        if os.path.exists(path):
            return os.path.realpath(path)
    raise InvalidArgument("--init needs a static init on the host (tini-static or catatonit): none was found")


def host_devices() -> tuple[Device, ...]:
    """--privileged: the host's device nodes under /dev (not its pseudo-terminals), as Docker adds them."""
    import os
    import stat

    out = []
    for top, dirs, files in os.walk("/dev"):
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/dev/pts", "/dev/shm", "/dev/mqueue")]
        for name in sorted(files):
            path = os.path.join(top, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                out.append(Device(type="c" if stat.S_ISCHR(st.st_mode) else "b", path=path,
                                  major=os.major(st.st_rdev), minor=os.minor(st.st_rdev),
                                  file_mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid))  # fmt: skip
    return tuple(out)


def user_devices(items: tuple) -> tuple[tuple, tuple]:
    """Docker's --device (DeviceMappings): (the devices to make, the cgroup rules allowing them)."""
    import os
    import stat

    devices, rules = [], []
    for item in items:
        host, path, access = item.path_on_host, item.path_in_container or item.path_on_host, item.permissions
        try:
            st = os.stat(host)
        except OSError as e:
            raise InvalidArgument(f'error gathering device information while adding custom device "{host}": '
                                  f"{(e.strerror or str(e)).lower()}") from None  # fmt: skip
        if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            raise InvalidArgument(
                f'error gathering device information while adding custom device "{host}": not a device node'
            )
        kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        devices.append(Device(type=kind, path=path, major=major, minor=minor, file_mode=stat.S_IMODE(st.st_mode),
                              uid=0, gid=0))  # fmt: skip
        rules.append(DeviceRule(allow=True, type=kind, major=major, minor=minor, access=access))
    return tuple(devices), tuple(rules)


def host_caps() -> tuple[str, ...]:
    """Every capability berth itself may hand on (its bounding set), as Docker's --privileged gives."""
    from berth.linux.caps import NAMES

    with open("/proc/self/status") as f:
        bounding = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return tuple(name for i, name in enumerate(NAMES) if bounding >> i & 1)


def security(opts, caps: tuple[str, ...]) -> tuple[object, bool]:
    """(the seccomp profile or None for unconfined, no_new_privileges) from --security-opt and --privileged."""
    seccomp_opt, nnp = "", False
    for item in opts.security_opt:
        key, sep, value = (
            item.replace(":", "=", 1).partition("=") if item.startswith("seccomp:") else item.partition("=")
        )
        if key == "seccomp" and sep and value:
            seccomp_opt = value
        elif key == "no-new-privileges":
            if value not in ("", "true", "false"):
                raise InvalidArgument(f"invalid --security-opt 2: {item!r}")
            nnp = value != "false"
        elif key in ("apparmor", "label") and sep:
            continue  # this host has neither AppArmor nor SELinux: nothing to apply, nothing loosened
        else:
            raise InvalidArgument(f"invalid --security-opt: {item!r} (seccomp=unconfined|PROFILE, no-new-privileges)")
    from berth.engine import seccomp

    if seccomp_opt == "unconfined" or (opts.privileged and not seccomp_opt):
        return None, nnp
    if seccomp_opt:
        from berth import fastjson

        try:
            with open(seccomp_opt, "rb") as f:
                doc = fastjson.loads(f.read())
        except OSError as e:
            raise InvalidArgument(f"opening seccomp profile ({seccomp_opt}) failed: {e.strerror}") from None
        except ValueError as e:
            raise InvalidArgument(f"decoding seccomp profile failed: {seccomp_opt}: {e}") from None
        return seccomp.docker_profile(doc, caps, seccomp_opt), nnp
    return seccomp.default_profile(caps), nnp


def build(opts, image_config: image_spec.ImageConfig, container_id: str, etc: dict[str, str], uid: int, gid: int,
          pid_of, groups: tuple[int, ...] = (), idmaps=None) -> Spec:  # fmt: skip
    """`idmaps`: the container's user namespace (berth.engine.userns.IdMappings), None for the host's."""
    config = image_config.config
    if opts.uts == "host" and opts.hostname:
        raise InvalidArgument("Conflicting options: hostname and the UTS mode")
    # the host's UTS namespace: its name is the container's, and the runtime must not set one
    hostname = os.uname().nodename if opts.uts == "host" else opts.hostname or container_id[:12]
    env = merge_env((DEFAULT_PATH,), config.env if config else (), (f"HOSTNAME={hostname}",), opts.env)
    if not any(e.startswith("HOME=") for e in env):
        env += ("HOME=/root" if uid == 0 else "HOME=/",)
    from berth.engine import rootless

    caps = ROOTLESS_CAPS if rootless.active() else DOCKER_CAPS
    if opts.privileged:
        caps = host_caps()
    caps = tuple(
        c
        for c in caps
        if "CAP_" + c.removeprefix("CAP_").upper()
        not in {"CAP_" + d.upper().removeprefix("CAP_") for d in opts.cap_drop}
    )
    if "ALL" in (d.upper() for d in opts.cap_drop):
        caps = ()
    caps += tuple("CAP_" + a.upper().removeprefix("CAP_") for a in opts.cap_add if a.upper() != "ALL")
    if "ALL" in (a.upper() for a in opts.cap_add):
        caps = host_caps()
    profile, no_new_privileges = security(opts, caps)
    devices, device_rules = user_devices(opts.devices)
    resources = Resources(
        devices=(DeviceRule(allow=True, access="rwm"),) if opts.privileged else device_rules,
        memory=memory_resources(opts),
        pids=Pids(limit=opts.pids_limit) if opts.pids_limit else None,
        cpu=CPU(
            shares=opts.cpu_shares or None,
            quota=cpu_quota(opts.cpus) if opts.cpus else None,
            period=CPU_PERIOD if opts.cpus else None,
            cpus=opts.cpuset_cpus,
            mems=opts.cpuset_mems,
        )
        if opts.cpus or opts.cpu_shares or opts.cpuset_cpus or opts.cpuset_mems
        else None,
    )
    mounts = (
        Mount(destination="/proc", type="proc", source="proc", options=("nosuid", "noexec", "nodev")),
        Mount(destination="/dev", type="tmpfs", source="tmpfs", options=("nosuid", "strictatime", "mode=755", "size=65536k")),
        Mount(destination="/dev/pts", type="devpts", source="devpts",
              options=("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")),
        Mount(destination="/sys", type="sysfs", source="sysfs",
              options=("nosuid", "noexec", "nodev", "rw" if opts.privileged else "ro")),
        Mount(destination="/sys/fs/cgroup", type="cgroup", source="cgroup",
              options=("rw" if opts.privileged else "ro", "nosuid", "noexec", "nodev")),
        Mount(destination="/dev/mqueue", type="mqueue", source="mqueue", options=("nosuid", "noexec", "nodev")),
        Mount(destination="/dev/shm", type="tmpfs", source="shm",
              options=("nosuid", "noexec", "nodev", "mode=1777", f"size={opts.shm_size or 67108864}")),
        *(Mount(destination=f"/etc/{name}", type="bind", source=path, options=("rbind", "rprivate"))
          for name, path in sorted(etc.items())),
        *extra_mounts(opts),
        *((Mount(destination=INIT_PATH, type="bind", source=init_binary(), options=("rbind", "ro")),)
          if opts.init else ()),
    )  # fmt: skip
    return Spec(
        oci_version=OCI_VERSION,
        root=Root(path="rootfs", readonly=opts.read_only),
        process=Process(
            args=((INIT_PATH, "--") if opts.init else ()) + command(opts, config),
            env=env,
            cwd=opts.workdir or (config.working_dir if config else "") or "/",
            user=User(uid=uid, gid=gid, additional_gids=groups),
            terminal=opts.tty,
            rlimits=rlimits(opts.ulimits),
            oom_score_adj=opts.oom_score_adj,
            capabilities=Capabilities(bounding=caps, effective=caps, permitted=caps),
            no_new_privileges=no_new_privileges,
        ),  # fmt: skip
        hostname="" if opts.uts == "host" or opts.uts.startswith("container:") else hostname,  # not ours to set
        mounts=mounts,
        linux=Linux(
            namespaces=namespaces(opts, pid_of) + ((Namespace(type="user", path=idmaps.path),) if idmaps else ()),
            uid_mappings=tuple(IDMapping(container_id=a, host_id=b, size=n) for a, b, n in idmaps.uid)
            if idmaps
            else (),
            gid_mappings=tuple(IDMapping(container_id=a, host_id=b, size=n) for a, b, n in idmaps.gid)
            if idmaps
            else (),
            cgroups_path=f"/{(opts.cgroup_parent or _default_cgroup_parent()).strip('/')}/{container_id}",
            resources=resources,
            sysctl=dict(opts.sysctls),
            masked_paths=opts.masked_paths if opts.masked_paths is not None else () if opts.privileged else MASKED,
            readonly_paths=opts.readonly_paths
            if opts.readonly_paths is not None
            else ()
            if opts.privileged
            else READONLY,
            seccomp=profile,
            devices=host_devices() if opts.privileged else devices,
        ),
    )


def _default_cgroup_parent() -> str:
    """berth's own cgroup; rootless, under the subtree the host delegates to the user, if any."""
    from berth.engine import rootless

    return rootless.cgroup_parent() if rootless.active() else "berth"
