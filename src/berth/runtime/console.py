"""Terminals: runc's console-socket protocol and the pty of a container process.

The container's pty is made inside the container (its own devpts); the master
is sent over a unix socket with SCM_RIGHTS, as runc does, to whoever holds the
other end: conmon, podman, or berth-runtime itself for a foreground `run -t`.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios

from berth.linux import mount as m


def connect(path: str) -> int:
    """Connect to the caller's console socket; return the fd for the container side."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"console socket {path}: {e.strerror}") from None
    return s.detach()


def pair() -> tuple[int, int]:
    """(ours, theirs) for a foreground run that proxies the terminal itself."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return a.detach(), b.detach()


def make_pty(console_fd: int, rows: int = 0, cols: int = 0, bind_console: bool = True) -> None:
    """Open a pty in the current mount namespace, send its master, make the slave our tty."""
    master, slave = os.openpty()
    name = os.ttyname(slave)
    if rows and cols:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    sock = socket.socket(fileno=console_fd)
    try:
        socket.send_fds(sock, [name.encode()], [master])
    finally:
        sock.close()
        os.close(master)
    if bind_console:
        try:
            fd = os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            os.close(fd)
            m.mount(name, "/dev/console", None, m.MS_BIND)
        except OSError:
            pass  # no /dev of our own to put a console in
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def recv_master(sock_fd: int) -> int:
    """The pty master sent over our end of a console pair; the caller keeps sock_fd."""
    s = socket.socket(fileno=sock_fd)
    try:
        _msg, fds, _flags, _addr = socket.recv_fds(s, 4096, 1)
    finally:
        s.detach()
    if not fds:
        raise OSError("console socket: no terminal received")
    return fds[0]
