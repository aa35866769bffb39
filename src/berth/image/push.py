"""Pushing an image to a registry.

Blobs go as they are stored, so the manifest pushed is the stored one and the
image keeps its digest. For each blob: HEAD first (a blob the registry has is
skipped); then a cross-repository mount from another repository of the same
registry that this image is tagged in; else an upload, in one PUT up to
CHUNKED_OVER bytes and in PATCH chunks above. Three blobs at a time; the
manifest last.
"""

from __future__ import annotations

import os

from berth.errors import InvalidArgument, Unavailable
from berth.image.progress import Progress
from berth.image.store import ImageStore
from berth.oci import reference
from berth.registry.client import Client
from berth.registry.config import api_host

CHUNKED_OVER = 64 << 20
CHUNK = 16 << 20


def push(store: ImageStore, name: str, progress: Progress | None = None, tls_verify: bool = True,
         client: Client | None = None, auth: tuple[str, str] | None = None) -> tuple[str, str, int]:  # fmt: skip
    """(tag, manifest digest, manifest size)."""
    progress = progress or Progress()
    ref = reference.parse(name)
    if ref.digest:
        raise InvalidArgument(f"cannot push a digest reference ({name}): push a tag")
    image = store.get(str(ref))
    repo = ref.path
    own = client is None  # a client made here is closed here: its connections with it
    client = client or Client(api_host(ref.domain), tls_verify=tls_verify, auth=auth)
    try:
        scope = f"repository:{repo}:pull,push"
        manifest_bytes = store.content.read(image.manifest)
        manifest = store.manifest(image)
        progress.line(f"The push refers to repository [{ref.domain}/{repo}]")
        siblings = [reference.parse(t).path for t in image.tags
                    if reference.parse(t).domain == ref.domain and reference.parse(t).path != repo]  # fmt: skip
        from concurrent.futures import ThreadPoolExecutor

        blobs = [*manifest.layers, manifest.config]
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="push") as pool:
            for future in [pool.submit(_push_blob, store, client, repo, scope, d, siblings, progress) for d in blobs]:
                future.result()
        media_type = manifest.media_type or "application/vnd.oci.image.manifest.v1+json"
        response = client.request("PUT", f"/v2/{repo}/manifests/{ref.tag}", scope, {"Content-Type": media_type},
                                  body=manifest_bytes)  # fmt: skip
        client.check(response, f"{client.host}/{repo}:{ref.tag}: manifest")
        pushed = response.headers.get("Docker-Content-Digest", image.manifest)
        if pushed != image.manifest:
            raise Unavailable(f"{client.host}/{repo}:{ref.tag}: the registry computed {pushed} for the manifest "
                              f"berth knows as {image.manifest}")  # fmt: skip
        progress.line(f"{ref.tag}: digest: {image.manifest} size: {len(manifest_bytes)}")
        return ref.tag, image.manifest, len(manifest_bytes)
    finally:
        if own:
            client.close()


def _push_blob(store: ImageStore, client: Client, repo: str, scope: str, desc, siblings: list[str],
               progress: Progress) -> None:  # fmt: skip
    import urllib.parse

    if client.has_blob(repo, desc.digest, scope):
        progress.layer(desc.digest, "Layer already exists")
        return
    for other in siblings:
        response = client.request("POST", f"/v2/{repo}/blobs/uploads/?mount={desc.digest}&from={other}",
                                  f"{scope} repository:{other}:pull")  # fmt: skip
        if response.status == 201:
            progress.layer(desc.digest, f"Mounted from {other}")
            return
        client.check(response, f"{client.host}/{repo}: start of an upload")
        location = response.headers.get("Location", "")
        break
    else:
        progress.layer(desc.digest, "Preparing")
        response = client.request("POST", f"/v2/{repo}/blobs/uploads/", scope)
        client.check(response, f"{client.host}/{repo}: start of an upload")
        location = response.headers.get("Location", "")
    if not location:
        raise Unavailable(f"{client.host}/{repo}: the registry gave no upload location")
    location = urllib.parse.urljoin(f"{client.scheme}://{client.host}/", location)
    path = store.content.path(desc.digest)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if size > CHUNKED_OVER:
            offset = 0
            while offset < size:
                chunk = f.read(CHUNK)
                response = client.request("PATCH", "", scope, {"Content-Type": "application/octet-stream",
                                          "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                                          "Content-Length": str(len(chunk))}, body=chunk, url=location)  # fmt: skip
                client.check(response, f"{client.host}/{repo}: upload of {desc.digest}")
                location = urllib.parse.urljoin(location, response.headers.get("Location", location))
                offset += len(chunk)
                progress.layer(desc.digest, "Pushing", offset, size)
            body = b""
        else:
            body = f
            progress.layer(desc.digest, "Pushing", 0, size)
        sep = "&" if "?" in location else "?"
        response = client.request("PUT", "", scope, {"Content-Type": "application/octet-stream",
                                  "Content-Length": str(0 if body == b"" else size)}, body=body,
                                  url=f"{location}{sep}digest={desc.digest}")  # fmt: skip
    client.check(response, f"{client.host}/{repo}: upload of {desc.digest}")
    progress.layer(desc.digest, "Pushed")
