"""/images: list, inspect, history, tag and remove, in Docker's shapes."""

from __future__ import annotations

from berth.api.http import ApiError, Request, Response, json_response
from berth.clock import parse_rfc3339


def _digest_of(image_id: str) -> str:
    return image_id if image_id.startswith("sha256:") else "sha256:" + image_id


def list_(engine, req: Request) -> Response:
    images = engine.images
    out = []
    for s in images.list(req.filters()):
        tags = [f"{repo}:{tag}" for repo, tag in s.names]
        out.append({
            "Id": _digest_of(s.id), "ParentId": "", "RepoTags": tags, "RepoDigests": [],
            "Created": int(parse_rfc3339(s.created)) if s.created else 0, "Size": s.size, "SharedSize": -1,
            "VirtualSize": s.size, "Labels": s.labels or {}, "Containers": -1,
        })  # fmt: skip
    return json_response(out)


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
