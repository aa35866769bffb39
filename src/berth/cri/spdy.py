"""SPDY/3.1 from the server's side, as much of it as the CRI's streams need (kubelets and crictl
speak it to a runtime's streaming server: Kubernetes' remotecommand and portforward protocols
run over its streams). No maintained Python implementation exists; the framing is small.

A session is one upgraded connection. The client opens streams (SYN_STREAM, with headers such
as `streamtype`); the server answers each (SYN_REPLY), sends DATA on them, ends its half with
the FIN flag, and answers PINGs. Header blocks are zlib-compressed with SPDY/3's dictionary, one
compression context per direction for the session's life. Data received is acknowledged with
WINDOW_UPDATE so that a client that keeps to its send window is never stalled; the client's
window for what the server sends is not enforced by the clients that matter (they run no flow
control of their own), so it is not tracked here.
"""

from __future__ import annotations

import struct
import threading
import zlib

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
PROTOCOL_ERROR, CANCEL = 1, 5  # RST_STREAM statuses
MAX_FRAME = 1 << 24  # the length field's 24 bits


def _dictionary() -> bytes:
    """SPDY/3's header compression dictionary (the draft's section 2.6.10.1): length-prefixed
    words, then a run of common values without prefixes."""
    words = ("options head post put delete trace accept accept-charset accept-encoding accept-language "
             "accept-ranges age allow authorization cache-control connection content-base content-encoding "
             "content-language content-length content-location content-md5 content-range content-type date etag "
             "expect expires from host if-match if-modified-since if-none-match if-range if-unmodified-since "
             "last-modified location max-forwards pragma proxy-authenticate proxy-authorization range referer "
             "retry-after server te trailer transfer-encoding upgrade user-agent vary via warning www-authenticate "
             "method get status").split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
                                              "keep-alive", "origin"]  # fmt: skip
    tail = ("100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
            "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
            "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
            "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
            "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
            "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")  # fmt: skip
    return b"".join(struct.pack(">I", len(w)) + w.encode() for w in words) + tail.encode()


DICTIONARY = _dictionary()


class ProtocolError(Exception):
    """The peer broke the framing: the session ends."""


def encode_headers(compressor, headers: dict[str, str]) -> bytes:
    block = struct.pack(">I", len(headers))
    for name, value in headers.items():
        block += struct.pack(">I", len(name)) + name.lower().encode() + struct.pack(">I", len(value)) + value.encode()
    return compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)


def decode_headers(decompressor, data: bytes) -> dict[str, str]:
    """Names lower-cased (SPDY's rule); a value's NUL-separated parts keep only the first."""
    try:
        block = decompressor.decompress(data)
        (count,) = struct.unpack_from(">I", block)
        at, headers = 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, at)
            name = block[at + 4 : at + 4 + n].decode().lower()
            at += 4 + n
            (n,) = struct.unpack_from(">I", block, at)
            headers[name] = block[at + 4 : at + 4 + n].split(b"\0")[0].decode()
            at += 4 + n
        return headers
    except (zlib.error, struct.error, UnicodeDecodeError) as e:
        raise ProtocolError(f"bad header block: {e}") from None


class Session:
    """One SPDY connection on `sock` (already upgraded). `events()` yields what the client does:
    ("open", stream, headers, fin), ("data", stream, payload, fin), ("reset", stream); the
    send methods may be called from any thread."""

    def __init__(self, sock, leftover: bytes = b"") -> None:
        self.sock = sock
        self.buf = bytearray(leftover)
        self._send_lock = threading.Lock()
        self._out = zlib.compressobj(zdict=DICTIONARY)
        self._in = zlib.decompressobj(zdict=DICTIONARY)

    # -- sending -----------------------------------------------------------------------
    def _control(self, kind: int, flags: int, body: bytes) -> None:
        self._send(struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(body)) + body)

    def _send(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)

    def reply(self, stream: int, headers: dict[str, str] | None = None, fin: bool = False) -> None:
        with self._send_lock:  # the compression context is ordered as the frames are
            body = struct.pack(">I", stream) + encode_headers(self._out, headers or {})
            self.sock.sendall(struct.pack(">HHI", 0x8000 | VERSION, SYN_REPLY, ((FLAG_FIN if fin else 0) << 24)
                                          | len(body)) + body)  # fmt: skip

    def data(self, stream: int, payload: bytes, fin: bool = False) -> None:
        view = memoryview(payload)
        while True:
            chunk, view = view[: MAX_FRAME - 1], view[MAX_FRAME - 1 :]
            last = not len(view)
            self._send(struct.pack(">II", stream & 0x7FFFFFFF, (((FLAG_FIN if fin and last else 0) << 24)
                                                                | len(chunk))) + bytes(chunk))  # fmt: skip
            if last:
                return

    def reset(self, stream: int, status: int = CANCEL) -> None:
        self._control(RST_STREAM, 0, struct.pack(">II", stream, status))

    def goaway(self) -> None:
        self._control(GOAWAY, 0, struct.pack(">II", 0, 0))

    # -- receiving ---------------------------------------------------------------------
    def _read(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def events(self):
        """Until the client closes the connection (or breaks the framing: ProtocolError)."""
        while True:
            head = self._read(8)
            if head is None:
                return
            word, flags_len = struct.unpack(">II", head)
            flags, length = flags_len >> 24, flags_len & 0xFFFFFF
            body = self._read(length)
            if body is None:
                return
            if not word & 0x80000000:  # a data frame
                stream = word & 0x7FFFFFFF
                if length:
                    self._control(WINDOW_UPDATE, 0, struct.pack(">II", stream, length))
                    self._control(WINDOW_UPDATE, 0, struct.pack(">II", 0, length))
                yield ("data", stream, body, bool(flags & FLAG_FIN))
                continue
            if (word >> 16) & 0x7FFF != VERSION:
                raise ProtocolError(f"SPDY version {(word >> 16) & 0x7FFF}: only 3 is spoken here")
            kind = word & 0xFFFF
            if kind == SYN_STREAM:
                if length < 10:
                    raise ProtocolError("a SYN_STREAM too short")
                stream = struct.unpack_from(">I", body)[0] & 0x7FFFFFFF
                yield ("open", stream, decode_headers(self._in, body[10:]), bool(flags & FLAG_FIN))
            elif kind == RST_STREAM and length >= 8:
                yield ("reset", struct.unpack_from(">I", body)[0] & 0x7FFFFFFF)
            elif kind == PING and length >= 4:
                self._control(PING, 0, body[:4])
            elif kind == GOAWAY:
                return
            elif kind == HEADERS and length >= 4:
                decode_headers(self._in, body[4:])  # keeps the decompression context in step
            # SETTINGS and WINDOW_UPDATE: nothing to do (see the module's docstring)
