"""`berth export [-o FILE] CONTAINER`: the container's file system as a tar archive."""

from __future__ import annotations

import sys

from berth.argv import STR, Option, parse
from berth.errors import InvalidArgument

OPTIONS = [Option("output,o", STR, "", help="write to a file, instead of STDOUT")]


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"export" requires exactly 1 argument: CONTAINER')
    engine.get(args[0])  # No such container before a file is made
    if not opts["output"] and sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    from berth.engine.container_files import export

    out = open(opts["output"], "wb") if opts["output"] else sys.stdout.buffer
    try:
        export(engine, args[0], out)
    finally:
        if opts["output"]:
            out.close()
        else:
            out.flush()
    return 0
