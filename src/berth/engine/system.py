"""The engine as a whole: system prune, disk usage and info, for every front end."""

from __future__ import annotations

import os

from berth.errors import BerthError
from berth.fs import tree_size
from berth.oci.record import record


@record
class Pruned:
    containers: tuple[str, ...]
    networks: tuple[str, ...]
    images: tuple[str, ...]
    volumes: tuple[str, ...]
    reclaimed: int


@record
class Usage:
    """One row of `system df`: how many, how many in use, their size, what removing the unused frees."""

    total: int
    active: int
    size: int
    reclaimable: int


@record
class DiskUsage:
    images: Usage
    containers: Usage
    volumes: Usage
    build_cache: Usage


def prune(engine, everything: bool = False, volumes: bool = False) -> Pruned:
    """Stopped containers, networks no container uses, dangling images (with everything: unused),
    the build cache, and with volumes the anonymous volumes no container uses."""
    containers = [c.id for c in engine.prunable()]
    for cid in containers:
        engine.remove(cid)
    from berth.engine import networks as networks_

    engine.networking.collect()  # what killed monitors left
    networks = networks_.prune(engine)
    reclaimed = engine.images.prune_build_cache()
    images, freed = engine.images.prune(everything)
    reclaimed += freed
    gone: list[str] = []
    if volumes:
        from berth.engine.volumes import prune as prune_volumes

        gone, freed = prune_volumes(engine)
        reclaimed += freed
    return Pruned(containers=tuple(containers), networks=tuple(networks), images=tuple(images), volumes=tuple(gone),
                  reclaimed=reclaimed)  # fmt: skip


def disk_usage(engine) -> DiskUsage:
    from berth.build.cache import Cache

    store = engine.store
    containers = engine.list()
    used = {c.image for c in containers}
    images = store.list()
    sizes = {c.id: engine.writable_size(c) for c in containers}
    running = {c.id for c in containers if c.status == "running"}  # each status is three files and /proc
    cache = Cache(store.root)
    try:
        steps = cache.db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
    finally:
        cache.close()
    cache_size = tree_size(os.path.join(store.root, "build", "mounts"))
    vols = engine.volumes.list()
    vol_sizes = {v["Name"]: tree_size(v["Mountpoint"]) for v in vols}
    unused_vols = [v["Name"] for v in vols if not engine.volume_users(v["Name"])]
    return DiskUsage(
        images=Usage(total=len(images), active=len([i for i in images if i.id in used]),
                     size=sum(i.size for i in images), reclaimable=sum(i.size for i in images if i.id not in used)),
        containers=Usage(total=len(containers), active=len(running), size=sum(sizes.values()),
                         reclaimable=sum(size for cid, size in sizes.items() if cid not in running)),
        volumes=Usage(total=len(vols), active=len(vols) - len(unused_vols), size=sum(vol_sizes.values()),
                      reclaimable=sum(vol_sizes[n] for n in unused_vols)),
        build_cache=Usage(total=steps, active=0, size=cache_size, reclaimable=cache_size),
    )  # fmt: skip


def long_running() -> None:
    """For a server's process: few malloc arenas, so that a burst of client threads does not keep
    tens of MiB once it is over."""
    from berth.linux.memory import limit_arenas

    limit_arenas(2)


def name_thread(name: str) -> None:
    """This thread's name for ps and /proc (a server's workers, told apart from the rest)."""
    from berth.linux.prctl import set_thread_name

    set_thread_name(name)


def idle() -> None:
    """A server with no client: what its allocator holds free goes back to the kernel."""
    from berth.linux.memory import trim

    trim()


def info(engine) -> dict:
    """Docker's /info document, with what berth has."""
    from berth import __version__
    from berth.engine import runtimes

    containers = engine.list()
    states = [c.status for c in containers]
    paused = sum(1 for c in containers if c.status == "running" and c.paused)
    with open("/proc/self/mountinfo") as f:
        mounts = f.read()
    cgroup_version = "2" if " - cgroup2 " in mounts and " - cgroup " not in mounts else "1"
    u = os.uname()
    return {
        "Containers": len(containers), "ContainersRunning": states.count("running") - paused,
        "ContainersPaused": paused, "ContainersStopped": len(containers) - states.count("running"),
        "Images": len(engine.store.list()), "ServerVersion": __version__,
        "Driver": "overlay" if engine.store.snapshotter.whiteouts_as_devices else "copy",
        "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version, "DefaultRuntime": runtimes.default_name(),
        "Runtimes": {name: {"path": path} for name, path in runtimes.available().items()},
        "SecurityOptions": ["name=seccomp,profile=builtin", *_userns_options()], "KernelVersion": u.release,
        "OperatingSystem": _os_name(), "OSType": "linux", "Architecture": u.machine, "NCPU": os.cpu_count(),
        "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "Name": u.nodename,
        "DockerRootDir": engine.root,
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "UserNamespaces": _user_namespaces(),
    }  # fmt: skip


def _userns_options() -> list[str]:
    from berth.engine import rootless, userns

    out = ["name=rootless"] if rootless.active() else []
    try:
        if not out and userns.settings()[0]:
            out.append("name=userns")
    except BerthError:
        pass
    return out


def _user_namespaces() -> dict:
    """berth's own: rootless or not, the ids this engine runs as (its uid map), daemon.json's
    remap and auto user with that user's subordinate ranges, how layers reach a mapped container."""
    from berth.engine import rootless, userns

    with open("/proc/self/uid_map") as f:
        own = [" ".join(line.split()) for line in f if line.strip()]
    try:
        remap, auto = userns.settings()
    except BerthError as e:
        remap, auto = f"(daemon.json: {e})", userns.AUTO_USER
    return {"Rootless": rootless.active(), "UidMap": own, "Remap": remap, "AutoUser": auto,
            "AutoRanges": [f"{first}:{count}" for first, count in userns.subordinate(auto, userns.SUBUID)],
            "Layers": "chowned copies of the image's layers, one per maps, kept (a user cannot idmap the host's "
                      "file system)" if rootless.active() else "idmapped mounts of the image's layers (no copies; "
                      "chowned copies where the kernel refuses)"}  # fmt: skip


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"
