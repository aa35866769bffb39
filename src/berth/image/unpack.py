"""Unpacking an image's layers into snapshots, each layer once.

A layer's snapshot is named by its chain ID (the image-spec's: the diff IDs of
it and all below it, hashed together), so images sharing lower layers share
their snapshots, and a second unpack of the same image does nothing.
"""

from __future__ import annotations

import os

from berth.errors import AlreadyExists, InvalidArgument, NotFound
from berth.image.store import Image, ImageStore
from berth.oci import image_spec
from berth.oci.digest import chain_ids
from berth.snapshot.base import COMMITTED


def unpack(store: ImageStore, image: Image, config: image_spec.ImageConfig | None = None) -> str:
    """Make sure every layer is unpacked; return the top layer's snapshot key. `config`: the
    image's, when the caller has read it already."""
    manifest = store.manifest(image)
    diff_ids = (config or store.config(image)).rootfs.diff_ids
    if len(diff_ids) != len(manifest.layers):
        raise InvalidArgument(f"image {image.id}: {len(manifest.layers)} layers but {len(diff_ids)} diff IDs")
    return unpack_layers(store, manifest.layers, diff_ids)


def unpack_layers(store: ImageStore, layers: tuple[image_spec.Descriptor, ...] | list, diff_ids) -> str:
    """The same for layers given as descriptors with their diff IDs; "" for none."""
    sn = store.snapshotter
    chains = chain_ids(diff_ids)
    if chains and _committed(sn, chains[-1]):
        return chains[-1]  # unpacked already, and so is every layer below (a snapshot's parents are)
    parent = ""
    for layer, diff_id, chain in zip(layers, diff_ids, chains, strict=True):
        if not _committed(sn, chain):
            _unpack_layer(store, layer, diff_id, chain, parent)
        parent = chain
    return parent


def _committed(sn, key: str) -> bool:
    try:
        return sn.stat(key).kind == COMMITTED
    except NotFound:
        return False


def _unpack_layer(store: ImageStore, layer: image_spec.Descriptor, diff_id: str, chain: str, parent: str) -> None:
    # here, not at the top: `run` of an unpacked image never needs tarfile (~8 ms to import) nor OpenSSL
    from berth.image.codec import Hashing, decompressed, sniff
    from berth.snapshot.apply import apply_layer

    sn = store.snapshotter
    active = f"extract-{os.getpid()}-{os.urandom(4).hex()}-{chain}"
    sn.prepare(active, parent)
    try:
        with store.content.open(layer.digest) as raw:
            # the bytes decide, not the media type: Docker labels every layer it pushes gzip, even one it
            # mounted uncompressed from another repository (containerd sniffs the same way)
            image_spec.layer_compression(layer.media_type)  # an unknown media type is still refused
            compression = sniff(raw.read(4))
            raw.seek(0)
            reader = Hashing(decompressed(raw, compression))
            apply_layer(reader, sn.upper(active), overlay=sn.whiteouts_as_devices)
            reader.drain()
        if reader.digest() != diff_id:
            raise InvalidArgument(f"layer {layer.digest}: its content is {reader.digest()}, the config says {diff_id}")
        try:
            sn.commit(chain, active)
        except AlreadyExists:
            sn.remove(active)  # another process unpacked the same layer meanwhile
    except BaseException:
        try:
            sn.remove(active)
        except Exception:  # noqa: BLE001 - the first error is the one to report
            pass
        raise
