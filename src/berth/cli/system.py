"""`berth system prune [-a] [-f]`: stopped containers, dangling (with -a: unused)
images, the blobs and snapshots only they held, and the build cache."""

from __future__ import annotations

import sys

from berth.argv import BOOL, LIST, Option, parse
from berth.cli import human
from berth.errors import BerthError, InvalidArgument
from berth.fs import tree_size

OPTIONS = [Option("all,a", BOOL, help="remove all unused images, not just dangling ones"),
           Option("force,f", BOOL, help="do not prompt for confirmation"),
           Option("volumes", BOOL, help="prune anonymous volumes too"),
           Option("filter", LIST, help="not supported yet")]  # fmt: skip


def prune(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if args:
        raise InvalidArgument('"system prune" accepts no arguments.')
    if opts["filter"]:
        raise InvalidArgument("system prune --filter is not supported yet")
    if not opts["force"]:
        images = (
            "all images without at least one container associated to them" if opts["all"] else "all dangling images"
        )
        cache = "all build cache" if opts["all"] else "unused build cache"
        if not human.confirm(
            f"This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - {images}\n  - {cache}\n"
        ):
            return 0
    from berth.cli.builder_prune import forget
    from berth.image.gc import collect, prune_images

    containers = [c.id for c in engine.list() if c.status in ("exited", "created")]
    for cid in containers:
        engine.remove(cid)
    networks = [n.name for n in engine.networking.store.list() if not n.is_default and not engine.network_users(n.id)]
    for name in networks:
        engine.networking.remove(name)
    engine.networking.collect()  # what killed monitors left
    engine.networking.retire_default()
    store = engine.images
    in_use = {c.image for c in engine.list()}
    freed = forget(store)
    images = prune_images(store, opts["all"], in_use)
    freed += collect(store)
    volumes = []
    if opts["volumes"]:
        for v in engine.volumes.list():
            if v["Anonymous"] and not engine.volume_users(v["Name"]):
                freed += tree_size(v["Mountpoint"])
                engine.volumes.remove(v["Name"], [])
                volumes.append(v["Name"])
    if containers:
        sys.stdout.write("Deleted Containers:\n" + "".join(i + "\n" for i in containers) + "\n")
    if networks:
        sys.stdout.write("Deleted Networks:\n" + "".join(n + "\n" for n in networks) + "\n")
    if images:
        sys.stdout.write("Deleted Images:\n" + "".join(f"deleted: {i}\n" for i in images) + "\n")
    if volumes:
        sys.stdout.write("Deleted Volumes:\n" + "".join(f"{v}\n" for v in volumes) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human.size(freed)}\n")
    return 0


def df(engine, argv: list[str]) -> int:
    """`berth system df`: Docker's table of what the store holds and what could be reclaimed."""
    import os

    from berth.build.cache import Cache
    from berth.tables import render

    opts, args = parse(argv, [Option("format", LIST)], interspersed=True)
    if args:
        raise InvalidArgument('"system df" accepts no arguments.')
    store = engine.images
    containers = engine.list()
    used = {c.image for c in containers}
    images = store.list()
    image_size = sum(i.size for i in images)
    unused_size = sum(i.size for i in images if i.id not in used)
    sn = store.snapshotter
    sizes = {}
    for c in containers:
        try:
            sizes[c.id] = tree_size(sn.fs(sn.stat(c.id)))
        except BerthError:
            sizes[c.id] = 0
    stopped = sum(sizes[c.id] for c in containers if c.status != "running")
    cache = Cache(store.root)
    try:
        steps = cache.db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
    finally:
        cache.close()
    cache_size = tree_size(os.path.join(store.root, "build", "mounts"))
    vols = engine.volumes.list()
    unused_vols = [v for v in vols if not engine.volume_users(v["Name"])]
    vol_size = sum(tree_size(v["Mountpoint"]) for v in vols)
    unused_vol_size = sum(tree_size(v["Mountpoint"]) for v in unused_vols)

    def pct(part: float, whole: float) -> str:
        return f"{human.size(part)} ({int(part * 100 / whole) if whole else 0}%)"

    rows = [["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
            ["Images", str(len(images)), str(len([i for i in images if i.id in used])), human.size(image_size),
             pct(unused_size, image_size)],
            ["Containers", str(len(containers)), str(len([c for c in containers if c.status == "running"])),
             human.size(sum(sizes.values())), pct(stopped, sum(sizes.values()))],
            ["Local Volumes", str(len(vols)), str(len(vols) - len(unused_vols)), human.size(vol_size),
             pct(unused_vol_size, vol_size)],
            ["Build Cache", str(steps), "0", human.size(cache_size), human.size(cache_size)]]  # fmt: skip
    sys.stdout.write(render(rows, min_width=10, padding=3))
    return 0


def info(engine, argv: list[str]) -> int:
    """`berth info [--format json]`: the engine and the host, in Docker's shape."""
    import os

    from berth import __version__, fastjson
    from berth.argv import STR

    opts, args = parse(argv, [Option("format,f", STR, "")], interspersed=True)
    if args:
        raise InvalidArgument('"info" accepts no arguments.')
    containers = engine.list()
    states = [c.status for c in containers]
    paused = sum(1 for c in containers if c.status == "running" and c.paused)
    mounts = open("/proc/self/mountinfo").read()
    cgroup_version = "2" if " - cgroup2 " in mounts and " - cgroup " not in mounts else "1"
    pretty = "Linux"
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    u = os.uname()
    from berth.engine import runtimes

    known = runtimes.available()
    doc = {
        "Containers": len(containers), "ContainersRunning": states.count("running") - paused,
        "ContainersPaused": paused, "ContainersStopped": len(containers) - states.count("running"),
        "Images": len(engine.images.list()), "ServerVersion": __version__,
        "Driver": "overlay" if engine.images.snapshotter.whiteouts_as_devices else "copy",
        "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version, "DefaultRuntime": runtimes.default_name(),
        "Runtimes": {name: {"path": path} for name, path in known.items()},
        "SecurityOptions": ["name=seccomp,profile=builtin"], "KernelVersion": u.release, "OperatingSystem": pretty,
        "OSType": "linux", "Architecture": u.machine, "NCPU": os.cpu_count(),
        "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "Name": u.nodename,
        "DockerRootDir": engine.root,
    }  # fmt: skip
    if opts["format"] == "json":
        sys.stdout.write(fastjson.dumps(doc) + "\n")
        return 0
    if opts["format"]:
        from berth.cli.gotemplate import render as template

        sys.stdout.write(template(opts["format"], doc) + "\n")
        return 0
    lines = ["Client:", f" Version:    {__version__}", "", "Server:",
             f" Containers: {doc['Containers']}", f"  Running: {doc['ContainersRunning']}",
             f"  Paused: {doc['ContainersPaused']}", f"  Stopped: {doc['ContainersStopped']}",
             f" Images: {doc['Images']}", f" Server Version: berth {__version__}", f" Storage Driver: {doc['Driver']}",
             f" Cgroup Driver: {doc['CgroupDriver']}", f" Cgroup Version: {cgroup_version}",
             f" Runtimes: {' '.join(known)}", f" Default Runtime: {doc['DefaultRuntime']}", " Security Options:",
             "  seccomp", "   Profile: builtin", f" Kernel Version: {u.release}", f" Operating System: {pretty}",
             " OSType: linux", f" Architecture: {u.machine}", f" CPUs: {doc['NCPU']}",
             f" Total Memory: {doc['MemTotal'] / (1 << 30):.2f}GiB", f" Name: {u.nodename}",
             f" Berth Root Dir: {engine.root}"]  # fmt: skip
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
