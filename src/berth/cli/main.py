"""`berth`: the engine's command line, Docker's verbs and wording.

`berth runtime ...` is the low-level runtime, the same as `berth-runtime ...`.
Every verb lives in a module of its own, imported only when used.
"""

from __future__ import annotations

import os
import sys

from berth import __version__
from berth.argv import BOOL, STR, Option, parse
from berth.errors import BerthError

GLOBAL = [
    Option("root", STR, "", help="where berth keeps images (default /var/lib/berth, or $BERTH_ROOT)"),
    Option("debug,D", BOOL, help="show tracebacks"),
    Option("help,h", BOOL, help="show help"),
    Option("version,v", BOOL, help="print the version"),
]
# verb -> (module, what it does); `image X` maps to these too
VERBS = {
    "images": ("images", "List images"),
    "rmi": ("rmi", "Remove one or more images"),
    "tag": ("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "history": ("history", "Show the history of an image"),
    "save": ("save", "Save one or more images to a tar archive"),
    "load": ("load", "Load an image from a tar archive or STDIN"),
    "import": ("import_", "Import the contents from a tarball to create a filesystem image"),
}
IMAGE_VERBS = {
    "ls": "images", "list": "images", "rm": "rmi", "remove": "rmi", "tag": "tag", "history": "history",
    "inspect": "image_inspect", "bootstrap": "image_bootstrap", "save": "save", "load": "load",
    "prune": "image_prune", "import": "import_",
}  # fmt: skip


def usage() -> str:
    lines = ["Usage:  berth [OPTIONS] COMMAND", "", "Commands:"]
    lines += [f"  {verb:<10} {text}" for verb, (_m, text) in VERBS.items()]
    lines += ["  image      Manage images (ls, inspect, rm, tag, history, bootstrap, save, load, import, prune)",
              "  runtime    The OCI runtime (runc's command line)", "  version    Show the berth version information"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _run(module: str, root: str, argv: list[str]) -> int:
    from berth.image.store import ImageStore

    mod = __import__(f"berth.cli.{module}", fromlist=["main"])
    store = ImageStore(root)
    try:
        return mod.main(store, argv)
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = False
    try:
        opts, rest = parse(argv, GLOBAL)
        debug = opts["debug"]
        if opts["version"]:
            rest = ["version"]
        if not rest or opts["help"] or rest[0] == "help":
            sys.stdout.write(usage())
            return 0
        verb, args = rest[0], rest[1:]
        root = opts["root"] or os.environ.get("BERTH_ROOT") or "/var/lib/berth"
        if verb == "runtime":
            from berth.runtime.cli import main as runtime_main

            return runtime_main(args)
        if verb == "version":
            sys.stdout.write(f"berth version {__version__}\n")
            return 0
        if verb == "image":
            if not args or args[0] not in IMAGE_VERBS:
                sys.stderr.write("Usage:  berth image COMMAND\n\nCommands: " + ", ".join(IMAGE_VERBS) + "\n")
                return 0 if not args else 1
            return _run(IMAGE_VERBS[args[0]], root, args[1:])
        if verb in VERBS:
            return _run(VERBS[verb][0], root, args)
        sys.stderr.write(f"berth: '{verb}' is not a berth command.\nSee 'berth --help'\n")
        return 1
    except BerthError as e:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"Error: {e}\n")
        return e.exit_code
    except OSError as e:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"Error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}\n")
        return 1
