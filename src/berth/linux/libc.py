"""The libc handle, the C types berth's calls pass, errno checking and raw syscall numbers.

Built on `_ctypes`, the C half of ctypes, not on the `ctypes` package: importing ctypes
costs ~1.7 ms (some forty types, their byte-order twins, `struct`, `types`), `_ctypes`
~0.5 ms, and both the runtime's main process and every container's init call libc on
the start path. Of ctypes's Python half berth needs only what is below: a few simple
types, a CDLL-like function lookup keeping errno, and the C half's byref and sizeof.
tests/unit/test_libc.py holds them against ctypes itself, so that a Python whose
`_ctypes` differs fails there, not in a container.
"""

import _ctypes
import os
from _ctypes import Structure, addressof, byref, get_errno, sizeof

__all__ = ["Structure", "addressof", "byref", "sizeof", "c_char", "c_short", "c_ushort", "c_int", "c_uint32",
           "c_long", "c_uint64", "c_void_p", "libc", "check", "syscall"]  # fmt: skip


def _scalar(name: str, code: str) -> type:
    """A C scalar type as ctypes makes one: a _SimpleCData subclass with the struct module's code."""
    return type(name, (_ctypes._SimpleCData,), {"_type_": code})


c_char = _scalar("c_char", "c")
c_short = _scalar("c_short", "h")
c_ushort = _scalar("c_ushort", "H")
c_int = _scalar("c_int", "i")
c_uint32 = _scalar("c_uint32", "I")
c_long = _scalar("c_long", "l")
c_uint64 = _scalar("c_uint64", "Q")
c_void_p = _scalar("c_void_p", "P")


class _Function(_ctypes.CFuncPtr):
    """A libc function as ctypes.CDLL(None, use_errno=True) gives it: returns int, keeps errno."""

    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = c_int


_NUMBERS = {
    "x86_64": {
        "pivot_root": 155,
        "keyctl": 250,
        "openat2": 437,
        "bpf": 321,
        "open_tree": 428,
        "move_mount": 429,
        "mount_setattr": 442,
    },
    "aarch64": {
        "pivot_root": 41,
        "keyctl": 219,
        "openat2": 437,
        "bpf": 280,
        "open_tree": 428,
        "move_mount": 429,
        "mount_setattr": 442,
    },
}
_MACHINE = os.uname().machine


class _Libc:
    """The C library of this process, opened on first use; each function is looked up once."""

    _handle = 0

    def __getattr__(self, name: str) -> _Function:
        if not self._handle:
            self._handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)
        fn = _Function((name, self))  # dlsym in this process's libc
        if name == "syscall":
            fn.restype = c_long
        self.__dict__[name] = fn
        return fn


libc = _Libc()


def check(ret: int, what: str, path: str | None = None) -> int:
    """Raise OSError with errno when a libc call returned -1."""
    if ret < 0:
        err = get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def syscall(name: str, *args: object) -> int:
    """Call a syscall that glibc has no wrapper for, by name."""
    try:
        number = _NUMBERS[_MACHINE][name]
    except KeyError:
        raise OSError(38, f"{name}: no syscall number known for {_MACHINE}") from None
    return check(libc.syscall(c_long(number), *args), name)
