"""Staying in the foreground for `run` and `exec`: forward signals to the
container process, proxy its terminal, reap it and return its exit code.

berth-runtime is made a child subreaper before it forks, so the container's
process (a grandchild) is reparented to it and can be waited for.
"""

from __future__ import annotations

import _signal
import os
import select
import sys

from berth.linux import prctl

_NOT_FORWARDED = {_signal.SIGKILL, _signal.SIGSTOP, _signal.SIGCHLD, _signal.SIGWINCH, _signal.SIGURG}


class Foreground:
    def __init__(self) -> None:
        prctl.set_child_subreaper()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        for sig in range(1, 32):
            if sig in (_signal.SIGKILL, _signal.SIGSTOP):
                continue
            _signal.signal(sig, wake_only)
        self.master = -1
        self._saved_tty = None

    def attach_terminal(self, master: int) -> None:
        import termios
        import tty

        self.master = master
        if os.isatty(0):
            self._saved_tty = termios.tcgetattr(0)
            tty.setraw(0)
            self._resize()

    def _resize(self) -> None:
        if self.master < 0 or not os.isatty(0):
            return
        import fcntl
        import termios

        size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, size)

    def wait(self, pid: int) -> int:
        """Until `pid` exits; its exit code, 128+N for a signal."""
        try:
            code = reap(pid)
            fds = [self.wake_r]
            if self.master >= 0:
                fds += [0, self.master]
            while code is None:
                try:
                    ready, _, _ = select.select(fds, [], [])
                except InterruptedError:
                    continue
                if self.wake_r in ready:
                    for sig in os.read(self.wake_r, 256):
                        if sig == _signal.SIGCHLD:
                            continue
                        if sig == _signal.SIGWINCH:
                            self._resize()
                        elif sig not in _NOT_FORWARDED:
                            try:
                                os.kill(pid, sig)
                            except ProcessLookupError:
                                pass
                if 0 in ready and not _copy(0, self.master):
                    fds.remove(0)
                if self.master in ready and not _copy(self.master, 1):
                    fds.remove(self.master)
                code = reap(pid)
            if self.master >= 0:
                while _copy(self.master, 1, block=False):
                    pass
            return code
        finally:
            self.close()

    def close(self) -> None:
        if self._saved_tty is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, self._saved_tty)
            self._saved_tty = None
        _signal.set_wakeup_fd(-1)
        for fd in (self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


REAPED: dict[int, int] = {}  # other children's exit codes, for whoever started them (the monitor's health checks)


def reap(pid: int, block: bool = False) -> int | None:
    """Reap every exited child (we are a subreaper); `pid`'s exit code once it has
    exited (128+N for a signal, as shells report it), else None."""
    while True:
        try:
            got, status = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return 255
        if got == 0:
            return None
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
        if got == pid:
            return code
        REAPED[got] = code


def wake_only(signum: int, frame: object) -> None:
    """A handler that does nothing: the signal's number reaches the wakeup fd, the loop acts on it."""


def _copy(src: int, dst: int, block: bool = True) -> bool:
    if not block:
        r, _, _ = select.select([src], [], [], 0)
        if not r:
            return False
    try:
        data = os.read(src, 65536)
    except OSError:
        return False
    if not data:
        return False
    while data:
        data = data[os.write(dst, data) :]
    return True


class Child:
    """A process started by `spawn`: what berth needs of subprocess.Popen, without its ~6 ms import."""

    __slots__ = ("pid", "returncode", "args")

    def __init__(self, pid: int, args: list[str]) -> None:
        self.pid, self.args, self.returncode = pid, args, None

    def poll(self) -> int | None:
        if self.returncode is None:
            got, status = os.waitpid(self.pid, os.WNOHANG)
            if got:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self) -> int:
        while self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
            except InterruptedError:
                continue
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)


DEVNULL = -3


class HeldSignals:
    """SIGINT and SIGTERM wait (blocked, not lost) while the block runs: for a step that makes
    something the caller must know of to undo, such as a child whose pid it keeps. They land,
    as KeyboardInterrupt or the caller's handler, right after the block."""

    _SIGNALS = (_signal.SIGINT, _signal.SIGTERM)

    def __enter__(self) -> HeldSignals:
        self.saved = _signal.pthread_sigmask(_signal.SIG_BLOCK, self._SIGNALS)
        return self

    def __exit__(self, *exc: object) -> None:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, self.saved)


def spawn(argv: list[str], stdin: int | None = None, stdout: int | None = None, stderr: int | None = None,
          setsid: bool = False, new_group: bool = False, channel: int = -1) -> Child:  # fmt: skip
    """posix_spawn with stdio redirected (an fd, DEVNULL, or None to inherit); the caller's fds are
    close-on-exec already (Python's default), so nothing else leaks into the child. `channel`, if
    given, becomes the child's ARGS_FD (see Prestarted)."""
    actions, null = [], -1
    if channel >= 0:
        actions.append((os.POSIX_SPAWN_DUP2, channel, ARGS_FD))
    for target, fd in ((0, stdin), (1, stdout), (2, stderr)):
        if fd == DEVNULL:
            if null < 0:
                null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
            fd = null
        if fd is not None:
            actions.append((os.POSIX_SPAWN_DUP2, fd, target))
    try:
        # an empty signal mask: a child spawned under HeldSignals must not start with them blocked
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions, setsid=setsid, setsigmask=(),
                             **({"setpgroup": 0} if new_group else {}))  # fmt: skip
    finally:
        if null >= 0:
            os.close(null)
    return Child(pid, argv)


ARGS_FD = 3  # where a prestarted program reads its arguments


class Prestarted:
    """A program started before its arguments are known, so that its interpreter's start overlaps
    the caller's own work (`berth run` makes the container meanwhile). It reads its arguments, and
    the fds it is given, from a socket at ARGS_FD (`receive`); closed unused, the socket ends the
    program, which has done nothing yet."""

    def __init__(self, argv: list[str], stdin: int | None = None, stdout: int | None = None,
                 stderr: int | None = None, setsid: bool = False) -> None:  # fmt: skip
        import _socket

        ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM, 0)
        try:
            self.child = spawn(argv, stdin, stdout, stderr, setsid=setsid, channel=theirs.fileno())
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock = ours

    def start(self, args: list[str], fds: list[int] = ()) -> Child:
        """Hand the program its arguments and `fds` (they arrive as new fds, in this order)."""
        import _socket

        data = b"\0".join(arg.encode() for arg in args) + b"\0"
        try:
            rights = b"".join(fd.to_bytes(4, sys.byteorder) for fd in fds)
            sent = self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)] if fds else [])
            self.sock.sendall(data[sent:])
        finally:
            self.close()
        return self.child

    def close(self) -> None:
        """Unused: the program reads nothing and ends."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def receive(fd: int = ARGS_FD) -> tuple[list[str], list[int]] | None:
    """What Prestarted.start sent: (the arguments, the fds), or None if the starter gave up."""
    import _socket

    sock = _socket.socket(fileno=fd)
    chunks, fds = [], []
    try:
        while True:
            data, ancillary, _, _ = sock.recvmsg(65536, _socket.CMSG_SPACE(64 * 4))
            for level, kind, payload in ancillary:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    fds += [int.from_bytes(payload[i : i + 4], sys.byteorder) for i in range(0, len(payload) - 3, 4)]
            if not data:
                break
            chunks.append(data)
    finally:
        sock.close()
    for got in fds:
        os.set_inheritable(got, False)
    data = b"".join(chunks)
    if not data:
        return None
    return [arg.decode() for arg in data[:-1].split(b"\0")], fds
