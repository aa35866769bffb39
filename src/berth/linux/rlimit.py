"""setrlimit(2) through libc: the stdlib's `resource` is a shared library of its own,
~0.4 ms to load on the container's start path, for one call."""

from berth.linux.libc import Structure, byref, c_uint64, check, libc

# Linux's numbering, the same on every architecture berth runs on
NUMBERS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}  # fmt: skip
INFINITY = 2**64 - 1


class _Rlimit(Structure):
    _fields_ = [("soft", c_uint64), ("hard", c_uint64)]


def setrlimit(name: str, soft: int, hard: int) -> None:
    """Set the limit `name` (RLIMIT_NOFILE...); a negative or too large value is unlimited."""
    values = [INFINITY if v < 0 or v > INFINITY else v for v in (soft, hard)]
    check(libc.setrlimit(NUMBERS[name], byref(_Rlimit(*values))), f"setrlimit {name}")
