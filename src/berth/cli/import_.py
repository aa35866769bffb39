"""`berth import [-c CHANGE] [-m MESSAGE] FILE|URL|- [REPOSITORY[:TAG]]`: a root
file system tarball (plain or compressed) as a one-layer image."""

from __future__ import annotations

import sys

from berth.argv import LIST, STR, Option, parse
from berth.errors import InvalidArgument

OPTIONS = [Option("change,c", LIST, help='apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE'),
           Option("message,m", STR, "", help="commit message"),
           Option("platform", STR, "", help="only the host's platform is supported")]  # fmt: skip


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if not 1 <= len(args) <= 2:
        raise InvalidArgument('"import" requires at least 1 and at most 2 arguments: file|URL|- [REPOSITORY[:TAG]]')
    source, name = args[0], (args[1] if len(args) > 1 else "")
    stream = sys.stdin.buffer if source == "-" else None
    sys.stdout.write(engine.images.import_(source, stream, name, opts["change"], opts["message"]) + "\n")
    return 0
