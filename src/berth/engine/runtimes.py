"""The OCI runtimes the engine runs containers with, chosen per container (`run --runtime`,
Docker's flag; `berth --runtime` or $BERTH_RUNTIME for a command's default, Podman's) as the
runtime's command line is the boundary: berth-runtime by default, runc or crun if on PATH, a
path to one, or any runc-compatible runtime named in daemon.json ("runtimes": {"NAME": {"path":
"/usr/bin/crun"}}, "default-runtime": "NAME", Docker's keys)."""

from __future__ import annotations

import os
import sys

from berth.errors import InvalidArgument

BERTH_RUNTIME = "berth-runtime"
_ON_PATH = ("runc", "crun")  # known by name, as Docker knows runc


def default_name() -> str:
    """`berth --runtime` ($BERTH_RUNTIME), else daemon.json's default-runtime, else berth-runtime."""
    from berth import daemon_config

    return os.environ.get("BERTH_RUNTIME") or daemon_config.load().get("default-runtime") or BERTH_RUNTIME


def resolve(name: str) -> str:
    """The executable of the runtime called `name` ("" for the default), or `name` itself when it
    is a path to one (Podman's form)."""
    name = name or default_name()
    if os.sep in name:
        if not os.path.isfile(name) or not os.access(name, os.X_OK):
            raise InvalidArgument(f"invalid runtime {name}: not an executable file")
        return name
    if name == BERTH_RUNTIME:
        return os.path.join(os.path.dirname(sys.executable), BERTH_RUNTIME)
    import shutil

    from berth import daemon_config

    configured = (daemon_config.load().get("runtimes") or {}).get(name)
    path = (configured or {}).get("path") if isinstance(configured, dict) else None
    if path is None and name in _ON_PATH:
        path = shutil.which(name)
    if not path:
        raise InvalidArgument(f"unknown or invalid runtime name: {name}")
    if os.sep in path and not os.access(path, os.X_OK):
        raise InvalidArgument(f"runtime {name}: {path} is not an executable file")
    return path if os.sep in path else shutil.which(path) or path


def available() -> dict[str, str]:
    """Every runtime a container may name, with its executable (Docker's info "Runtimes")."""
    import shutil

    from berth import daemon_config

    found = {BERTH_RUNTIME: resolve(BERTH_RUNTIME)}
    for name in _ON_PATH:
        path = shutil.which(name)
        if path:
            found[name] = path
    for name, entry in (daemon_config.load().get("runtimes") or {}).items():
        if isinstance(entry, dict) and entry.get("path"):
            found[name] = entry["path"]
    return found


def builtin_cli(argv: list[str]) -> int:
    """`berth runtime ...`: berth's own runtime, runc's command line, in this process."""
    from berth.runtime.cli import main

    return main(argv)
