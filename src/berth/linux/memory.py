"""glibc's allocator, for a long-running threaded process: each thread that allocates may get
an arena of its own (up to eight per core), which keeps what a burst of clients used long after
they are gone."""

from __future__ import annotations

M_ARENA_MAX = -8
M_MMAP_THRESHOLD = -3


def _libc():
    import ctypes
    import ctypes.util

    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def limit_arenas(count: int, mmap_over: int = 32 << 10) -> bool:
    """At most `count` malloc arenas from now on (glibc's M_ARENA_MAX), and blocks of `mmap_over`
    bytes or more mapped on their own (M_MMAP_THRESHOLD: I/O buffers go back to the kernel when
    freed, instead of fragmenting the heap between longer-lived objects); False where it is not
    glibc's."""
    try:
        libc = _libc()
        return bool(libc.mallopt(M_ARENA_MAX, count)) and bool(libc.mallopt(M_MMAP_THRESHOLD, mmap_over))
    except (OSError, AttributeError):
        return False


def trim() -> None:
    """Give the free memory at the top of each arena back to the kernel (malloc_trim)."""
    try:
        _libc().malloc_trim(0)
    except (OSError, AttributeError):
        pass
