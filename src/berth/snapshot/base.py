"""The snapshotter interface, as containerd's: mounts are returned as data and
the caller mounts them, inside a mount namespace of its own.

Snapshots are named by keys. `prepare` makes an active (writable) snapshot on a
committed parent; `commit` turns an active one into a committed one under a new
name; `view` makes a read-only active snapshot; `remove` deletes a snapshot no
other snapshot stands on.
"""

from __future__ import annotations

import _sqlite3 as sqlite3  # the C module: the package adds only datetime adapters (~2 ms)
import os

from berth.db import Transaction, connect
from berth.errors import AlreadyExists, FailedPrecondition, NotFound
from berth.fs import remove_tree
from berth.oci.record import record

ACTIVE, VIEW, COMMITTED = "active", "view", "committed"


@record
class Mount:
    type: str
    source: str
    options: tuple[str, ...] = ()
    cwd: str = ""  # when set, paths in options are relative to it: mount from there


@record
class Info:
    key: str
    kind: str
    parent: str = ""
    id: int = 0


class Snapshotter:
    """Metadata in SQLite (WAL): each operation is one transaction, so many
    short-lived berth processes can share a snapshotter."""

    def __init__(self, root: str) -> None:
        self.root = root
        os.makedirs(os.path.join(root, "snapshots"), exist_ok=True)
        self.db = connect(
            os.path.join(root, "metadata.db"),
            "CREATE TABLE IF NOT EXISTS snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE NOT NULL,"
            " kind TEXT NOT NULL, parent TEXT NOT NULL DEFAULT '');",
        )

    # -- what a snapshotter implements ------------------------------------
    def _create_dirs(self, info: Info) -> None:
        raise NotImplementedError

    def _mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        raise NotImplementedError

    # -- the interface ----------------------------------------------------
    def dir(self, info: Info) -> str:
        return os.path.join(self.root, "snapshots", str(info.id))

    def fs(self, info: Info) -> str:
        return os.path.join(self.dir(info), "fs")

    def stat(self, key: str) -> Info:
        row = self.db.execute("SELECT key, kind, parent, id FROM snapshots WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise NotFound(f"snapshot {key} does not exist")
        return Info(key=row[0], kind=row[1], parent=row[2], id=row[3])

    def list(self) -> list[Info]:
        rows = self.db.execute("SELECT key, kind, parent, id FROM snapshots ORDER BY id").fetchall()
        return [Info(key=r[0], kind=r[1], parent=r[2], id=r[3]) for r in rows]

    def chain(self, info: Info) -> list[Info]:
        """The committed parents of a snapshot, nearest first."""
        out = []
        key = info.parent
        while key:
            parent = self.stat(key)
            out.append(parent)
            key = parent.parent
        return out

    def _new(self, key: str, parent: str, kind: str) -> Info:
        if parent and self.stat(parent).kind != COMMITTED:
            raise FailedPrecondition(f"snapshot {parent} is not committed: it cannot be a parent")
        with Transaction(self.db):
            try:
                cur = self.db.execute("INSERT INTO snapshots (key, kind, parent) VALUES (?, ?, ?)", (key, kind, parent))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"snapshot {key} already exists") from None
            info = Info(key=key, kind=kind, parent=parent, id=cur.lastrowid)
            try:
                self._create_dirs(info)
            except BaseException:
                remove_tree(self.dir(info))
                raise
        return info

    def upper(self, key: str) -> str:
        """Where a layer is applied to fill the active snapshot `key`."""
        info = self.stat(key)
        if info.kind != ACTIVE:
            raise FailedPrecondition(f"snapshot {key} is not active: layers are applied to active snapshots")
        return self.fs(info)

    def prepare(self, key: str, parent: str = "") -> list[Mount]:
        info = self._new(key, parent, ACTIVE)
        return self._mounts(info, self.chain(info))

    def view(self, key: str, parent: str = "") -> list[Mount]:
        info = self._new(key, parent, VIEW)
        return self._mounts(info, self.chain(info))

    def mounts(self, key: str) -> list[Mount]:
        info = self.stat(key)
        if info.kind == COMMITTED:
            raise FailedPrecondition(f"snapshot {key} is committed: prepare or view one on it to mount it")
        return self._mounts(info, self.chain(info))

    def commit(self, name: str, key: str) -> Info:
        info = self.stat(key)
        if info.kind != ACTIVE:
            raise FailedPrecondition(f"snapshot {key} is not active: only active snapshots can be committed")
        try:
            self.db.execute(
                "UPDATE snapshots SET key = ?, kind = ? WHERE key = ? AND kind = ?", (name, COMMITTED, key, ACTIVE)
            )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"snapshot {name} already exists") from None
        return self.stat(name)

    def remove(self, key: str) -> None:
        info = self.stat(key)
        with Transaction(self.db):
            child = self.db.execute("SELECT key FROM snapshots WHERE parent = ? LIMIT 1", (key,)).fetchone()
            if child:
                raise FailedPrecondition(f"snapshot {key} has a child {child[0]}: remove that first")
            self.db.execute("DELETE FROM snapshots WHERE key = ?", (key,))
        remove_tree(self.dir(info))

    def close(self) -> None:
        self.db.close()
