"""`berth rmi` / `berth image rm`: untag, then delete an image no name holds."""

from __future__ import annotations

import sys

from berth.argv import BOOL, Option, parse
from berth.errors import BerthError, InvalidArgument

OPTIONS = [Option("force,f", BOOL, help="remove the image even if other names hold it"),
           Option("no-prune", BOOL, help="kept for docker compatibility")]  # fmt: skip


def main(engine, argv: list[str]) -> int:
    opts, names = parse(argv, OPTIONS, interspersed=True)
    if not names:
        raise InvalidArgument('"rmi" requires at least 1 argument.')
    code = 0
    for name in names:
        try:
            done = engine.images.remove(name, opts["force"])
            sys.stdout.write("".join(f"{kind}: {what}\n" for kind, what in done))
        except BerthError as e:
            sys.stderr.write(f"Error: {e}\n")
            code = 1
    return code
