"""`berth load [-i FILE] [-q]`: a docker- or oci-archive, from a file or STDIN."""

from __future__ import annotations

import sys

from berth.argv import BOOL, STR, Option, parse
from berth.errors import InvalidArgument, NotFound
from berth.image.archive import load
from berth.oci import reference

OPTIONS = [Option("input,i", STR, "", help="read from a tar archive file instead of STDIN"),
           Option("quiet,q", BOOL, help="suppress the load output")]  # fmt: skip


def main(store, argv: list[str]) -> int:
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
        loaded = load(store, stream)
    if not opts["quiet"]:
        for image, names in loaded:
            if names:
                for n in names:
                    ref = reference.parse(n)
                    sys.stdout.write(f"Loaded image: {ref.familiar_name()}:{ref.tag}\n")
            else:
                sys.stdout.write(f"Loaded image ID: {image.id}\n")
    return 0
