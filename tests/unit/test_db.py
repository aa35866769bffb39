"""berth.db: Transaction's commit and rollback, a Ctrl-C that lands after the COMMIT included; the
schema version every database records, an older one migrated, and a newer one refused."""

import _sqlite3 as sqlite3

import pytest

from berth.db import Transaction, by_name_or_id, connect
from berth.errors import FailedPrecondition

SCHEMA = "CREATE TABLE IF NOT EXISTS t (x TEXT);"


@pytest.fixture
def db(tmp_path):
    conn = connect(str(tmp_path / "t.db"), "CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, name TEXT);")
    yield conn
    conn.close()


def rows(db):
    return [r[0] for r in db.execute("SELECT id FROM t ORDER BY id")]


def test_commits_and_rolls_back(db):
    with Transaction(db):
        db.execute("INSERT INTO t VALUES ('a', 'one')")
    with pytest.raises(ValueError):
        with Transaction(db):
            db.execute("INSERT INTO t VALUES ('b', 'two')")
            raise ValueError("the block failed")
    assert rows(db) == ["a"] and not db.in_transaction


def test_an_interrupt_after_the_commit_stays_an_interrupt(db):
    # what CI once saw: the COMMIT done, then Ctrl-C, then a ROLLBACK with no transaction
    with pytest.raises(KeyboardInterrupt):
        with Transaction(db):
            db.execute("INSERT INTO t VALUES ('c', 'three')")
            db.execute("COMMIT")
            raise KeyboardInterrupt
    assert rows(db) == ["c"] and not db.in_transaction


def test_by_name_or_id(db):
    with Transaction(db):
        db.executemany("INSERT INTO t VALUES (?, ?)", [("abc123", "web"), ("abd456", "db"), ("fff", "abc")])
    assert by_name_or_id(db, "id", "t", "web") == [("abc123",)]
    assert by_name_or_id(db, "id", "t", "abc") == [("fff",)]  # a name before an ID prefix
    assert by_name_or_id(db, "id", "t", "abd") == [("abd456",)]
    assert len(by_name_or_id(db, "id", "t", "ab")) == 0  # two digits are no prefix
    assert sorted(by_name_or_id(db, "id", "t", "abd4")) == [("abd456",)]
    db.execute("INSERT INTO t VALUES ('abd789', 'x')")
    assert len(by_name_or_id(db, "id", "t", "abd")) == 2  # ambiguous: the caller says so


def version(path) -> int:
    db = sqlite3.connect(str(path))
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def test_a_new_database_records_the_version(tmp_path):
    connect(str(tmp_path / "a.db"), SCHEMA).close()
    assert version(tmp_path / "a.db") == 1


def test_a_database_from_before_versions_gets_one(tmp_path):
    db = sqlite3.connect(str(tmp_path / "old.db"))
    db.executescript(SCHEMA + "INSERT INTO t VALUES ('kept');")
    db.close()
    db = connect(str(tmp_path / "old.db"), SCHEMA)
    assert db.execute("SELECT x FROM t").fetchall() == [("kept",)]
    db.close()
    assert version(tmp_path / "old.db") == 1


def test_a_newer_berths_database_is_refused(tmp_path):
    path = tmp_path / "new.db"
    connect(str(path), SCHEMA).close()
    db = sqlite3.connect(str(path))
    db.execute(f"PRAGMA user_version = {2}")
    db.close()
    with pytest.raises(FailedPrecondition, match="written by a newer berth"):
        connect(str(path), SCHEMA)


def test_each_thread_has_its_own_connection_and_transaction(db):
    """A transaction open in one thread is not another thread's: the second waits for the write
    lock, then sees the first's committed row. Ended threads' connections do not pile up (SQLite
    parks a closed connection's fd while others hold locks on the file, and reuses it)."""
    import gc
    import os
    import threading

    def round_() -> list:
        inside, release, seen = threading.Event(), threading.Event(), []

        def first():
            with Transaction(db):
                db.execute("INSERT INTO t VALUES (?, 'first')", (str(len(rows(db))),))
                inside.set()
                release.wait(5)

        def second():
            inside.wait(5)
            seen.append(db.in_transaction)  # the first's transaction is not open here
            release.set()
            with Transaction(db):
                seen.append(len(rows(db)))

        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        gc.collect()
        return seen

    assert round_() == [False, 1]
    fds = len(os.listdir("/proc/self/fd"))
    assert round_() == [False, 2]
    assert len(os.listdir("/proc/self/fd")) == fds


def test_a_second_connection_keeps_the_first_ones_locks(tmp_path):
    """POSIX drops all of a process's locks on a file when any fd on it closes: opening a database
    must never open and close the file itself. It did (a header check), so another process closing
    its connection thought it was the last one and deleted the WAL and shm files under ours (whose
    next statement failed with "disk I/O error")."""
    import subprocess
    import sys

    path = str(tmp_path / "t.db")
    first = connect(path, SCHEMA)
    first.execute("INSERT INTO t VALUES ('a')")
    second = connect(path, SCHEMA)
    code = f"import _sqlite3 as s; c = s.connect({path!r}); c.execute('SELECT * FROM t').fetchall(); c.close()"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "t.db-shm").exists() and (tmp_path / "t.db-wal").exists()
    assert [r[0] for r in first.execute("SELECT x FROM t")] == ["a"]
    second.close()
    first.close()


def test_an_older_schema_is_migrated_once_under_the_lock(tmp_path):
    """Version 1 to 3: each step's function runs once, in order, and the version follows; a
    database already at the version runs none."""
    path = str(tmp_path / "m.db")
    connect(path, SCHEMA).close()
    db = sqlite3.connect(path)
    db.execute("INSERT INTO t VALUES ('one')")
    db.commit()
    db.close()
    ran = []

    def step(n):
        def run(conn):
            ran.append(n)
            conn.execute("UPDATE t SET x = x || ?", (f"+{n}",))

        return run

    migrations = {2: step(2), 3: step(3)}
    db = connect(path, SCHEMA, 3, migrations)
    assert db.execute("SELECT x FROM t").fetchall() == [("one+2+3",)]
    db.close()
    assert ran == [2, 3] and version(path) == 3
    connect(path, SCHEMA, 3, migrations).close()
    assert ran == [2, 3]


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path):
    path = str(tmp_path / "m.db")
    connect(path, SCHEMA).close()

    def broken(conn):
        conn.execute("INSERT INTO t VALUES ('half')")
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        connect(path, SCHEMA, 2, {2: broken})
    db = connect(path, SCHEMA)
    assert db.execute("SELECT x FROM t").fetchall() == []
    db.close()
    assert version(path) == 1
