"""`berth cp [-a] CONTAINER:SRC DEST|-` and `berth cp SRC|- CONTAINER:DEST`: files in and out of a container.

A running container's root is reached through its init's /proc/PID/root; a
stopped one's snapshot is mounted in a mount namespace of this process's own.
Every path inside is resolved with openat2(RESOLVE_IN_ROOT), so a symlink in
the container cannot lead a copy onto the host's files. Docker's rules: a
directory is copied with its contents (into DEST if DEST is a directory), a file
to DEST or into it; `-` streams a tar archive; copied-in files belong to root
unless -a keeps their owner.
"""

from __future__ import annotations

import os
import posixpath
import sys
import tarfile

from berth.argv import BOOL, Option, parse
from berth.errors import InvalidArgument, NotFound
from berth.fs import extract_tar

OPTIONS = [Option("archive,a", BOOL, help="archive mode (copy all uid/gid information)"),
           Option("quiet,q", BOOL, help="suppress progress output")]  # fmt: skip


def _split(arg: str) -> tuple[str, str] | None:
    """CONTAINER:PATH -> (container, path); a local path (with a / before any colon) -> None."""
    head, sep, tail = arg.partition(":")
    if not sep or "/" in head or not head:
        return None
    return head, tail or "/"


def _resolved(root: str, path: str) -> str:
    """A /proc/self/fd path to `path` resolved inside root (the fd stays open for this short-lived process)."""
    from berth.linux.openat2 import open_in_root

    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_in_root(root_fd, path, os.O_PATH)
    except FileNotFoundError:
        raise NotFound(f"Could not find the file {path} in container") from None
    finally:
        os.close(root_fd)
    return f"/proc/self/fd/{fd}"


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 2:
        raise InvalidArgument(
            '"cp" requires exactly 2 arguments: CONTAINER:SRC_PATH DEST_PATH|- or SRC_PATH|- CONTAINER:DEST_PATH'
        )
    src, dst = _split(args[0]), _split(args[1])
    if (src is None) == (dst is None):
        raise InvalidArgument("copying between containers is not supported" if src else
                              "must specify at least one container source")  # fmt: skip
    if src is not None:
        return _out(engine, *src, args[1])
    return _in(engine, args[0], *dst, opts["archive"])


def _out(engine, ref: str, path: str, dest: str) -> int:
    c = engine.get(ref)
    source = _resolved(engine.rootfs(c), path)
    name = posixpath.basename(path.rstrip("/")) or "."
    if dest == "-":
        _tar_out(source, name)
        return 0
    import shutil

    is_dir = os.path.isdir(source)
    target = os.path.join(dest, name) if os.path.isdir(dest) else dest
    if not os.path.isdir(dest) and dest.endswith("/"):
        raise NotFound(f"destination directory {dest} does not exist")
    # `source` is a magic link to what was resolved inside the root: followed at the top (it is that object),
    # never below it (links inside the tree are copied as links)
    if is_dir:
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(source, target)
    return 0


def _tar_out(source: str, name: str) -> None:
    from berth.snapshot.diff import add_entry, walk

    st = os.stat(source)  # the resolved object itself, not the /proc/self/fd link
    info = tarfile.TarInfo(name)
    info.mode, info.uid, info.gid, info.mtime = st.st_mode & 0o7777, st.st_uid, st.st_gid, int(st.st_mtime)
    with tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
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


def _in(engine, local: str, ref: str, path: str, keep_owner: bool) -> int:
    from berth.build import copy as copying

    c = engine.get(ref)
    root = engine.rootfs(c)
    copier = copying.Copier(root, copying.Owner(None, None) if keep_owner else copying.Owner(0, 0), None)
    try:
        if local == "-":
            import tempfile

            with tempfile.TemporaryDirectory(prefix="berth-cp-") as scratch:
                with tarfile.open(fileobj=sys.stdin.buffer, mode="r|*") as tar:
                    extract_tar(tar, scratch)
                if not copier.is_dir(path):
                    raise NotFound(f"destination directory {path} does not exist in the container")
                sources = [
                    copying.Source(rel=n, path=os.path.join(scratch, n), name=n) for n in sorted(os.listdir(scratch))
                ]
                _place(copying, copier, sources, path)
            return 0
        if not os.path.lexists(local):
            raise NotFound(f"stat {local}: no such file or directory")
        src = copying.Source(rel=os.path.basename(local.rstrip("/")), path=os.path.abspath(local),
                             name=os.path.basename(local.rstrip("/")))  # fmt: skip
        _place(copying, copier, [src], path)
    finally:
        copier.close()
    return 0


def _place(copying, copier, sources, path: str) -> None:
    """Docker's placement: into an existing directory under the source's name, else at the path itself."""
    for src in sources:
        into = copier.is_dir(path)
        target = posixpath.join(path, src.name) if into else path
        if os.path.isdir(src.path):
            copier.mkdir(target)
            copying.copy_sources(copier, [src], target.rstrip("/") + "/", None, "cp")
        else:
            copier.put(target, src.path, os.lstat(src.path))
