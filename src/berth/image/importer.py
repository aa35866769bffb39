"""A root file system tarball as a one-layer image (`berth import`)."""

from __future__ import annotations

import json

from berth import fastjson
from berth.clock import rfc3339
from berth.errors import InvalidArgument
from berth.image.codec import Hashing, decompressed, sniff
from berth.image.create import DEFAULT_ENV
from berth.image.store import Image, ImageStore
from berth.oci import image_spec


class _Peek:
    """A stream whose first bytes were read to sniff the compression."""

    def __init__(self, raw, head: bytes) -> None:
        self.raw, self.head = raw, head

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0:
                data, self.head = self.head + self.raw.read(), b""
                return data
            data, self.head = self.head[:n], self.head[n:]
            if len(data) < n:
                data += self.raw.read(n - len(data))
            return data
        return self.raw.read(n)


def _words(change: str, text: str) -> tuple[str, ...]:
    """The exec form (a JSON array) or the shell form of CMD and ENTRYPOINT."""
    if text.startswith("["):
        try:
            return tuple(json.loads(text))
        except ValueError:
            raise InvalidArgument(f"invalid change {change!r}: not a JSON array") from None
    return ("/bin/sh", "-c", text)


def apply_changes(config: image_spec.ContainerConfig, changes: list[str]) -> image_spec.ContainerConfig:
    """The subset of Dockerfile instructions `docker import -c` accepts."""
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "CMD":
            config = config.replace(cmd=_words(change, rest))
        elif word == "ENTRYPOINT":
            config = config.replace(entrypoint=_words(change, rest))
        elif word == "ENV":
            key, sep, value = rest.partition("=")
            if not sep:
                key, _, value = rest.partition(" ")
            config = config.replace(
                env=tuple(e for e in config.env if not e.startswith(key + "=")) + (f"{key}={value}",)
            )
        elif word == "WORKDIR":
            config = config.replace(working_dir=rest)
        elif word == "USER":
            config = config.replace(user=rest)
        elif word == "LABEL":
            key, _, value = rest.partition("=")
            config = config.replace(labels={**config.labels, key: value.strip('"')})
        elif word == "EXPOSE":
            ports = {p if "/" in p else p + "/tcp": {} for p in rest.split()}
            config = config.replace(exposed_ports={**config.exposed_ports, **ports})
        else:
            raise InvalidArgument(f"{word} is not a valid change command")
    return config


def import_tarball(store: ImageStore, stream, name: str, changes: list[str], message: str, source: str) -> Image:
    container_config = apply_changes(image_spec.ContainerConfig(env=DEFAULT_ENV), changes)
    if name:
        from berth.image.store import normalize

        normalize(name)  # a bad name fails before anything is stored
    head = stream.read(8)
    compression = sniff(head)
    peek = _Peek(stream, head)
    with store.lock():
        with store.content.writer() as writer:
            tee = _Tee(peek, writer)
            reader = Hashing(decompressed(tee, compression))
            import tarfile

            try:
                with tarfile.open(fileobj=reader, mode="r|") as tar:
                    for _ in tar:
                        pass
            except tarfile.TarError as e:
                raise InvalidArgument(f"import: not a tar archive: {e}") from None
            reader.drain()
            while tee.read(1 << 20):
                pass
            layer_digest = writer.commit()
            layer_size = writer.written
        media = {"": image_spec.OCI_LAYER, "gzip": image_spec.OCI_LAYER_GZIP, "zstd": image_spec.OCI_LAYER_ZSTD}[
            compression
        ]
        created = rfc3339()
        config = image_spec.ImageConfig(
            architecture=image_spec.host_arch(), os="linux", created=created,
            rootfs=image_spec.RootFS(type="layers", diff_ids=(reader.digest(),)), config=container_config,
            history=(image_spec.History(created=created, created_by=f"berth import {source}", comment=message or "Imported from " + source),),
        )  # fmt: skip
        config_bytes = fastjson.dumps(image_spec.as_json(config)).encode()
        manifest = image_spec.Manifest(
            schema_version=2, media_type=image_spec.OCI_MANIFEST,
            config=image_spec.Descriptor(media_type=image_spec.OCI_CONFIG, digest=store.content.put(config_bytes), size=len(config_bytes)),
            layers=(image_spec.Descriptor(media_type=media, digest=layer_digest, size=layer_size,
                                          annotations={"io.berth.uncompressed-size": str(reader.size)}),),
        )  # fmt: skip
        manifest_digest = store.content.put(fastjson.dumps(image_spec.as_json(manifest)).encode())
        return store.add(manifest_digest, [name] if name else [])


class _Tee:
    """Reads from a stream and writes what it read into a content writer."""

    def __init__(self, raw, writer) -> None:
        self.raw, self.writer = raw, writer

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if data:
            self.writer.write(data)
        return data
