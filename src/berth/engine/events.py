"""The event log for every front end: what happened, in Docker's shape, filtered, from `since`
(the older file too), then as it is written until `until` (forever without it)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from berth import events, fastjson
from berth.errors import InvalidArgument

FILTERS = ("type", "event", "container", "image", "network", "label")
POLL = 0.1  # seconds between looks at the log


def stream(engine, filters: dict[str, list[str]] | None = None, since: float | None = None,
           until: float | None = None, idle: bool = False) -> Iterator[dict | None]:  # fmt: skip
    """Unix times. Unknown filter keys fail here, before any event. `idle`: a None after each
    look that found nothing new (a server checks its client then)."""
    filters = filters or {}
    for key in filters:
        if key not in FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")
    return _events(events.path(engine.root), filters, since, until, idle)


def _events(path: str, filters: dict[str, list[str]], since: float | None, until: float | None,
            idle: bool) -> Iterator[dict | None]:  # fmt: skip
    def wanted(raw: bytes) -> dict | None:
        try:
            event = fastjson.loads(raw)
        except ValueError:
            return None  # a line being written
        t = event["timeNano"] / 1e9
        ok = (since is None or t >= since) and (until is None or t <= until) and _matches(event, filters)
        return event if ok else None

    offset = 0
    if since is not None:
        for name in (path + ".1", path):
            if os.path.exists(name):
                with open(name, "rb") as f:
                    data = f.read()
                yield from filter(None, map(wanted, data.splitlines()))
                if name == path:
                    offset = len(data)
    elif os.path.exists(path):
        offset = os.path.getsize(path)
    if until is not None and until <= time.time():
        return
    while until is None or time.time() < until:
        time.sleep(POLL)
        try:
            size = os.path.getsize(path)
        except FileNotFoundError:
            if idle:
                yield None
            continue
        if size < offset:
            offset = 0  # moved to events.log.1: the new file from its start
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            complete = data[: data.rfind(b"\n") + 1]
            offset += len(complete)
            found = list(filter(None, map(wanted, complete.splitlines())))
            yield from found
            if idle and not found:
                yield None
        elif idle:
            yield None


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
