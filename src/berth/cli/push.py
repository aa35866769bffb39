"""`berth push [-q] [--tls-verify=false] NAME[:TAG]`."""

from __future__ import annotations

import sys

from berth.argv import BOOL, Option, parse
from berth.cli.pull import Lines
from berth.errors import InvalidArgument

OPTIONS = [
    Option("quiet,q", BOOL, help="suppress verbose output"),
    Option("tls-verify", BOOL, True, help="require HTTPS and verify certificates (false: allow an insecure registry)"),
    Option("all-tags,a", BOOL, help="not supported yet: push one tag at a time"),
]


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"push" requires exactly 1 argument: NAME[:TAG]')
    if opts["all_tags"]:
        raise InvalidArgument("push --all-tags is not supported yet: push each tag")
    engine.images.push(args[0], Lines(sys.stdout, opts["quiet"]), tls_verify=opts["tls_verify"])
    if opts["quiet"]:
        sys.stdout.write(f"{args[0]}\n")
    return 0
