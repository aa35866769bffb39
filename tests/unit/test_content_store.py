"""The content store against its contract (run as a conformance suite later for
every store); bad digests and truncated or oversized blobs never land."""

import hashlib
import io
import os
import threading

import pytest

from berth.content.store import ContentStore, DigestMismatch
from berth.errors import NotFound


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def store(tmp_path):
    return ContentStore(str(tmp_path / "content"))


def test_put_get_and_idempotence(store):
    d = store.put(b"hello")
    assert d == digest_of(b"hello")
    assert store.read(d) == b"hello" and store.size(d) == 5 and store.exists(d)
    assert store.put(b"hello", d) == d
    assert list(store.digests()) == [d]
    assert os.stat(store.path(d)).st_mode & 0o777 == 0o444


def test_streamed_ingest_with_expected_digest(store):
    data = os.urandom(3 << 20)
    d = store.ingest(io.BytesIO(data), digest_of(data), len(data))
    assert store.read(d) == data


@pytest.mark.parametrize(
    "data, expected, size, message",
    [
        (b"evil", digest_of(b"good"), None, "does not match its digest"),
        (b"shor", digest_of(b"short"), 5, "got 4 bytes, expected 5"),
        (b"toolong", digest_of(b"toolong"), 3, "more than the expected 3 bytes"),
    ],
)
def test_bad_blobs_are_rejected_and_not_stored(store, data, expected, size, message):
    with pytest.raises(DigestMismatch, match=message):
        store.ingest(io.BytesIO(data), expected, size)
    assert list(store.digests()) == []
    assert os.listdir(store.ingest_dir) == []


def test_missing_blob(store):
    with pytest.raises(NotFound, match="not found in the content store"):
        store.read(digest_of(b"nope"))


def test_concurrent_writers_of_one_blob(store):
    data = os.urandom(1 << 20)
    errors = []

    def write():
        try:
            store.ingest(io.BytesIO(data), digest_of(data))
        except Exception as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and store.read(digest_of(data)) == data
    assert os.listdir(store.ingest_dir) == []
