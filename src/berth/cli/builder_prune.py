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
    if not opts["force"]:
        sys.stdout.write(
            "WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] "
        )
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    with store.lock():
        cache = Cache(store.root)
        try:
            _entries, freed = cache.prune()
        finally:
            cache.close()
    sys.stdout.write(f"Total:\t{human.size(freed)}\n")
    return 0
