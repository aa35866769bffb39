"""The image half of the engine's façade: what every front end (the CLI, the API servers)
calls to list, inspect, tag, remove, prune, pull, push, save, load, import and bootstrap
images, with typed requests and results; Docker's image document is made here, once."""

from __future__ import annotations

import os

from berth.errors import FailedPrecondition, InvalidArgument, NotFound
from berth.image.progress import Progress
from berth.oci import reference
from berth.oci.record import record

TYPE_CHECKING = False  # typing imports re: kept off `run`'s path
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["Images", "ImageSummary", "HistoryEntry", "Loaded", "Pushed", "Progress"]

IMAGE_FILTERS = ("reference", "dangling", "label", "before", "since")


@record
class ImageSummary:
    id: str
    manifest: str
    created: str
    size: int
    names: tuple[tuple[str, str], ...]  # (repository, tag), familiar; empty for a dangling image
    labels: dict[str, str]  # read only when a label filter asks for them


@record
class HistoryEntry:
    id: str  # the image's ID for its newest entry, "<missing>" for the ones below (Docker's)
    created: str
    created_by: str
    size: int
    comment: str


@record
class Loaded:
    id: str
    names: tuple[str, ...]  # familiar name:tag


@record
class Pushed:
    tag: str
    digest: str
    size: int


def canonical(name: str) -> str:
    """docker.io/library/busybox:latest for busybox."""
    return str(reference.parse(name))


def check_reference(name: str) -> None:
    """InvalidArgument, in the reference parser's words, for a name that is neither an image ID
    (or a prefix of one) nor a reference."""
    key = name.removeprefix("sha256:")
    if len(key) >= 4 and all(c in "0123456789abcdef" for c in key):
        return
    try:
        reference.parse(name)
    except reference.ReferenceError as e:
        raise InvalidArgument(str(e)) from None


def short_name(name: str) -> str:
    """busybox for docker.io/library/busybox:latest, as docker ps shows it; NAME if not a reference."""
    try:
        ref = reference.parse(name)
    except reference.ReferenceError:
        return name
    return ref.familiar_name() + (f":{ref.tag}" if ref.tag != "latest" else "")


def familiar(name: str) -> str:
    """busybox:latest for docker.io/library/busybox:latest; name@digest kept."""
    ref = reference.parse(name)
    return ref.familiar_name() + (f"@{ref.digest}" if ref.digest else f":{ref.tag}")


class Images:
    def __init__(self, engine) -> None:
        self._engine = engine

    @property
    def store(self):
        return self._engine.store

    def get(self, name: str):
        return self.store.get(name)

    # -- reading ----------------------------------------------------------------
    def list(self, filters: dict[str, list[str]] | None = None, match: str = "") -> list[ImageSummary]:
        """Docker's filters: values of one key are alternatives (labels: all must hold), keys all hold."""
        filters = self._checked(filters or {})
        out = []
        for image in self.store.list():
            refs = [reference.parse(t) for t in image.tags]
            dangling = not refs
            if match:
                refs = [r for r in refs if _matches(match, r)]
                if not refs:
                    continue
            if "reference" in filters:
                refs = [r for r in refs if any(_matches(p, r) for p in filters["reference"])]
                if not refs:
                    continue
            if "dangling" in filters and (filters["dangling"][-1] in ("true", "1")) != dangling:
                continue
            if not self._dated(image.created, filters):
                continue
            labels = {}
            if "label" in filters:
                from berth.engine.filters import has_label

                config = self.store.config(image).config
                labels = (config.labels if config else None) or {}
                if not all(has_label(labels, want) for want in filters["label"]):
                    continue
            out.append(ImageSummary(id=image.id, manifest=image.manifest, created=image.created, size=image.size,
                                    names=tuple((r.familiar_name(), r.tag) for r in refs), labels=labels))  # fmt: skip
        return out

    def _checked(self, filters: dict[str, list[str]]) -> dict[str, list[str]]:
        out = {}
        for key, values in filters.items():
            if key not in IMAGE_FILTERS:
                raise InvalidArgument(f"invalid filter '{key}'")
            if key == "dangling" and any(v not in ("true", "false", "1", "0") for v in values):
                raise InvalidArgument(f"invalid filter 'dangling={values[0]}'")
            if key in ("before", "since"):
                values = [self.store.get(v).created for v in values]  # No such image: ... for an unknown one
            out[key] = list(values)
        return out

    @staticmethod
    def _dated(created: str, filters: dict[str, list[str]]) -> bool:
        from berth.clock import parse_rfc3339

        when = parse_rfc3339(created)
        return all(when < parse_rfc3339(t) for t in filters.get("before", ())) and all(
            when > parse_rfc3339(t) for t in filters.get("since", ())
        )

    def inspect(self, name: str) -> dict:
        from berth.engine.documents import image_document

        return image_document(self.store, self.store.get(name))

    def history(self, name: str) -> list[HistoryEntry]:
        """Newest first, each entry with the size of the layer it made."""
        image = self.store.get(name)
        config = self.store.config(image)
        layers = list(self.store.manifest(image).layers)
        entries = []
        for h in config.history:
            size = 0
            if not h.empty_layer and layers:
                layer = layers.pop(0)
                size = int(layer.annotations.get("io.berth.uncompressed-size", layer.size))
            entries.append((h, size))
        return [HistoryEntry(id=image.id if i == 0 else "<missing>", created=h.created, created_by=h.created_by,
                             size=size, comment=h.comment) for i, (h, size) in enumerate(reversed(entries))]  # fmt: skip

    # -- names ----------------------------------------------------------------
    def tag(self, source: str, target: str) -> None:
        try:
            self.store.tag(source, target)
        except reference.ReferenceError as e:
            raise InvalidArgument(str(e)) from None

    def remove(self, name: str, force: bool = False) -> list[tuple[str, str]]:
        """Docker's rmi: untag NAME (every tag when NAME is the ID), delete the image once no name
        holds it. [("Untagged", "busybox:latest"), ("Deleted", "sha256:...")]; the blobs and
        snapshots only it held go too."""
        image = self.store.get(name)
        users = [] if force else self._users().get(image.id, [])
        if users:
            raise FailedPrecondition(f'conflict: unable to remove repository reference "{name}" (must force) - '
                                     f"container {users[0][:12]} is using its referenced image {image.id[7:19]}")  # fmt: skip
        by_id = image.id.removeprefix("sha256:").startswith(name.removeprefix("sha256:")) and name not in _tag_names(
            image
        )
        if by_id:
            if len(image.tags) > 1 and not force:
                raise FailedPrecondition(f"conflict: unable to delete {image.id[7:19]} (must be forced) - "
                                         "image is referenced in multiple repositories")  # fmt: skip
            untag = list(image.tags)
        else:
            untag = [str(reference.parse(name))]
        done = []
        for tag in untag:
            self.store.untag(tag)
            done.append(("Untagged", familiar(tag)))
        if not self.store.get(image.id).tags:
            self.store.delete(image.id)
            done.append(("Deleted", image.id))
            self.collect()
        return done

    def _users(self) -> dict[str, list[str]]:
        """image ID -> the containers made from it."""
        out: dict[str, list[str]] = {}
        for c in self._engine.list():
            out.setdefault(c.image, []).append(c.id)
        return out

    def prune(self, everything: bool = False) -> tuple[list[str], int]:
        """Dangling images (all unused with everything) and what only they held: (IDs, bytes freed)."""
        from berth.image.gc import prune_images

        gone = prune_images(self.store, everything, set(self._users()))
        return gone, self.collect()

    def collect(self) -> int:
        """The blobs and snapshots no image holds any more; the bytes freed."""
        from berth.image.gc import collect

        return collect(self.store)

    def prune_build_cache(self) -> int:
        """Forget the build cache and remove its cache mounts; the bytes freed. The layers it
        pointed at stay until an image prune finds nothing else uses them."""
        from berth.build.cache import Cache

        with self.store.lock():
            cache = Cache(self.store.root)
            try:
                return cache.prune()[1]
            finally:
                cache.close()

    # -- moving images ------------------------------------------------------------
    def usage(self) -> tuple[str, int, int]:
        """The image store's directory, and the bytes and inodes it takes (the CRI's ImageFsInfo)."""
        from berth.fs import tree_size

        root = self.store.root
        inodes = sum(len(files) + len(dirs) for _, dirs, files in os.walk(root))
        return root, tree_size(root), inodes

    def pull(self, name: str, platform: str = "", progress: Progress | None = None, tls_verify: bool = True,
             auth: tuple[str, str] | None = None, mirrors: dict[str, tuple[str, ...]] | None = None) -> str:  # fmt: skip
        """The image's ID. `auth`: (user, password) for this pull, else the saved credentials;
        `mirrors`: registry -> endpoints tried before it."""
        from berth.image.pull import pull

        return pull(self.store, name, platform, progress, tls_verify=tls_verify, auth=auth, mirrors=mirrors).id

    def repository_tags(self, name: str, tls_verify: bool = True) -> list[str]:
        """Every tag of NAME's repository, as full names (pull --all-tags)."""
        ref = reference.parse(name)
        if ref.digest or ":" in name.rpartition("/")[2]:
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        from berth import fastjson
        from berth.registry.client import Client
        from berth.registry.config import api_host

        client = Client(api_host(ref.domain), tls_verify=tls_verify)
        response = client.request("GET", f"/v2/{ref.path}/tags/list", f"repository:{ref.path}:pull")
        client.check(response, f"{client.host}/{ref.path}: tags")
        return [f"{ref.domain}/{ref.path}:{tag}" for tag in sorted(fastjson.loads(response.data).get("tags") or [])]

    def push(self, name: str, progress: Progress | None = None, tls_verify: bool = True,
             auth: tuple[str, str] | None = None) -> Pushed:  # fmt: skip
        from berth.image.push import push

        tag, digest, size = push(self.store, name, progress, tls_verify=tls_verify, auth=auth)
        return Pushed(tag=tag, digest=digest, size=size)

    def manifest(self, name: str, tls_verify: bool = True) -> bytes:
        """The manifest (or index) as the registry holds it."""
        from berth.registry.client import Client
        from berth.registry.config import api_host

        ref = reference.parse(name)
        client = Client(api_host(ref.domain), tls_verify=tls_verify)
        return client.get_manifest(ref.path, ref.digest or ref.tag)[0]

    def save(self, names: list[str], out: BinaryIO, fmt: str = "docker-archive") -> None:
        """docker-archive or oci-archive; an unknown format or name fails before anything is written."""
        from berth.image.archive import save

        save(self.store, names, out, fmt)

    def load(self, stream: BinaryIO) -> list[Loaded]:
        from berth.image.archive import load

        return [Loaded(id=image.id, names=tuple(map(familiar, names))) for image, names in load(self.store, stream)]

    def import_(self, source: str, stream: BinaryIO | None = None, name: str = "", changes: list[str] = (),
                message: str = "") -> str:  # fmt: skip
        """A root file system tarball as a one-layer image: from `stream`, or from SOURCE when it is
        a URL or a file. The image's ID."""
        from berth.image.importer import import_tarball

        if stream is None:
            stream = _open_source(source)
        with stream:
            return import_tarball(self.store, stream, name, list(changes), message, source).id

    @staticmethod
    def bootstrap_kinds() -> tuple[str, ...]:
        from berth.image.bootstrap import KINDS

        return KINDS

    def bootstrap(self, kind: str, tag: str = "") -> str:
        from berth.image.bootstrap import bootstrap

        return bootstrap(self.store, kind, tag or None).id

    # -- registries ------------------------------------------------------------
    @staticmethod
    def login(server: str, user: str, password: str, tls_verify: bool = True, keep: bool = True) -> None:
        """Check the credentials against the registry, then (`keep`) save them as Docker's CLI does."""
        from berth.registry.client import Client
        from berth.registry.config import api_host, save_credentials

        client = Client(api_host(server), tls_verify=tls_verify, auth=(user, password))
        response = client.request("GET", "/v2/", "")
        client.check(response, f"Get {client.scheme}://{client.host}/v2/")
        if keep:
            save_credentials(server, user, password)

    @staticmethod
    def logout(server: str) -> None:
        from berth.registry.config import save_credentials

        save_credentials(server, None, None)

    @staticmethod
    def default_registry() -> str:
        from berth.registry.config import DOCKER_HUB

        return DOCKER_HUB


def _open_source(source: str) -> BinaryIO:
    if source.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            return urllib.request.urlopen(source, timeout=60)  # noqa: S310 - the user's URL
        except (urllib.error.URLError, OSError) as e:
            raise NotFound(f"import from {source}: {getattr(e, 'reason', e)}") from None
    try:
        return open(source, "rb")
    except FileNotFoundError:
        raise NotFound(f"open {source}: no such file or directory") from None


def _matches(pattern: str, ref) -> bool:
    import fnmatch  # imports re: kept off `run`'s path

    name = ref.familiar_name()
    pattern_name, _, pattern_tag = pattern.partition(":")
    return fnmatch.fnmatchcase(name, pattern_name) and (not pattern_tag or fnmatch.fnmatchcase(ref.tag, pattern_tag))


def _tag_names(image) -> set[str]:
    names = set()
    for t in image.tags:
        ref = reference.parse(t)
        names |= {t, f"{ref.familiar_name()}:{ref.tag}", ref.familiar_name()}
    return names
