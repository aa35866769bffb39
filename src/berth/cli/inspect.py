"""`berth inspect` (containers, then images) and `berth container inspect`."""

from __future__ import annotations

import sys

from berth.argv import STR, Option, parse
from berth.cli.gotemplate import format_documents
from berth.errors import BerthError, InvalidArgument, NotFound

OPTIONS = [Option("format,f", STR, ""), Option("type", STR, ""), Option("size,s", STR, "")]


def main(engine, argv: list[str], kind: str = "") -> int:
    opts, refs = parse(argv, OPTIONS, interspersed=True)
    if not refs:
        raise InvalidArgument('"inspect" requires at least 1 argument.')
    kind = kind or opts["type"]
    found, failed = [], []
    for ref in refs:
        try:
            if kind != "image":
                try:
                    found.append(engine.inspect(ref))
                    continue
                except NotFound:
                    if kind == "container":
                        raise
            found.append(engine.images.inspect(ref))
        except BerthError:
            failed.append(f"Error: No such object: {ref}")
    sys.stdout.write(format_documents(opts["format"], found))
    for message in failed:
        sys.stderr.write(message + "\n")
    return 1 if failed else 0


def container(engine, argv: list[str]) -> int:
    return main(engine, argv, "container")
