"""`berth image bootstrap busybox|bash [--tag NAME]`: base images from the host's packages."""

from __future__ import annotations

import sys

from berth.argv import STR, Option, parse
from berth.errors import InvalidArgument
from berth.image.bootstrap import KINDS, bootstrap

OPTIONS = [Option("tag,t", STR, "", help="name the image (default KIND:latest)")]


def main(store, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 1:
        raise InvalidArgument(f'"image bootstrap" requires exactly 1 argument: one of {", ".join(KINDS)}')
    image = bootstrap(store, args[0], opts["tag"] or None)
    sys.stdout.write(image.id + "\n")
    return 0
