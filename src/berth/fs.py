"""Small file-system helpers: atomic writes, removal, and paths made safely inside a root."""

import errno
import os
import stat


def atomic_write(path: str, data: bytes, mode: int = 0o644, durable: bool = False) -> None:
    """Write `data` to `path` so that readers see the old or the new file, never half.

    `durable` also fsyncs, for what must survive a crash of the machine; runtime
    state lives in /run and dies with the machine anyway.
    """
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    """Write to an existing kernel file (cgroup, proc) in one write call."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def unlink_if_present(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_tree(path: str) -> None:
    """rm -rf without shutil, which costs `re` and the compression modules at import."""
    try:
        for top, dirs, files in os.walk(path, topdown=False):
            for name in files:
                os.unlink(os.path.join(top, name))
            for name in dirs:
                full = os.path.join(top, name)
                os.unlink(full) if os.path.islink(full) else os.rmdir(full)
        os.rmdir(path)
    except FileNotFoundError:
        pass


def tree_size(path: str) -> int:
    """Bytes a directory tree takes on disk (allocated blocks, as du counts them); 0 if it is gone."""
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(top, name)).st_blocks * 512
            except OSError:
                pass
    return total


def open_or_make_in_root(sys, root_fd: int, path: str, directory: bool = True) -> int:
    """An O_PATH fd of `path` inside the root `root_fd`, made if missing.

    Directories are made on the way, and a directory or an empty file last.
    Symlinks met on the way, dangling ones included, are followed inside the root,
    never out of it: the walk of runc's securejoin, on openat2(RESOLVE_IN_ROOT).
    `sys` is a berth.linux.syscalls.Syscalls (or a recording fake of it).
    """
    for _ in range(40):  # the kernel's own ELOOP limit
        try:
            return sys.open_in_root(root_fd, path)
        except FileNotFoundError:
            pass
        path = _make_first_missing(sys, root_fd, path, directory)
    raise OSError(errno.ELOOP, f"too many symlinks resolving {path}")


def _make_first_missing(sys, root_fd: int, path: str, directory: bool) -> str:
    """Make the first missing component of `path`, or, where it is a dangling
    symlink, return the path with that link replaced by its target.

    The existing prefix is looked for from the end: mostly only the last name is
    missing (a mount point in an image), and that costs two opens and a mkdir."""
    parts = [p for p in path.split("/") if p]
    i = len(parts) - 1
    while True:
        prefix = "/" + "/".join(parts[:i])
        try:
            pfd = sys.open_in_root(root_fd, prefix, os.O_PATH | os.O_DIRECTORY)
            break
        except FileNotFoundError:
            i -= 1  # "/" itself always opens
    comp, rest = parts[i], "/".join(parts[i + 1 :])
    try:
        try:
            if rest or directory:
                sys.mkdirat(pfd, comp)
            else:
                sys.close(sys.open(comp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, pfd))
            return path
        except FileExistsError:
            pass
        # there, yet it did not resolve: a dangling symlink (or made meanwhile: then just retry)
        if not stat.S_ISLNK(sys.lstatat(pfd, comp).st_mode):
            return path
        # joined as text here, resolved physically (.. included) by openat2 in the root
        target = sys.readlinkat(pfd, comp)
        base = target if target.startswith("/") else f"{prefix.rstrip('/')}/{target}"
        return f"{base}/{rest}" if rest else base
    finally:
        sys.close(pfd)


def extract_tar(tar, dest: str, kind: str = "tar") -> None:
    """`tar.extractall(dest)` under the tarfile module's "tar" or "data" filter (PEP 706).

    The same rules are applied here too, so that every Python behaves alike (Debian 12's 3.11.2
    has no filters; 3.12's "tar" filter lets a link point outside, and a hard link to a name
    the archive lacks raise KeyError): leading slashes stripped, nothing placed or linked
    outside `dest`, no setuid/setgid/sticky or group/other-write bits; with "data" also no
    device or FIFO and no owners from the archive.
    """
    import tarfile

    members = _filtered(tar, dest, kind)
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, members=members, filter=kind)
    else:
        tar.extractall(dest, members=members)


def _filtered(tar, dest: str, kind: str):
    import tarfile

    root = os.path.realpath(dest)

    def inside(path: str) -> bool:
        return os.path.commonpath([root, os.path.realpath(path)]) == root

    for m in tar:
        m.name = m.name.lstrip("/")
        target = os.path.join(root, m.name)
        if not inside(target):
            raise tarfile.TarError(f"{m.name!r} would be extracted to {target!r}, which is outside the destination")
        if m.issym() or m.islnk():
            if kind == "data" and m.linkname.startswith("/"):
                raise tarfile.TarError(f"{m.name!r} is a link to an absolute path ({m.linkname!r})")
            base = os.path.dirname(target) if m.issym() else root
            if not inside(os.path.join(base, m.linkname.lstrip("/") if m.islnk() else m.linkname)):
                raise tarfile.TarError(f"{m.name!r} would link to {m.linkname!r}, which is outside the destination")
        if kind == "data":
            if m.ischr() or m.isblk() or m.isfifo():
                raise tarfile.TarError(f"{m.name!r} is a special file")
            m.uid, m.gid = os.getuid(), os.getgid()  # extracted as the caller's
            m.uname = m.gname = ""  # (this tarfile looks names up first: none then)
            if m.isreg():
                m.mode = (m.mode | 0o600) & ~(0o011 if not m.mode & 0o100 else 0)
        m.mode &= ~(stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | 0o022)
        yield m


class Flock:
    """An exclusive flock on a directory (the per-container lock) or, with `file`, on a lock file
    made if missing. It serialises holders in other processes and in other threads alike (each
    takes it through an open of its own); the kernel lets it go when its holder dies.
    `with Flock(path):` waits for it."""

    def __init__(self, path: str, file: bool = False) -> None:
        self.path = path
        self.fd = -1
        self._flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC if file else os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC

    def acquire(self) -> "Flock":
        self._take(blocking=True)
        return self

    def try_acquire(self) -> bool:
        """Take it if no one holds it; False at once otherwise."""
        return self._take(blocking=False)

    def _take(self, blocking: bool) -> bool:
        import fcntl

        fd = os.open(self.path, self._flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Flock":
        return self if self.fd >= 0 else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
