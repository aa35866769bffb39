"""/images: list, inspect, history, tag and remove, in Docker's shapes."""

from __future__ import annotations

from berth import fastjson
from berth.api.http import ApiError, Request, Response, Stream, json_line, json_response
from berth.clock import parse_rfc3339


def _digest_of(image_id: str) -> str:
    return image_id if image_id.startswith("sha256:") else "sha256:" + image_id


def summary(s, containers: int = -1) -> dict:
    """Docker's image list entry for an ImageSummary (`containers`: -1 when not counted)."""
    return {
        "Id": _digest_of(s.id), "ParentId": "", "RepoTags": [f"{repo}:{tag}" for repo, tag in s.names],
        "RepoDigests": [], "Created": int(parse_rfc3339(s.created)) if s.created else 0, "Size": s.size,
        "SharedSize": -1, "VirtualSize": s.size, "Labels": s.labels or {}, "Containers": containers,
    }  # fmt: skip


def list_(engine, req: Request) -> Response:
    return json_response([summary(s) for s in engine.images.list(req.filters())])


def inspect(engine, req: Request, ref: str) -> Response:
    return json_response(engine.images.inspect(ref))


def history(engine, req: Request, ref: str) -> Response:
    return json_response([{"Id": h.id if h.id == "<missing>" else _digest_of(h.id),
                           "Created": int(parse_rfc3339(h.created)) if h.created else 0, "CreatedBy": h.created_by,
                           "Tags": None, "Size": h.size, "Comment": h.comment}
                          for h in engine.images.history(ref)])  # fmt: skip


def tag(engine, req: Request, ref: str) -> Response:
    repo = req.arg("repo")
    if not repo:
        raise ApiError(400, "repository name must have at least one component")
    engine.images.tag(ref, f"{repo}:{req.arg('tag') or 'latest'}")
    return Response(201, content_type="")


def remove(engine, req: Request, ref: str) -> Response:
    done = engine.images.remove(ref, force=req.flag("force"))
    return json_response([{kind: what} for kind, what in done])


def _auth(req: Request) -> tuple[str, str] | None:
    """X-Registry-Auth: base64url JSON of the credentials (username and password, or an
    identity token, which a registry without a token server has no use for)."""
    header = req.headers.get("x-registry-auth", "")
    if not header:
        return None
    import base64

    try:
        doc = fastjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except ValueError:
        raise ApiError(400, "invalid X-Registry-Auth header: not base64url-encoded JSON") from None
    if not isinstance(doc, dict):
        raise ApiError(400, "invalid X-Registry-Auth header: expected an object")
    user, password = doc.get("username") or "", doc.get("password") or ""
    return (user, password) if user else None


def create(engine, req: Request) -> Stream:
    """Pull (fromImage) or import (fromSrc: a URL, or `-` for the request's body)."""
    from berth.api import streaming
    from berth.engine.images import familiar

    image, source, tag = req.arg("fromImage"), req.arg("fromSrc"), req.arg("tag")
    if bool(image) == bool(source):
        raise ApiError(400, "exactly one of fromImage and fromSrc is required")
    if source:
        repo = req.arg("repo")  # the docker CLI sends `repo=NAME:TAG` and no tag
        tagged = ":" in repo.rpartition("/")[2]
        name = repo if tagged and not tag else f"{repo}:{tag or 'latest'}" if repo else ""
        stream = req.stream if source == "-" else None
        changes, message = req.query.get("changes", []), req.arg("message")

        def import_(progress) -> None:
            image_id = engine.images.import_(source, stream, name, changes, message)
            progress.line(_digest_of(image_id))

        return Stream(streaming.progress(import_))
    if req.arg("platform") not in ("", "linux", "linux/amd64", "linux/arm64"):
        raise ApiError(400, f"platform {req.arg('platform')} is not supported: berth runs the host's platform only")
    if tag and "@" not in image:
        name = f"{image}@{tag}" if tag.startswith("sha256:") else f"{image}:{tag}"
    else:
        name = image if ":" in image.rpartition("/")[2] or "@" in image else f"{image}:latest"
    auth = _auth(req)

    def pull(progress) -> None:
        engine.images.pull(name, req.arg("platform"), progress, auth=auth)
        progress.line(f"Status: Downloaded newer image for {familiar(name)}")

    return Stream(streaming.progress(pull))


def push(engine, req: Request, ref: str) -> Stream:
    from berth.api import streaming

    tag = req.arg("tag")
    name = f"{ref}:{tag}" if tag else ref
    engine.images.get(name)  # a 404 before the stream starts
    auth = _auth(req)

    def push_(progress) -> None:
        pushed = engine.images.push(name, progress, auth=auth)
        progress.aux({"Tag": pushed.tag, "Digest": pushed.digest, "Size": pushed.size})

    return Stream(streaming.progress(push_))


def get(engine, req: Request, ref: str = "") -> Stream:
    """docker save: one image (/images/NAME/get) or several (/images/get?names=...)."""
    from berth.api import streaming

    names = [ref] if ref else req.query.get("names", [])
    if not names:
        raise ApiError(400, "no image names given (names=...)")
    for name in names:
        engine.images.get(name)  # a 404 before the stream starts
    return Stream(streaming.piped(lambda out: engine.images.save(names, out)), "application/x-tar")


def load(engine, req: Request) -> Response:
    req.flag("quiet")  # checked; it quiets progress, which a load here has none of: what was loaded is said
    lines = []
    for item in engine.images.load(req.stream):
        for text in [f"Loaded image: {n}" for n in item.names] or [f"Loaded image ID: {_digest_of(item.id)}"]:
            lines.append(json_line({"stream": text + "\n"}))
    return Response(200, b"".join(lines))


def prune(engine, req: Request) -> Response:
    filters = req.filters()
    unknown = set(filters) - {"dangling"}
    if unknown:
        raise ApiError(400, f"invalid filter '{sorted(unknown)[0]}'")
    dangling = filters.get("dangling", ["true"])[-1].lower()
    if dangling not in ("true", "false", "1", "0"):
        raise ApiError(400, f"invalid filter 'dangling={dangling}'")
    gone, freed = engine.images.prune(everything=dangling in ("false", "0"))
    return json_response({"ImagesDeleted": [{"Deleted": _digest_of(i)} for i in gone] or None,
                          "SpaceReclaimed": freed})  # fmt: skip


def search(engine, req: Request) -> Response:
    raise ApiError(501, "search is not available: berth keeps no image index (ask the registry by name instead)")
