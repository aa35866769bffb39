"""`run`: create and start in one go; in the foreground, wait and return the exit code."""

from __future__ import annotations

import os

from berth.runtime import container_create, container_delete, container_start


def run(root: str, container_id: str, bundle: str, pid_file: str | None, console_socket: str | None,
        detach: bool, preserve_fds: int, new_keyring: bool, keep: bool = False) -> int:  # fmt: skip
    fg = None if detach else _foreground()
    ours = theirs = -1
    loaded = container_create.load_bundle(os.path.abspath(bundle))
    start_r, start_w = os.pipe()  # init waits on it for start (no exec.fifo): ours to write
    try:
        if console_socket:
            from berth.runtime import console

            theirs = console.connect(console_socket)
        elif fg is not None and loaded[0].process and loaded[0].process.terminal:
            from berth.runtime import console

            ours, theirs = console.pair()
        c = container_create.create(root, container_id, bundle, pid_file, theirs, preserve_fds, new_keyring, loaded,
                                    (start_r, start_w))  # fmt: skip
        os.close(start_r)  # init has it
        start_r = -1
        if theirs >= 0:
            os.close(theirs)
            theirs = -1
        try:
            if ours >= 0:
                from berth.runtime import console

                fg.attach_terminal(console.recv_master(ours))
            start_w, fd = -1, start_w
            container_start.start(root, container_id, c, fd)
        except BaseException:
            container_delete.destroy(c)
            raise
        if fg is None:
            return 0
        code = fg.wait(c.state.pid)
        if not keep:
            container_delete.destroy(c)
        return code
    finally:
        for fd in (ours, theirs, start_r, start_w):
            if fd >= 0:
                os.close(fd)
        if fg is not None:
            fg.close()


def _foreground():
    from berth.foreground import Foreground

    return Foreground()
