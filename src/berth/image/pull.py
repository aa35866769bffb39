"""Pulling an image from a registry into the store.

The manifest (an index resolves to the host's platform, or `--platform`'s),
then the config and the layers, three at a time, each streamed into the content
store and verified against its digest and size as it arrives; a dropped
connection resumes with a Range request where the registry allows it. Blobs
already in the store are not fetched. The image is recorded only once every
blob is in; on failure the blobs this pull added are removed again, so there
is never a partial image.
"""

from __future__ import annotations

import threading

from berth import fastjson
from berth.errors import BerthError, InvalidArgument, NotFound, Unavailable
from berth.image.progress import Progress
from berth.image.store import Image, ImageStore
from berth.oci import image_spec, reference
from berth.registry.client import Client
from berth.registry.config import api_host

CHUNK = 1 << 20


def _choose(index: dict, platform: str, where: str) -> dict:
    os_, _, rest = platform.partition("/")
    arch, _, variant = rest.partition("/")
    for desc in index.get("manifests") or []:
        p = desc.get("platform") or {}
        if p.get("os") == os_ and p.get("architecture") == arch and (not variant or p.get("variant") == variant):
            return desc
    have = ", ".join(
        f"{(d.get('platform') or {}).get('os')}/{(d.get('platform') or {}).get('architecture')}"
        for d in index.get("manifests") or []
    )
    raise NotFound(f"{where}: no matching manifest for {platform} in the manifest list entries ({have})")


def resolve(client: Client, repo: str, ref: str, platform: str) -> tuple[bytes, str, str]:
    """The image manifest (bytes, media type, digest) for ref, through an index if there is one."""
    where = f"{client.host}/{repo}:{ref}"
    data, media_type, digest = client.get_manifest(repo, ref)
    if media_type in image_spec.INDEXES or (not media_type and "manifests" in fastjson.loads(data)):
        desc = _choose(fastjson.loads(data), platform, where)
        data, media_type, digest = client.get_manifest(repo, desc["digest"])
    if media_type not in image_spec.MANIFESTS:
        raise InvalidArgument(f"{where}: unsupported manifest media type {media_type!r}")
    return data, media_type, digest


def pull(store: ImageStore, name: str, platform: str = "", progress: Progress | None = None,
         tls_verify: bool = True, client: Client | None = None, auth: tuple[str, str] | None = None,
         mirrors: dict[str, tuple[str, ...]] | None = None) -> Image:  # fmt: skip
    """`auth`: credentials for this pull (the API's X-Registry-Auth); else the saved ones.
    `mirrors`: endpoints tried first for a registry's images (the CRI's registry mirrors)."""
    progress = progress or Progress()
    platform = platform or image_spec.host_platform()
    ref = reference.parse(name)
    repo = ref.path
    tag_or_digest = ref.digest or ref.tag
    progress.line(f"{ref.tag or ref.digest}: Pulling from {repo if ref.domain != 'docker.io' else ref.familiar_name()}")
    own = client is None  # a client made here is closed here: its connections with it
    if client is None:
        client, (data, manifest_digest) = _source(ref, platform, tls_verify, auth, mirrors or {})
    else:
        data, _media_type, manifest_digest = resolve(client, repo, tag_or_digest, platform)
    try:
        image = _store(store, client, repo, tag_or_digest, ref, data, manifest_digest, progress)
    finally:
        if own:
            client.close()
    progress.line(f"Digest: {manifest_digest}")
    return image


def _store(store: ImageStore, client: Client, repo: str, tag_or_digest: str, ref, data: bytes, manifest_digest: str,
           progress: Progress) -> Image:  # fmt: skip
    try:
        manifest = image_spec.parse_manifest(fastjson.loads(data))
    except (ValueError, BerthError) as e:
        raise InvalidArgument(f"{client.host}/{repo}:{tag_or_digest}: bad manifest: {e}") from None
    for layer in manifest.layers:
        try:
            image_spec.layer_compression(layer.media_type)
        except ValueError as e:
            raise InvalidArgument(f"{client.host}/{repo}:{tag_or_digest}: {e}") from None
    added: list[str] = []
    with store.lock():
        try:
            _fetch_blobs(store, client, repo, [manifest.config, *manifest.layers], progress, added)
            store.content.put(data, manifest_digest)
            image = store.add(manifest_digest, [str(ref)] if ref.tag and not ref.digest else [])
        except BaseException:
            for digest in added:
                store.content.delete(digest)
            raise
    return image


def _source(ref, platform: str, tls_verify: bool, auth: tuple[str, str] | None,
            mirrors: dict[str, tuple[str, ...]]) -> tuple[Client, tuple[bytes, str]]:  # fmt: skip
    """The registry to pull from, with the manifest: the mirrors given for its registry first,
    Docker Hub's images through the configured ones (Docker's registry-mirrors), then the
    registry itself."""
    import urllib.parse

    from berth.registry.config import DOCKER_HUB, Settings

    settings = Settings.load()
    tag_or_digest = ref.digest or ref.tag
    endpoints = [*mirrors.get(ref.domain, ()), *(settings.mirrors if ref.domain == DOCKER_HUB else ())]
    for mirror in endpoints:
        parts = urllib.parse.urlsplit(mirror if "://" in mirror else f"https://{mirror}")
        client = Client(parts.netloc, settings, tls_verify, plain_http=parts.scheme == "http")
        try:
            data, _media_type, digest = resolve(client, ref.path, tag_or_digest, platform)
            return client, (data, digest)
        except BerthError:
            client.close()  # the mirror lacks it or is down: the next one, then the registry
    client = Client(api_host(ref.domain), settings, tls_verify, auth=auth)
    data, _media_type, digest = resolve(client, ref.path, tag_or_digest, platform)
    return client, (data, digest)


def _fetch_blobs(store: ImageStore, client: Client, repo: str, blobs, progress: Progress, added: list[str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    todo = []
    for desc in blobs:
        if store.content.exists(desc.digest):
            progress.layer(desc.digest, "Already exists")
        else:
            progress.layer(desc.digest, "Pulling fs layer")
            todo.append(desc)
    lock = threading.Lock()
    stop = threading.Event()

    def one(desc) -> None:
        _fetch_one(store, client, repo, desc, progress, stop)
        with lock:
            added.append(desc.digest)

    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="pull") as pool:
        futures = [pool.submit(one, d) for d in todo]
        try:
            for f in futures:
                f.result()
        except BaseException:
            stop.set()
            for f in futures:
                f.cancel()
            raise


def _fetch_one(store: ImageStore, client: Client, repo: str, desc, progress: Progress, stop: threading.Event) -> None:
    import urllib3

    writer = store.content.writer(desc.digest, desc.size)
    try:
        attempts = 0
        while True:
            response = client.blob(repo, desc.digest, offset=writer.written)
            read = False
            try:
                if writer.written and response.status != 206:
                    writer.close()  # the registry cannot resume: start again
                    writer = store.content.writer(desc.digest, desc.size)
                for chunk in response.stream(CHUNK, decode_content=False):
                    if stop.is_set():
                        raise Unavailable("pull cancelled")
                    writer.write(chunk)
                    progress.layer(desc.digest, "Downloading", writer.written, desc.size)
                read = True
                break
            except (urllib3.exceptions.HTTPError, OSError) as e:
                attempts += 1
                if attempts > 4:
                    raise Unavailable(f"{client.host}/{repo}@{desc.digest}: download failed: {e}") from None
                progress.layer(desc.digest, f"Retrying after: {e.__class__.__name__}")
            finally:
                if not read:  # stopped part way: the connection, with the rest of the blob unread, is no use
                    response.close()
                response.release_conn()
        progress.layer(desc.digest, "Verifying Checksum")
        writer.commit()
        progress.layer(desc.digest, "Download complete")
    finally:
        writer.close()
