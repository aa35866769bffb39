"""Framed streams between a container's monitor and the clients attached to it.

Docker's multiplexing (the attach API's "stdcopy" format): a frame is an 8-byte
header, the stream's number, three zero bytes and the payload's length (32-bit
big-endian), then the payload. Both directions use it, with these streams:

    monitor -> client   STDOUT, STDERR (a terminal has one stream: STDOUT), EXIT (the
                        container's exit code, in decimal, the last frame before close),
                        LOG_REOPENED (the answer to REOPEN_LOG)
    client -> monitor   STDIN, STDIN_CLOSED (no payload), RESIZE ("ROWS COLS"), REOPEN_LOG (the
                        log file opened again at its path: the CRI's ReopenContainerLog)

A client first sends one line of JSON, {"stdin": true|false}: whether its input
goes to the container.
"""

import os

STDIN, STDOUT, STDERR, EXIT, STDIN_CLOSED, RESIZE, REOPEN_LOG = 0, 1, 2, 3, 4, 5, 6
LOG_REOPENED = 6
HEADER = 8


def frame(stream: int, payload: bytes = b"") -> bytes:
    return bytes((stream, 0, 0, 0)) + len(payload).to_bytes(4, "big") + payload


class Reader:
    """Splits what arrives on a socket into (stream, payload) frames."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= HEADER:
            size = int.from_bytes(self.buf[4:8], "big")
            if len(self.buf) < HEADER + size:
                break
            out.append((self.buf[0], self.buf[HEADER : HEADER + size]))
            self.buf = self.buf[HEADER + size :]
        return out


def write_all(fd: int, data: bytes) -> bool:
    """Write everything (blocking); False once the other end is gone."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            import select

            select.select([], [fd], [])
            continue
        except (BrokenPipeError, ConnectionResetError):
            return False
        view = view[n:]
    return True
