"""The libc handle, errno checking and raw syscall numbers per architecture."""

import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

_NUMBERS = {
    "x86_64": {"pivot_root": 155, "keyctl": 250, "openat2": 437},
    "aarch64": {"pivot_root": 41, "keyctl": 219, "openat2": 437},
}
_MACHINE = os.uname().machine


def check(ret: int, what: str, path: str | None = None) -> int:
    """Raise OSError with errno when a libc call returned -1."""
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def syscall(name: str, *args: object) -> int:
    """Call a syscall that glibc has no wrapper for, by name."""
    try:
        number = _NUMBERS[_MACHINE][name]
    except KeyError:
        raise OSError(38, f"{name}: no syscall number known for {_MACHINE}") from None
    return check(libc.syscall(ctypes.c_long(number), *args), name)
