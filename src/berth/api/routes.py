"""The API's paths: `/vX.Y` prefixes and the version check, then a table of (method, path
pattern, handler). A path no entry matches is Docker's 404 "page not found"."""

from __future__ import annotations

import re

from berth.api import attach, build, containers, execs, images, networks, system, volumes
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
    ("GET", r"/events", system.events),
    ("GET", r"/system/df", system.disk_usage),
    ("POST", r"/auth", system.auth),
    ("GET", r"/containers/json", containers.list_),
    ("POST", r"/containers/create", containers.create),
    ("POST", r"/containers/prune", containers.prune),
    ("GET", rf"/containers/{_NAME}/json", containers.inspect),
    ("POST", rf"/containers/{_NAME}/start", containers.start),
    ("POST", rf"/containers/{_NAME}/stop", containers.stop),
    ("POST", rf"/containers/{_NAME}/restart", containers.restart),
    ("POST", rf"/containers/{_NAME}/kill", containers.kill),
    ("POST", rf"/containers/{_NAME}/wait", containers.wait),
    ("POST", rf"/containers/{_NAME}/pause", containers.pause),
    ("POST", rf"/containers/{_NAME}/unpause", containers.unpause),
    ("POST", rf"/containers/{_NAME}/rename", containers.rename),
    ("POST", rf"/containers/{_NAME}/resize", containers.resize),
    ("POST", rf"/containers/{_NAME}/update", containers.update),
    ("GET", rf"/containers/{_NAME}/logs", containers.logs),
    ("GET", rf"/containers/{_NAME}/top", containers.top),
    ("GET", rf"/containers/{_NAME}/stats", containers.stats),
    ("GET", rf"/containers/{_NAME}/changes", containers.changes),
    ("GET", rf"/containers/{_NAME}/export", containers.export),
    ("GET", rf"/containers/{_NAME}/archive", containers.archive_get),
    ("HEAD", rf"/containers/{_NAME}/archive", containers.archive_head),
    ("PUT", rf"/containers/{_NAME}/archive", containers.archive_put),
    ("DELETE", rf"/containers/{_NAME}", containers.remove),
    ("POST", rf"/containers/{_NAME}/exec", execs.create),
    ("POST", rf"/containers/{_NAME}/attach", attach.attach),
    ("POST", r"/exec/(?P<exec_id>[0-9a-f]+)/start", execs.start),
    ("GET", r"/exec/(?P<exec_id>[0-9a-f]+)/json", execs.inspect),
    ("POST", r"/exec/(?P<exec_id>[0-9a-f]+)/resize", execs.resize),
    ("GET", r"/images/json", images.list_),
    ("POST", r"/images/create", images.create),
    ("POST", r"/images/load", images.load),
    ("GET", r"/images/get", images.get),
    ("POST", r"/images/prune", images.prune),
    ("GET", r"/images/search", images.search),
    ("GET", rf"/images/{_IMAGE}/json", images.inspect),
    ("GET", rf"/images/{_IMAGE}/history", images.history),
    ("GET", rf"/images/{_IMAGE}/get", images.get),
    ("POST", rf"/images/{_IMAGE}/tag", images.tag),
    ("POST", rf"/images/{_IMAGE}/push", images.push),
    ("DELETE", rf"/images/{_IMAGE}", images.remove),
    ("POST", r"/build", build.build),
    ("POST", r"/build/prune", build.prune),
    ("GET", r"/networks", networks.list_),
    ("POST", r"/networks/create", networks.create),
    ("POST", r"/networks/prune", networks.prune),
    ("GET", rf"/networks/{_NAME}", networks.inspect),
    ("DELETE", rf"/networks/{_NAME}", networks.remove),
    ("POST", rf"/networks/{_NAME}/connect", networks.connect),
    ("POST", rf"/networks/{_NAME}/disconnect", networks.disconnect),
    ("GET", r"/volumes", volumes.list_),
    ("POST", r"/volumes/create", volumes.create),
    ("POST", r"/volumes/prune", volumes.prune),
    ("GET", rf"/volumes/{_NAME}", volumes.inspect),
    ("DELETE", rf"/volumes/{_NAME}", volumes.remove),
    ("GET", r"/swarm", system.not_swarm),
    ("POST", r"/swarm/(?:init|join)", system.no_swarm_mode),
    ("POST", r"/swarm/(?:leave|update|unlock)", system.not_in_swarm),
    ("GET", r"/swarm/unlockkey", system.not_swarm),
    ("GET", r"/(?:services|nodes|tasks|secrets|configs)(?:/.*)?", system.not_swarm),
    ("POST", r"/(?:services|nodes|tasks|secrets|configs)(?:/.*)?", system.not_swarm),
    ("DELETE", r"/(?:services|nodes|secrets|configs)/.*", system.not_swarm),
    ("GET", r"/plugins", system.plugins),
    ("GET", r"/plugins/.*", system.no_plugins),
    ("POST", r"/plugins/.*", system.no_plugins),
    ("DELETE", r"/plugins/.*", system.no_plugins),
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
