"""`berth images` / `berth image ls`: Docker's columns, -a, -q, --digests,
--no-trunc, --filter reference=|dangling=|label=|before=|since=, --format json.

`-a` is accepted and changes nothing: berth keeps no intermediate images (a
build's steps live in its cache), so every image is already listed."""

from __future__ import annotations

import sys

from berth import fastjson
from berth.argv import BOOL, LIST, STR, Option, parse
from berth.cli import human
from berth.errors import InvalidArgument
from berth.oci import reference
from berth.tables import render

OPTIONS = [
    Option("all,a", BOOL, help="show all images"),
    Option("quiet,q", BOOL, help="only show image IDs"),
    Option("digests", BOOL, help="show digests"),
    Option("no-trunc", BOOL, help="do not truncate output"),
    Option("filter,f", LIST, help="filter output (reference=, dangling=, label=, before=, since=)"),
    Option("format", STR, "", help="'json', 'table', or a Go template ('table TEMPLATE' with headers)"),
]


def _filters(store, given: list[str]) -> dict[str, list[str]]:
    """Docker's rules: one key given twice is either value (labels: both), different keys all hold."""
    filters: dict[str, list[str]] = {}
    for item in given:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        if key not in ("reference", "dangling", "label", "before", "since"):
            raise InvalidArgument(f"invalid filter '{key}'")
        if key == "dangling" and value not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")
        if key in ("before", "since"):
            value = store.get(value).created  # No such image: ... for an unknown one
        filters.setdefault(key, []).append(value)
    return filters


def _keep(store, image, ref, filters: dict[str, list[str]]) -> bool:
    if "reference" in filters and not any(_matches(p, ref) for p in filters["reference"]):
        return False
    if "dangling" in filters and (filters["dangling"][-1] in ("true", "1")) != (ref is None):
        return False
    if "before" in filters and not all(
        human.parse_time(image.created) < human.parse_time(t) for t in filters["before"]
    ):
        return False
    if "since" in filters and not all(human.parse_time(image.created) > human.parse_time(t) for t in filters["since"]):
        return False
    if "label" in filters:
        config = store.config(image).config
        labels = (config.labels if config else None) or {}
        for want in filters["label"]:
            key, sep, value = want.partition("=")
            if key not in labels or (sep and labels[key] != value):
                return False
    return True


def rows(store, opts: dict, match: str | None) -> list[dict]:
    filters = _filters(store, opts["filter"])
    out = []
    for image in store.list():
        names = [reference.parse(t) for t in image.tags] or [None]
        for ref in names:
            if ref is None:
                repo, tag = "<none>", "<none>"
            else:
                repo, tag = ref.familiar_name(), ref.tag
            if match and not _matches(match, ref):
                continue
            if not _keep(store, image, ref, filters):
                continue
            full = image.id
            out.append({
                "Containers": "N/A", "CreatedAt": image.created, "CreatedSince": human.since(image.created),
                "Digest": "<none>" if ref is None else image.manifest, "ID": full if opts["no_trunc"] else full[7:19],
                "Repository": repo, "SharedSize": "N/A", "Size": human.size(image.size), "Tag": tag,
                "UniqueSize": "N/A", "VirtualSize": human.size(image.size),
            })  # fmt: skip
    return out


def _matches(pattern: str, ref) -> bool:
    if ref is None:
        return False
    import fnmatch

    name = ref.familiar_name()
    pattern_name, _, pattern_tag = pattern.partition(":")
    return fnmatch.fnmatchcase(name, pattern_name) and (not pattern_tag or fnmatch.fnmatchcase(ref.tag, pattern_tag))


# the header docker prints for each field in a `table` template
HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
           "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE"}  # fmt: skip


def main(store, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) > 1:
        raise InvalidArgument('"images" requires at most 1 argument.')
    table = rows(store, opts, args[0] if args else None)
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
