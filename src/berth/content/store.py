"""Blobs by digest, as containerd's content store keeps them.

    <root>/blobs/sha256/<hex>      committed blobs, read-only, never changed
    <root>/ingest/<random>         writes in progress

A blob is streamed into `ingest/`, hashed as it goes, and renamed into place only
if its digest (and size, when known) match what the writer was told to expect:
a blob in `blobs/` always is what its name says. Writers of the same blob race
harmlessly: the rename is atomic and the content identical.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument, NotFound
from berth.oci import digest as _digest

CHUNK = 1 << 20


class DigestMismatch(InvalidArgument):
    pass


class Writer:
    """Stream bytes in, then `commit()`; closing without committing discards them."""

    def __init__(self, store: ContentStore, expected: str | None, size: int | None) -> None:
        if expected is not None:
            _digest.validate(expected)
        self.store = store
        self.expected = expected
        self.size = size
        self.algorithm = (expected or "sha256:").partition(":")[0]
        import hashlib  # on writes only: OpenSSL's import costs ~2.5 ms that reads never need

        self.hash = hashlib.new(self.algorithm)
        self.written = 0
        os.makedirs(store.ingest_dir, exist_ok=True)
        self.path = os.path.join(store.ingest_dir, os.urandom(8).hex())
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)

    def write(self, data: bytes) -> int:
        if self.size is not None and self.written + len(data) > self.size:
            raise DigestMismatch(f"blob {self.expected}: more than the expected {self.size} bytes")
        self.hash.update(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        """A file object's: tar and gzip writers call it; the data is written as it comes."""

    def commit(self) -> str:
        """Verify and move the blob into place; return its digest."""
        actual = f"{self.algorithm}:{self.hash.hexdigest()}"
        try:
            if self.size is not None and self.written != self.size:
                raise DigestMismatch(f"blob {self.expected or actual}: got {self.written} bytes, expected {self.size}")
            if self.expected is not None and actual != self.expected:
                raise DigestMismatch(f"blob content does not match its digest: expected {self.expected}, got {actual}")
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1
            target = self.store.path(actual)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.chmod(self.path, 0o444)
            os.rename(self.path, target)
            return actual
        finally:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ContentStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self.ingest_dir = os.path.join(root, "ingest")

    def path(self, digest: str) -> str:
        algorithm, hexpart = _digest.parse(digest)
        return os.path.join(self.root, "blobs", algorithm, hexpart)

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None

    def open(self, digest: str):
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None

    def read(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def writer(self, expected: str | None = None, size: int | None = None) -> Writer:
        return Writer(self, expected, size)

    def put(self, data: bytes, expected: str | None = None) -> str:
        """Store bytes already in memory (manifests, configs); return the digest.
        A blob already there is not written again (a cached build re-puts its config and manifest)."""
        if expected is None:
            from berth.oci.digest import sha256  # builtin: no OpenSSL import for a few kilobytes

            expected = "sha256:" + sha256(data).hexdigest()
        if self.exists(expected):
            return expected
        with self.writer(expected, len(data)) as w:
            w.write(data)
            return w.commit()

    def ingest(self, stream, expected: str | None = None, size: int | None = None) -> str:
        """Store what a file-like object yields, streamed, never all in memory."""
        if expected is not None and self.exists(expected):
            return expected
        with self.writer(expected, size) as w:
            while chunk := stream.read(CHUNK):
                w.write(chunk)
            return w.commit()

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            pass

    def digests(self):
        """Every blob's digest (a generator)."""
        base = os.path.join(self.root, "blobs")
        for algorithm in sorted(os.listdir(base)) if os.path.isdir(base) else ():
            for name in sorted(os.listdir(os.path.join(base, algorithm))):
                yield f"{algorithm}:{name}"
