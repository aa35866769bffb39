"""Builds for every front end: a context (a directory, or a stream holding a tar archive or a
lone Dockerfile) and a typed request in, the image's ID out, progress written to `out`.

A build mounts its steps' root file systems, so it runs in a child process with a mount
namespace of its own (berth.engine.isolated): what it mounts goes with it, and the caller's
namespace, signal handlers and threads are left as they were."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument, NotFound, Unsupported
from berth.fs import Flock, extract_tar, remove_tree
from berth.oci.record import record

TYPE_CHECKING = False  # typing, tarfile and tempfile cost ~15 ms: kept off a cached rebuild's path
if TYPE_CHECKING:
    from typing import BinaryIO

NETWORKS = ("", "default", "none", "host")
CONTEXTS = "build-contexts"  # under the root: contexts sent as archives, extracted for their build


@record
class BuildRequest:
    context: str | BinaryIO  # a directory, a tar archive's path, or a stream (a tar archive or a Dockerfile)
    dockerfile: str = ""  # its path ("" for CONTEXT/Dockerfile); a relative one is tried in the context too
    dockerfile_text: bytes | None = None  # given instead of read (docker build -f -)
    tags: tuple[str, ...] = ()
    build_args: dict[str, str] | None = None
    target: str = ""
    labels: dict[str, str] | None = None
    no_cache: bool = False
    pull: str = "missing"  # FROM's images: always, missing or never pulled
    network: str = ""  # RUN steps': default, none or host
    platform: str = ""
    quiet: bool = False


def check(req: BuildRequest) -> None:
    """Refuse a request before anything is made."""
    from berth.image.store import normalize
    from berth.oci.image_spec import host_platform

    if req.platform and req.platform != host_platform():
        raise Unsupported(f"--platform {req.platform}: berth builds for the host's platform ({host_platform()}) only")
    if req.network not in NETWORKS:
        raise Unsupported(f"--network {req.network}: RUN steps take default, none or host")
    for tag in req.tags:
        try:
            normalize(tag)
        except Exception as e:  # noqa: BLE001 - the reference parser's own message
            raise InvalidArgument(f'invalid argument "{tag}" for "-t, --tag" flag: {e}') from None


def build(engine, req: BuildRequest, out: BinaryIO, own_process: bool = False, cancel=None) -> str:
    """The image's ID. The steps run in a child process with a mount namespace of its own
    (berth.engine.isolated): this process's never changes. `own_process`: the caller is a one-shot
    process the build may take over (the CLI): the build runs in it, its mount namespace unshared
    first, with no child and no pipe between the steps and `out`, and a Ctrl-C lands in it directly;
    `cancel` (a threading.Event the caller's signal handler sets) stops it too, should the
    KeyboardInterrupt land where Python ignores it (a weakref callback, an import's lock)."""
    check(req)
    from berth.engine import isolated

    scratch: list[tuple[str, Flock]] = []
    try:
        context, text = _context(req.context, scratch, engine.root)
        text = req.dockerfile_text if req.dockerfile_text is not None else text
        if text is None:
            text = _read_dockerfile(req.dockerfile, context)
        options = {"context": context, "dockerfile": text.decode(),
                   "dockerfile_name": os.path.basename(req.dockerfile or "Dockerfile"), "tags": list(req.tags),
                   "build_args": dict(req.build_args or {}), "target": req.target, "no_cache": req.no_cache,
                   "labels": dict(req.labels or {}), "network": req.network, "quiet": req.quiet}  # fmt: skip
        if own_process:
            from berth.linux.mount import private_mount_namespace

            private_mount_namespace()  # before any thread (the Go parser's included)
            return build_here(engine.root, req.pull, options, out, cancel)
        return isolated.call("berth.engine.builds:build_here", {"root": engine.root, "pull": req.pull,
                                                                 "options": options}, out)  # fmt: skip
    finally:
        for path, lock in scratch:
            remove_tree(path)
            lock.release()


def build_here(root: str, pull: str, options: dict, out: BinaryIO, cancel=None) -> str:
    """The build itself, in a process with a mount namespace of its own."""
    from berth.build.builder import Builder, Options
    from berth.engine.build_backend import EngineStepRunner
    from berth.image.store import ImageStore

    store = ImageStore(root)
    try:
        with store.lock():
            builder = Builder(lambda: EngineStepRunner(root, pull), root, Options(**options), out, cancel)
            try:
                return builder.build()
            finally:
                builder.close()
    finally:
        store.close()


def _context(context: str | BinaryIO, scratch: list[tuple[str, Flock]], root: str) -> tuple[str, bytes | None]:
    """(the context directory, the Dockerfile when the stream was one)."""
    if isinstance(context, str) and os.path.isdir(context):
        return context, None
    import io
    import tarfile

    if isinstance(context, str):
        if context.startswith(("http://", "https://", "git@", "git://")):
            raise Unsupported(f"unable to prepare context: remote contexts ({context}) are not supported: "
                              "use a local directory or a tar archive")  # fmt: skip
        if not os.path.isfile(context):
            raise NotFound(f'unable to prepare context: path "{context}" not found')
        try:
            tar = tarfile.open(context)
        except tarfile.TarError:
            raise InvalidArgument(
                f"unable to prepare context: {context} is neither a directory nor a tar archive"
            ) from None
    else:
        data = context.read()
        try:
            tar = tarfile.open(fileobj=io.BytesIO(data))
        except tarfile.TarError:
            return _scratch_dir(root, scratch), data  # a Dockerfile, with an empty context
    path = _scratch_dir(root, scratch)
    with tar:
        try:
            extract_tar(tar, path, "data")
        except (tarfile.TarError, OSError) as e:
            raise InvalidArgument(f"unable to prepare context: {e}") from None
    return path, None


def _scratch_dir(root: str, scratch: list[tuple[str, Flock]]) -> str:
    """A directory under the root, locked while its build runs: one whose builder was killed is
    removed by collect_contexts (a service's start)."""
    import tempfile

    top = os.path.join(root, CONTEXTS)
    os.makedirs(top, exist_ok=True)
    while True:
        path = tempfile.mkdtemp(prefix="context-", dir=top)
        lock = Flock(path)
        try:
            lock.acquire()
        except FileNotFoundError:
            continue
        if os.path.isdir(path):  # not taken for a killed build's between its making and its lock
            scratch.append((path, lock))
            return path
        lock.release()


def collect_contexts(root: str) -> list[str]:
    """Remove the contexts of builds whose process was killed (their lock is free); their paths."""
    top = os.path.join(root, CONTEXTS)
    try:
        names = os.listdir(top)
    except FileNotFoundError:
        return []
    gone = []
    for name in names:
        path = os.path.join(top, name)
        lock = Flock(path)
        try:
            if not lock.try_acquire():
                continue
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            remove_tree(path)
        finally:
            lock.release()
        gone.append(path)
    return gone


def _read_dockerfile(name: str, context: str) -> bytes:
    path = name or os.path.join(context, "Dockerfile")
    if name and not os.path.isabs(name) and not os.path.exists(name) and os.path.exists(os.path.join(context, name)):
        path = os.path.join(context, name)
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, IsADirectoryError):
        raise NotFound(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                       f"lstat {os.path.abspath(path)}: no such file or directory") from None  # fmt: skip
