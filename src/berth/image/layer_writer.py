"""Writing a directory as a gzip-compressed OCI layer into the content store,
streamed: the uncompressed tar's sha256 (the diff ID) and the blob's digest are
computed as the bytes go through."""

from __future__ import annotations

import gzip
import tarfile

from berth.content.store import ContentStore
from berth.image.codec import Hashing
from berth.oci import image_spec
from berth.snapshot.diff import add_entry, walk


def write_layer(store: ContentStore, root: str) -> tuple[image_spec.Descriptor, str]:
    """(descriptor of the compressed layer, diff ID) for the tree at `root`."""
    with store.writer() as writer:
        with gzip.GzipFile(fileobj=writer, mode="wb", compresslevel=6, mtime=0) as gz:
            counter = Hashing(gz)
            with tarfile.open(fileobj=counter, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                hardlinks: dict[tuple[int, int], str] = {}
                add_entry(tar, root, "", hardlinks)
                for rel, _ in walk(root):
                    add_entry(tar, root, rel, hardlinks)
        digest = writer.commit()
        size = writer.written
    diff_id = counter.digest()
    desc = image_spec.Descriptor(media_type=image_spec.OCI_LAYER_GZIP, digest=digest, size=size,
                                 annotations={"io.berth.uncompressed-size": str(counter.size)})  # fmt: skip
    return desc, diff_id
