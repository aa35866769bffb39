"""`berth load [-i FILE] [-q]`: a docker- or oci-archive, from a file or STDIN."""

from __future__ import annotations

import sys

from berth.argv import BOOL, STR, Option, parse
from berth.errors import InvalidArgument, NotFound

OPTIONS = [Option("input,i", STR, "", help="read from a tar archive file instead of STDIN"),
           Option("quiet,q", BOOL, help="suppress the load output")]  # fmt: skip


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if args:
        raise InvalidArgument('"load" accepts no arguments.')
    if opts["input"]:
        try:
            stream = open(opts["input"], "rb")
        except FileNotFoundError:
            raise NotFound(f"open {opts['input']}: no such file or directory") from None
    else:
        if sys.stdin.isatty():
            raise InvalidArgument("requested load from stdin, but stdin is empty")
        stream = sys.stdin.buffer
    with stream:
        loaded = engine.images.load(stream)
    if not opts["quiet"]:
        for image in loaded:
            sys.stdout.write("".join(f"Loaded image: {n}\n" for n in image.names) or f"Loaded image ID: {image.id}\n")
    return 0
