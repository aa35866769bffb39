"""The typed line protocol between the runtime's roles (main, intermediate, init).

Two pipes: children write messages up, main writes acknowledgements down.
Each message is one line `KIND[ PAYLOAD]`, shorter than PIPE_BUF so that
writes from two children never interleave.
"""

import os

USERMAP = "usermap"  # intermediate -> main: write uid/gid maps for PID
PID = "pid"  # intermediate -> main: init's pid in main's namespace
HOOKS = "hooks"  # init -> main: run prestart/createRuntime hooks now
READY = "ready"  # init -> main: created, waiting on exec.fifo
ERROR = "error"  # any child -> main: the step that failed and why
OK = "ok"  # main -> child: carry on


class Channel:
    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self._buf = b""

    def send(self, kind: str, payload: str = "") -> None:
        line = f"{kind} {payload}".rstrip().replace("\n", " ")[:4000] + "\n"
        os.write(self.wfd, line.encode())

    def recv(self) -> tuple[str, str]:
        """The next message; ('eof', '') when every writer has gone."""
        while b"\n" not in self._buf:
            chunk = os.read(self.rfd, 4096)
            if not chunk:
                return "eof", ""
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        kind, _, payload = line.decode().partition(" ")
        return kind, payload

    def expect(self, kind: str) -> str:
        got, payload = self.recv()
        if got != kind:
            raise OSError(f"runtime protocol: expected {kind}, got {got} {payload}".strip())
        return payload

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def pipes() -> tuple[Channel, Channel]:
    """(parent side, child side) of a fresh pair of pipes."""
    up_r, up_w = os.pipe()
    down_r, down_w = os.pipe()
    return Channel(up_r, down_w), Channel(down_r, up_w)
