"""`berth build [OPTIONS] PATH | - `: an image from a Dockerfile."""

from __future__ import annotations

import os
import sys

from berth.argv import BOOL, LIST, STR, Option, parse
from berth.errors import InvalidArgument

OPTIONS = [
    Option("tag,t", LIST, help="name and optionally a tag (name:tag)"),
    Option("file,f", STR, "", help="name of the Dockerfile (default: PATH/Dockerfile; - reads it from stdin)"),
    Option("build-arg", LIST, help="set build-time variables"),
    Option("target", STR, "", help="set the target build stage to build"),
    Option("no-cache", BOOL, help="do not use cache when building the image"),
    Option("pull", BOOL, help="always attempt to pull a newer version of the image"),
    Option("label", LIST, help="set metadata for an image"),
    Option("quiet,q", BOOL, help="suppress the build output and print image ID on success"),
    Option("iidfile", STR, "", help="write the image ID to the file"),
    Option("platform", STR, "", help="set platform if server is multi-platform capable"),
    Option("network", STR, "", help="set the networking mode for the RUN instructions during build"),
    Option("progress", STR, "auto", help="type of progress output (auto, plain, tty, quiet)"),
    Option("rm", BOOL, True, help="remove intermediate containers after a successful build (always)"),
    Option("force-rm", BOOL, help="always remove intermediate containers (always)"),
]


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f'invalid argument "{item}" for "{flag}" flag: a name is required')
        out[key] = value if sep else os.environ.get(key, "")
    return out


def _interrupted(e: BaseException | None) -> bool:
    """A Ctrl-C, even one that landed in an import's class body: Python 3.11 wraps what
    __set_name__ raises in a RuntimeError (ipaddress's cached_property, on a RUN step's path)."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, KeyboardInterrupt):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"build" requires exactly 1 argument: PATH | URL | -')
    if opts["progress"] not in ("auto", "plain", "tty", "quiet", "rawjson"):
        raise InvalidArgument(f'invalid argument "{opts["progress"]}" for "--progress" flag: auto, plain, tty or quiet')
    from berth.engine.builds import BuildRequest, build, check

    quiet = opts["quiet"] or opts["progress"] == "quiet"
    req = BuildRequest(context=sys.stdin.buffer if args[0] == "-" else args[0], dockerfile=opts["file"],
                       dockerfile_text=sys.stdin.buffer.read() if opts["file"] == "-" else None, tags=tuple(opts["tag"]),
                       build_args=_pairs(opts["build_arg"], "--build-arg"), target=opts["target"],
                       labels=_pairs(opts["label"], "--label"), no_cache=opts["no_cache"],
                       pull="always" if opts["pull"] else os.environ.get("BERTH_PULL_POLICY") or "missing",
                       network=opts["network"], platform=opts["platform"], quiet=quiet)  # fmt: skip
    check(req)
    import _signal
    import threading

    cancel = threading.Event()

    def stop(signum, frame):
        cancel.set()  # heard even where the KeyboardInterrupt is not (a weakref callback, an import's lock)
        raise KeyboardInterrupt

    # SIGTERM stops it like Ctrl-C (the step's container and snapshot go too); and Ctrl-C stops it
    # even when berth was started with SIGINT ignored (a background job of a shell without job
    # control), as docker's build, which asks for it, is
    for sig in (_signal.SIGTERM, _signal.SIGINT):
        _signal.signal(sig, stop)
    try:
        image_id = build(engine, req, sys.stdout.buffer, own_process=True, cancel=cancel)  # a one-shot process
    except BaseException as e:
        if not (_interrupted(e) or cancel.is_set()):
            raise
        sys.stderr.write("ERROR: the build was interrupted\n")
        return 130
    if opts["iidfile"]:
        with open(opts["iidfile"], "w") as f:
            f.write(image_id)
    if quiet:
        sys.stdout.write(image_id + "\n")
    return 0
