"""`berth system prune [-a] [-f]`: stopped containers, dangling (with -a: unused)
images, the blobs and snapshots only they held, and the build cache."""

from __future__ import annotations

import sys

from berth.argv import BOOL, LIST, Option, parse
from berth.cli import human
from berth.errors import InvalidArgument

OPTIONS = [Option("all,a", BOOL, help="remove all unused images, not just dangling ones"),
           Option("force,f", BOOL, help="do not prompt for confirmation"),
           Option("volumes", BOOL, help="berth has no named volumes yet: nothing to prune"),
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
        sys.stdout.write(f"WARNING! This will remove:\n  - all stopped containers\n  - {images}\n  - {cache}\n\n"
                         "Are you sure you want to continue? [y/N] ")  # fmt: skip
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    from berth.build.cache import Cache
    from berth.image.gc import collect, prune_images

    containers = [c.id for c in engine.list() if c.status in ("exited", "created")]
    for cid in containers:
        engine.remove(cid)
    store = engine.images
    in_use = {c.image for c in engine.list()}
    with store.lock():
        cache = Cache(store.root)
        try:
            _entries, freed = cache.prune()
        finally:
            cache.close()
    images = prune_images(store, opts["all"], in_use)
    freed += collect(store)
    if containers:
        sys.stdout.write("Deleted Containers:\n" + "".join(i + "\n" for i in containers) + "\n")
    if images:
        sys.stdout.write("Deleted Images:\n" + "".join(f"deleted: {i}\n" for i in images) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human.size(freed)}\n")
    return 0
