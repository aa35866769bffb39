"""`berth images` / `berth image ls`: Docker's columns, -a, -q, --digests,
--no-trunc, --filter reference=|dangling=|label=|before=|since=, --format json.

`-a` is accepted and changes nothing: berth keeps no intermediate images (a
build's steps live in its cache), so every image is already listed."""

from __future__ import annotations

import sys

from berth import fastjson
from berth.argv import BOOL, LIST, STR, Option, filters, parse
from berth.cli import human
from berth.errors import InvalidArgument
from berth.tables import render

OPTIONS = [
    Option("all,a", BOOL, help="show all images"),
    Option("quiet,q", BOOL, help="only show image IDs"),
    Option("digests", BOOL, help="show digests"),
    Option("no-trunc", BOOL, help="do not truncate output"),
    Option("filter,f", LIST, help="filter output (reference=, dangling=, label=, before=, since=)"),
    Option("format", STR, "", help="'json', 'table', or a Go template ('table TEMPLATE' with headers)"),
]


def rows(engine, opts: dict, match: str) -> list[dict]:
    out = []
    for image in engine.images.list(filters(opts["filter"]), match):
        for repo, tag in image.names or [("<none>", "<none>")]:
            out.append({
                "Containers": "N/A", "CreatedAt": image.created, "CreatedSince": human.since(image.created),
                "Digest": "<none>" if repo == "<none>" else image.manifest,
                "ID": image.id if opts["no_trunc"] else image.id[7:19], "Repository": repo, "SharedSize": "N/A",
                "Size": human.size(image.size), "Tag": tag, "UniqueSize": "N/A", "VirtualSize": human.size(image.size),
            })  # fmt: skip
    return out


# the header docker prints for each field in a `table` template
HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
           "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE"}  # fmt: skip


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) > 1:
        raise InvalidArgument('"images" requires at most 1 argument.')
    table = rows(engine, opts, args[0] if args else "")
    if opts["quiet"]:
        seen = []
        for r in table:
            if r["ID"] not in seen:
                seen.append(r["ID"])
        sys.stdout.write("".join(i + "\n" for i in seen))
        return 0
    if opts["format"] == "json":
        sys.stdout.write("".join(fastjson.dumps(r) + "\n" for r in table))
        return 0
    if opts["format"] not in ("", "table"):
        from berth.cli.gotemplate import format_rows

        sys.stdout.write(format_rows(opts["format"], table, HEADERS))
        return 0
    header = ["REPOSITORY", "TAG"] + (["DIGEST"] if opts["digests"] else []) + ["IMAGE ID", "CREATED", "SIZE"]
    lines = [header]
    for r in table:
        lines.append(
            [r["Repository"], r["Tag"]]
            + ([r["Digest"]] if opts["digests"] else [])
            + [r["ID"], r["CreatedSince"], r["Size"]]
        )
    sys.stdout.write(render(lines, min_width=10, padding=3))
    return 0
