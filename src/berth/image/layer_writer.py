"""Writing a directory as a gzip-compressed OCI layer into the content store,
streamed: the uncompressed tar's sha256 (the diff ID) and the blob's digest are
computed as the bytes go through."""

from __future__ import annotations

import gzip
import os
import stat
import tarfile

from berth.content.store import ContentStore
from berth.image.codec import Hashing
from berth.oci import image_spec


class _BlobSink:
    def __init__(self, writer) -> None:
        self.writer = writer

    def write(self, data: bytes) -> int:
        self.writer.write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


def _walk(root: str):
    """Every path under root, parents before children, in a stable order."""
    yield ""
    for top, dirs, files in os.walk(root):
        dirs.sort()
        rel_top = os.path.relpath(top, root)
        for name in sorted(dirs + files):
            rel = name if rel_top == "." else f"{rel_top}/{name}"
            if name in dirs and not os.path.islink(os.path.join(top, name)):
                yield rel
            elif name not in dirs or os.path.islink(os.path.join(top, name)):
                yield rel


def write_layer(store: ContentStore, root: str) -> tuple[image_spec.Descriptor, str]:
    """(descriptor of the compressed layer, diff ID) for the tree at `root`."""
    with store.writer() as writer:
        sink = _BlobSink(writer)
        with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0) as gz:
            counter = Hashing(gz)
            with tarfile.open(fileobj=counter, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                hardlinks: dict[tuple[int, int], str] = {}
                for rel in _walk(root):
                    path = os.path.join(root, rel) if rel else root
                    info = tar.gettarinfo(path, arcname=rel or ".")
                    info.uname = info.gname = ""
                    st = os.lstat(path)
                    if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                        key = (st.st_dev, st.st_ino)
                        if key in hardlinks:
                            info.type, info.linkname, info.size = tarfile.LNKTYPE, hardlinks[key], 0
                            tar.addfile(info)
                            continue
                        hardlinks[key] = rel
                    if info.isreg():
                        with open(path, "rb") as f:
                            tar.addfile(info, f)
                    else:
                        tar.addfile(info)
        digest = writer.commit()
        size = writer.written
    diff_id = counter.digest()
    desc = image_spec.Descriptor(media_type=image_spec.OCI_LAYER_GZIP, digest=digest, size=size,
                                 annotations={"io.berth.uncompressed-size": str(counter.size)})  # fmt: skip
    return desc, diff_id
