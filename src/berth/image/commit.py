"""A container's changes as a new image (`berth commit`) and as a list (`berth diff`).

The container's writable snapshot is its diff (snapshot/diff.py); the files the
runtime made only to bind /etc/hosts, /etc/hostname and /etc/resolv.conf onto
are left out, as Docker leaves out its init layer.
"""

from __future__ import annotations

from berth import fastjson
from berth.clock import rfc3339
from berth.image.importer import apply_changes
from berth.image.store import Image, ImageStore
from berth.oci import image_spec
from berth.snapshot import diff


def changes(store: ImageStore, key: str) -> list[tuple[str, str]]:
    """The snapshot's changes (kind, path relative to the root), mount-point files left out."""
    sn = store.snapshotter
    out = diff.snapshot_changes(sn, key)
    skip = set(diff.mount_point_files(sn, key))
    return [(kind, rel) for kind, rel in out if rel not in skip]


def docker_diff(store: ImageStore, key: str) -> list[tuple[str, str]]:
    """Docker's `diff`: ("A"|"C"|"D", "/path")."""
    out = []
    for kind, rel in changes(store, key):
        if kind == diff.DELETE:
            out.append(("D", "/" + rel))
        elif kind == diff.ADD:
            out.append(("C" if diff.lower_has(store.snapshotter, key, rel) else "A", "/" + rel))
    return out


def commit(store: ImageStore, base: Image | None, key: str, tags: list[str], change: list[str] = (),
           message: str = "", author: str = "", created_by: str = "", owners=None) -> Image:  # fmt: skip
    """A new image: the base image's layers, one more with the snapshot's changes, the config
    changed. `owners`: what diff.write_tar takes, for a snapshot written with the host's ids."""
    with store.lock():
        base_config = store.config(base) if base else None
        base_layers = list(store.manifest(base).layers) if base else []
        found = changes(store, key)
        layers, diff_ids = base_layers, list(base_config.rootfs.diff_ids) if base_config else []
        with store.content.writer() as writer:
            diff.write_tar(writer, store.snapshotter.fs(store.snapshotter.stat(key)), found, owners)
            digest = writer.commit()
            size = writer.written
        layers = [*layers, image_spec.Descriptor(media_type=image_spec.OCI_LAYER, digest=digest, size=size)]
        diff_ids.append(digest)  # uncompressed: the digest is the diff ID
        created = rfc3339()
        container_config = apply_changes(
            (base_config.config if base_config and base_config.config else image_spec.ContainerConfig()), list(change)
        )
        history = (*(base_config.history if base_config else ()),
                   image_spec.History(created=created, created_by=created_by, author=author, comment=message))  # fmt: skip
        config = image_spec.ImageConfig(
            architecture=base_config.architecture if base_config else image_spec.host_arch(), os="linux", created=created,
            author=author or (base_config.author if base_config else ""),
            rootfs=image_spec.RootFS(type="layers", diff_ids=tuple(diff_ids)), config=container_config,
            history=history,
        )  # fmt: skip
        config_bytes = fastjson.dumps(image_spec.as_json(config)).encode()
        config_digest = store.content.put(config_bytes)
        manifest = image_spec.Manifest(schema_version=2, media_type=image_spec.OCI_MANIFEST, layers=tuple(layers),
                                       config=image_spec.Descriptor(media_type=image_spec.OCI_CONFIG,
                                                                    digest=config_digest, size=len(config_bytes)))  # fmt: skip
        return store.add(store.content.put(fastjson.dumps(image_spec.as_json(manifest)).encode()), tags)
