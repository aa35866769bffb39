"""Users and groups for a container's process: UID[:GID] or NAME[:GROUP], names looked up in the
image's own /etc/passwd and /etc/group (read inside the layer that has them, berth.users), at
create, or at start when create could not find the user (Docker creates such a container and
fails its start)."""

from __future__ import annotations

import os

from berth import fastjson
from berth.engine.container import SPEC, ContainerError
from berth.errors import InvalidArgument
from berth.fs import atomic_write
from berth.users import entries, find, member_of

UNRESOLVED = "user-unresolved"  # in the container's directory: the USER create could not find


def _image_entries(store, top: str, path: str) -> list[list[str]]:
    """The entries of an image file (/etc/passwd, /etc/group), from the topmost layer of
    snapshot `top` that has it, read inside that layer; [] if none has."""
    sn = store.snapshotter
    for info in [sn.stat(top), *sn.chain(sn.stat(top))]:
        found = entries(sn.fs(info), path)
        if found is not None:
            return found
    return []


def resolve(store, user: str, top: str) -> tuple[int, int, tuple[int, ...]]:
    """UID[:GID] or NAME[:GROUP], names looked up in the image's /etc/passwd and /etc/group:
    (uid, gid, supplementary gids: the gid and the groups listing the user, as runc sets them)."""
    who, _, group = (user or "0").partition(":")
    passwd = _image_entries(store, top, "/etc/passwd")
    if who.isdigit():
        entry = find(passwd, who, field=2)
        uid, gid = int(who), int(entry[3]) if entry else 0
    else:
        entry = find(passwd, who)
        if entry is None:
            raise ContainerError(f"unable to find user {who}: no matching entries in passwd file", 125)
        uid, gid = int(entry[2]), int(entry[3])
    name = entry[0] if entry else ""
    groups = _image_entries(store, top, "/etc/group") if group or name else []
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            entry = find(groups, group)
            if entry is None:
                raise ContainerError(f"unable to find group {group}: no matching entries in group file", 125)
            gid = int(entry[2])
    members = [g for g in member_of(groups, name) if g != gid] if name else []
    return uid, gid, (gid, *members)


def added_groups(store, names: tuple[str, ...] | list[str], top: str) -> tuple[int, ...]:
    """--group-add: GIDs, or group names looked up in the image's /etc/group."""
    gids = []
    groups = None
    for name in names:
        if name.isdigit():
            gids.append(int(name))
            continue
        if groups is None:
            groups = _image_entries(store, top, "/etc/group")
        entry = find(groups, name)
        if entry is None:
            raise InvalidArgument(f"unable to find group {name}: no matching entries in group file")
        gids.append(int(entry[2]))
    return tuple(gids)


def resolve_pending(store, c) -> None:
    """A user create could not find: looked up in the container's files now (Docker's error if
    still missing), and written into the bundle's process."""
    user = c._read(UNRESOLVED)
    if user is None:
        return
    uid, gid, groups = resolve(store, user, c.id)
    groups = merged(groups, added_groups(store, c.config.get("groupAdd") or (), c.id))
    path = os.path.join(c.dir, SPEC)
    with open(path, "rb") as f:
        doc = fastjson.loads(f.read())
    doc["process"]["user"].update(uid=uid, gid=gid, additionalGids=list(groups))
    atomic_write(path, fastjson.dumps(doc).encode())
    os.unlink(os.path.join(c.dir, UNRESOLVED))


def merged(groups: tuple[int, ...], added: tuple[int, ...]) -> tuple[int, ...]:
    """The user's supplementary groups, then the added ones, each once."""
    return tuple(dict.fromkeys((*groups, *added)))
