"""A container's logs for every front end: the json-file records the monitor writes, filtered and
followed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from berth.clock import parse_rfc3339
from berth.errors import FailedPrecondition
from berth.oci.record import record

FOLLOW_POLL = 0.1  # seconds between looks at a running container's log


@record
class LogRecord:
    stream: str  # stdout or stderr
    time: str  # RFC 3339, as the monitor stamped it
    text: str  # the line, with its newline


def read(engine, ref: str, follow: bool = False, tail: int | None = None, since: float | None = None,
         until: float | None = None) -> Iterator[LogRecord]:  # fmt: skip
    """The records (the last `tail` of them; between `since` and `until`, Unix times), then with
    `follow` what the container writes until it stops. A rotated file is read from its start.
    An unknown container, or one whose logs are not kept, fails here, before any record."""
    c = engine.get(ref)
    if (c.config.get("LogConfig") or {}).get("Type") == "none":
        raise FailedPrecondition("configured logging driver does not support reading")
    return _records(c, follow, tail, since, until)


def _records(c, follow: bool, tail: int | None, since: float | None, until: float | None) -> Iterator[LogRecord]:
    from berth.monitor import logs as logfiles

    path = os.path.join(c.dir, logfiles.LOG)
    lines = []
    for name in logfiles.files(c.dir):
        if os.path.exists(name):
            with open(name, "rb") as f:
                lines += f.read().splitlines()
    records = [logfiles.parse(raw) for raw in lines]
    if since is not None or until is not None:
        records = [r for r in records if _within(r, since, until)]
    if tail is not None:
        records = records[-tail:] if tail > 0 else []
    offset = os.path.getsize(path) if os.path.exists(path) else 0
    yield from map(_record, records)
    while follow and c.status == "running":
        time.sleep(FOLLOW_POLL)
        size = os.path.getsize(path) if os.path.exists(path) else 0
        if size < offset:
            offset = 0  # rotated: the new file from its start
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            offset += len(data)
            yield from (_record(logfiles.parse(raw)) for raw in data.splitlines())


def _within(rec: dict, since: float | None, until: float | None) -> bool:
    when = parse_rfc3339(rec.get("time", ""))
    return (since is None or when >= since) and (until is None or when <= until)


def _record(rec: dict) -> LogRecord:
    return LogRecord(stream=rec["stream"], time=rec["time"], text=rec["log"])
