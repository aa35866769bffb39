"""`berth save [-o FILE] [--format docker-archive|oci-archive] IMAGE...`."""

from __future__ import annotations

import os
import sys

from berth.argv import STR, Option, parse
from berth.errors import InvalidArgument
from berth.image.archive import DOCKER, save

OPTIONS = [Option("output,o", STR, "", help="write to a file instead of STDOUT"),
           Option("format", STR, DOCKER, help="docker-archive or oci-archive")]  # fmt: skip


def main(store, argv: list[str]) -> int:
    opts, names = parse(argv, OPTIONS, interspersed=True)
    if not names:
        raise InvalidArgument('"save" requires at least 1 argument.')
    for name in names:
        store.get(name)  # fail before writing anything
    if opts["output"]:
        target = opts["output"]
        tmp = f"{target}.tmp.{os.getpid()}"
        try:
            with open(tmp, "wb") as f:
                save(store, names, f, opts["format"])
            os.rename(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return 0
    if os.isatty(1):
        raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    save(store, names, sys.stdout.buffer, opts["format"])
    sys.stdout.buffer.flush()
    return 0
