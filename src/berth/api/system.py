"""/_ping, /version and /info."""

from __future__ import annotations

import os

from berth.api.http import Request, Response, json_response


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
