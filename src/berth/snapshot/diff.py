"""The diff of an active snapshot back to an OCI layer: what it added or
changed, and what it deleted as `.wh.` whiteouts.

- overlay: the upper directory is the diff; its 0/0 character devices are
  deletions and a directory with `trusted.overlay.opaque` hides what is below.
- copy: the active tree is compared with its parent's, entry by entry (type,
  mode, owner, size, mtime, link target), as Docker's naive differ does.

`write_tar` turns a list of changes into a tar stream, parents before children.
"""

from __future__ import annotations

import os
import stat
import tarfile

from berth.snapshot.apply import OPAQUE, OPAQUE_XATTR, WHITEOUT

ADD, DELETE, OPAQUE_DIR = "add", "delete", "opaque"


def _sorted_walk_from(root: str, rel: str, skip: frozenset[str]):
    for name in sorted(os.listdir(os.path.join(root, rel))):
        child = f"{rel}/{name}"
        st = os.lstat(os.path.join(root, child))
        yield child, st
        if stat.S_ISDIR(st.st_mode) and child not in skip:
            yield from _sorted_walk_from(root, child, skip)


def walk(root: str, skip: frozenset[str] = frozenset()):
    """(relative path, lstat) of everything under root, parents first, names sorted; the
    directories in `skip` (relative paths: mount points) are listed, not entered."""
    for name in sorted(os.listdir(root)):
        st = os.lstat(os.path.join(root, name))
        yield name, st
        if stat.S_ISDIR(st.st_mode) and name not in skip:
            yield from _sorted_walk_from(root, name, skip)


def overlay_changes(upper: str) -> list[tuple[str, str]]:
    out = []
    for rel, st in walk(upper):
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            out.append((DELETE, rel))
            continue
        out.append((ADD, rel))
        if stat.S_ISDIR(st.st_mode):
            try:
                if os.getxattr(os.path.join(upper, rel), OPAQUE_XATTR, follow_symlinks=False) == b"y":
                    out.append((OPAQUE_DIR, rel))
            except OSError:
                pass
    return out


def _same(a: os.stat_result, b: os.stat_result, pa: str, pb: str) -> bool:
    if (a.st_mode, a.st_uid, a.st_gid) != (b.st_mode, b.st_uid, b.st_gid):
        return False
    if stat.S_ISDIR(a.st_mode):
        return True  # a directory counts as changed only through its children or its own metadata
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(pa) == os.readlink(pb)
    if stat.S_ISCHR(a.st_mode) or stat.S_ISBLK(a.st_mode):
        return a.st_rdev == b.st_rdev
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns


def compare_changes(lower: str | None, upper: str) -> list[tuple[str, str]]:
    """Changes of the tree `upper` against `lower` (None: against nothing)."""
    changed: set[str] = set()
    entries = list(walk(upper))
    for rel, st in entries:
        other = None
        if lower is not None:
            try:
                other = os.lstat(os.path.join(lower, rel))
            except (FileNotFoundError, NotADirectoryError):
                other = None
        if other is None or not _same(st, other, os.path.join(upper, rel), os.path.join(lower, rel)):
            changed.add(rel)
    deleted: list[str] = []
    if lower is not None:
        for rel, _ in walk(lower):
            if any(rel.startswith(d + "/") for d in deleted[-1:]):
                continue
            if not os.path.lexists(os.path.join(upper, rel)):
                deleted.append(rel)
    # a changed entry brings its parent directories into the layer
    needed = set(changed)
    for rel in list(changed) + deleted:
        parent = rel.rpartition("/")[0]
        while parent and parent not in needed:
            needed.add(parent)
            parent = parent.rpartition("/")[0]
    out = [(ADD, rel) for rel, _ in entries if rel in needed]
    out += [(DELETE, rel) for rel in deleted]
    out.sort(key=lambda c: c[1].split("/"))
    return out


def snapshot_changes(sn, key: str) -> list[tuple[str, str]]:
    """The changes of the active snapshot `key`: its upper directory on overlay, a comparison with its parent else."""
    info = sn.stat(key)
    if sn.whiteouts_as_devices:
        return overlay_changes(sn.fs(info))
    return compare_changes(sn.fs(sn.stat(info.parent)) if info.parent else None, sn.fs(info))


def write_tar(fileobj, root: str, changes: list[tuple[str, str]], owners=None) -> None:
    """A tar stream (PAX) of the changes, read from the tree at root; whiteouts as `.wh.` entries.
    `owners(uid, gid) -> (uid, gid)`: the ids the entries get (a container with a user namespace
    wrote its layer with the host's ids of its own)."""
    # 1 MiB records and copies: the 10 KiB defaults cost a write and a hash update per 10 KiB
    with tarfile.open(
        fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20, copybufsize=1 << 20
    ) as tar:
        hardlinks: dict[tuple[int, int], str] = {}
        for kind, rel in changes:
            head, _, name = rel.rpartition("/")
            if kind != ADD:
                marker = OPAQUE if kind == OPAQUE_DIR else WHITEOUT + name
                info = tarfile.TarInfo(
                    f"{rel}/{marker}" if kind == OPAQUE_DIR else (f"{head}/{marker}" if head else marker)
                )
                info.mode = 0o644
                tar.addfile(info)
                continue
            add_entry(tar, root, rel, hardlinks, owners=owners)


def add_entry(tar: tarfile.TarFile, root: str, rel: str, hardlinks: dict, prefix: str = "", owners=None) -> None:
    """One file system entry into the tar (a hard link when an earlier entry shares its inode),
    named rel (under `prefix` when given)."""
    path = os.path.join(root, rel) if rel else root
    arcname = f"{prefix}/{rel}" if prefix and rel else (prefix or rel or ".")
    info = tar.gettarinfo(path, arcname=arcname)
    info.uname = info.gname = ""
    if owners is not None:
        info.uid, info.gid = owners(info.uid, info.gid)
    if info.isreg():
        st = os.lstat(path)
        if st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            if key in hardlinks:
                info.type, info.linkname, info.size = tarfile.LNKTYPE, hardlinks[key], 0
                tar.addfile(info)
                return
            hardlinks[key] = arcname
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


MOUNT_POINTS = ("etc/hosts", "etc/hostname", "etc/resolv.conf")


def lower_has(sn, key: str, rel: str) -> bool:
    """Whether the committed layers under the active snapshot `key` have `rel` (a whiteout hides it)."""
    for layer in sn.chain(sn.stat(key)):
        path = os.path.join(sn.fs(layer), rel)
        if os.path.lexists(path):
            st = os.lstat(path)
            return not (sn.whiteouts_as_devices and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
        if not sn.whiteouts_as_devices:
            return False  # the copy snapshotter's trees are whole: the nearest one decides
    return False


def mount_point_files(sn, key: str) -> list[str]:
    """The empty files the runtime made in the snapshot only to bind /etc/hosts, /etc/hostname and
    /etc/resolv.conf onto: not the container's changes, as Docker's init layer keeps them out of its diffs."""
    root = sn.fs(sn.stat(key))
    out = []
    for rel in MOUNT_POINTS:
        path = os.path.join(root, rel)
        if (
            os.path.isfile(path)
            and not os.path.islink(path)
            and os.path.getsize(path) == 0
            and not lower_has(sn, key, rel)
        ):
            out.append(rel)
    return out
