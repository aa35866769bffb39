"""`berth image bootstrap busybox|bash [--tag NAME]`: base images from the host's packages."""

from __future__ import annotations

import sys

from berth.argv import STR, Option, parse
from berth.errors import InvalidArgument

OPTIONS = [Option("tag,t", STR, "", help="name the image (default KIND:latest)")]


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 1:
        raise InvalidArgument(
            f'"image bootstrap" requires exactly 1 argument: one of {", ".join(engine.images.bootstrap_kinds())}'
        )
    sys.stdout.write(engine.images.bootstrap(args[0], opts["tag"]) + "\n")
    return 0
