"""/_ping, /version and /info."""

from __future__ import annotations

import os

from berth.api.http import ApiError, Request, Response, Stream, json_line, json_response
from berth.errors import BerthError


def ping(engine, req: Request) -> Response:
    return Response(200, b"OK", "text/plain; charset=utf-8", [("Cache-Control", "no-cache, no-store, must-revalidate"),
                    ("Docker-Experimental", "false"), ("Ostype", "linux"), ("Builder-Version", "1"),
                    ("Pragma", "no-cache")])  # fmt: skip


def version(engine, req: Request) -> Response:
    from berth import __version__
    from berth.api.routes import MAX_VERSION, MIN_VERSION

    u = os.uname()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(u.machine, u.machine)
    return json_response({
        "Platform": {"Name": "berth"},
        "Components": [{"Name": "Engine", "Version": __version__,
                        "Details": {"ApiVersion": MAX_VERSION, "MinAPIVersion": MIN_VERSION, "Os": "linux",
                                    "Arch": arch, "KernelVersion": u.release}}],
        "Version": __version__, "ApiVersion": MAX_VERSION, "MinAPIVersion": MIN_VERSION, "GitCommit": "",
        "GoVersion": "", "Os": "linux", "Arch": arch, "KernelVersion": u.release, "BuildTime": "",
    })  # fmt: skip


def info(engine, req: Request) -> Response:
    from berth.engine import system

    return json_response(system.info(engine))


def events(engine, req: Request) -> Stream:
    from berth.engine import events as events_

    stream = events_.stream(engine, req.filters(), req.time_arg("since"), req.time_arg("until"), idle=True)

    def chunks():
        for event in stream:
            yield b"" if event is None else json_line(event)

    return Stream(chunks())


def disk_usage(engine, req: Request) -> Response:
    """GET /system/df: each image, container and volume with its size, as dockerd lists them."""
    from berth.api.images import summary
    from berth.engine import documents
    from berth.engine.volumes import usage

    containers = engine.list()
    per_image: dict[str, int] = {}
    for c in containers:
        key = c.image.removeprefix("sha256:")
        per_image[key] = per_image.get(key, 0) + 1
    images = [
        {**summary(s, per_image.get(s.id.removeprefix("sha256:"), 0)), "SharedSize": 0} for s in engine.images.list()
    ]
    sizes = usage(engine)
    volumes = []
    for vol in engine.volumes.list():
        size, users = sizes.get(vol["Name"], (0, 0))
        volumes.append({**{k: v for k, v in vol.items() if k != "Anonymous"},
                        "UsageData": {"Size": size, "RefCount": users}})  # fmt: skip
    return json_response({
        "LayersSize": sum(i["Size"] for i in images), "Images": images,
        "Containers": [documents.container_summary(c, None, engine) for c in containers],
        "Volumes": volumes, "BuildCache": [],
    })  # fmt: skip


def auth(engine, req: Request) -> Response:
    """A login check against the registry; the credentials are not kept (the client keeps them)."""
    body = req.json()
    user, password = body.get("username") or "", body.get("password") or ""
    server = body.get("serveraddress") or engine.images.default_registry()
    if not isinstance(user, str) or not isinstance(password, str) or not user:
        raise ApiError(400, "a username and a password are required")
    server = server.removeprefix("https://").removeprefix("http://").rstrip("/").removesuffix("/v1")
    try:
        engine.images.login(server, user, password, keep=False)
    except BerthError as e:
        raise ApiError(401, str(e)) from None
    return json_response({"Status": "Login Succeeded", "IdentityToken": ""})


_NOT_SWARM = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
              "node to swarm and try again.")  # fmt: skip


def not_swarm(engine, req: Request, **_) -> Response:
    """Swarm's objects (services, nodes, tasks, secrets, configs) on a node that is in no swarm:
    dockerd's 503 and words."""
    raise ApiError(503, _NOT_SWARM)


def not_in_swarm(engine, req: Request, **_) -> Response:
    """Leaving, updating or unlocking a swarm this node is not part of: dockerd's 503 and words."""
    raise ApiError(503, "This node is not part of a swarm")


def no_swarm_mode(engine, req: Request, **_) -> Response:
    raise ApiError(501, "swarm mode is not supported by berth: it runs containers on this one host")


def plugins(engine, req: Request) -> Response:
    return json_response([])


def no_plugins(engine, req: Request, **_) -> Response:
    raise ApiError(501, "plugins are not supported by berth: its drivers are built in")
