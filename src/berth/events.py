"""The event log `berth events` reads: one JSON object a line in <root>/events.log, in Docker's
shape, appended by whichever process saw the event (the engine; the monitor for `die`).

Each record is one write(2) on an O_APPEND file, so concurrent writers never interleave. The log
keeps the last MAX_BYTES or so: past that, it moves to events.log.1 (one older file) and starts
again; Docker keeps only its last 256 events, in memory.
"""

from __future__ import annotations

import os
import time

from berth import fastjson

MAX_BYTES = 1 << 20


def path(root: str) -> str:
    return os.path.join(root, "events.log")


def record(root: str, kind: str, action: str, actor: str, attributes: dict[str, str] | None = None) -> None:
    """kind: container, network, volume or image; actor: the object's ID (or name for volumes)."""
    now = time.time_ns()
    attrs = dict(attributes or {})
    event = {"Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": attrs}, "scope": "local",
             "time": now // 1_000_000_000, "timeNano": now}  # fmt: skip
    if kind == "container":  # the older fields Docker still sends for containers
        event = {"status": action, "id": actor, "from": attrs.get("image", ""), **event}
    line = (fastjson.dumps(event) + "\n").encode()
    target = path(root)
    try:
        if os.path.getsize(target) > MAX_BYTES:
            os.replace(target, target + ".1")
    except OSError:
        pass
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
