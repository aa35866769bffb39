"""The build cache: a step's key -> the layer it made (or none) and when;
files' content digests by their stat; the directories of `RUN --mount=type=cache`.

    <root>/build/cache.db     steps, files (SQLite)
    <root>/build/mounts/<id>/ cache mounts
    <root>/build/parsed/      Dockerfiles as the parser read them, by digest (build/dockerfile.py)

Kept beside the image store. An entry only points at blobs and
snapshots; the builder checks the blobs are still there before it trusts one
(garbage collection may have taken them), and unpacks the layers again when
their snapshots are gone.
"""

from __future__ import annotations

import os

from berth import fastjson
from berth.db import Transaction, connect


def parsed_dir(root: str) -> str:
    return os.path.join(root, "build", "parsed")


class Cache:
    def __init__(self, root: str) -> None:
        """root: the store's root; the cache lives in its build/ directory."""
        self.dir = os.path.join(root, "build")
        self.mounts = os.path.join(self.dir, "mounts")
        self.parsed = parsed_dir(root)
        os.makedirs(self.dir, exist_ok=True)
        self.db = connect(os.path.join(self.dir, "cache.db"), "CREATE TABLE IF NOT EXISTS steps (key TEXT PRIMARY KEY, result TEXT NOT NULL);"
                                "CREATE TABLE IF NOT EXISTS files (path TEXT, dev INTEGER, ino INTEGER, size INTEGER,"
                                " mtime INTEGER, ctime INTEGER, digest TEXT NOT NULL,"
                                " PRIMARY KEY (path, dev, ino, size, mtime, ctime));")  # fmt: skip

    def get(self, key: str) -> dict | None:
        row = self.db.execute("SELECT result FROM steps WHERE key = ?", (key,)).fetchone()
        return fastjson.loads(row[0]) if row else None

    def put(self, key: str, result: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO steps (key, result) VALUES (?, ?)", (key, fastjson.dumps(result)))

    def file_digest(self, key: tuple) -> str | None:
        """A file's content digest, known from an earlier build while its stat is the same."""
        row = self.db.execute("SELECT digest FROM files WHERE path = ? AND dev = ? AND ino = ? AND size = ? AND mtime = ?"
                              " AND ctime = ?", key).fetchone()  # fmt: skip
        return row[0] if row else None

    def remember_files(self, rows: list[tuple]) -> None:
        with Transaction(self.db):
            self.db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def prune(self) -> tuple[int, int]:
        """Forget every step and file digest and remove the cache mounts: (entries, bytes freed)."""
        from berth.fs import remove_tree, tree_size

        entries = self.db.execute("DELETE FROM steps").rowcount
        self.db.execute("DELETE FROM files")
        freed = tree_size(self.mounts) + tree_size(self.parsed)
        remove_tree(self.mounts)
        remove_tree(self.parsed)
        return entries, freed

    def close(self) -> None:
        self.db.close()
