"""`save` and `load`: docker-archive (what `docker save` writes) and oci-archive.

A docker-archive from berth is the layout Docker 25+ writes, which older Docker
and Podman also read: an OCI image layout (index.json, oci-layout, blobs/) plus
Docker's manifest.json and repositories, with uncompressed layers. An
oci-archive keeps the stored blobs, so digests are kept.

`load` verifies every blob against its digest, and every layer against the diff
ID the config gives, before any image is recorded; on failure the blobs it added
are removed again and the store is as it was.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import tarfile
import tempfile
import zlib

from berth import fastjson
from berth.errors import InvalidArgument, Unsupported
from berth.image.codec import decompressed, sniff
from berth.image.store import Image, ImageStore
from berth.oci import image_spec, reference

DOCKER, OCI = "docker-archive", "oci-archive"
_MAX_JSON = 4 << 20  # manifests and configs larger than this are not sane


# -- save ---------------------------------------------------------------------
def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o444, 0
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
    tar.addfile(info)


def _add_blob(tar: tarfile.TarFile, store: ImageStore, digest: str, added: set[str]) -> None:
    if digest in added:
        return
    added.add(digest)
    info = tarfile.TarInfo("blobs/" + digest.replace(":", "/"))
    info.size, info.mode, info.mtime = store.content.size(digest), 0o444, 0
    with store.content.open(digest) as f:
        tar.addfile(info, f)


def save(store: ImageStore, names: list[str], out, fmt: str = DOCKER) -> None:
    if fmt not in (DOCKER, OCI):
        raise InvalidArgument(f"unknown archive format {fmt!r}: use {DOCKER} or {OCI}")
    images: list[tuple[Image, list[str]]] = []
    for name in names:
        image = store.get(name)
        wanted = [t for t in image.tags if _names_tag(name, t)] or list(image.tags)
        images.append((image, wanted))
    added: set[str] = set()
    index, docker_manifest, repositories = [], [], {}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        for image, tags in images:
            manifest = store.manifest(image)
            config = store.config(image)
            _add_blob(tar, store, image.id, added)
            layer_paths = []
            if fmt == OCI:
                for layer in manifest.layers:
                    _add_blob(tar, store, layer.digest, added)
                manifest_digest = image.manifest
                manifest_bytes = store.content.read(image.manifest)
            else:
                layers = []
                for layer, diff_id in zip(manifest.layers, config.rootfs.diff_ids, strict=True):
                    size = _add_uncompressed(tar, store, layer, diff_id, added)
                    layers.append(image_spec.Descriptor(media_type=image_spec.OCI_LAYER, digest=diff_id, size=size))
                    layer_paths.append("blobs/" + diff_id.replace(":", "/"))
                doc = manifest.replace(media_type=image_spec.OCI_MANIFEST, layers=tuple(layers))
                manifest_bytes = fastjson.dumps(image_spec.as_json(doc)).encode()
                manifest_digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
            if manifest_digest not in added:
                added.add(manifest_digest)
                _add_bytes(tar, "blobs/" + manifest_digest.replace(":", "/"), manifest_bytes)
            familiar = []
            for tag in tags or [""]:
                annotations = {}
                if tag:
                    ref = reference.parse(tag)
                    annotations = {"io.containerd.image.name": str(ref), "org.opencontainers.image.ref.name": ref.tag}
                    familiar.append(f"{ref.familiar_name()}:{ref.tag}")
                    repositories.setdefault(ref.familiar_name(), {})[ref.tag] = (
                        config.rootfs.diff_ids[-1][7:] if config.rootfs.diff_ids else ""
                    )
                index.append({"mediaType": image_spec.OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest_bytes),
                              **({"annotations": annotations} if annotations else {})})  # fmt: skip
            if fmt == DOCKER:
                docker_manifest.append({"Config": "blobs/" + image.id.replace(":", "/"), "RepoTags": familiar or None,
                                        "Layers": layer_paths})  # fmt: skip
        _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        _add_bytes(
            tar,
            "index.json",
            fastjson.dumps({"schemaVersion": 2, "mediaType": image_spec.OCI_INDEX, "manifests": index}).encode(),
        )
        if fmt == DOCKER:
            _add_bytes(tar, "manifest.json", fastjson.dumps(docker_manifest).encode())
            if repositories:
                _add_bytes(tar, "repositories", fastjson.dumps(repositories).encode())


def _names_tag(name: str, tag: str) -> bool:
    try:
        return str(reference.parse(name)) == tag
    except reference.ReferenceError:
        return False


def _add_uncompressed(tar: tarfile.TarFile, store: ImageStore, layer, diff_id: str, added: set[str]) -> int:
    """Write the layer uncompressed (as docker save does); return its size."""
    with tempfile.TemporaryFile() as spool:
        with store.content.open(layer.digest) as raw:
            src = decompressed(raw, image_spec.layer_compression(layer.media_type))
            while chunk := src.read(1 << 20):
                spool.write(chunk)
        size = spool.tell()
        if diff_id not in added:
            added.add(diff_id)
            spool.seek(0)
            info = tarfile.TarInfo("blobs/" + diff_id.replace(":", "/"))
            info.size, info.mode, info.mtime = size, 0o444, 0
            tar.addfile(info, spool)
    return size


# -- load ---------------------------------------------------------------------
class _DiffHash:
    """sha256 and size of a layer's uncompressed bytes, fed its stored bytes."""

    def __init__(self, compression: str) -> None:
        self.hash = hashlib.sha256()
        self.size = 0
        if compression == "gzip":
            self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif compression == "zstd":
            try:
                import zstandard
            except ImportError:
                raise Unsupported("zstd layers need the zstandard package") from None
            self.inflate = zstandard.ZstdDecompressor().decompressobj()
        else:
            self.inflate = None

    def feed(self, data: bytes) -> None:
        if self.inflate is not None:
            data = self.inflate.decompress(data)
        self.hash.update(data)
        self.size += len(data)

    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def _key(name: str) -> str:
    """One spelling per archive path: './a', '/a' and 'a//b/../a' are all 'a'."""
    return posixpath.normpath("/" + name).lstrip("/")


class _Loader:
    def __init__(self, store: ImageStore, tar: tarfile.TarFile) -> None:
        self.store = store
        self.tar = tar
        self.members = {_key(m.name): m for m in tar.getmembers()}
        self.new: list[str] = []  # blobs this load added, removed again if it fails

    def member(self, name: str):
        m = self.members.get(_key(name))
        if m is None or not m.isfile():
            raise InvalidArgument(f"invalid archive: {name} is missing")
        return m

    def read_json(self, name: str) -> object:
        m = self.member(name)
        if m.size > _MAX_JSON:
            raise InvalidArgument(f"invalid archive: {name} is {m.size} bytes, more than a manifest or config may be")
        try:
            return fastjson.loads(self.tar.extractfile(m).read())
        except ValueError as e:
            raise InvalidArgument(f"invalid archive: {name}: {e}") from None

    def ingest(self, name: str, expected: str | None = None, size: int | None = None, diff=None) -> str:
        m = self.member(name)
        existed = expected is not None and self.store.content.exists(expected)
        if existed and diff is None:
            return expected
        src = self.tar.extractfile(m)
        with self.store.content.writer(expected, size) as w:
            while chunk := src.read(1 << 20):
                w.write(chunk)
                if diff is not None:
                    diff.feed(chunk)
            existed = self.store.content.exists(f"{w.algorithm}:{w.hash.hexdigest()}")
            digest = w.commit()
        if not existed:
            self.new.append(digest)
        return digest

    def put(self, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if not self.store.content.exists(digest):
            self.store.content.put(data, digest)
            self.new.append(digest)
        return digest

    def undo(self) -> None:
        for digest in self.new:
            self.store.content.delete(digest)

    # docker-archive: manifest.json -> configs and layer files
    def docker(self) -> list[tuple[str, list[str]]]:
        entries = self.read_json("manifest.json")
        if not isinstance(entries, list):
            raise InvalidArgument("invalid archive: manifest.json is not a list")
        images = []
        for entry in entries:
            config_path = entry.get("Config", "")
            config_bytes = self.tar.extractfile(self.member(config_path)).read()
            config_digest = self.put(config_bytes)
            config = image_spec.parse_config(fastjson.loads(config_bytes))
            diff_ids = config.rootfs.diff_ids
            paths = entry.get("Layers") or []
            if len(paths) != len(diff_ids):
                raise InvalidArgument(f"invalid archive: {len(paths)} layers but the config lists {len(diff_ids)}")
            layers = []
            for path, diff_id in zip(paths, diff_ids, strict=True):
                head = self.tar.extractfile(self.member(path)).read(8)
                compression = sniff(head)
                diff = _DiffHash(compression)
                digest = self.ingest(path, diff=diff)
                if diff.digest() != diff_id:
                    raise InvalidArgument(
                        f"invalid archive: layer {path} is {diff.digest()}, the config says {diff_id}"
                    )
                media = {
                    "": image_spec.OCI_LAYER,
                    "gzip": image_spec.OCI_LAYER_GZIP,
                    "zstd": image_spec.OCI_LAYER_ZSTD,
                }[compression]
                layers.append(image_spec.Descriptor(media_type=media, digest=digest, size=self.member(path).size,
                                                    annotations={"io.berth.uncompressed-size": str(diff.size)}))  # fmt: skip
            manifest = image_spec.Manifest(
                schema_version=2, media_type=image_spec.OCI_MANIFEST, layers=tuple(layers),
                config=image_spec.Descriptor(media_type=image_spec.OCI_CONFIG, digest=config_digest, size=len(config_bytes)),
            )  # fmt: skip
            manifest_digest = self.put(fastjson.dumps(image_spec.as_json(manifest)).encode())
            images.append((manifest_digest, list(entry.get("RepoTags") or [])))
        return images

    # oci-archive: index.json -> manifests -> blobs, all by digest
    def oci(self) -> list[tuple[str, list[str]]]:
        index = image_spec.parse_index(self.read_json("index.json"))
        images = []
        for desc in index.manifests:
            images += self._descriptor(desc)
        return images

    def _blob_path(self, digest: str) -> str:
        return "blobs/" + digest.replace(":", "/")

    def _descriptor(self, desc: image_spec.Descriptor) -> list[tuple[str, list[str]]]:
        if desc.media_type in image_spec.INDEXES:
            nested = image_spec.parse_index(self.read_json(self._blob_path(desc.digest)))
            return [img for d in nested.manifests if _host_platform(d) for img in self._descriptor(d)]
        if desc.media_type not in image_spec.MANIFESTS:
            raise InvalidArgument(f"invalid archive: unsupported media type {desc.media_type!r}")
        self.ingest(self._blob_path(desc.digest), desc.digest, desc.size)
        manifest = image_spec.parse_manifest(self.read_json(self._blob_path(desc.digest)))
        for blob in (manifest.config, *manifest.layers):
            self.ingest(self._blob_path(blob.digest), blob.digest, blob.size)
        names = []
        ann = desc.annotations
        for candidate in (ann.get("io.containerd.image.name", ""), ann.get("org.opencontainers.image.ref.name", "")):
            if candidate and ("/" in candidate or ":" in candidate):
                try:
                    names.append(str(reference.parse(candidate)))
                    break
                except reference.ReferenceError:
                    continue
        return [(desc.digest, names)]


def _host_platform(desc: image_spec.Descriptor) -> bool:

    p = desc.platform
    return p is None or (p.os == "linux" and p.architecture == image_spec.host_arch())


def load(store: ImageStore, stream) -> list[tuple[Image, list[str]]]:
    """Load every image in a docker- or oci-archive; return (image, names given)."""
    with store.lock(), tempfile.TemporaryFile() as spool:
        if not hasattr(stream, "seek") or not stream.seekable():
            while chunk := stream.read(1 << 20):
                spool.write(chunk)
            spool.seek(0)
            stream = spool
        try:
            tar = tarfile.open(fileobj=stream, mode="r:*")
        except (tarfile.TarError, EOFError, OSError):
            raise InvalidArgument("invalid archive: not a tar file (plain, gzip, bzip2 or xz)") from None
        loader = None
        try:
            loader = _Loader(store, tar)
            if "manifest.json" in loader.members:
                found = loader.docker()
            elif "index.json" in loader.members:
                found = loader.oci()
            else:
                raise InvalidArgument(
                    "invalid archive: it has neither manifest.json (docker-archive) nor index.json (oci-archive)"
                )
            if not found:
                raise InvalidArgument("invalid archive: no image in it")
        except (tarfile.TarError, EOFError, zlib.error) as e:
            if loader:
                loader.undo()
            raise InvalidArgument(f"invalid archive: {e}") from None
        except BaseException:
            if loader:
                loader.undo()
            raise
        finally:
            tar.close()
        loaded = []
        for manifest_digest, names in found:
            image = store.add(manifest_digest, [n for n in names if n])
            loaded.append((image, names))
    return loaded
