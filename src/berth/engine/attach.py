"""Attaching to a container: the client side of its monitor's attach socket.

`connect` opens the socket (waiting for a monitor that is starting) and `pump`
joins it to a terminal or to plain file descriptors the way docker's CLI does:
output to stdout and stderr, input from stdin (scanned for the detach keys),
the terminal raw and its size passed on, signals proxied to the container.
"""

from __future__ import annotations

import _signal
import _socket  # the C module: `socket` imports enum and selectors (~5 ms), on every attached run
import os
import select
import time

from berth import fastjson, streams
from berth.errors import InvalidArgument
from berth.foreground import wake_only

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL = "@abcdefghijklmnopqrstuvwxyz[\\]^_"
# what the CLI passes on to the container when --sig-proxy is on (docker's: all it can catch)
PROXIED = tuple(s for s in range(1, 32) if s not in (_signal.SIGKILL, _signal.SIGSTOP, _signal.SIGCHLD,
                                                      _signal.SIGWINCH, _signal.SIGURG, _signal.SIGPIPE,
                                                      _signal.SIGTTIN, _signal.SIGTTOU, _signal.SIGTSTP,
                                                      _signal.SIGCONT))  # fmt: skip


class Detached(Exception):
    """The detach keys were typed: the container runs on."""


class Terminated(Exception):
    """With a terminal (no signal proxy, as docker's), a signal that ends the client came: the
    terminal is given back first, then the caller dies of it. The container runs on."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


# what ends a client on a terminal, once it has restored the terminal
_ENDING = (_signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT)


def detach_keys(spec: str) -> bytes:
    """docker's --detach-keys ("ctrl-p,ctrl-q", "a", "ctrl-@", "DEL") as the bytes to watch for."""
    out = bytearray()
    for key in spec.split(","):
        if len(key) == 1:
            out.append(ord(key))
        elif key.startswith("ctrl-") and len(key) == 6 and key[5] in _CTRL:
            out.append(_CTRL.index(key[5]))
        elif key == "DEL":
            out.append(127)
        else:
            raise InvalidArgument(f"invalid detach keys ({spec}): Unknown character: '{key}'")
    return bytes(out)


class Attachment:
    """A connected client of a container's monitor."""

    def __init__(self, sock: _socket.socket, monitor_pid: int) -> None:
        self.sock = sock
        self.monitor_pid = monitor_pid

    def send(self, stream: int, payload: bytes = b"") -> None:
        try:
            self.sock.sendall(streams.frame(stream, payload))
        except OSError:
            pass  # the container has exited: what it said comes with the EXIT frame

    def resize(self, fd: int) -> None:
        import fcntl
        import struct
        import termios

        try:
            rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        except OSError:
            return
        self.send(streams.RESIZE, f"{rows} {cols}".encode())

    def close(self) -> None:
        self.sock.close()


def connect(cdir: str, stdin: bool, alive=lambda: True, timeout: float = 30.0) -> Attachment:
    """Attach to the monitor serving the container in `cdir`; `alive()` says whether it still may appear."""
    path = os.path.join(cdir, "attach.sock")
    deadline = time.monotonic() + timeout
    dir_fd = os.open(cdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        while True:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.connect(f"/proc/self/fd/{dir_fd}/attach.sock")  # the directory may be too long a path
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if not alive() or time.monotonic() > deadline:
                    raise FileNotFoundError(f"{path}: the container's monitor is not serving it") from None
                time.sleep(0.002)
    finally:
        os.close(dir_fd)
    sock.sendall(fastjson.dumps({"stdin": stdin}).encode() + b"\n")
    try:
        with open(os.path.join(cdir, "monitor.pid")) as f:
            pid = int(f.read())
    except (OSError, ValueError):
        pid = 0
    return Attachment(sock, pid)


def pump(att: Attachment, *, tty: bool, stdin: bool, keys: bytes | None = None, sig_proxy: bool = True,
         stdin_fd: int = 0, stdout_fd: int = 1, stderr_fd: int = 2, own_process: bool = False) -> int | None:  # fmt: skip
    """Until the container exits (its code) or the detach keys are typed (raises Detached).

    `own_process`: the calling process is this attachment's alone (the CLI, on its main thread):
    its signals are caught (proxied to the container with `sig_proxy`, SIGWINCH passing the
    terminal's size on) and its terminal made raw, then restored. Otherwise (a server's thread,
    any library caller) the process's signal handlers and terminal are left as they are."""
    saved_tty = None
    if own_process and tty and stdin and os.isatty(stdin_fd):
        import termios
        import tty as tty_mod

        saved_tty = termios.tcgetattr(stdin_fd)
        tty_mod.setraw(stdin_fd, termios.TCSANOW)  # what was typed ahead goes on to the container
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    saved, old_wakeup = {}, None
    if own_process:
        old_wakeup = _signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        caught = (*(PROXIED if sig_proxy and not tty else _ENDING if tty else ()), _signal.SIGWINCH)
        saved = {sig: _signal.signal(sig, wake_only) for sig in caught}
    try:
        size_fd = stdout_fd if os.isatty(stdout_fd) else stdin_fd  # the terminal whose size the container gets
        if tty:
            att.resize(size_fd)
        return _loop(att, tty, stdin, keys or b"", stdin_fd, stdout_fd, stderr_fd, wake_r, size_fd)
    finally:
        for sig, handler in saved.items():
            _signal.signal(sig, handler)
        if old_wakeup is not None:
            _signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)
        if saved_tty is not None:
            import termios

            termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved_tty)


def _loop(att: Attachment, tty: bool, stdin: bool, keys: bytes, stdin_fd: int, stdout_fd: int, stderr_fd: int,
          wake_r: int, size_fd: int) -> int | None:  # fmt: skip
    reader = streams.Reader()
    sock = att.sock.fileno()
    watch = [sock, wake_r] + ([stdin_fd] if stdin else [])
    held = b""  # a prefix of the detach keys typed so far, not yet passed on
    while True:
        try:
            ready, _, _ = select.select(watch, [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            for sig in os.read(wake_r, 256):
                if sig == _signal.SIGWINCH:
                    att.resize(size_fd)
                elif tty and sig in _ENDING:
                    raise Terminated(sig)
                elif att.monitor_pid:
                    try:
                        os.kill(att.monitor_pid, sig)  # the monitor hands it to the container
                    except ProcessLookupError:
                        pass
        if stdin_fd in ready:
            data = os.read(stdin_fd, 65536)
            if not data:
                watch.remove(stdin_fd)
                att.send(streams.STDIN_CLOSED)
            else:
                data, held, detached = _scan(held + data, keys)
                if data:
                    att.send(streams.STDIN, data)
                if detached:
                    raise Detached()
        if sock in ready:
            try:
                chunk = att.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return None  # the monitor went away without a word: the caller looks at the state
            for stream, payload in reader.feed(chunk):
                if stream == streams.EXIT:
                    return int(payload or b"0")
                streams.write_all(stderr_fd if stream == streams.STDERR else stdout_fd, payload)


def _scan(data: bytes, keys: bytes) -> tuple[bytes, bytes, bool]:
    """(what to pass on, the prefix of the keys held back, whether all of them came in a row)."""
    if not keys:
        return data, b"", False
    for i in range(len(data)):
        if data[i] == keys[0] and keys.startswith(data[i : i + len(keys)]):
            if len(data) - i >= len(keys):
                return data[:i], b"", True  # what came before the keys still goes
            return data[:i], data[i:], False  # a beginning of the keys at the end: wait for the rest
    return data, b"", False
