"""POST /build and /build/prune: the classic builder's API. The body is the context (a tar
archive, or a lone Dockerfile); the answer is Docker's JSON stream (`stream` for the build's
output, `aux` with the image's ID, `errorDetail` for a failure). A client gone mid-build ends
the build, as a Ctrl-C of `berth build` does."""

from __future__ import annotations

from berth import fastjson
from berth.api.http import ApiError, Request, Response, Stream, json_response


def _json_map(req: Request, name: str) -> dict[str, str]:
    text = req.arg(name)
    if not text:
        return {}
    try:
        doc = fastjson.loads(text)
    except ValueError:
        raise ApiError(400, f"invalid {name}: {text!r} is not JSON") from None
    if not isinstance(doc, dict):
        raise ApiError(400, f"invalid {name}: expected an object")
    return {str(k): "" if v is None else str(v) for k, v in doc.items()}


def _pull_policy(req: Request) -> str:
    value = req.arg("pull").lower()
    if value in ("", "0", "false"):
        return "missing"
    return "always"  # docker build --pull sends pull=1; buildx may send a name


def build(engine, req: Request) -> Stream:
    from berth.api import streaming
    from berth.engine.builds import BuildRequest, check

    if req.arg("remote"):
        raise ApiError(400, f"remote contexts ({req.arg('remote')}) are not supported: send the context as the body")
    if req.arg("version") == "2":
        raise ApiError(400, "BuildKit is not supported: berth serves the classic builder (version=1)")
    network = req.arg("networkmode")
    request = BuildRequest(
        context=req.stream, dockerfile=req.arg("dockerfile"), tags=tuple(t for t in req.query.get("t", []) if t),
        build_args=_json_map(req, "buildargs"), target=req.arg("target"), labels=_json_map(req, "labels"),
        no_cache=req.flag("nocache"), pull=_pull_policy(req), network="" if network == "default" else network,
        platform=req.arg("platform") if req.arg("platform") not in ("linux", "") else "", quiet=req.flag("q"),
    )  # fmt: skip
    check(request)  # a 400 or 501 before the stream starts
    quiet = request.quiet

    def run(progress) -> None:
        from berth.engine import builds

        image_id = builds.build(engine, request, progress)
        digest = image_id if image_id.startswith("sha256:") else "sha256:" + image_id
        progress.aux({"ID": digest})
        if quiet:
            progress.write(digest.encode() + b"\n")

    return Stream(streaming.progress(run))


def prune(engine, req: Request) -> Response:
    freed = engine.images.prune_build_cache()
    return json_response({"CachesDeleted": None, "SpaceReclaimed": freed})
