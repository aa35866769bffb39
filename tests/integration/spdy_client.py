"""A SPDY/3.1 client of the tests' own, doing what client-go's does for kubectl exec, attach and
port-forward against a runtime's streaming server: POST with `Upgrade: SPDY/3.1`, one stream per
channel (SYN_STREAM with a `streamtype` header, waiting for the SYN_REPLY), data with FIN at the
end of a side. Frames are built here; the header blocks use berth's codec (the SPDY/3 dictionary
and zlib), which the server's replies then check from the other side."""

from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.parse
import zlib

from berth.cri.spdy import DICTIONARY, decode_headers, encode_headers


class Refused(Exception):
    """The upgrade was answered with an HTTP status other than 101."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body = status, body


class SpdyClient:
    def __init__(self, url: str, protocols: tuple[str, ...] = ("v4.channel.k8s.io",)) -> None:
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        self.sock.sendall(f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: Upgrade\r\n"
                          f"Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: {', '.join(protocols)}\r\n"
                          "Content-Length: 0\r\n\r\n".encode())  # fmt: skip
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection before answering")
            buf += chunk
        head, _, self.buf = buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if status != 101:
            raise Refused(status, self.buf.decode(errors="replace"))
        self.out = zlib.compressobj(zdict=DICTIONARY)
        self.inp = zlib.decompressobj(zdict=DICTIONARY)
        self.next_id = 1
        self.lock = threading.Lock()
        self.replied: set[int] = set()
        self.data: dict[int, bytearray] = {}
        self.ended: set[int] = set()
        self.window_updates = 0
        self.closed = threading.Event()
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def open(self, headers: dict[str, str]) -> int:
        """A stream (client streams have odd IDs), once the server has replied."""
        with self.lock:
            stream, self.next_id = self.next_id, self.next_id + 2
            body = struct.pack(">IIBB", stream, 0, 0, 0) + encode_headers(self.out, headers)
            self.sock.sendall(struct.pack(">HHI", 0x8003, 1, len(body)) + body)
        assert self.wait(lambda: stream in self.replied), f"no SYN_REPLY for stream {stream}"
        self.data[stream] = self.data.get(stream, bytearray())
        return stream

    def send(self, stream: int, data: bytes, fin: bool = False) -> None:
        with self.lock:
            self.sock.sendall(struct.pack(">II", stream, ((1 if fin else 0) << 24) | len(data)) + data)

    def ping(self) -> None:
        with self.lock:
            self.sock.sendall(struct.pack(">HHII", 0x8003, 6, 4, 7))

    def wait(self, predicate, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0 or (self.closed.is_set() and not predicate()):
                    return predicate()
                self.changed.wait(min(left, 0.2))
        return True

    def received(self, stream: int) -> bytes:
        return bytes(self.data.get(stream, b""))

    def close(self) -> None:
        self.sock.close()

    def _read(self) -> None:
        try:
            while True:
                head = self._exactly(8)
                word, flags_len = struct.unpack(">II", head)
                body = self._exactly(flags_len & 0xFFFFFF)
                fin = bool((flags_len >> 24) & 1)
                with self.changed:
                    if not word & 0x80000000:
                        self.data.setdefault(word, bytearray()).extend(body)
                        if fin:
                            self.ended.add(word)
                    elif word & 0xFFFF == 2:  # SYN_REPLY
                        stream = struct.unpack_from(">I", body)[0]
                        decode_headers(self.inp, body[4:])
                        self.replied.add(stream)
                        if fin:
                            self.ended.add(stream)
                    elif word & 0xFFFF == 9:
                        self.window_updates += 1
                    self.changed.notify_all()
        except (ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            with self.changed:
                self.changed.notify_all()

    def _exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out
