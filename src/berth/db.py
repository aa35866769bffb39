"""SQLite as berth's state stores use it: WAL, autocommit, a generous busy timeout."""

from __future__ import annotations

# the C module itself: `sqlite3` adds only datetime adapters berth never uses, and its
# import (datetime, collections.abc) costs ~2 ms on every command; the classes are the same
import _sqlite3 as sqlite3
import time
from _thread import _local  # threading itself costs ~1 ms to import

_open_databases = [0]  # Databases not closed yet, in this process


def connect(path: str, schema: str = "", version: int = 1, migrations: dict | None = None) -> Database:
    """Open (making it if need be) a database shared by many processes, and by the threads of one.

    Switching a new database to WAL takes an exclusive lock that SQLite's busy
    timeout does not wait for, so processes racing to create the same database
    retry that step; `schema` (idempotent statements) runs once WAL is on.

    `version` is the schema's (PRAGMA user_version); a database of an older one is brought up to
    it by `migrations` ({version: function(connection)}, each run in one transaction with the
    version's change, by whichever process opens it first), and one a newer berth wrote is
    refused, never read as if it had the schema this one knows. A database from before versions
    were recorded (0) has version 1's schema. `schema` runs only on a database below `version`
    (opening one at it runs nothing more): a change to `schema` raises `version`, with a
    migration for the databases that exist.
    """
    return Database(path, _open(path, schema, version=version, migrations=migrations or {}))


def _open(path: str, schema: str = "", wal: bool = False, version: int = 1, migrations: dict | None = None
          ) -> sqlite3.Connection:  # fmt: skip
    # shared by no two threads (Database hands each its own); closed by whichever thread closes the Database
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    deadline = time.monotonic() + 30
    while True:
        try:
            # WAL is a property of the file: set once (an exclusive lock), read back afterwards
            if not wal and db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            # a database at this version has this schema: nothing more to run (every open pays for it)
            if schema and _check_version(db, path, version) < version:
                db.executescript(schema)
                _migrate(db, version, migrations or {})
            return db
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                db.close()
                raise
            time.sleep(0.01)
        except BaseException:
            db.close()
            raise


class _Closer:
    """Closes a thread's connection when the thread ends and its local storage goes. The
    connection itself is in a reference cycle (its statement cache refers back to it), so without
    this it would stay open, with its file descriptors, until the cycle collector ran: a server
    with a thread per client ran out of descriptors."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __del__(self) -> None:
        try:
            self.conn.close()
        except sqlite3.Error:
            pass


class Database:
    """One database for every thread of a process: each thread gets a connection of its own on
    first use (a connection, and the transaction open on it, must not be shared). A thread's
    connection closes when the thread ends (it lives only in the thread's local storage); close()
    closes the opening thread's, and the calling thread's."""

    __slots__ = ("path", "_local", "_first")

    def __init__(self, path: str, first: sqlite3.Connection) -> None:
        self.path = path
        self._local = _local()
        self._local.conn = self._first = first
        _open_databases[0] += 1

    def _conn(self) -> sqlite3.Connection:
        try:
            return self._local.conn
        except AttributeError:
            self._local.conn = conn = _open(self.path, wal=True)  # the first connection made it WAL
            self._local.closer = _Closer(conn)
            return conn

    def execute(self, sql: str, params=()) -> sqlite3.Cursor:
        return self._conn().execute(sql, params)

    def executemany(self, sql: str, rows) -> sqlite3.Cursor:
        return self._conn().executemany(sql, rows)

    def executescript(self, sql: str) -> sqlite3.Cursor:
        return self._conn().executescript(sql)

    @property
    def in_transaction(self) -> bool:
        return self._conn().in_transaction

    def close(self) -> None:
        if self._first is None:
            return
        mine = getattr(self._local, "conn", None)
        _open_databases[0] -= 1
        self._first.close()
        self._first = None
        if mine is not None:
            mine.close()
        self._local = _local()


def none_open() -> bool:
    """No database is open in this process: a fork's child may open its own safely (SQLite keeps
    its lock bookkeeping per process, and a child would inherit the parent's, while the locks
    themselves stay with the parent)."""
    return _open_databases[0] == 0


def _check_version(db: sqlite3.Connection, path: str, version: int) -> int:
    """The database's version, refused if newer than `version`."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > version:
        from berth.errors import FailedPrecondition

        raise FailedPrecondition(
            f"{path} was written by a newer berth (schema version {found}; this one knows {version}): "
            "use that berth, or another --root"
        )
    return found


def _migrate(db: sqlite3.Connection, version: int, migrations: dict) -> None:
    if db.execute("PRAGMA user_version").fetchone()[0] >= version:
        return
    db.execute("BEGIN IMMEDIATE")  # another process may be migrating it: the version is read again under the lock
    try:
        found = db.execute("PRAGMA user_version").fetchone()[0]
        for step in range(max(found, 1) + 1, version + 1):
            if step in migrations:
                migrations[step](db)
        if found < version:
            db.execute(f"PRAGMA user_version = {version}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def by_name_or_id(db: Database, columns: str, table: str, ref: str) -> list[tuple]:
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

    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> Database:
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
