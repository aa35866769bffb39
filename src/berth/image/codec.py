"""Layer streams: decompression (gzip, zstd) and hashing as the bytes go by,
never a whole layer in memory."""

from __future__ import annotations

import hashlib

from berth.errors import Unsupported


class Hashing:
    """Wraps a binary stream; `digest()` and `size` are the sha256 and length of
    all that was read from it or written through it."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.hash.update(data)
        self.size += len(data)
        return data

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def drain(self) -> None:
        """Read to the end: tar readers may stop before the end-of-archive padding."""
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def decompressed(raw, compression: str):
    """A stream of the uncompressed tar."""
    if compression == "":
        return raw
    if compression == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")
    if compression == "zstd":
        try:
            import zstandard
        except ImportError:
            raise Unsupported("zstd layers need the zstandard package (pip install zstandard)") from None
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    raise Unsupported(f"unknown layer compression {compression!r}")


def sniff(head: bytes) -> str:
    """The compression of a stream from its first bytes: gzip, zstd or ''."""
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return ""
