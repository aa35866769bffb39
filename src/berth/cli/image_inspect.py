"""`berth image inspect`: Docker's JSON shape, or -f/--format with a Go template."""

from __future__ import annotations

import sys

from berth.argv import STR, Option, parse
from berth.cli.gotemplate import format_documents
from berth.errors import BerthError, InvalidArgument

OPTIONS = [Option("format,f", STR, "", help="Go template, or json")]


def main(engine, argv: list[str]) -> int:
    opts, names = parse(argv, OPTIONS, interspersed=True)
    if not names:
        raise InvalidArgument('"inspect" requires at least 1 argument.')
    found, failed = [], []
    for name in names:
        try:
            found.append(engine.images.inspect(name))
        except BerthError as e:
            failed.append(str(e))
    sys.stdout.write(format_documents(opts["format"], found))
    for message in failed:
        sys.stderr.write(f"Error: {message}\n")
    return 1 if failed else 0
