"""Signal names and numbers.

The C module `_signal` is used rather than `signal` because `signal` imports
`enum`, which costs ~3 ms on the runtime's start-up path.
"""

import _signal

NUMBERS = {
    name: getattr(_signal, name)
    for name in dir(_signal)
    if name.startswith("SIG") and not name.startswith(("SIG_", "SIGRTM")) and isinstance(getattr(_signal, name), int)
}
NAMES = {num: name for name, num in sorted(NUMBERS.items(), reverse=True)}
SIGRTMIN = _signal.SIGRTMIN
SIGRTMAX = _signal.SIGRTMAX


def parse(text: str) -> int:
    """'KILL', 'SIGKILL', 'kill' or '9' -> 9; raise ValueError for anything else."""
    if text.isdigit():
        num = int(text)
        if 0 < num <= SIGRTMAX:
            return num
        raise ValueError(f"invalid signal: {text}")
    key = text.upper()
    if not key.startswith("SIG"):
        key = "SIG" + key
    if key in NUMBERS:
        return NUMBERS[key]
    for base, sign in (("SIGRTMIN+", 1), ("SIGRTMAX-", -1)):
        if key.startswith(base) and key[len(base) :].isdigit():
            num = (SIGRTMIN if sign > 0 else SIGRTMAX) + sign * int(key[len(base) :])
            if SIGRTMIN <= num <= SIGRTMAX:
                return num
    raise ValueError(f"invalid signal: {text}")


def to_main_thread(pid: int, sig: int) -> None:
    """`sig` to process `pid`'s main thread (tgkill). kill(2) lets the kernel hand a signal to any
    thread not blocking it, a library's own (the Go runtime's) included; Python then only marks
    it, and its main thread, blocked in a system call, never learns of it (seen on Python 3.12)."""
    from berth.linux.libc import check, libc

    try:
        check(libc.tgkill(pid, pid, sig), "tgkill")
    except OSError as e:
        if e.errno != 3:  # ESRCH: gone already
            raise


def kill_checked(pid: int, sig: int, still_ours) -> bool:
    """`sig` to `pid` through a pidfd, if `still_ours()` holds once the pidfd is open: a PID that
    was reused meanwhile is left alone. Whether it was sent."""
    import os

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        if not still_ours():
            return False
        _signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)
