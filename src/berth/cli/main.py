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
    Option("runtime", STR, "", help="OCI runtime for the containers made (name or path; $BERTH_RUNTIME)"),
    Option("debug,D", BOOL, help="show tracebacks"),
    Option("help,h", BOOL, help="show help"),
    Option("version,v", BOOL, help="print the version"),
]
# verb -> (module[:function], what it does); `image X` and `container X` map to these too
VERBS = {
    "build": ("build", "Build an image from a Dockerfile"),
    "run": ("run", "Create and run a new container from an image"),
    "create": ("run:create", "Create a new container"),
    "start": ("container_verbs:start", "Start one or more stopped containers"),
    "attach": ("attach:attach", "Attach local standard input, output, and error streams to a running container"),
    "stop": ("container_verbs:stop", "Stop one or more running containers"),
    "restart": ("container_verbs:restart", "Restart one or more containers"),
    "stats": ("stats", "Display a live stream of container(s) resource usage statistics"),
    "cp": ("cp", "Copy files/folders between a container and the local filesystem"),
    "update": ("container_verbs:update", "Update configuration of one or more containers"),
    "port": ("container_verbs:port", "List port mappings or a specific mapping for the container"),
    "info": ("system:info", "Display system-wide information"),
    "events": ("events", "Get real time events from berth"),
    "commit": ("commit", "Create a new image from a container's changes"),
    "diff": ("commit:diff", "Inspect changes to files or directories on a container's filesystem"),
    "kill": ("container_verbs:kill", "Kill one or more running containers"),
    "rm": ("container_verbs:rm", "Remove one or more containers"),
    "wait": ("container_verbs:wait", "Block until containers stop, then print their exit codes"),
    "exec": ("container_verbs:exec_", "Execute a command in a running container"),
    "logs": ("container_verbs:logs", "Fetch the logs of a container"),
    "ps": ("ps", "List containers"),
    "pause": ("container_verbs:pause", "Pause all processes within one or more containers"),
    "unpause": ("container_verbs:unpause", "Unpause all processes within one or more containers"),
    "rename": ("container_verbs:rename", "Rename a container"),
    "top": ("container_verbs:top", "Display the running processes of a container"),
    "inspect": ("inspect", "Return low-level information on containers or images"),
    "images": ("images", "List images"),
    "rmi": ("rmi", "Remove one or more images"),
    "tag": ("tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "history": ("history", "Show the history of an image"),
    "save": ("save", "Save one or more images to a tar archive"),
    "load": ("load", "Load an image from a tar archive or STDIN"),
    "import": ("import_", "Import the contents from a tarball to create a filesystem image"),
    "export": ("export", "Export a container's filesystem as a tar archive"),
    "security": ("security", "Show a running container's isolation: namespaces, capabilities, seccomp, masks, limits"),
    "pull": ("pull", "Download an image from a registry"),
    "push": ("push", "Upload an image to a registry"),
    "login": ("login", "Log in to a registry"),
    "logout": ("login:logout", "Log out from a registry"),
}
IMAGE_VERBS = {
    "ls": "images", "list": "images", "rm": "rmi", "remove": "rmi", "tag": "tag", "history": "history",
    "inspect": "image_inspect", "bootstrap": "image_bootstrap", "save": "save", "load": "load",
    "prune": "image_prune", "import": "import_", "build": "build", "pull": "pull", "push": "push",
}  # fmt: skip
CONTAINER_VERBS = {
    "run": "run", "create": "run:create", "start": "container_verbs:start", "stop": "container_verbs:stop",
    "kill": "container_verbs:kill", "rm": "container_verbs:rm", "remove": "container_verbs:rm",
    "wait": "container_verbs:wait", "exec": "container_verbs:exec_", "logs": "container_verbs:logs", "ls": "ps",
    "list": "ps", "ps": "ps", "inspect": "inspect:container", "pause": "container_verbs:pause",
    "unpause": "container_verbs:unpause", "rename": "container_verbs:rename", "top": "container_verbs:top",
    "prune": "container_verbs:prune", "export": "export", "restart": "container_verbs:restart", "commit": "commit",
    "diff": "commit:diff", "stats": "stats", "cp": "cp", "update": "container_verbs:update",
    "port": "container_verbs:port",
}  # fmt: skip


def usage() -> str:
    lines = ["Usage:  berth [OPTIONS] COMMAND", "", "Commands:"]
    lines += [f"  {verb:<10} {text}" for verb, (_m, text) in VERBS.items()]
    lines += ["  container  Manage containers",
              "  image      Manage images (ls, inspect, rm, tag, history, bootstrap, save, load, import, prune, build)",
              "  builder    Manage the build cache (prune)",
              "  system     Manage berth (prune, df, info)",
              "  volume     Manage volumes (create, ls, inspect, rm, prune)",
              "  network    Manage networks (create, ls, inspect, rm, prune, connect, disconnect)",
              "  pod        Manage pods (create, ls, inspect, start, stop, restart, kill, pause, unpause, top, logs, stats, rm, prune)",
              "  manifest   Inspect a manifest in a registry (inspect)",
              "  runtime    The OCI runtime (runc's command line)", "  version    Show the berth version information"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _run(target: str, root: str, argv: list[str]) -> int:
    """Every verb drives the engine's façade."""
    module, _, function = target.partition(":")
    fn = getattr(__import__(f"berth.cli.{module}", fromlist=["main"]), function or "main")
    from berth.engine.engine import Engine

    engine = Engine(root)
    try:
        return fn(engine, argv)
    finally:
        engine.close()


def _exit_code(e: BerthError, verb: str) -> int:
    """Docker's: 125 when run, create or exec fail in the engine; the error's own otherwise."""
    from berth.engine.container import ContainerError

    if isinstance(e, ContainerError):
        return e.exit_code
    return 125 if verb in ("run", "create", "exec") else e.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = False
    rest: list[str] = []
    try:
        opts, rest = parse(argv, GLOBAL)
        debug = opts["debug"]
        if opts["version"]:
            rest = ["version"]
        if not rest or opts["help"] or rest[0] == "help":
            sys.stdout.write(usage())
            return 0
        verb, args = rest[0], rest[1:]
        root = opts["root"] or os.environ.get("BERTH_ROOT")
        if verb != "version" and os.geteuid() != 0 or os.environ.get("BERTH_ROOTLESS") == "1":
            from berth.engine import rootless

            rootless.enter()  # an ordinary user's berth: in its namespaces from here on
            root = root or rootless.store_root()
        root = root or "/var/lib/berth"
        if opts["runtime"]:
            os.environ["BERTH_RUNTIME"] = opts["runtime"]  # the default of every container this command makes
        if verb == "runtime":
            from berth.engine.runtimes import builtin_cli

            return builtin_cli(args)
        if verb == "version":
            sys.stdout.write(f"berth version {__version__}\n")
            return 0
        if verb == "image":
            if not args or args[0] not in IMAGE_VERBS:
                sys.stderr.write("Usage:  berth image COMMAND\n\nCommands: " + ", ".join(IMAGE_VERBS) + "\n")
                return 0 if not args else 1
            return _run(IMAGE_VERBS[args[0]], root, args[1:])
        if verb == "volume":
            sub = {"create": "create", "ls": "ls", "list": "ls", "inspect": "inspect", "rm": "rm", "remove": "rm",
                   "prune": "prune"}  # fmt: skip
            if not args or args[0] not in sub:
                sys.stderr.write("Usage:  berth volume COMMAND\n\nCommands: create, ls, inspect, rm, prune\n")
                return 0 if not args else 1
            return _run(f"volume:{sub[args[0]]}", root, args[1:])
        if verb == "network":
            sub = {"create": "create", "ls": "ls", "list": "ls", "inspect": "inspect", "rm": "rm", "remove": "rm",
                   "prune": "prune", "connect": "connect", "disconnect": "disconnect"}  # fmt: skip
            if not args or args[0] not in sub:
                sys.stderr.write(
                    "Usage:  berth network COMMAND\n\nCommands: create, ls, inspect, rm, prune, connect, disconnect\n"
                )
                return 0 if not args else 1
            return _run(f"network:{sub[args[0]]}", root, args[1:])
        if verb == "pod":
            sub = {"create": "create", "ls": "ls", "list": "ls", "ps": "ls", "inspect": "inspect", "start": "start",
                   "stop": "stop", "restart": "restart", "kill": "kill", "pause": "pause", "unpause": "unpause",
                   "top": "top", "logs": "logs", "stats": "stats", "rm": "rm", "remove": "rm", "prune": "prune"}  # fmt: skip
            if not args or args[0] not in sub:
                sys.stderr.write("Usage:  berth pod COMMAND\n\nCommands: create, ls, inspect, start, stop, restart, "
                                 "kill, pause, unpause, top, logs, stats, rm, prune\n")  # fmt: skip
                return 0 if not args else 1
            return _run(f"pod:{sub[args[0]]}", root, args[1:])
        if verb == "manifest":
            if args[:1] != ["inspect"]:
                sys.stderr.write("Usage:  berth manifest inspect NAME[:TAG|@DIGEST]\n")
                return 0 if not args else 1
            return _run("manifest:inspect", root, args[1:])
        if verb == "system":
            if args[:1] not in (["prune"], ["df"], ["info"]):
                sys.stderr.write("Usage:  berth system prune [-a] [-f] | df | info\n")
                return 0 if not args else 1
            return _run(f"system:{args[0]}", root, args[1:])
        if verb == "builder":
            if args[:1] != ["prune"]:
                sys.stderr.write("Usage:  berth builder prune [-a] [-f]\n")
                return 0 if not args else 1
            return _run("builder_prune", root, args[1:])
        if verb == "container":
            if not args or args[0] not in CONTAINER_VERBS:
                sys.stderr.write("Usage:  berth container COMMAND\n\nCommands: " + ", ".join(CONTAINER_VERBS) + "\n")
                return 0 if not args else 1
            return _run(CONTAINER_VERBS[args[0]], root, args[1:])
        if verb in VERBS:
            return _run(VERBS[verb][0], root, args)
        sys.stderr.write(f"berth: '{verb}' is not a berth command.\nSee 'berth --help'\n")
        return 1
    except BerthError as e:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"Error: {e}\n")
        return _exit_code(e, rest[0] if rest else "")
    except OSError as e:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"Error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}\n")
        return 1
    except Exception as e:  # noqa: BLE001 - the edge: anything unforeseen still gets one line and an exit code
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"Error: internal error: {e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}\n")
        return 125
