"""Small file-system helpers: atomic writes and directory creation."""

import os


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
