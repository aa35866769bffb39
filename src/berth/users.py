"""Users and groups as a root file system names them in its /etc/passwd and /etc/group.

The files are read inside the root (openat2 with RESOLVE_IN_ROOT): an image whose /etc/passwd
is a symlink to /etc/shadow gets the root's own /etc/shadow, or nothing, never the host's.
"""

from __future__ import annotations

import os


def entries(root: str, path: str) -> list[list[str]] | None:
    """The colon-separated entries of the file at `path` inside `root`; None if it has none."""
    from berth.linux.openat2 import open_in_root

    try:
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fd = open_in_root(root_fd, path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    finally:
        os.close(root_fd)
    with open(fd, errors="replace") as f:
        return [line.rstrip("\n").split(":") for line in f if line.strip()]


def find(table: list[list[str]], key: str, field: int = 0) -> list[str] | None:
    """The first entry whose `field` (0 the name, 2 the id) is `key`."""
    return next((e for e in table if len(e) > field and e[field] == key), None)


def member_of(groups: list[list[str]], name: str) -> list[int]:
    """The ids of the groups that list `name` as a member."""
    return [int(e[2]) for e in groups if len(e) >= 4 and e[2].isdigit() and name in e[3].split(",")]
