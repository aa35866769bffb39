"""The container's attach socket, DIR/attach.sock, served by its monitor.

Clients (`berth run` in the foreground, `berth attach`, `berth start -a`) get the
container's output from the moment they attach, framed as berth.streams says,
and, when they ask for it and the container has an open stdin, write to it; a
terminal's size follows their RESIZE frames. When the container exits each gets
an EXIT frame with the code, then the socket closes. A client that detaches just
closes its end: the container runs on.
"""

from __future__ import annotations

import _socket  # the C module: `socket` imports enum and selectors (~5 ms) before every container starts
import os

from berth import fastjson, streams

SOCKET = "attach.sock"
# input held for a container that is not reading it; past this, clients that write to its stdin
# are not read until it takes some (back-pressure, not unbounded memory)
PENDING_LIMIT = 1 << 20


class _Client:
    __slots__ = ("sock", "header", "stdin", "reader")

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.header = b""  # until its first line has come
        self.stdin = False
        self.reader = streams.Reader()


class AttachServer:
    def __init__(self, cdir: str, stdin: bool = False, stdin_once: bool = False, reopen_log=lambda: None) -> None:
        """stdin: the container will have an open stdin (a pipe or its pty), which clients write to.
        stdin_once: the first client to close its input closes the container's (Docker's `run -i`).
        reopen_log: what a client's REOPEN_LOG does (the monitor's logger opens its file again)."""
        self.reopen_log = reopen_log
        # input is taken from the first client on, before the container (and so its stdin) exists:
        # an attached start lets its client in first, and what it sends at once must not be lost
        self.stdin = stdin
        self.stdin_fd = -1  # where clients' input goes, once the container has it (attach_stdin)
        self.stdin_once = stdin_once
        # input not yet taken by the container: a container that does not read its stdin never
        # blocks the monitor (its output and the other clients go on); the pipe is non-blocking
        self.pending = bytearray()
        self.close_when_written = False
        self.master = -1  # the pty, for RESIZE (set_master)
        self.size = b""  # the last RESIZE, for a pty that comes after it (an attached start's first client)
        self.clients: dict[int, _Client] = {}
        # bound through the directory's fd: a container's directory may be longer than a socket path may
        dir_fd = os.open(cdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            path = f"/proc/self/fd/{dir_fd}/{SOCKET}"
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            self.sock.bind(path)
            os.chmod(path, 0o600)
        finally:
            os.close(dir_fd)
        self.path = os.path.join(cdir, SOCKET)
        self.sock.listen(16)
        self.sock.setblocking(False)

    def fds(self) -> list[int]:
        full = len(self.pending) >= PENDING_LIMIT
        return [self.sock.fileno(), *(fd for fd, c in self.clients.items() if not (full and c.stdin))]

    def attached(self) -> int:
        """How many clients have said who they are."""
        return sum(1 for c in self.clients.values() if c.header is None)

    def handle(self, fd: int) -> None:
        """Something to read on the listening socket or on a client."""
        if fd == self.sock.fileno():
            try:
                fd, _ = self.sock._accept()  # what socket.accept does, less the Python wrapper class
            except BlockingIOError:
                return
            conn = _socket.socket(fileno=fd)
            conn.setblocking(False)
            self.clients[conn.fileno()] = _Client(conn)
            return
        client = self.clients[fd]
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(fd)
            return
        if client.header is not None:
            client.header += data
            if b"\n" not in client.header:
                return
            line, _, data = client.header.partition(b"\n")
            client.header = None
            try:
                client.stdin = bool(fastjson.loads(line).get("stdin"))
            except (ValueError, AttributeError):
                self._drop(fd)
                return
        for stream, payload in client.reader.feed(data):
            self._input(client, stream, payload)

    def _input(self, client: _Client, stream: int, payload: bytes) -> None:
        if stream == streams.REOPEN_LOG:
            self.reopen_log()
            self._send(client, streams.frame(streams.LOG_REOPENED))
        elif stream == streams.RESIZE:
            self.size = payload
            if self.master >= 0:
                _resize(self.master, payload)
        elif not client.stdin or not self.stdin:
            return
        elif stream == streams.STDIN:
            self.pending += payload
            self.flush()
        elif stream == streams.STDIN_CLOSED and self.stdin_once:
            self.close_when_written = True
            self.flush()

    def waiting_to_write(self) -> list[int]:
        """The container's stdin, while input waits for it to read."""
        return [self.stdin_fd] if self.pending and self.stdin_fd >= 0 else []

    def attach_stdin(self, fd: int) -> None:
        """The container's stdin (non-blocking) has come: what waits for it goes now."""
        self.stdin, self.stdin_fd = True, fd
        self.flush()

    def flush(self) -> None:
        """Hand the container what it can take now."""
        if self.stdin_fd < 0:
            return
        while self.pending:
            try:
                n = os.write(self.stdin_fd, self.pending)
            except BlockingIOError:
                return
            except OSError:  # it closed its stdin
                self.close_stdin()
                return
            del self.pending[:n]
        if self.close_when_written:
            self.close_stdin()

    def close_stdin(self) -> None:
        """No more input for this container (until a restart gives it a new stdin)."""
        if self.stdin_fd >= 0 and self.stdin_fd != self.master:
            os.close(self.stdin_fd)
        self.stdin, self.stdin_fd = False, -1
        self.pending.clear()
        self.close_when_written = False

    def broadcast(self, stream: int, data: bytes) -> None:
        message = streams.frame(stream, data)
        for fd, client in list(self.clients.items()):
            if client.header is None and not self._send(client, message):
                self._drop(fd)

    def finish(self, code: int) -> None:
        """The container has exited: tell every client, close everything."""
        for fd, client in list(self.clients.items()):
            if client.header is None:
                self._send(client, streams.frame(streams.EXIT, str(code).encode()))
            self._drop(fd)
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
        self.close_stdin()

    def _send(self, client: _Client, message: bytes) -> bool:
        client.sock.settimeout(5)  # a client that reads nothing for 5 s is let go, never the container held
        try:
            client.sock.sendall(message)
            return True
        except OSError:
            return False
        finally:
            client.sock.setblocking(False)

    def _drop(self, fd: int) -> None:
        client = self.clients.pop(fd, None)
        if client is not None:
            client.sock.close()

    def set_master(self, master: int) -> None:
        """The container's pty, given the size a client asked for before it existed."""
        self.master = master
        if self.size:
            _resize(master, self.size)


def _resize(master: int, payload: bytes) -> None:
    import fcntl
    import struct
    import termios

    try:
        rows, cols = (int(x) for x in payload.split())
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except (ValueError, OSError):
        pass
