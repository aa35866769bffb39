"""Making an image from a directory: one layer, a config, a manifest."""

from __future__ import annotations

from berth import fastjson
from berth.clock import rfc3339
from berth.image.layer_writer import write_layer
from berth.image.store import Image, ImageStore
from berth.oci import image_spec

DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)


def image_from_directory(store: ImageStore, root: str, tags: list[str] | tuple[str, ...], created_by: str,
                         cmd: tuple[str, ...] = ("sh",), env: tuple[str, ...] = DEFAULT_ENV) -> Image:  # fmt: skip
    return image_from_layers(store, [(root, created_by)], tags, cmd=cmd, env=env)


def image_from_layers(store: ImageStore, layers: list[tuple[str, str]], tags: list[str] | tuple[str, ...],
                      cmd: tuple[str, ...] = ("sh",), env: tuple[str, ...] = DEFAULT_ENV) -> Image:  # fmt: skip
    """An image of one layer per (directory, created_by), bottom first; each
    directory holds what its layer adds or changes (whiteouts included)."""
    with store.lock():
        return _image_from_layers(store, layers, tags, cmd, env)


def _image_from_layers(store: ImageStore, layers, tags, cmd, env) -> Image:
    created = rfc3339()
    descriptors, diff_ids, history = [], [], []
    for root, created_by in layers:
        desc, diff_id = write_layer(store.content, root)
        descriptors.append(desc)
        diff_ids.append(diff_id)
        history.append(image_spec.History(created=created, created_by=created_by))
    config = image_spec.ImageConfig(
        architecture=image_spec.host_arch(),
        os="linux",
        created=created,
        rootfs=image_spec.RootFS(type="layers", diff_ids=tuple(diff_ids)),
        config=image_spec.ContainerConfig(env=env, cmd=cmd),
        history=tuple(history),
    )
    config_bytes = fastjson.dumps(image_spec.as_json(config)).encode()
    config_digest = store.content.put(config_bytes)
    manifest = image_spec.Manifest(
        schema_version=2,
        media_type=image_spec.OCI_MANIFEST,
        config=image_spec.Descriptor(media_type=image_spec.OCI_CONFIG, digest=config_digest, size=len(config_bytes)),
        layers=tuple(descriptors),
    )
    manifest_digest = store.content.put(fastjson.dumps(image_spec.as_json(manifest)).encode())
    return store.add(manifest_digest, tags)
