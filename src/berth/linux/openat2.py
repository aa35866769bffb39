"""openat2(2): resolve paths so that no symlink can lead out of a root."""

import os

from berth.linux.libc import Structure, byref, c_uint64, sizeof, syscall

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


class _OpenHow(Structure):
    _fields_ = [("flags", c_uint64), ("mode", c_uint64), ("resolve", c_uint64)]


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    try:
        return syscall("openat2", dirfd, path.encode(), byref(how), sizeof(how))
    except OSError as e:
        raise OSError(e.errno, os.strerror(e.errno), path) from None


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH, mode: int = 0) -> int:
    """Open `path` as if `root_fd` were `/`: `..` and symlinks stay inside it."""
    return openat2(root_fd, path.lstrip("/") or ".", flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
