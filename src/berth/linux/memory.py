"""glibc's allocator, for a long-running threaded process: each thread that allocates may get
an arena of its own (up to eight per core), which keeps what a burst of clients used long after
they are gone."""

from __future__ import annotations

from berth.linux.libc import libc

M_ARENA_MAX = -8


def limit_arenas(count: int) -> bool:
    """At most `count` malloc arenas from now on (glibc's M_ARENA_MAX); False where it is not glibc's."""
    try:
        return bool(libc.mallopt(M_ARENA_MAX, count))
    except AttributeError:  # no mallopt: not glibc
        return False


def trim() -> None:
    """Give the free memory at the top of each arena back to the kernel (malloc_trim)."""
    try:
        libc.malloc_trim(0)
    except AttributeError:
        pass
