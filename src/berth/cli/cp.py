"""`berth cp [-a] CONTAINER:SRC DEST|-` and `berth cp SRC|- CONTAINER:DEST`: files in and out of a
container (berth.engine.container_files); `-` streams a tar archive; -a keeps the owners."""

from __future__ import annotations

import sys

from berth.argv import BOOL, Option, parse
from berth.engine import container_files as files
from berth.errors import InvalidArgument

OPTIONS = [Option("archive,a", BOOL, help="archive mode (copy all uid/gid information)"),
           Option("quiet,q", BOOL, help="suppress progress output")]  # fmt: skip


def _split(arg: str) -> tuple[str, str] | None:
    """CONTAINER:PATH -> (container, path); a local path (with a / before any colon) -> None."""
    head, sep, tail = arg.partition(":")
    if not sep or "/" in head or not head:
        return None
    return head, tail or "/"


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 2:
        raise InvalidArgument(
            '"cp" requires exactly 2 arguments: CONTAINER:SRC_PATH DEST_PATH|- or SRC_PATH|- CONTAINER:DEST_PATH'
        )
    src, dst = _split(args[0]), _split(args[1])
    if (src is None) == (dst is None):
        raise InvalidArgument("copying between containers is not supported" if src else
                              "must specify at least one container source")  # fmt: skip
    if src is not None:
        if args[1] == "-":
            files.archive_out(engine, *src, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            files.copy_out(engine, *src, args[1])
    elif args[0] == "-":
        files.archive_in(engine, sys.stdin.buffer, *dst, opts["archive"])
    else:
        files.copy_in(engine, args[0], *dst, opts["archive"])
    return 0
