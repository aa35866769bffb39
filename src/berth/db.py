"""SQLite as berth's state stores use it: WAL, autocommit, a generous busy timeout."""

from __future__ import annotations

# the C module itself: `sqlite3` adds only datetime adapters berth never uses, and its
# import (datetime, collections.abc) costs ~2 ms on every command; the classes are the same
import _sqlite3 as sqlite3
import time

SCHEMA_VERSION = 1  # PRAGMA user_version of every database berth writes; raised when a schema changes


def connect(path: str, schema: str = "") -> sqlite3.Connection:
    """Open (making it if need be) a database shared by many short-lived processes.

    Switching a new database to WAL takes an exclusive lock that SQLite's busy
    timeout does not wait for, so processes racing to create the same database
    retry that step; `schema` (idempotent statements) runs once WAL is on. A
    database a newer berth wrote (a higher schema version) is refused, never
    read as if it had the schema this one knows.
    """
    wal = _is_wal(path)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    deadline = time.monotonic() + 30
    while True:
        try:
            if not wal:  # WAL is a property of the file: set once, read back from its header afterwards
                db.execute("PRAGMA journal_mode=WAL")
            if schema:
                _check_version(db, path)
                db.executescript(schema)
            return db
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(0.01)


def _check_version(db: sqlite3.Connection, path: str) -> None:
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        db.close()
        from berth.errors import FailedPrecondition

        raise FailedPrecondition(
            f"{path} was written by a newer berth (schema version {found}; this one knows {SCHEMA_VERSION}): "
            "use that berth, or another --root"
        )
    if found < SCHEMA_VERSION:  # new, or made before versions were recorded: the schema is the same
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _is_wal(path: str) -> bool:
    """The database header's read and write versions (bytes 18, 19) are 2 in WAL mode."""
    import os

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return os.pread(fd, 2, 18) == b"\x02\x02"
    finally:
        os.close(fd)


def by_name_or_id(db: sqlite3.Connection, columns: str, table: str, ref: str) -> list[tuple]:
    """Docker's way to name an object: the row whose name or ID is `ref`, else (three or more hex
    digits) those whose ID starts with it. More than one row: an ambiguous prefix."""
    row = db.execute(f"SELECT {columns} FROM {table} WHERE name = ? OR id = ?", (ref, ref)).fetchone()
    if row is not None:
        return [row]
    if len(ref) >= 3 and all(c in "0123456789abcdef" for c in ref):
        return db.execute(f"SELECT {columns} FROM {table} WHERE id LIKE ?", (ref + "%",)).fetchall()
    return []


class Transaction:
    """BEGIN IMMEDIATE (the write lock, waited for up to the busy timeout); COMMIT when the block
    ends, ROLLBACK when it raises. A Ctrl-C may land anywhere, after the COMMIT too: only a
    transaction still open is rolled back, so the KeyboardInterrupt is what the caller sees."""

    __slots__ = ("db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._rollback()
            raise
        return self.db

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None:
            self._rollback()
            return
        try:
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")
