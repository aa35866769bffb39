"""Processes the engine starts and does not wait for (monitors, the bridge's retiring process):
reaped as they end, so that a long-running process (a server) collects no zombies. A one-shot
CLI exits first and leaves them to init, as before."""

from __future__ import annotations

from _thread import allocate_lock

_lock = allocate_lock()
_running: list = []  # foreground.Child


def adopt(child) -> None:
    with _lock:
        _running.append(child)


def reap() -> None:
    """Collect those that have ended (non-blocking)."""
    with _lock:
        still = []
        for child in _running:
            try:
                if child.poll() is None:
                    still.append(child)
            except ChildProcessError:
                pass  # waited for elsewhere
        _running[:] = still
