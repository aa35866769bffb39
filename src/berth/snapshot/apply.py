"""Apply an OCI layer (an uncompressed tar stream) to a directory, safely.

Nothing is ever created or changed outside the target: every entry's parent is
opened with openat2(RESOLVE_IN_ROOT), so symlinks (from this layer or a lower
one) resolve inside the root; names with `..` or that are absolute are refused;
hard links are made only to files inside the root; device nodes are skipped.

Whiteouts are mapped for the snapshotter the directory belongs to:
- overlay: `.wh.NAME` becomes a 0/0 character device, `.wh..wh..opq` the
  `trusted.overlay.opaque` xattr on its directory (what overlayfs reads);
- copy: the whiteout deletes NAME, the opaque marker empties the directory.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile

from berth.errors import InvalidArgument
from berth.fs import open_or_make_in_root
from berth.linux.openat2 import open_in_root
from berth.linux.syscalls import Syscalls

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


class ApplyStats:
    __slots__ = ("entries", "skipped_devices", "bytes")

    def __init__(self) -> None:
        self.entries = 0
        self.skipped_devices: list[str] = []
        self.bytes = 0


def _clean_name(name: str) -> str:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise InvalidArgument(f"layer entry {name!r} points outside the layer; refusing it")
    return "/".join(parts)


class _Applier:
    def __init__(self, root: str, overlay: bool) -> None:
        self.root = root
        self.root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.sys = Syscalls()
        self.overlay = overlay
        self.stats = ApplyStats()
        self.created: set[str] = set()  # this layer's own entries: an opaque marker keeps them

    def close(self) -> None:
        os.close(self.root_fd)

    def parent(self, rel: str) -> tuple[int, str]:
        """An fd of rel's parent inside the root (made where missing), and the last name."""
        head, _, name = rel.rpartition("/")
        return open_or_make_in_root(self.sys, self.root_fd, head or "/"), name

    def remove(self, pfd: int, name: str) -> None:
        """rm -rf of name inside the directory pfd, never following symlinks."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            dfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            try:
                for child in os.listdir(dfd):
                    self.remove(dfd, child)
            finally:
                os.close(dfd)
            os.rmdir(name, dir_fd=pfd)
        else:
            os.unlink(name, dir_fd=pfd)

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        rel = _clean_name(member.name)
        if not rel:
            return  # the root itself
        self.stats.entries += 1
        pfd, name = self.parent(rel)
        try:
            if name == OPAQUE:
                self.opaque(pfd, rel.rpartition("/")[0])
            elif name.startswith(WHITEOUT):
                self.whiteout(pfd, name[len(WHITEOUT) :])
            elif member.isdir():
                self.directory(pfd, name, member)
            elif member.isreg():
                self.regular(pfd, name, member, tar)
            elif member.issym():
                self.replace(pfd, name)
                os.symlink(member.linkname, name, dir_fd=pfd)
                self.owner(pfd, name, member)
            elif member.islnk():
                self.hardlink(pfd, name, member)
            elif member.isfifo():
                self.replace(pfd, name)
                os.mkfifo(name, member.mode & 0o7777, dir_fd=pfd)
                self.owner(pfd, name, member)
            elif member.ischr() or member.isblk():
                self.stats.skipped_devices.append(rel)
            else:
                raise InvalidArgument(f"layer entry {member.name!r} has an unknown type {member.type!r}")
            self.created.add(rel)
        finally:
            os.close(pfd)

    def replace(self, pfd: int, name: str, keep_dir: bool = False) -> bool:
        """Clear the way for a new entry; True when a directory stays in place."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if keep_dir and stat.S_ISDIR(st.st_mode):
            return True
        self.remove(pfd, name)
        return False

    def directory(self, pfd: int, name: str, member: tarfile.TarInfo) -> None:
        if not self.replace(pfd, name, keep_dir=True):
            os.mkdir(name, 0o700, dir_fd=pfd)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            self.metadata(fd, member)
        finally:
            os.close(fd)

    def regular(self, pfd: int, name: str, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        self.replace(pfd, name)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
        try:
            src = tar.extractfile(member)
            while chunk := src.read(1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
                self.stats.bytes += len(chunk)
            self.metadata(fd, member)
        finally:
            os.close(fd)

    def hardlink(self, pfd: int, name: str, member: tarfile.TarInfo) -> None:
        target = _clean_name(member.linkname)
        head, _, tname = target.rpartition("/")
        try:
            tfd = open_in_root(self.root_fd, head or "/", os.O_PATH | os.O_DIRECTORY)
        except (FileNotFoundError, NotADirectoryError):
            raise InvalidArgument(
                f"layer entry {member.name!r} links to {member.linkname!r}, which is not in the layer"
            ) from None
        try:
            st = os.stat(tname, dir_fd=tfd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(f"layer entry {member.name!r} is a hard link to a directory")
            self.replace(pfd, name)
            os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            raise InvalidArgument(
                f"layer entry {member.name!r} links to {member.linkname!r}, which is not in the layer"
            ) from None
        finally:
            os.close(tfd)

    def metadata(self, fd: int, member: tarfile.TarInfo) -> None:
        os.fchown(fd, member.uid, member.gid)
        os.fchmod(fd, member.mode & 0o7777)
        for key, value in (member.pax_headers or {}).items():
            if key.startswith("SCHILY.xattr."):
                try:
                    os.setxattr(fd, key[len("SCHILY.xattr.") :], value.encode("utf-8", "surrogateescape"))
                except OSError as e:
                    if e.errno not in (errno.ENOTSUP, errno.EPERM):
                        raise
        os.utime(fd, (member.mtime, member.mtime))

    def owner(self, pfd: int, name: str, member: tarfile.TarInfo) -> None:
        os.chown(name, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
        os.utime(name, (member.mtime, member.mtime), dir_fd=pfd, follow_symlinks=False)

    def whiteout(self, pfd: int, name: str) -> None:
        if not name or name in (".", ".."):
            raise InvalidArgument(f"invalid whiteout for {name!r}")
        self.replace(pfd, name)
        if self.overlay:
            os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)

    def opaque(self, pfd: int, rel_dir: str) -> None:
        """Hide what lower layers have in this directory, not what this layer adds."""
        if self.overlay:
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
            try:
                os.setxattr(fd, OPAQUE_XATTR, b"y")
            finally:
                os.close(fd)
            return
        dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=pfd)
        try:
            for child in os.listdir(dfd):
                if f"{rel_dir}/{child}".lstrip("/") not in self.created:
                    self.remove(dfd, child)
        finally:
            os.close(dfd)


def apply_layer(stream, root: str, overlay: bool) -> ApplyStats:
    """Apply the tar read from `stream` (uncompressed) onto `root`."""
    applier = _Applier(root, overlay)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                applier.apply(member, tar)
    except tarfile.TarError as e:
        raise InvalidArgument(f"layer is not a valid tar archive: {e}") from None
    finally:
        applier.close()
    return applier.stats
