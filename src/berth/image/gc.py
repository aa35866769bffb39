"""Garbage collection: images no name holds, then every blob and snapshot that
no remaining image references."""

from __future__ import annotations

import os

from berth.image.store import ImageStore
from berth.image.unpack import chain_ids
from berth.snapshot.base import COMMITTED


def prune_images(store: ImageStore, everything: bool = False, in_use: set[str] | frozenset = frozenset()) -> list[str]:
    """Delete untagged images (all images with `everything`) that no container uses; return their IDs."""
    gone = [i.id for i in store.list() if (everything or not i.tags) and i.id not in in_use]
    for image_id in gone:
        store.delete(image_id)
    return gone


def collect(store: ImageStore) -> int:
    """Remove unreferenced blobs and committed snapshots, and writes a killed process left in
    ingest/ (with the lock exclusive no write is in progress); return the bytes freed."""
    with store.lock(exclusive=True):
        _clear_ingest(store.content.ingest_dir)
        keep_blobs: set[str] = set()
        keep_snapshots: set[str] = set()
        for image in store.list():
            manifest = store.manifest(image)
            keep_blobs |= {image.manifest, image.id, *(layer.digest for layer in manifest.layers)}
            keep_snapshots |= set(chain_ids(store.config(image).rootfs.diff_ids))
        freed = 0
        for digest in list(store.content.digests()):
            if digest not in keep_blobs:
                freed += store.content.size(digest)
                store.content.delete(digest)
        sn = store.snapshotter
        removed = True
        while removed:  # children before parents
            removed = False
            infos = sn.list()
            parents = {i.parent for i in infos}
            for info in infos:
                if info.kind == COMMITTED and info.key not in keep_snapshots and info.key not in parents:
                    sn.remove(info.key)
                    removed = True
        return freed


def _clear_ingest(path: str) -> None:
    try:
        names = os.listdir(path)
    except FileNotFoundError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(path, name))
        except FileNotFoundError:
            pass
