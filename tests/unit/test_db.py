"""berth.db: Transaction's commit and rollback, a Ctrl-C that lands after the COMMIT included."""

import pytest

from berth.db import Transaction, by_name_or_id, connect


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
