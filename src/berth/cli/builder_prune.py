"""`berth builder prune [-a] [-f]`: forget the build cache and remove its cache mounts."""

from __future__ import annotations

import sys

from berth.argv import BOOL, Option, parse
from berth.cli import human
from berth.errors import InvalidArgument

OPTIONS = [Option("all,a", BOOL, help="remove all build cache (the only kind berth keeps)"),
           Option("force,f", BOOL, help="do not prompt for confirmation")]  # fmt: skip


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if args:
        raise InvalidArgument('"builder prune" accepts no arguments.')
    if not opts["force"] and not human.confirm("This will remove all dangling build cache."):
        return 0
    sys.stdout.write(f"Total:\t{human.size(engine.images.prune_build_cache())}\n")
    return 0
