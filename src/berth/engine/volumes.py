"""Named volumes (the `local` driver): a directory per volume, metadata in SQLite.

    <root>/volumes.db                 name, created, labels, anonymous
    <root>/volumes/<name>/_data/      what containers mount

`-v NAME:/path` makes the volume if it is missing, as Docker does; `-v /path`
makes an anonymous one, which `rm -v` removes with its container.
"""

from __future__ import annotations

import os
import time

from berth import fastjson
from berth.db import connect
from berth.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from berth.fs import remove_tree

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def validate(name: str) -> str:
    if len(name) < 2 or not set(name) <= _NAME_CHARS or not name[0].isalnum():
        raise InvalidArgument(f'create {name}: "{name}" includes invalid characters for a local volume name, '
                              "only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host "
                              "directory, use absolute path")  # fmt: skip
    return name


class Volumes:
    def __init__(self, root: str) -> None:
        self.root = root
        self.dir = os.path.join(root, "volumes")
        self.db = connect(os.path.join(root, "volumes.db"),
                          "CREATE TABLE IF NOT EXISTS volumes (name TEXT PRIMARY KEY, created TEXT NOT NULL,"
                          " labels TEXT NOT NULL DEFAULT '{}', anonymous INTEGER NOT NULL DEFAULT 0);")  # fmt: skip

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name, "_data")

    def create(self, name: str = "", labels: dict[str, str] | None = None, anonymous: bool = False,
               exist_ok: bool = True) -> dict:  # fmt: skip
        name = validate(name) if name else os.urandom(32).hex()
        os.makedirs(self.path(name), mode=0o755, exist_ok=True)
        try:
            self.db.execute("INSERT INTO volumes (name, created, labels, anonymous) VALUES (?, ?, ?, ?)",
                            (name, _now(), fastjson.dumps(labels or {}), int(anonymous)))  # fmt: skip
        except Exception as e:  # noqa: BLE001 - sqlite3.IntegrityError without importing the package
            if "UNIQUE" not in str(e):
                raise
            if not exist_ok:
                raise AlreadyExists(f"volume {name} already exists") from None
        return self.get(name)

    def get(self, name: str) -> dict:
        row = self.db.execute("SELECT name, created, labels, anonymous FROM volumes WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"get {name}: no such volume")
        return {"CreatedAt": row[1], "Driver": "local", "Labels": fastjson.loads(row[2]) or None,
                "Mountpoint": self.path(row[0]), "Name": row[0], "Options": None, "Scope": "local",
                "Anonymous": bool(row[3])}  # fmt: skip

    def list(self) -> list[dict]:
        return [self.get(r[0]) for r in self.db.execute("SELECT name FROM volumes ORDER BY name").fetchall()]

    def remove(self, name: str, users: list[str]) -> None:
        self.get(name)
        if users:
            raise FailedPrecondition(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self.db.execute("DELETE FROM volumes WHERE name = ?", (name,))
        remove_tree(os.path.join(self.dir, name))

    def close(self) -> None:
        self.db.close()


def split(item: str) -> tuple[str, str, str]:
    """-v's forms: (source, destination, mode); source "" for an anonymous volume."""
    parts = item.split(":")
    if len(parts) == 1 and parts[0].startswith("/"):
        return "", parts[0], ""
    if len(parts) in (2, 3) and parts[1].startswith("/"):
        return parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    raise InvalidArgument(f"invalid volume specification: '{item}'")


def listed(engine, filters: dict[str, list[str]] | None = None) -> list[dict]:
    """The volumes every filter lets through (dangling, name, label; a key's values are alternatives)."""
    vols = engine.volumes.list()
    for key, values in (filters or {}).items():
        if key not in ("dangling", "name", "label", "driver"):
            raise InvalidArgument(f"invalid filter '{key}'")
        bad = [v for v in values if key == "dangling" and v not in ("true", "false", "1", "0")]
        if bad:
            raise InvalidArgument(f"invalid filter: 'dangling'='{bad[0]}'")
        vols = [v for v in vols if any(_matches(engine, v, key, value) for value in values)]
    return vols


def _matches(engine, vol: dict, key: str, value: str) -> bool:
    if key == "dangling":
        return (not engine.volume_users(vol["Name"])) == (value in ("true", "1"))
    if key == "name":
        return value in vol["Name"]
    if key == "driver":
        return vol["Driver"] == value
    k, sep, val = value.partition("=")
    return k in (vol["Labels"] or {}) and (not sep or vol["Labels"][k] == val)


def usage(engine) -> dict[str, tuple[int, int]]:
    """{volume name: (bytes, containers using it)}."""
    from berth.fs import tree_size

    return {v["Name"]: (tree_size(v["Mountpoint"]), len(engine.volume_users(v["Name"]))) for v in engine.volumes.list()}


def prune(engine, everything: bool = False) -> tuple[list[str], int]:
    """Anonymous volumes no container uses (with everything, named ones too): (names, bytes freed)."""
    from berth.fs import tree_size

    gone, freed = [], 0
    for v in engine.volumes.list():
        if (everything or v["Anonymous"]) and not engine.volume_users(v["Name"]):
            freed += tree_size(v["Mountpoint"])
            engine.volumes.remove(v["Name"], [])
            gone.append(v["Name"])
    return gone, freed


def copy_up(mounts: list[dict], target: str, fresh: list[list[str]]) -> None:
    """In berth.engine.isolated's child: the snapshot mounted at target, then the image's content at
    each (volume directory, path) copied into the volume. The path is resolved inside the snapshot
    (openat2 RESOLVE_IN_ROOT: a symlink in the image never leads out)."""
    from berth.errors import FailedPrecondition
    from berth.foreground import DEVNULL, spawn
    from berth.linux import mount as m
    from berth.linux.openat2 import open_in_root

    m.mount_all(mounts, target)
    root = os.open(target, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for directory, dest in fresh:
            try:
                fd = open_in_root(root, dest, os.O_PATH | os.O_DIRECTORY)
            except OSError:
                continue  # nothing there in the image: the volume stays empty
            try:
                cp = next(p for p in ("/usr/bin/cp", "/bin/cp") if os.path.exists(p))
                child = spawn([cp, "-a", f"/proc/{os.getpid()}/fd/{fd}/.", directory + "/"],
                              stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)  # fmt: skip
                if child.wait() != 0:
                    raise FailedPrecondition(f"copying the image's content at {dest} into its volume failed")
            finally:
                os.close(fd)
    finally:
        os.close(root)
