"""COPY and ADD: sources from the context (or another stage's root) into a
mounted root file system, with Docker's rules.

- A source is a path or a wildcard inside its root; `..` and symlinks cannot
  lead out of it. A directory source copies its contents, not itself.
- The destination is a directory when it ends with `/` or there are several
  sources; relative to WORKDIR; missing parents are made.
- Files from the context belong to root unless `--chown`; from a stage or an
  image they keep their owner. Modes and mtimes are kept; `--chmod` overrides
  the mode.
- ADD extracts local tar archives (plain, gzip, bzip2, xz) into the destination.

Every destination path is resolved inside the target root with
openat2(RESOLVE_IN_ROOT), so a symlink in the image cannot redirect a write
onto the host (the builder runs in a mount namespace of its own, but the host's
file system is still there).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat

from berth.build.ignore import Matcher
from berth.errors import InvalidArgument, NotFound
from berth.fs import extract_tar, open_or_make_in_root
from berth.linux.syscalls import Syscalls

_GLOB = "*?["


class Source:
    __slots__ = ("rel", "path", "name")

    def __init__(self, rel: str, path: str, name: str) -> None:
        self.rel = rel  # relative to its root
        self.path = path  # absolute on the host
        self.name = name  # the name to give it under a directory destination


def resolve_sources(root: str, patterns: list[str], matcher: Matcher | None, what: str) -> list[Source]:
    """The sources `patterns` name inside `root`; errors as Docker words them."""
    out: list[Source] = []
    real_root = os.path.realpath(root)
    for pattern in patterns:
        clean = posixpath.normpath("/" + pattern).lstrip("/")
        if posixpath.normpath(pattern).startswith("../") or posixpath.normpath(pattern) == "..":
            raise InvalidArgument(f"{what} failed: forbidden path outside the build context: {pattern}")
        if any(c in clean for c in _GLOB):
            import glob

            matches = sorted(glob.glob(clean, root_dir=root, include_hidden=True))
            matches = [m for m in matches if not (matcher and matcher.excluded(m))]
            if not matches:
                raise NotFound(f"{what} failed: no source files were specified (no match for {pattern})")
        else:
            matches = [clean]
        for rel in matches:
            path = os.path.join(root, rel) if rel else root
            real = os.path.realpath(path)
            if real != real_root and not real.startswith(real_root + "/"):
                raise InvalidArgument(f"{what} failed: forbidden path outside the build context: {pattern} ({real})")
            if not os.path.lexists(path) or (rel and matcher and matcher.excluded(rel)):
                raise NotFound(f"{what} failed: file not found in build context or excluded by .dockerignore: "
                               f"stat {pattern}: file does not exist")  # fmt: skip
            out.append(Source(rel=rel, path=real if rel else root, name=posixpath.basename(rel)))
    return out


def _entries(src: Source, matcher: Matcher | None):
    """(relative name under the destination, host path, lstat) of a source, parents first."""
    st = os.stat(src.path)
    if not stat.S_ISDIR(st.st_mode):
        yield "", src.path, st
        return
    for top, dirs, files in os.walk(src.path):
        dirs.sort()
        files.sort()
        rel_top = os.path.relpath(top, src.path)
        kept = []
        for name in dirs:
            rel = name if rel_top == "." else f"{rel_top}/{name}"
            ctx_rel = f"{src.rel}/{rel}" if src.rel else rel
            full = os.path.join(top, name)
            if matcher and matcher.excluded(ctx_rel) and not matcher.has_exceptions:
                continue
            if os.path.islink(full):
                files.append(name)
                continue
            kept.append(name)
            if not (matcher and matcher.excluded(ctx_rel)):
                yield rel, full, os.lstat(full)
        dirs[:] = kept
        for name in sorted(files):
            rel = name if rel_top == "." else f"{rel_top}/{name}"
            ctx_rel = f"{src.rel}/{rel}" if src.rel else rel
            if matcher and matcher.excluded(ctx_rel):
                continue
            full = os.path.join(top, name)
            yield rel, full, os.lstat(full)


def checksum(sources: list[Source], matcher: Matcher | None, memo=None) -> str:
    """What the cache keys a COPY on: names, types, modes, owners, link targets and contents.

    `memo` (the build cache) remembers each file's content digest under its
    device, inode, size, mtime and ctime, as BuildKit's content hashes do: a
    file whose stat is unchanged is not read again (ctime cannot be set back)."""
    h = hashlib.sha256()
    learned: list[tuple] = []
    for src in sources:
        h.update(f"\0src {src.rel}\0".encode())
        for rel, full, st in _entries(src, matcher):
            h.update(f"{rel}\0{st.st_mode:o}\0{st.st_uid}:{st.st_gid}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(full).encode())
            elif stat.S_ISREG(st.st_mode):
                key = (full, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
                digest = memo.file_digest(key) if memo is not None else None
                if digest is None:
                    fh = hashlib.sha256()
                    with open(full, "rb") as f:
                        while chunk := f.read(1 << 20):
                            fh.update(chunk)
                    digest = fh.hexdigest()
                    learned.append((*key, digest))
                h.update(digest.encode())
    if memo is not None and learned:
        memo.remember_files(learned)
    return "sha256:" + h.hexdigest()


class Owner:
    __slots__ = ("uid", "gid")

    def __init__(self, uid: int | None = None, gid: int | None = None) -> None:
        self.uid = uid  # None: keep the source's
        self.gid = gid


class Copier:
    """Writes entries into the root at `root` (a mounted snapshot)."""

    def __init__(self, root: str, owner: Owner, chmod: int | None) -> None:
        self.sys = Syscalls()
        self.root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.owner, self.chmod = owner, chmod

    def close(self) -> None:
        os.close(self.root_fd)

    def _ensure_dir(self, path: str) -> int:
        """An O_PATH fd of the directory path, made where missing; the directories
        made belong to --chown's owner, as BuildKit makes them."""
        prefix = ""
        for comp in [p for p in path.split("/") if p]:
            here = f"{prefix}/{comp}"
            try:
                os.close(self.sys.open_in_root(self.root_fd, here))
            except FileNotFoundError:
                fd = open_or_make_in_root(self.sys, self.root_fd, here)
                try:
                    if self.owner.uid is not None:
                        os.chown(f"/proc/self/fd/{fd}", self.owner.uid, self.owner.gid)
                finally:
                    os.close(fd)
            prefix = here
        return open_or_make_in_root(self.sys, self.root_fd, path or "/")

    def _parent(self, dest: str) -> tuple[int, str]:
        head, _, name = dest.rstrip("/").rpartition("/")
        fd = self._ensure_dir(head or "/")
        dfd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        os.close(fd)
        return dfd, name

    def is_dir(self, dest: str) -> bool:
        try:
            fd = self.sys.open_in_root(self.root_fd, dest)
        except (FileNotFoundError, NotADirectoryError):
            return False
        try:
            return stat.S_ISDIR(os.fstat(fd).st_mode)
        finally:
            os.close(fd)

    def mkdir(self, dest: str) -> None:
        os.close(self._ensure_dir(dest))

    def put(self, dest: str, host_path: str, st: os.stat_result) -> None:
        pfd, name = self._parent(dest)
        try:
            self._put(pfd, name, host_path, st)
        finally:
            os.close(pfd)

    def _put(self, pfd: int, name: str, host_path: str, st: os.stat_result) -> None:
        uid = st.st_uid if self.owner.uid is None else self.owner.uid
        gid = st.st_gid if self.owner.gid is None else self.owner.gid
        mode = stat.S_IMODE(st.st_mode) if self.chmod is None else self.chmod
        try:
            old = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if stat.S_ISDIR(st.st_mode):
            if old is not None and not stat.S_ISDIR(old.st_mode):
                os.unlink(name, dir_fd=pfd)
                old = None
            if old is None:
                os.mkdir(name, 0o700, dir_fd=pfd)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
            try:
                self._meta(fd, uid, gid, mode, st)
            finally:
                os.close(fd)
            return
        if old is not None:
            if stat.S_ISDIR(old.st_mode):
                raise InvalidArgument(f"cannot replace the directory {name} with a file")
            os.unlink(name, dir_fd=pfd)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(host_path), name, dir_fd=pfd)
            os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(name, ns=(st.st_mtime_ns, st.st_mtime_ns), dir_fd=pfd, follow_symlinks=False)
        elif stat.S_ISREG(st.st_mode):
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
            try:
                with open(host_path, "rb") as src:
                    _copy_data(src.fileno(), fd, st.st_size)
                self._meta(fd, uid, gid, mode, st)
            finally:
                os.close(fd)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(name, mode, dir_fd=pfd)
        # devices and sockets are not copied, as Docker's context never carries them

    @staticmethod
    def _meta(fd: int, uid: int, gid: int, mode: int, st: os.stat_result) -> None:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        os.utime(fd, ns=(st.st_mtime_ns, st.st_mtime_ns))

    def put_bytes(self, dest: str, data: bytes, mode: int = 0o644) -> None:
        pfd, name = self._parent(dest)
        try:
            try:
                os.unlink(name, dir_fd=pfd)
            except (FileNotFoundError, IsADirectoryError):
                pass
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
            try:
                os.write(fd, data)
                os.fchown(fd, self.owner.uid or 0, self.owner.gid or 0)
                os.fchmod(fd, mode if self.chmod is None else self.chmod)
            finally:
                os.close(fd)
        finally:
            os.close(pfd)


def _copy_data(src: int, dst: int, size: int) -> None:
    left = size
    while left > 0:
        try:
            n = os.copy_file_range(src, dst, left)
        except OSError:
            n = os.sendfile(dst, src, None, left)
        if n == 0:
            break
        left -= n


def copy_sources(copier: Copier, sources: list[Source], dest: str, matcher: Matcher | None, what: str,
                 extract: bool = False, count: int = 0) -> None:  # fmt: skip
    """Copy the sources to dest (absolute in the root) with Docker's destination rules;
    `count` is the instruction's number of sources when they come in parts."""
    count = count or len(sources)
    dir_dest = dest.endswith("/") or count > 1 or copier.is_dir(dest)
    if count > 1 and not dest.endswith("/"):
        raise InvalidArgument(f"{what} failed: when using {what} with more than one source file, "
                              "the destination must be a directory and end with a /")  # fmt: skip
    for src in sources:
        st = os.stat(src.path)
        if stat.S_ISDIR(st.st_mode):
            copier.mkdir(dest)
            for rel, full, est in _entries(src, matcher):
                copier.put(posixpath.join(dest, rel) if rel else dest.rstrip("/") or "/", full, est)
            continue
        if extract and _is_archive(src.path):
            copier.mkdir(dest)
            _extract(src.path, copier, dest)
            continue
        target = posixpath.join(dest, src.name) if dir_dest else dest
        copier.put(target, src.path, st)


def _is_archive(path: str) -> bool:
    import tarfile

    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _extract(path: str, copier: Copier, dest: str) -> None:
    """ADD's extraction: the archive's entries under dest, applied safely inside the root."""
    import tarfile
    import tempfile

    # unpacked to a scratch directory with the tar module's data filter, then copied in through the root-safe writer
    with tempfile.TemporaryDirectory(prefix="berth-add-") as scratch, tarfile.open(path) as tar:
        extract_tar(tar, scratch)
        owner, copier.owner = copier.owner, Owner()  # extracted entries keep the archive's owners
        try:
            for rel, full, est in _entries(Source(rel="", path=scratch, name=""), None):
                copier.put(posixpath.join(dest, rel), full, est)
        finally:
            copier.owner = owner


def fetch(url: str, scratch: str, what: str) -> Source:
    """ADD's remote source: downloaded to scratch (mode 0600, mtime from Last-Modified), never extracted."""
    import email.utils
    import urllib.error
    import urllib.parse
    import urllib.request

    name = posixpath.basename(urllib.parse.urlsplit(url).path) or "download"
    path = os.path.join(scratch, f"{len(os.listdir(scratch))}-{name}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:  # noqa: S310 - the Dockerfile's URL
            while chunk := response.read(1 << 20):
                out.write(chunk)
            modified = response.headers.get("Last-Modified")
    except urllib.error.HTTPError as e:
        raise NotFound(f"{what} failed: {url}: {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        from berth.errors import Unavailable

        raise Unavailable(f"{what} failed: {url}: {getattr(e, 'reason', e)}") from None
    os.chmod(path, 0o600)
    if modified:
        when = email.utils.parsedate_to_datetime(modified).timestamp()
        os.utime(path, (when, when))
    return Source(rel=name, path=path, name=name)
