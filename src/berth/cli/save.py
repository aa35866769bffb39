"""`berth save [-o FILE] [--format docker-archive|oci-archive] IMAGE...`."""

from __future__ import annotations

import os
import sys

from berth.argv import STR, Option, parse
from berth.errors import InvalidArgument

OPTIONS = [Option("output,o", STR, "", help="write to a file instead of STDOUT"),
           Option("format", STR, "docker-archive", help="docker-archive or oci-archive")]  # fmt: skip


def main(engine, argv: list[str]) -> int:
    opts, names = parse(argv, OPTIONS, interspersed=True)
    if not names:
        raise InvalidArgument('"save" requires at least 1 argument.')
    for name in names:
        engine.images.get(name)  # fail before writing anything, the file included
    if opts["output"]:
        target = opts["output"]
        tmp = f"{target}.tmp.{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                engine.images.save(names, f, opts["format"])
            os.rename(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return 0
    if os.isatty(1):
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    engine.images.save(names, sys.stdout.buffer, opts["format"])
    sys.stdout.buffer.flush()
    return 0
