"""berth-runtime's command line: runc's commands, flags and exit codes.

Only `berth.argv` and `berth.errors` load up front; each command imports its
own module, so `run`, `create` and `start` pay for nothing they do not use.
"""

from __future__ import annotations

import os
import sys

from berth import __version__
from berth.argv import BOOL, INT, LIST, STR, Option, parse, usage
from berth.errors import BerthError, InvalidArgument

DEFAULT_ROOT = "/run/berth-runtime"

GLOBAL = [
    Option("root", STR, DEFAULT_ROOT, "root directory for storage of container state"),
    Option("log", STR, "", "log file (default stderr)"),
    Option("log-format", STR, "text", "log format: text or json"),
    Option("debug", BOOL, help="enable debug output"),
    Option("systemd-cgroup", BOOL, help="use systemd for cgroups (not supported)"),
    Option("rootless", STR, "auto", "ignore cgroup permission errors (true, false, auto)"),
    Option("criu", STR, "criu", "path to criu (checkpoint is not supported)"),
    Option("help,h", BOOL, help="show help"),
    Option("version,v", BOOL, help="print the version"),
]
_CREATE = [
    Option("bundle,b", STR, ".", "path to the root of the bundle directory"),
    Option("console-socket", STR, "", "path to a unix socket that receives the pty master"),
    Option("pid-file", STR, "", "file to write the process id to"),
    Option("no-pivot", BOOL, help="not supported: berth always uses pivot_root"),
    Option("no-new-keyring", BOOL, help="do not create a new session keyring for the container"),
    Option("preserve-fds", INT, 0, "pass N additional file descriptors to the container"),
]
_EXEC = [
    Option("console-socket", STR, "", "path to a unix socket that receives the pty master"),
    Option("cwd", STR, "", "current working directory in the container"),
    Option("env,e", LIST, help="set environment variables"),
    Option("tty,t", BOOL, help="allocate a pseudo-TTY"),
    Option("user,u", STR, "", "UID[:GID]"),
    Option("additional-gids,g", LIST, help="additional gids"),
    Option("process,p", STR, "", "path to a process.json"),
    Option("detach,d", BOOL, help="detach from the container's process"),
    Option("pid-file", STR, "", "file to write the process id to"),
    Option("process-label", STR, "", "SELinux label (ignored without SELinux)"),
    Option("apparmor", STR, "", "AppArmor profile (ignored without AppArmor)"),
    Option("no-new-privs", BOOL, help="set no new privileges"),
    Option("cap,c", LIST, help="add a capability"),
    Option("preserve-fds", INT, 0, "pass N additional file descriptors"),
    Option("ignore-paused", BOOL, help="allow exec in a paused container"),
    Option("cgroup", LIST, help="run in a sub-cgroup (not supported)"),
]
_UPDATE = [
    Option("resources,r", STR, "", "path to a resources JSON file, - for stdin"),
    Option("blkio-weight", INT, help="block IO weight, 10 to 1000"),
    Option("cpu-period", INT, help="CPU CFS period in microseconds"),
    Option("cpu-quota", INT, help="CPU CFS quota in microseconds"),
    Option("cpu-share", INT, help="CPU shares"),
    Option("cpu-rt-period", INT, help="CPU realtime period"),
    Option("cpu-rt-runtime", INT, help="CPU realtime runtime"),
    Option("cpuset-cpus", STR, help="CPUs to use"),
    Option("cpuset-mems", STR, help="memory nodes to use"),
    Option("memory", STR, help="memory limit in bytes (suffixes k, m, g)"),
    Option("memory-reservation", STR, help="memory reservation"),
    Option("memory-swap", STR, help="memory plus swap limit"),
    Option("pids-limit", INT, help="maximum number of pids"),
]

COMMANDS: dict[str, tuple[str, list[Option], str]] = {
    "create": ("<container-id>", _CREATE, "create a container"),
    "start": ("<container-id>", [], "start a created container"),
    "run": (
        "<container-id>",
        _CREATE
        + [
            Option("detach,d", BOOL, help="detach from the container's process"),
            Option("keep", BOOL, help="do not delete the container after it exits"),
        ],
        "create and start a container",
    ),  # fmt: skip
    "state": ("<container-id>", [], "output the state of a container"),
    "kill": (
        "<container-id> [signal]",
        [Option("all,a", BOOL, help="send the signal to all processes")],
        "send a signal to the container's init (default SIGTERM)",
    ),  # fmt: skip
    "delete": (
        "<container-id>",
        [Option("force,f", BOOL, help="kill the container first if it runs")],
        "delete a container",
    ),
    "exec": ("<container-id> <command> [args...]", _EXEC, "run a process in a running container"),
    "list": (
        "",
        [Option("format,f", STR, "table", "table or json"), Option("quiet,q", BOOL, help="only ids")],
        "list containers",
    ),
    "ps": (
        "<container-id> [ps options]",
        [Option("format,f", STR, "table", "table or json")],
        "processes in a container",
    ),
    "events": (
        "<container-id>",
        [
            Option("stats", BOOL, help="display the container's stats once, then exit"),
            Option("interval", STR, "5s", "stats collection interval (only --stats is supported)"),
        ],
        "display container stats",
    ),
    "pause": ("<container-id>", [], "suspend all processes in a container"),
    "resume": ("<container-id>", [], "resume a paused container"),
    "update": ("<container-id>", _UPDATE, "update a container's resource limits"),
    "features": ("", [], "show the features this runtime supports"),
    "spec": (
        "",
        [Option("bundle,b", STR, ".", "where to write config.json"), Option("rootless", BOOL, help="a rootless spec")],
        "create a new specification file",
    ),  # fmt: skip
}


class Context:
    def __init__(self, opts: dict) -> None:
        self.root = opts["root"]
        if self.root == DEFAULT_ROOT and os.geteuid() != 0:  # an ordinary user's state, as runc keeps it
            base = os.environ.get("XDG_RUNTIME_DIR")
            self.root = os.path.join(base, "berth-runtime") if base else f"/tmp/berth-runtime-{os.geteuid()}"
        self.log = opts["log"]
        self.log_format = opts["log_format"]
        self.debug = opts["debug"]

    def error(self, message: str) -> None:
        """To --log when given (the container may share our stderr: the monitor's attached
        mode), else to stderr."""
        if not self.log:
            sys.stderr.write(f"berth-runtime: {message}\n")
        else:
            import time

            from berth import fastjson

            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            if self.log_format == "json":
                line = fastjson.dumps({"level": "error", "msg": message, "time": when})
            else:
                line = f'time="{when}" level=error msg={fastjson.dumps(message)}'
            try:
                with open(self.log, "a") as f:
                    f.write(line + "\n")
            except OSError:
                pass


def _one_id(args: list[str], cmd: str) -> str:
    if len(args) != 1:
        raise InvalidArgument(f'"{cmd}" requires exactly 1 argument: {COMMANDS[cmd][0]}')
    return args[0]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--prestarted"]:
        argv = _prestarted()
        if argv is None:
            return 0
    ctx = None
    try:
        opts, rest = parse(argv, GLOBAL)
        ctx = Context(opts)
        if opts["version"]:
            return _version()
        if not rest or opts["help"] or rest[0] == "help":
            return _help(rest[1:] if rest and rest[0] == "help" else [])
        cmd, cargs = rest[0], rest[1:]
        if cmd not in COMMANDS:
            raise InvalidArgument(f"No help topic for '{cmd}'")
        if opts["systemd_cgroup"]:
            raise InvalidArgument("--systemd-cgroup is not supported: berth manages cgroups through cgroupfs")
        copts, args = parse(cargs, COMMANDS[cmd][1] + [Option("help,h", BOOL)])
        if copts["help"]:
            return _help([cmd])
        return _dispatch(ctx, cmd, copts, args)
    except BerthError as e:
        (ctx or Context({"root": "", "log": "", "log_format": "text", "debug": False})).error(str(e))
        return e.exit_code
    except OSError as e:
        msg = f"{e.strerror or e}" + (
            f": {e.filename}" if e.filename and str(e.filename) not in str(e.strerror) else ""
        )
        (ctx or Context({"root": "", "log": "", "log_format": "text", "debug": False})).error(msg)
        return 1


def _prestarted() -> list[str] | None:
    """berth's extension, not runc's: started ahead by berth's monitor (berth.foreground.Prestarted),
    the command line and the stdio (three fds) come on fd 3; None if the monitor gave up."""
    from berth.foreground import receive
    from berth.runtime import container_run  # noqa: F401 - `run`'s path, loaded while the monitor is busy

    got = receive()
    if got is None:
        return None
    args, fds = got
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    return args


def _dispatch(ctx: Context, cmd: str, o: dict, args: list[str]) -> int:
    root = ctx.root
    if cmd == "create":
        from berth.runtime import container_create

        console_fd = -1
        if o["console_socket"]:
            from berth.runtime import console

            console_fd = console.connect(o["console_socket"])
        container_create.create(root, _one_id(args, cmd), o["bundle"], o["pid_file"] or None, console_fd,
                                o["preserve_fds"], not o["no_new_keyring"])  # fmt: skip
        return 0
    if cmd == "run":
        from berth.runtime import container_run

        return container_run.run(root, _one_id(args, cmd), o["bundle"], o["pid_file"] or None, o["console_socket"] or None,
                                 o["detach"], o["preserve_fds"], not o["no_new_keyring"], o["keep"])  # fmt: skip
    if cmd == "start":
        from berth.runtime import container_start

        container_start.start(root, _one_id(args, cmd))
        return 0
    if cmd == "kill":
        from berth.linux import signals
        from berth.runtime import container_kill

        if not 1 <= len(args) <= 2:
            raise InvalidArgument(f'"kill" requires 1 or 2 arguments: {COMMANDS[cmd][0]}')
        try:
            sig = signals.parse(args[1] if len(args) > 1 else "SIGTERM")
        except ValueError as e:
            raise InvalidArgument(str(e)) from None
        container_kill.kill(root, args[0], sig, o["all"])
        return 0
    if cmd == "delete":
        from berth.runtime import container_delete

        container_delete.delete(root, _one_id(args, cmd), o["force"])
        return 0
    if cmd == "exec":
        return _exec(root, o, args)
    if cmd == "state":
        from berth.runtime.container import Container

        _print_json(Container(root, _one_id(args, cmd)).oci_state())
        return 0
    if cmd == "list":
        return _list(root, o)
    if cmd == "ps":
        return _ps(root, o, args)
    if cmd == "events":
        return _events(root, o, args)
    if cmd in ("pause", "resume"):
        from berth.runtime import container_pause

        getattr(container_pause, cmd)(root, _one_id(args, cmd))
        return 0
    if cmd == "update":
        from berth.runtime import container_update

        container_update.update(root, _one_id(args, cmd), o)
        return 0
    if cmd == "features":
        from berth.runtime.features import features

        _print_json(features())
        return 0
    if cmd == "spec":
        return _spec(o)
    raise InvalidArgument(f"unknown command {cmd}")  # pragma: no cover - COMMANDS is checked first


def _exec(root: str, o: dict, args: list[str]) -> int:
    from berth.runtime import container_exec
    from berth.runtime.container import Container

    if not args:
        raise InvalidArgument('"exec" requires a minimum of 1 argument: <container-id> <command> [args...]')
    container_id, command = args[0], args[1:]
    if o["process"]:
        process = container_exec.process_from_file(o["process"])
    else:
        base = Container(root, container_id).spec.process
        process = container_exec.process_from_options(base, command, o["env"], o["cwd"] or None, o["user"] or None,
                                                      o["cap"], o["tty"], o["no_new_privs"], o["additional_gids"])  # fmt: skip
    return container_exec.exec_process(root, container_id, process, o["detach"], o["pid_file"] or None,
                                       o["console_socket"] or None, o["preserve_fds"])  # fmt: skip


def _print_json(value: object) -> None:
    import json

    sys.stdout.write(json.dumps(value, indent=2) + "\n")


def _list(root: str, o: dict) -> int:
    from berth.runtime import statedir
    from berth.runtime.container import Container

    rows = []
    for cid in statedir.list_ids(root):
        try:
            rows.append(Container(root, cid).oci_state())
        except BerthError:
            continue
    if o["quiet"]:
        sys.stdout.write("".join(r["id"] + "\n" for r in rows))
    elif o["format"] == "json":
        import json

        sys.stdout.write(json.dumps(rows) + "\n")
    elif o["format"] == "table":
        from berth.tables import render

        table = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        table += [[r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"], r["owner"]] for r in rows]
        sys.stdout.write(render(table, min_width=12, padding=3))
    else:
        raise InvalidArgument(f"invalid format option {o['format']!r}: use table or json")
    return 0


def _ps(root: str, o: dict, args: list[str]) -> int:
    from berth.runtime.container import Container

    if not args:
        raise InvalidArgument('"ps" requires a minimum of 1 argument: <container-id> [ps options]')
    c = Container(root, args[0])
    if c.status() == "stopped":
        raise InvalidArgument("container not running")
    pids = c.cgroup.pids()
    if o["format"] == "json":
        import json

        sys.stdout.write(json.dumps(pids) + "\n")
        return 0
    import subprocess

    out = subprocess.run(["ps", *(args[1:] or ["-ef"])], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    header = lines[0].split()
    if "PID" not in header:
        raise InvalidArgument("ps: the output has no PID column")
    col = header.index("PID")
    keep = set(pids)
    sys.stdout.write(lines[0] + "\n")
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in keep:
            sys.stdout.write(line + "\n")
    return 0


def _events(root: str, o: dict, args: list[str]) -> int:
    """runc's `events --stats`: one {"type": "stats", "id", "data"} object. The event stream
    (OOM notices and stats every --interval) is not kept: the engine's monitor reports exits."""
    from berth.runtime.container import Container

    cid = _one_id(args, "events")
    if not o["stats"]:
        raise InvalidArgument("events: only --stats is supported (the stream of events is not)")
    c = Container(root, cid)
    if c.status() == "stopped":
        raise InvalidArgument(f"container {cid} is not running")
    _print_json({"type": "stats", "id": cid, "data": c.cgroup.stats()})
    return 0


def _spec(o: dict) -> int:
    from berth import fastjson
    from berth.oci.runtime_spec import default_spec, spec_to_json

    path = os.path.join(o["bundle"], "config.json")
    if os.path.exists(path):
        raise InvalidArgument("File config.json exists. Remove it first.")
    import json

    spec = default_spec()
    if o["rootless"]:
        from berth.oci.runtime_spec import rootless_spec

        spec = rootless_spec(spec, os.geteuid(), os.getegid())
    text = json.dumps(fastjson.loads(fastjson.dumps(spec_to_json(spec))), indent="\t")
    with open(path, "w") as f:
        f.write(text + "\n")
    return 0


def _version() -> int:
    import platform

    from berth import OCI_VERSION

    lines = [f"berth-runtime version {__version__}", f"spec: {OCI_VERSION}", f"python: {platform.python_version()}"]
    try:
        import pyseccomp

        lines.append(f"pyseccomp: {pyseccomp.__version__}")
    except ImportError:
        pass
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _help(topic: list[str]) -> int:
    if topic and topic[0] in COMMANDS:
        args, options, text = COMMANDS[topic[0]]
        sys.stdout.write(
            f"Usage: berth-runtime {topic[0]} [command options] {args}\n\n{text}\n\nOptions:\n{usage(options)}\n"
        )
        return 0
    lines = ["Usage: berth-runtime [global options] command [command options] [arguments...]", "", "Commands:"]
    lines += [f"   {name:<10} {text}" for name, (_a, _o, text) in COMMANDS.items()]
    lines += ["", "Global options:", usage(GLOBAL)]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
