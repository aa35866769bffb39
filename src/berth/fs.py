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
    symlink, return the path with that link replaced by its target."""
    parts = [p for p in path.split("/") if p]
    prefix = ""
    for i, comp in enumerate(parts):
        here = f"{prefix}/{comp}"
        try:
            sys.close(sys.open_in_root(root_fd, here))
            prefix = here
            continue
        except FileNotFoundError:
            pass
        rest = "/".join(parts[i + 1 :])
        pfd = sys.open_in_root(root_fd, prefix or "/", os.O_PATH | os.O_DIRECTORY)
        try:
            try:
                is_link = stat.S_ISLNK(sys.lstatat(pfd, comp).st_mode)
            except FileNotFoundError:
                is_link = False
            if is_link:
                # joined as text here, resolved physically (.. included) by openat2 in the root
                target = sys.readlinkat(pfd, comp)
                base = target if target.startswith("/") else f"{prefix}/{target}"
                return f"{base}/{rest}" if rest else base
            if rest or directory:
                sys.mkdirat(pfd, comp)
            else:
                sys.close(sys.open(comp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, pfd))
        finally:
            sys.close(pfd)
        prefix = here
    return path
