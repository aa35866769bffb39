"""`berth history IMAGE`: Docker's columns, newest first."""

from __future__ import annotations

import sys

from berth.argv import BOOL, Option, parse
from berth.cli import human
from berth.errors import InvalidArgument
from berth.tables import render

OPTIONS = [Option("no-trunc", BOOL), Option("quiet,q", BOOL), Option("human,H", BOOL, default=True)]


def main(engine, argv: list[str]) -> int:
    opts, names = parse(argv, OPTIONS, interspersed=True)
    if len(names) != 1:
        raise InvalidArgument('"history" requires exactly 1 argument.')
    rows = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]]
    for h in engine.images.history(names[0]):
        image_col = h.id[7:19] if h.id.startswith("sha256:") and not opts["no_trunc"] else h.id
        created_by = h.created_by if opts["no_trunc"] or len(h.created_by) <= 45 else h.created_by[:44] + "…"
        rows.append([image_col, human.since(h.created), created_by, human.size(h.size), h.comment])
    if opts["quiet"]:
        sys.stdout.write("".join(r[0] + "\n" for r in rows[1:]))
    else:
        sys.stdout.write(render(rows, min_width=10, padding=3))
    return 0
