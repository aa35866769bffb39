"""`berth build [OPTIONS] PATH | - `: an image from a Dockerfile."""

from __future__ import annotations

import os
import sys

from berth.argv import BOOL, LIST, STR, Option, parse
from berth.errors import InvalidArgument, NotFound, Unsupported
from berth.fs import extract_tar

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


def _context(path: str, scratch: list[str]) -> tuple[str, bytes | None]:
    """(context directory, the stdin Dockerfile if the context was one)."""
    if os.path.isdir(path):
        return path, None
    import tarfile
    import tempfile

    if path.startswith(("http://", "https://", "git@", "git://")):
        raise Unsupported(f"unable to prepare context: remote contexts ({path}) are not supported: "
                          "use a local directory or a tar archive")  # fmt: skip
    if path == "-":
        data = sys.stdin.buffer.read()
        import io

        try:
            tar = tarfile.open(fileobj=io.BytesIO(data))
        except tarfile.TarError:
            empty = tempfile.mkdtemp(prefix="berth-context-")
            scratch.append(empty)
            return empty, data  # a Dockerfile on stdin, with an empty context
        path_obj = tar
    elif os.path.isfile(path):
        try:
            path_obj = tarfile.open(path)
        except tarfile.TarError:
            raise InvalidArgument(
                f"unable to prepare context: {path} is neither a directory nor a tar archive"
            ) from None
    else:
        raise NotFound(f'unable to prepare context: path "{path}" not found')
    root = tempfile.mkdtemp(prefix="berth-context-")
    scratch.append(root)
    with path_obj as tar:
        try:
            extract_tar(tar, root, "data")
        except (tarfile.TarError, OSError) as e:
            raise InvalidArgument(f"unable to prepare context: {e}") from None
    return root, None


def main(store, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"build" requires exactly 1 argument: PATH | URL | -')
    from berth.oci.image_spec import host_platform

    if opts["platform"] and opts["platform"] != host_platform():
        raise Unsupported(
            f"--platform {opts['platform']}: berth builds for the host's platform ({host_platform()}) only"
        )
    if opts["progress"] not in ("auto", "plain", "tty", "quiet", "rawjson"):
        raise InvalidArgument(f'invalid argument "{opts["progress"]}" for "--progress" flag: auto, plain, tty or quiet')
    if opts["network"] not in ("", "default", "none", "host"):
        raise Unsupported(f"--network {opts['network']}: RUN steps take default, none or host")
    from berth.image.store import normalize

    for tag in opts["tag"]:
        try:
            normalize(tag)
        except Exception as e:  # noqa: BLE001 - the reference parser's own message
            raise InvalidArgument(f'invalid argument "{tag}" for "-t, --tag" flag: {e}') from None
    import _signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    _signal.signal(_signal.SIGTERM, stop)  # stopped like Ctrl-C: the step's container and snapshot go too
    scratch: list[str] = []
    try:
        return _build(store, opts, args[0], scratch)
    except KeyboardInterrupt:
        sys.stderr.write("ERROR: the build was interrupted\n")
        return 130
    finally:
        from berth.fs import remove_tree

        for path in scratch:
            remove_tree(path)


def _build(store, opts, context_arg: str, scratch: list[str]) -> int:
    from berth.linux.mount import private_mount_namespace

    # before any thread (the Go parser's included): what a build mounts is its own, and goes with it
    private_mount_namespace()
    context, stdin_dockerfile = _context(context_arg, scratch)
    name = opts["file"]
    if name == "-":
        text = sys.stdin.buffer.read()
    elif stdin_dockerfile is not None:
        text = stdin_dockerfile
    else:
        path = name or os.path.join(context, "Dockerfile")
        if (
            name
            and not os.path.isabs(name)
            and not os.path.exists(name)
            and os.path.exists(os.path.join(context, name))
        ):
            path = os.path.join(context, name)
        try:
            with open(path, "rb") as f:
                text = f.read()
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                           f"lstat {os.path.abspath(path)}: no such file or directory") from None  # fmt: skip
    from berth.build.builder import Builder, Options
    from berth.engine.build_backend import EngineStepRunner

    options = Options(context=context, dockerfile=text.decode(), dockerfile_name=os.path.basename(name or "Dockerfile"),
                      tags=list(opts["tag"]), build_args=_pairs(opts["build_arg"], "--build-arg"), target=opts["target"],
                      no_cache=opts["no_cache"], labels=_pairs(opts["label"], "--label"), network=opts["network"],
                      quiet=opts["quiet"] or opts["progress"] == "quiet")  # fmt: skip
    with store.lock():
        pull = "always" if opts["pull"] else os.environ.get("BERTH_PULL_POLICY") or "missing"
        builder = Builder(lambda: EngineStepRunner(store.root, pull), store.root, options, sys.stdout.buffer)
        try:
            image_id = builder.build()
        finally:
            builder.close()
    if opts["iidfile"]:
        from berth.fs import atomic_write

        atomic_write(opts["iidfile"], image_id.encode())
    if options.quiet:
        sys.stdout.write(image_id + "\n")
    return 0
