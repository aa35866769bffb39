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
         until: float | None = None, idle: bool = False) -> Iterator[LogRecord | None]:  # fmt: skip
    """The records (the last `tail` of them; between `since` and `until`, Unix times), then with
    `follow` what the container writes until it stops. A rotated file is read from its start.
    An unknown container, or one whose logs are not kept, fails here, before any record.
    `idle`: a None after each look that found nothing new (a server checks its client then)."""
    c = engine.get(ref)
    if (c.config.get("LogConfig") or {}).get("Type") == "none":
        raise FailedPrecondition("configured logging driver does not support reading")
    return _records(c, follow, tail, since, until, idle)


def _records(c, follow: bool, tail: int | None, since: float | None, until: float | None,
             idle: bool) -> Iterator[LogRecord | None]:  # fmt: skip
    from berth.monitor import logs as logfiles

    path = logfiles.log_path(c.dir, c.config.get("LogConfig"))
    # the live file is read through a descriptor opened first: what is written while the older
    # files are read, and what a container removed (or its log rotated) right after it exits
    # had written, is still read
    live = _open(path)
    lines = []
    for name in logfiles.files(c.dir, c.config.get("LogConfig"))[:-1]:
        if os.path.exists(name):
            with open(name, "rb") as f:
                lines += f.read().splitlines()
    rest = b""
    if live is not None:
        data = live.read()
        cut = data.rfind(b"\n") + 1
        lines += data[:cut].splitlines()
        rest = data[cut:]
    records = [logfiles.parse(raw) for raw in lines]
    if since is not None or until is not None:
        records = [r for r in records if _within(r, since, until)]
    if tail is not None:
        records = records[-tail:] if tail > 0 else []
    try:
        yield from map(_record, records)
        while follow:
            running = c.status == "running"  # looked at before the read: nothing written before the exit is missed
            data = rest + (live.read() if live is not None else b"")
            if live is None or _replaced(live, path):  # rotated (or not made yet): what is left, then the new file
                if live is not None:
                    live.close()
                live = _open(path)
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            if cut:
                yield from (_record(logfiles.parse(raw)) for raw in data[:cut].splitlines())
            elif idle:
                yield None
            if not running:
                return
            time.sleep(FOLLOW_POLL)
    finally:
        if live is not None:
            live.close()


def _open(path: str):
    try:
        return open(path, "rb")  # noqa: SIM115 - held across the generator's life, closed in its finally
    except FileNotFoundError:
        return None


def _replaced(f, path: str) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return False


def _within(rec: dict, since: float | None, until: float | None) -> bool:
    when = parse_rfc3339(rec.get("time", ""))
    return (since is None or when >= since) and (until is None or when <= until)


def _record(rec: dict) -> LogRecord:
    return LogRecord(stream=rec["stream"], time=rec["time"], text=rec["log"])
