"""`berth image prune [-a] [-f]`: remove unused images and what only they held."""

from __future__ import annotations

import sys

from berth.argv import BOOL, LIST, Option, parse
from berth.cli import human
from berth.errors import InvalidArgument

OPTIONS = [Option("all,a", BOOL, help="remove all unused images, not just dangling ones"),
           Option("force,f", BOOL, help="do not prompt for confirmation"),
           Option("filter", LIST, help="not supported yet")]  # fmt: skip


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if args:
        raise InvalidArgument('"image prune" accepts no arguments.')
    if opts["filter"]:
        raise InvalidArgument("image prune --filter is not supported yet")
    if not opts["force"]:
        what = "all images without at least one container associated to them" if opts["all"] else "all dangling images"
        if not human.confirm(f"This will remove {what}."):
            return 0
    gone, freed = engine.images.prune(opts["all"])
    if gone:
        sys.stdout.write("Deleted Images:\n" + "".join(f"deleted: {i}\n" for i in gone) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human.size(freed)}\n")
    return 0
