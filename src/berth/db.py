"""SQLite as berth's state stores use it: WAL, autocommit, a generous busy timeout."""

from __future__ import annotations

# the C module itself: `sqlite3` adds only datetime adapters berth never uses, and its
# import (datetime, collections.abc) costs ~2 ms on every command; the classes are the same
import _sqlite3 as sqlite3
import time


def connect(path: str, schema: str = "") -> sqlite3.Connection:
    """Open (making it if need be) a database shared by many short-lived processes.

    Switching a new database to WAL takes an exclusive lock that SQLite's busy
    timeout does not wait for, so processes racing to create the same database
    retry that step; `schema` (idempotent statements) runs once WAL is on.
    """
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    deadline = time.monotonic() + 30
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            if schema:
                db.executescript(schema)
            return db
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(0.01)
