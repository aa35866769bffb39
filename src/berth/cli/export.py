"""`berth export [-o FILE] CONTAINER`: the container's file system as a tar archive."""

from __future__ import annotations

import sys
import tarfile

from berth.argv import STR, Option, parse
from berth.errors import InvalidArgument

OPTIONS = [Option("output,o", STR, "", help="write to a file, instead of STDOUT")]


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"export" requires exactly 1 argument: CONTAINER')
    c = engine.get(args[0])
    if not opts["output"] and sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    from berth.snapshot.diff import add_entry, walk

    target = engine.rootfs(c)
    out = open(opts["output"], "wb") if opts["output"] else sys.stdout.buffer
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            hardlinks: dict = {}
            for rel, _ in walk(target):
                add_entry(tar, target, rel, hardlinks)
    finally:
        if opts["output"]:
            out.close()
    return 0
