"""The API's paths: `/vX.Y` prefixes and the version check, then a table of (method, path
pattern, handler). A path no entry matches is Docker's 404 "page not found"."""

from __future__ import annotations

import re

from berth.api import attach, containers, execs, images, system
from berth.api.http import ApiError, Request

MIN_VERSION, MAX_VERSION = "1.24", "1.51"
_VERSION = re.compile(r"^/v(\d+)\.(\d+)(/.*)$")
_NAME = r"(?P<ref>[^/]+)"
_IMAGE = r"(?P<ref>.+?)"


def _tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def split_version(path: str) -> tuple[str, str]:
    """(the API version the client asked for, the path without its prefix)."""
    m = _VERSION.match(path)
    if not m:
        return MAX_VERSION, path
    version = f"{m.group(1)}.{m.group(2)}"
    if _tuple(version) > _tuple(MAX_VERSION):
        raise ApiError(400, f"client version {version} is too new. Maximum supported API version is {MAX_VERSION}")
    if _tuple(version) < _tuple(MIN_VERSION):
        raise ApiError(400, f"client version {version} is too old. Minimum supported API version is {MIN_VERSION}, "
                            "please upgrade your client to a newer version")  # fmt: skip
    return version, m.group(3)


TABLE = [
    ("GET", r"/_ping", system.ping),
    ("HEAD", r"/_ping", system.ping),
    ("GET", r"/version", system.version),
    ("GET", r"/info", system.info),
    ("GET", r"/containers/json", containers.list_),
    ("POST", r"/containers/create", containers.create),
    ("GET", rf"/containers/{_NAME}/json", containers.inspect),
    ("POST", rf"/containers/{_NAME}/start", containers.start),
    ("POST", rf"/containers/{_NAME}/stop", containers.stop),
    ("POST", rf"/containers/{_NAME}/restart", containers.restart),
    ("POST", rf"/containers/{_NAME}/kill", containers.kill),
    ("POST", rf"/containers/{_NAME}/wait", containers.wait),
    ("POST", rf"/containers/{_NAME}/pause", containers.pause),
    ("POST", rf"/containers/{_NAME}/unpause", containers.unpause),
    ("POST", rf"/containers/{_NAME}/rename", containers.rename),
    ("GET", rf"/containers/{_NAME}/logs", containers.logs),
    ("GET", rf"/containers/{_NAME}/top", containers.top),
    ("DELETE", rf"/containers/{_NAME}", containers.remove),
    ("POST", rf"/containers/{_NAME}/exec", execs.create),
    ("POST", rf"/containers/{_NAME}/attach", attach.attach),
    ("POST", r"/exec/(?P<exec_id>[0-9a-f]+)/start", execs.start),
    ("GET", r"/exec/(?P<exec_id>[0-9a-f]+)/json", execs.inspect),
    ("GET", r"/images/json", images.list_),
    ("GET", rf"/images/{_IMAGE}/json", images.inspect),
    ("GET", rf"/images/{_IMAGE}/history", images.history),
    ("POST", rf"/images/{_IMAGE}/tag", images.tag),
    ("DELETE", rf"/images/{_IMAGE}", images.remove),
]


class Router:
    def __init__(self, engine) -> None:
        self.engine = engine
        self.table = [(method, re.compile(f"^{pattern}$"), handler) for method, pattern, handler in TABLE]

    def dispatch(self, req: Request):
        allowed = False
        for method, pattern, handler in self.table:
            m = pattern.match(req.path)
            if m is None:
                continue
            if method != req.method:
                allowed = True
                continue
            return handler(self.engine, req, **m.groupdict())
        if allowed:
            raise ApiError(405, f"{req.method} is not allowed on {req.path}")
        raise ApiError(404, "page not found")
