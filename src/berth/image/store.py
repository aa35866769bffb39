"""The image store: images and their names, over the content store and a snapshotter.

    <root>/content/     blobs by digest (berth.content)
    <root>/overlay/     unpacked layers, one committed snapshot per chain ID
    <root>/images.db    SQLite (WAL): images, tags, schema version

An image is known by its config digest (Docker's image ID). Each tag (a full
reference such as docker.io/library/busybox:latest) names one image.
"""

from __future__ import annotations

import os
import time

from berth import fastjson
from berth.content.store import ContentStore
from berth.db import Transaction, connect
from berth.errors import InvalidArgument, NotFound
from berth.oci import image_spec, reference
from berth.oci.record import record

_SCHEMA = """
    CREATE TABLE IF NOT EXISTS images (id TEXT PRIMARY KEY, manifest TEXT NOT NULL,
        created TEXT NOT NULL DEFAULT '', size INTEGER NOT NULL DEFAULT 0, added REAL NOT NULL);
    CREATE TABLE IF NOT EXISTS tags (name TEXT PRIMARY KEY,
        image TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE);
"""
DEFAULT_ROOT = "/var/lib/berth"


@record
class Image:
    id: str  # config digest
    manifest: str  # manifest digest
    created: str = ""  # from the config
    size: int = 0  # the layers unpacked, as docker images shows
    tags: tuple[str, ...] = ()


class ImageStore:
    def __init__(self, root: str = DEFAULT_ROOT) -> None:
        self.root = root
        os.makedirs(root, mode=0o711, exist_ok=True)
        self.content = ContentStore(os.path.join(root, "content"))
        self.db = connect(os.path.join(root, "images.db"), _SCHEMA)
        self.db.execute("PRAGMA foreign_keys=ON")
        self._snapshotter = None

    @property
    def snapshotter(self):
        if self._snapshotter is None:
            from berth.snapshot.overlay import OverlaySnapshotter

            self._snapshotter = OverlaySnapshotter(os.path.join(self.root, "overlay"))
        return self._snapshotter

    # -- documents ----------------------------------------------------------
    def json_blob(self, digest: str) -> dict:
        return fastjson.loads(self.content.read(digest))

    def manifest(self, image: Image) -> image_spec.Manifest:
        return image_spec.parse_manifest(self.json_blob(image.manifest))

    def config(self, image: Image) -> image_spec.ImageConfig:
        return image_spec.parse_config(self.json_blob(image.id))

    # -- images and names ---------------------------------------------------
    def add(self, manifest_digest: str, tags: list[str] | tuple[str, ...] = ()) -> Image:
        """Record an image whose manifest, config and layers are in the content store."""
        manifest = image_spec.parse_manifest(self.json_blob(manifest_digest))
        for desc in (manifest.config, *manifest.layers):
            if not self.content.exists(desc.digest):
                raise NotFound(f"blob {desc.digest} of manifest {manifest_digest} is not in the content store")
        config = image_spec.parse_config(self.json_blob(manifest.config.digest))
        image_id = manifest.config.digest
        names = [normalize(tag) for tag in tags]
        if self._recorded(image_id, manifest_digest, names):
            return self.get(image_id)  # a rebuild from the cache: nothing to write (nor to fsync)
        size = self.unpacked_size(manifest)
        with Transaction(self.db):
            self.db.execute(
                "INSERT INTO images (id, manifest, created, size, added) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET manifest = excluded.manifest",
                (image_id, manifest_digest, config.created, size, time.time()),
            )
            for name in names:
                self.db.execute("INSERT OR REPLACE INTO tags (name, image) VALUES (?, ?)", (name, image_id))
        return self.get(image_id)

    def _recorded(self, image_id: str, manifest_digest: str, names: list[str]) -> bool:
        row = self.db.execute("SELECT manifest FROM images WHERE id = ?", (image_id,)).fetchone()
        if row is None or row[0] != manifest_digest:
            return False
        for name in names:
            if self.db.execute("SELECT 1 FROM tags WHERE name = ? AND image = ?", (name, image_id)).fetchone() is None:
                return False
        return True

    def unpacked_size(self, manifest: image_spec.Manifest) -> int:
        """What docker images calls SIZE: the layers uncompressed (annotated by berth), else compressed."""
        total = 0
        for layer in manifest.layers:
            total += int(layer.annotations.get("io.berth.uncompressed-size", layer.size))
        return total

    def _row(self, row) -> Image:
        tags = tuple(r[0] for r in self.db.execute("SELECT name FROM tags WHERE image = ? ORDER BY name", (row[0],)))
        return Image(id=row[0], manifest=row[1], created=row[2], size=row[3], tags=tags)

    def get(self, name_or_id: str) -> Image:
        """By tag (busybox, busybox:latest, full reference), full ID, or unique ID prefix."""
        key = name_or_id.removeprefix("sha256:")
        if len(key) >= 4 and all(c in "0123456789abcdef" for c in key):
            rows = self.db.execute(
                "SELECT id, manifest, created, size FROM images WHERE id LIKE ?", (f"sha256:{key}%",)
            ).fetchall()
            if len(rows) == 1:
                return self._row(rows[0])
            if len(rows) > 1:
                raise InvalidArgument(f"image ID prefix {name_or_id} is ambiguous: give more digits")
        try:
            name = normalize(name_or_id)
        except reference.ReferenceError:
            raise NotFound(f"No such image: {name_or_id}") from None
        if "@" in name:  # NAME@DIGEST: the image whose manifest that is
            row = self.db.execute("SELECT id, manifest, created, size FROM images WHERE manifest = ?",
                                  (name.rpartition("@")[2],)).fetchone()  # fmt: skip
            if row is None:
                raise NotFound(f"No such image: {name_or_id}")
            return self._row(row)
        row = self.db.execute(
            "SELECT images.id, manifest, created, size FROM tags JOIN images ON images.id = tags.image WHERE name = ?",
            (name,),
        ).fetchone()
        if row is None:
            raise NotFound(f"No such image: {name_or_id}")
        return self._row(row)

    def list(self) -> list[Image]:
        rows = self.db.execute("SELECT id, manifest, created, size FROM images ORDER BY added DESC").fetchall()
        return [self._row(r) for r in rows]

    def tag(self, source: str, target: str) -> None:
        image = self.get(source)
        self.db.execute("INSERT OR REPLACE INTO tags (name, image) VALUES (?, ?)", (normalize(target), image.id))

    def untag(self, name: str) -> None:
        self.db.execute("DELETE FROM tags WHERE name = ?", (normalize(name),))

    def delete(self, image_id: str) -> None:
        """Forget an image (its tags go with it); blobs stay until garbage collection."""
        self.db.execute("DELETE FROM images WHERE id = ?", (image_id,))

    def lock(self, exclusive: bool = False):
        """Loads and creates hold it shared, garbage collection exclusive: a blob
        written for an image not yet recorded is never collected."""
        import contextlib
        import fcntl

        @contextlib.contextmanager
        def held():
            fd = os.open(os.path.join(self.root, "gc.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                yield
            finally:
                os.close(fd)

        return held()

    def close(self) -> None:
        self.db.close()
        if self._snapshotter is not None:
            self._snapshotter.close()


def normalize(name: str) -> str:
    """'busybox' -> 'docker.io/library/busybox:latest'."""
    ref = reference.parse(name)
    return str(ref)
