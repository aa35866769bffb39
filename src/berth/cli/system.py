"""`berth system prune [-a] [-f]`: stopped containers, dangling (with -a: unused)
images, the blobs and snapshots only they held, and the build cache."""

from __future__ import annotations

import sys

from berth.argv import BOOL, LIST, Option, parse
from berth.cli import human
from berth.errors import InvalidArgument

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
    from berth.engine.system import prune as prune_all

    done = prune_all(engine, opts["all"], opts["volumes"])
    if done.containers:
        sys.stdout.write("Deleted Containers:\n" + "".join(i + "\n" for i in done.containers) + "\n")
    if done.networks:
        sys.stdout.write("Deleted Networks:\n" + "".join(n + "\n" for n in done.networks) + "\n")
    if done.images:
        sys.stdout.write("Deleted Images:\n" + "".join(f"deleted: {i}\n" for i in done.images) + "\n")
    if done.volumes:
        sys.stdout.write("Deleted Volumes:\n" + "".join(f"{v}\n" for v in done.volumes) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human.size(done.reclaimed)}\n")
    return 0


def df(engine, argv: list[str]) -> int:
    """`berth system df`: Docker's table of what the store holds and what could be reclaimed."""
    from berth.engine.system import disk_usage
    from berth.tables import render

    opts, args = parse(argv, [Option("format", LIST)], interspersed=True)
    if args:
        raise InvalidArgument('"system df" accepts no arguments.')
    usage = disk_usage(engine)

    def pct(part: float, whole: float) -> str:
        return f"{human.size(part)} ({int(part * 100 / whole) if whole else 0}%)"

    rows = [["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]]
    for kind, u in (("Images", usage.images), ("Containers", usage.containers), ("Local Volumes", usage.volumes)):
        rows.append([kind, str(u.total), str(u.active), human.size(u.size), pct(u.reclaimable, u.size)])
    cache = usage.build_cache
    rows.append(["Build Cache", str(cache.total), "0", human.size(cache.size), human.size(cache.reclaimable)])
    sys.stdout.write(render(rows, min_width=10, padding=3))
    return 0


def info(engine, argv: list[str]) -> int:
    """`berth info [--format json]`: the engine and the host, in Docker's shape."""
    from berth import __version__, fastjson
    from berth.argv import STR
    from berth.engine.system import info as engine_info

    opts, args = parse(argv, [Option("format,f", STR, "")], interspersed=True)
    if args:
        raise InvalidArgument('"info" accepts no arguments.')
    doc = engine_info(engine)
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
             f" Cgroup Driver: {doc['CgroupDriver']}", f" Cgroup Version: {doc['CgroupVersion']}",
             f" Runtimes: {' '.join(doc['Runtimes'])}", f" Default Runtime: {doc['DefaultRuntime']}", " Security Options:",
             "  seccomp", "   Profile: builtin", f" Kernel Version: {doc['KernelVersion']}", f" Operating System: {doc['OperatingSystem']}",
             " OSType: linux", f" Architecture: {doc['Architecture']}", f" CPUs: {doc['NCPU']}",
             f" Total Memory: {doc['MemTotal'] / (1 << 30):.2f}GiB", f" Name: {doc['Name']}",
             f" Berth Root Dir: {engine.root}"]  # fmt: skip
    ns = doc["UserNamespaces"]
    lines[lines.index("   Profile: builtin") + 1 : lines.index("   Profile: builtin") + 1] = [
        f"  {o.removeprefix('name=')}" for o in doc["SecurityOptions"][1:]]  # fmt: skip
    lines += [" User Namespaces:", f"  Rootless: {str(ns['Rootless']).lower()}",
              f"  Engine's uid map: {', '.join(ns['UidMap'])}", f"  Remap: {ns['Remap'] or 'none'}",
              f"  Auto: user {ns['AutoUser']}, ranges {', '.join(ns['AutoRanges']) or 'none'}",
              f"  Layers: {ns['Layers']}"]  # fmt: skip
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
