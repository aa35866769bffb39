"""A container's files for every front end: export, copies and archives in and out (cp, Docker's
/archive), the changes against its image (diff) and a commit of them as an image.

A running container's root is reached through its init's /proc/PID/root; a stopped one's
snapshot is mounted in a child process with a mount namespace of its own (berth.engine.isolated),
where the work is done: the caller's namespace never changes. Every path inside is resolved with openat2
(RESOLVE_IN_ROOT), so a symlink in the container cannot lead a copy onto the host's files.
Docker's rules: a directory is copied with its contents (into DEST if DEST is a directory), a
file to DEST or into it; copied-in files belong to root unless keep_owner."""

from __future__ import annotations

import os
import posixpath
import tarfile
import tempfile
from typing import BinaryIO

from berth.errors import NotFound
from berth.oci.record import record


@record
class CommitRequest:
    tags: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()  # Dockerfile instructions: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE
    message: str = ""
    author: str = ""
    pause: bool = True  # the container, while its changes are read


def export(engine, ref: str, out: BinaryIO) -> None:
    """The container's whole file system as a tar stream."""
    _in_root(engine, ref, "_export", {}, out)


def _export(root: str, out: BinaryIO) -> None:
    """The root file system without what is mounted on it (as Docker's export): a running
    container's root shows its /proc, /sys, /dev, volumes and bind-mounted /etc files, whose
    mount points are exported empty."""
    import stat

    from berth.snapshot.diff import add_entry, walk

    mounted = _mount_points(root)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        hardlinks: dict = {}
        for rel, st in walk(root, mounted):
            if rel in mounted and stat.S_ISREG(st.st_mode):
                info = tarfile.TarInfo(rel)
                info.mode, info.mtime = st.st_mode & 0o7777, int(st.st_mtime)
                tar.addfile(info)  # a file bound over the root's: its mount point, empty
                continue
            add_entry(tar, root, rel, hardlinks)


def _mount_points(root: str) -> frozenset[str]:
    """What is mounted under a running container's root (/proc/PID/root), as paths relative to it;
    none for a snapshot mounted by itself."""
    pid = root.removeprefix("/proc/").removesuffix("/root")
    if not pid.isdigit():
        return frozenset()
    with open(f"/proc/{pid}/mountinfo") as f:
        points = {line.split()[4].encode().decode("unicode_escape").lstrip("/") for line in f}
    return frozenset(p for p in points if p)


def copy_out(engine, ref: str, path: str, dest: str) -> None:
    """PATH in the container to DEST on the host."""
    _in_root(engine, ref, "_copy_out", {"path": path, "dest": dest})


def _copy_out(root: str, path: str, dest: str) -> None:
    import shutil

    name = posixpath.basename(path.rstrip("/")) or "."
    with _Resolved(root, path) as source:
        target = os.path.join(dest, name) if os.path.isdir(dest) else dest
        if not os.path.isdir(dest) and dest.endswith("/"):
            raise NotFound(f"destination directory {dest} does not exist")
        # `source` is a magic link to what was resolved inside the root: followed at the top (it is
        # that object), never below it (links inside the tree are copied as links)
        if os.path.isdir(source):
            shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)


def archive_out(engine, ref: str, path: str, out: BinaryIO) -> None:
    """PATH in the container as a tar stream, its top entry named for PATH's last part."""
    _in_root(engine, ref, "_archive_out", {"path": path}, out)


def _archive_out(root: str, path: str, out: BinaryIO) -> None:
    from berth.snapshot.diff import add_entry, walk

    name = posixpath.basename(path.rstrip("/")) or "."
    with _Resolved(root, path) as source:
        st = os.stat(source)  # the resolved object itself, not the /proc/self/fd link
        info = tarfile.TarInfo(name)
        info.mode, info.uid, info.gid, info.mtime = st.st_mode & 0o7777, st.st_uid, st.st_gid, int(st.st_mtime)
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            if os.path.isdir(source):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                links: dict = {}
                for rel, _ in walk(source):
                    add_entry(tar, source, rel, links, prefix=name)
            else:
                info.size = st.st_size
                with open(source, "rb") as f:
                    tar.addfile(info, f)


# Go's os.FileMode bits, which Docker's path stat carries
_GO_MODE = ((0o040000, 1 << 31), (0o120000, 1 << 27), (0o060000, 1 << 26), (0o010000, 1 << 25),
            (0o140000, 1 << 24), (0o020000, (1 << 26) | (1 << 21)))  # fmt: skip


def stat(engine, ref: str, path: str) -> dict:
    """What PATH is in the container, as Docker's X-Docker-Container-Path-Stat: name, size, mode
    (Go's FileMode), mtime, linkTarget."""
    return _in_root(engine, ref, "_stat", {"path": path})


def _stat(root: str, path: str) -> dict:
    import stat as stat_

    from berth.clock import rfc3339_ns

    with _Resolved(root, path) as source:
        st = os.stat(source)
    mode = st.st_mode & 0o777
    for kind, bit in _GO_MODE:
        if stat_.S_IFMT(st.st_mode) == kind:
            mode |= bit
    mode |= (1 << 23 if st.st_mode & stat_.S_ISUID else 0) | (1 << 22 if st.st_mode & stat_.S_ISGID else 0)
    mode |= 1 << 20 if st.st_mode & stat_.S_ISVTX else 0
    return {"name": posixpath.basename(path.rstrip("/")) or "/", "size": st.st_size, "mode": mode,
            "mtime": rfc3339_ns(st.st_mtime_ns),
            "linkTarget": ""}  # fmt: skip


def copy_in(engine, local: str, ref: str, path: str, keep_owner: bool = False) -> None:
    """LOCAL on the host to PATH in the container."""
    engine.get(ref)
    if not os.path.lexists(local):
        raise NotFound(f"stat {local}: no such file or directory")
    name = os.path.basename(local.rstrip("/"))
    sources = [{"rel": name, "path": os.path.abspath(local), "name": name}]
    _in_root(engine, ref, "_place", {"sources": sources, "path": path, "keep_owner": keep_owner})


def archive_in(engine, stream: BinaryIO, ref: str, path: str, keep_owner: bool = False) -> None:
    """A tar stream's entries into the directory PATH in the container."""
    from berth.fs import extract_tar

    engine.get(ref)  # No such container before the stream is read
    with tempfile.TemporaryDirectory(prefix="berth-cp-") as scratch:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            extract_tar(tar, scratch)
        sources = [{"rel": n, "path": os.path.join(scratch, n), "name": n} for n in sorted(os.listdir(scratch))]
        _in_root(engine, ref, "_place", {"sources": sources, "path": path, "keep_owner": keep_owner, "into": True})


def _place(root: str, sources: list[dict], path: str, keep_owner: bool, into: bool = False) -> None:
    """Docker's placement: into an existing directory under the source's name, else at the path
    itself (`into`: the directory must exist)."""
    from berth.build import copy as copying

    copier = copying.Copier(root, copying.Owner(None, None) if keep_owner else copying.Owner(0, 0), None)
    try:
        if into and not copier.is_dir(path):
            raise NotFound(f"destination directory {path} does not exist in the container")
        for src in (copying.Source(**s) for s in sources):
            target = posixpath.join(path, src.name) if copier.is_dir(path) else path
            if os.path.isdir(src.path):
                copier.mkdir(target)
                copying.copy_sources(copier, [src], target.rstrip("/") + "/", None, "cp")
            else:
                copier.put(target, src.path, os.lstat(src.path))
    finally:
        copier.close()


class _Resolved:
    """`path` resolved inside the container's root, as a /proc/self/fd path held open while used."""

    def __init__(self, root: str, path: str) -> None:
        from berth.linux.openat2 import open_in_root

        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self.fd = open_in_root(root_fd, path, os.O_PATH)
        except FileNotFoundError:
            raise NotFound(f"Could not find the file {path} in container") from None
        finally:
            os.close(root_fd)
        self.path = f"/proc/self/fd/{self.fd}"

    def __enter__(self) -> str:
        return self.path

    def __exit__(self, *exc) -> None:
        os.close(self.fd)


def _in_root(engine, ref: str, work: str, kwargs: dict, out: BinaryIO | None = None):
    """work(root=the container's root, **kwargs): here, through its init's /proc/PID/root, while
    it runs; else in a child process that mounts its snapshot in a mount namespace of its own."""
    c = engine.get(ref)
    if c.status == "running" and c.pid:
        extra = {"out": out} if out is not None else {}
        return globals()[work](root=f"/proc/{c.pid}/root", **kwargs, **extra)
    from berth.engine import isolated

    return isolated.call("berth.engine.container_files:_mounted",
                         {"store_root": engine.root, "cid": c.id, "work": work, "kwargs": kwargs}, out)  # fmt: skip


def _mounted(store_root: str, cid: str, work: str, kwargs: dict, out: BinaryIO | None = None):
    """In berth.engine.isolated's child: the snapshot mounted, then the work done in it."""
    from berth.engine.engine import Engine

    engine = Engine(store_root)
    try:
        root = engine.mount_rootfs(engine.get(cid))
    finally:
        engine.close()
    extra = {"out": out} if out is not None else {}
    return globals()[work](root=root, **kwargs, **extra)


def changes(engine, ref: str) -> list[tuple[str, str]]:
    """Docker's diff: ("A"|"C"|"D", path) for each change against the image."""
    from berth.image.commit import docker_diff

    return docker_diff(engine.store, engine.get(ref).id)


def commit(engine, ref: str, req: CommitRequest) -> str:
    """The container's changes as a new image over its own; the image's ID."""
    from berth.image.commit import commit as commit_layer

    c = engine.get(ref)
    try:
        base = engine.store.get(c.image) if c.image else None
    except NotFound:
        base = None
    paused = False
    if req.pause and c.status == "running" and not c.paused:
        engine.pause(c.id)
        paused = True
    try:
        command = " ".join([*(c.config.get("entrypoint") or []), *(c.config.get("command") or [])])
        from berth.engine.userns import from_config

        maps = from_config(c.config)  # its layer holds the host's ids of its own: the image gets the container's
        image = commit_layer(engine.store, base, c.id, list(req.tags), list(req.changes), req.message, req.author,
                             created_by=command, owners=maps.inside if maps else None)  # fmt: skip
    finally:
        if paused:
            engine.pause(c.id, resume=True)
    return image.id
