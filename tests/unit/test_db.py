"""berth.db: Transaction's commit and rollback, a Ctrl-C that lands after the COMMIT included; the
schema version every database records, and a newer one refused."""

import _sqlite3 as sqlite3

import pytest

from berth.db import SCHEMA_VERSION, Transaction, by_name_or_id, connect
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
    assert version(tmp_path / "a.db") == SCHEMA_VERSION


def test_a_database_from_before_versions_gets_one(tmp_path):
    db = sqlite3.connect(str(tmp_path / "old.db"))
    db.executescript(SCHEMA + "INSERT INTO t VALUES ('kept');")
    db.close()
    db = connect(str(tmp_path / "old.db"), SCHEMA)
    assert db.execute("SELECT x FROM t").fetchall() == [("kept",)]
    db.close()
    assert version(tmp_path / "old.db") == SCHEMA_VERSION


def test_a_newer_berths_database_is_refused(tmp_path):
    path = tmp_path / "new.db"
    connect(str(path), SCHEMA).close()
    db = sqlite3.connect(str(path))
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(FailedPrecondition, match="written by a newer berth"):
        connect(str(path), SCHEMA)
