"""The libc handle, errno checking and raw syscall numbers per architecture.

ctypes (~1.5 ms to import) is loaded by the first libc call, not by importing a
module of berth.linux: the runtime's main process needs their constants (mount
flags, namespace types) on its hot path, and mostly no call.
"""

import os

_NUMBERS = {
    "x86_64": {"pivot_root": 155, "keyctl": 250, "openat2": 437},
    "aarch64": {"pivot_root": 41, "keyctl": 219, "openat2": 437},
}
_MACHINE = os.uname().machine


class _Libc:
    """The C library of this process, loaded on first use; each function is looked up once."""

    def __getattr__(self, name: str):
        lib = self.__dict__.get("_lib")
        if lib is None:
            import ctypes

            lib = self.__dict__["_lib"] = ctypes.CDLL(None, use_errno=True)
            lib.syscall.restype = ctypes.c_long
        fn = getattr(lib, name)
        self.__dict__[name] = fn
        return fn


libc = _Libc()


def check(ret: int, what: str, path: str | None = None) -> int:
    """Raise OSError with errno when a libc call returned -1."""
    if ret < 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)
    return ret


def syscall(name: str, *args: object) -> int:
    """Call a syscall that glibc has no wrapper for, by name."""
    import ctypes

    try:
        number = _NUMBERS[_MACHINE][name]
    except KeyError:
        raise OSError(38, f"{name}: no syscall number known for {_MACHINE}") from None
    return check(libc.syscall(ctypes.c_long(number), *args), name)
