"""`berth events`: what happened to containers and networks, as Docker prints it; without --until
it goes on printing new events until interrupted."""

from __future__ import annotations

import os
import sys
import time

from berth import events, fastjson
from berth.argv import LIST, STR, Option, parse
from berth.clock import rfc3339_ns
from berth.errors import InvalidArgument

FILTERS = ("type", "event", "container", "image", "network", "label")


def _matches(event: dict, filters: dict[str, list[str]]) -> bool:
    actor = event["Actor"]
    attrs = actor.get("Attributes", {})
    for key, values in filters.items():
        if key == "type" and event["Type"] not in values:
            return False
        if key == "event" and event["Action"] not in values:
            return False
        if key == "container" and (event["Type"] != "container" or not any(
                v in (attrs.get("name"), actor["ID"]) or actor["ID"].startswith(v) for v in values)):  # fmt: skip
            return False
        if key == "image" and attrs.get("image") not in values:
            return False
        if key == "network" and (
            event["Type"] != "network" or not any(v in (attrs.get("name"), actor["ID"]) for v in values)
        ):
            return False
    return True


def _line(event: dict, fmt: str) -> str:
    if fmt == "json":
        return fastjson.dumps(event)
    if fmt:
        from berth.cli.gotemplate import render

        return render(fmt, event)
    t = event["timeNano"]
    stamp = rfc3339_ns(t)
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(event["Actor"].get("Attributes", {}).items()))
    return f"{stamp} {event['Type']} {event['Action']} {event['Actor']['ID']}" + (f" ({attrs})" if attrs else "")


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("since", STR, ""), Option("until", STR, ""), Option("filter,f", LIST),
                              Option("format", STR, "")], interspersed=True)  # fmt: skip
    if args:
        raise InvalidArgument('"events" accepts no arguments.')
    from berth.cli.container_verbs import _when

    since = _when(opts["since"], "since") if opts["since"] else None
    until = _when(opts["until"], "until") if opts["until"] else None
    filters: dict[str, list[str]] = {}
    for item in opts["filter"]:
        key, sep, value = item.partition("=")
        if not sep or key not in FILTERS:
            raise InvalidArgument(f"invalid filter '{item}'")
        filters.setdefault(key, []).append(value)
    path = events.path(engine.root)

    def emit(raw: bytes) -> None:
        try:
            event = fastjson.loads(raw)
        except ValueError:
            return  # a line being written
        t = event["timeNano"] / 1e9
        if (since is None or t >= since) and (until is None or t <= until) and _matches(event, filters):
            sys.stdout.write(_line(event, opts["format"]) + "\n")
            sys.stdout.flush()

    offset = 0
    if since is not None:  # what happened before now: the older file too
        for name in (path + ".1", path):
            if os.path.exists(name):
                with open(name, "rb") as f:
                    data = f.read()
                for raw in data.splitlines():
                    emit(raw)
                if name == path:
                    offset = len(data)
    elif os.path.exists(path):
        offset = os.path.getsize(path)
    if until is not None and until <= time.time():
        return 0
    try:
        while until is None or time.time() < until:
            time.sleep(0.1)
            try:
                size = os.path.getsize(path)
            except FileNotFoundError:
                continue
            if size < offset:
                offset = 0  # moved to events.log.1: the new file from its start
            if size > offset:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
                complete = data[: data.rfind(b"\n") + 1]
                offset += len(complete)
                for raw in complete.splitlines():
                    emit(raw)
    except KeyboardInterrupt:
        pass
    return 0
