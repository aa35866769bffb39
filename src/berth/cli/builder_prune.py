"""`berth builder prune [-a] [-f]`: forget the build cache and remove its cache mounts.

The layers the cache pointed at stay until `image prune` finds nothing else uses them."""

from __future__ import annotations

import sys

from berth.argv import BOOL, Option, parse
from berth.build.cache import Cache
from berth.cli import human
from berth.errors import InvalidArgument

OPTIONS = [Option("all,a", BOOL, help="remove all build cache (the only kind berth keeps)"),
           Option("force,f", BOOL, help="do not prompt for confirmation")]  # fmt: skip


def main(store, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if args:
        raise InvalidArgument('"builder prune" accepts no arguments.')
    if not opts["force"] and not human.confirm("This will remove all dangling build cache."):
        return 0
    sys.stdout.write(f"Total:\t{human.size(forget(store))}\n")
    return 0


def forget(store) -> int:
    """Forget the build cache and remove its cache mounts; the bytes freed."""
    with store.lock():
        cache = Cache(store.root)
        try:
            return cache.prune()[1]
        finally:
            cache.close()
