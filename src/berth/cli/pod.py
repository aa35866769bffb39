"""`berth pod create|ls|inspect|start|stop|restart|kill|pause|unpause|top|logs|stats|rm|prune`: pods, as Podman's verbs (each prints the
pod's ID, as podman does)."""

from __future__ import annotations

import sys

from berth import fastjson
from berth.argv import BOOL, LIST, STR, Option, parse
from berth.errors import BerthError, InvalidArgument


def create(engine, argv: list[str]) -> int:
    from berth.engine.options import PortBinding
    from berth.engine.pods import DEFAULT_SHARE, PodOptions

    opts, args = parse(argv, [
        Option("name,n", STR, ""), Option("hostname", STR, ""), Option("label,l", LIST),
        Option("network,net", STR, ""), Option("publish,p", LIST), Option("share", STR, ",".join(DEFAULT_SHARE)),
        Option("cgroup-parent", STR, ""),
    ], interspersed=True)  # fmt: skip
    if args:
        raise InvalidArgument('"pod create" takes no arguments: name the pod with --name')
    publish = tuple(b for spec in opts["publish"] for b in PortBinding.parse(spec))
    share = tuple(s.strip() for s in opts["share"].split(",") if s.strip())
    labels = dict(item.partition("=")[::2] for item in opts["label"])
    pod = engine.pods.create(PodOptions(name=opts["name"], hostname=opts["hostname"], labels=labels,
                                        network=opts["network"], publish=publish, share=share,
                                        cgroup_parent=opts["cgroup_parent"]))  # fmt: skip
    sys.stdout.write(pod["Id"] + "\n")
    return 0


def ls(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("quiet,q", BOOL), Option("no-trunc", BOOL), Option("format", STR, "")],
                       interspersed=True)  # fmt: skip
    if args:
        raise InvalidArgument('"pod ls" accepts no arguments')
    pods = engine.pods.list()
    width = None if opts["no_trunc"] else 12
    if opts["quiet"]:
        sys.stdout.write("".join(p["Id"][:width] + "\n" for p in pods))
        return 0
    if opts["format"] == "json":
        sys.stdout.write(fastjson.dumps([engine.pods.document(p) for p in pods]) + "\n")
        return 0
    from berth.cli import human
    from berth.tables import render

    rows = [["POD ID", "NAME", "STATUS", "CREATED", "INFRA ID", "# OF CONTAINERS"]]
    for p in pods:
        members = engine.pods.containers(p)
        rows.append([p["Id"][:width], p["Name"], engine.pods.status(p, members), human.since(p["Created"]),
                     p["InfraId"][:width], str(len(members))])  # fmt: skip
    sys.stdout.write(render(rows))
    return 0


def inspect(engine, argv: list[str]) -> int:
    opts, names = parse(argv, [Option("format,f", STR, "")], interspersed=True)
    if not names:
        raise InvalidArgument('"pod inspect" requires at least 1 argument.')
    docs, code = [], 0
    for name in names:
        try:
            docs.append(engine.pods.document(engine.pods.get(name)))
        except BerthError as e:
            sys.stderr.write(f"Error: {e}\n")
            code = 125
    from berth.cli.gotemplate import format_documents

    sys.stdout.write(format_documents(opts["format"], docs))
    return code


def _each(names: list[str], verb: str, fn) -> int:
    """Podman's: the pod's ID for each done, `Error: ...` and 125 for any that failed."""
    if not names:
        raise InvalidArgument(f'"pod {verb}" requires at least 1 argument.')
    code = 0
    for name in names:
        try:
            sys.stdout.write(fn(name)["Id"] + "\n")
        except BerthError as e:
            sys.stderr.write(f"Error: {e}\n")
            code = 125
    return code


def start(engine, argv: list[str]) -> int:
    _opts, names = parse(argv, [], interspersed=True)
    return _each(names, "start", engine.pods.start)


def stop(engine, argv: list[str]) -> int:
    opts, names = parse(argv, [Option("time,t", STR, "")], interspersed=True)
    timeout = _seconds(opts["time"])
    return _each(names, "stop", lambda n: engine.pods.stop(n, timeout))


def restart(engine, argv: list[str]) -> int:
    opts, names = parse(argv, [Option("time,t", STR, "")], interspersed=True)
    timeout = _seconds(opts["time"])
    return _each(names, "restart", lambda n: engine.pods.start(engine.pods.stop(n, timeout)["Id"]))


def kill(engine, argv: list[str]) -> int:
    opts, names = parse(argv, [Option("signal,s", STR, "KILL")], interspersed=True)
    return _each(names, "kill", lambda n: engine.pods.kill(n, opts["signal"]))


def pause(engine, argv: list[str]) -> int:
    _opts, names = parse(argv, [], interspersed=True)
    return _each(names, "pause", engine.pods.pause)


def unpause(engine, argv: list[str]) -> int:
    _opts, names = parse(argv, [], interspersed=True)
    return _each(names, "unpause", lambda n: engine.pods.pause(n, resume=True))


def prune(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("force,f", BOOL)], interspersed=True)
    if args:
        raise InvalidArgument('"pod prune" accepts no arguments')
    if not opts["force"]:
        from berth.cli import human

        if not human.confirm("This will remove all stopped/exited pods."):
            return 0
    sys.stdout.write("".join(pod_id + "\n" for pod_id in engine.pods.prune()))
    return 0


def top(engine, argv: list[str]) -> int:
    if not argv:
        raise InvalidArgument('"pod top" requires at least 1 argument: POD [ps OPTIONS]')
    sys.stdout.write(engine.pods.top(argv[0], argv[1:]))
    return 0


def logs(engine, argv: list[str]) -> int:
    """The logs of the pod's containers (or of one, -c), each line after its container's ID
    (--names: its name), as Podman's; with -f followed until they all stop."""
    import threading

    from berth.cli.container_verbs import _when
    from berth.engine.logs import read

    opts, args = parse(argv, [Option("container,c", STR, ""), Option("follow,f", BOOL), Option("names,n", BOOL),
                              Option("tail", STR, "all"), Option("timestamps,t", BOOL), Option("since", STR, "")],
                       interspersed=True)  # fmt: skip
    if len(args) != 1:
        raise InvalidArgument('"pod logs" requires exactly 1 argument: POD')
    pod = engine.pods.get(args[0])
    members = [c for c in engine.pods.containers(pod) if not c.config.get("podInfra")]
    if opts["container"]:
        members = [c for c in members if opts["container"] in (c.name, c.id) or c.id.startswith(opts["container"])]
        if not members:
            raise InvalidArgument(f"no container {opts['container']} in pod {pod['Name']}")
    try:
        tail = None if opts["tail"] == "all" else int(opts["tail"])
    except ValueError:
        raise InvalidArgument(f"invalid value for --tail: {opts['tail']}") from None
    since = _when(opts["since"], "since") if opts["since"] else None
    lock = threading.Lock()

    def show(c) -> None:
        prefix = (c.name if opts["names"] else c.id[:12]) + " "
        for rec in read(engine, c.id, opts["follow"], tail, since):
            with lock:
                out = sys.stdout if rec.stream == "stdout" else sys.stderr
                out.write(prefix + (rec.time + " " if opts["timestamps"] else "") + rec.text)
                out.flush()

    if not opts["follow"]:
        for c in members:
            show(c)
        return 0
    threads = [threading.Thread(target=show, args=(c,), daemon=True) for c in members]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 0


def stats(engine, argv: list[str]) -> int:
    """`berth stats` of the pod's running containers, with Podman's POD column (--no-stream: once)."""
    import time

    from berth.cli.stats import rows
    from berth.tables import render

    opts, args = parse(argv, [Option("no-stream", BOOL), Option("format", STR, "")], interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"pod stats" requires exactly 1 argument: POD')
    if opts["format"] not in ("", "table", "json"):
        raise InvalidArgument(f"unsupported --format {opts['format']!r}: use json or table")
    pod = engine.pods.get(args[0])
    while True:
        names = [c.id for c in engine.pods.containers(pod) if c.status == "running"]
        table = [{"Pod": pod["Id"][:12], **r} for r in rows(engine, names, False, False, 0.5)] if names else []
        if opts["format"] == "json":
            text = fastjson.dumps(table) + "\n"
        else:
            head = ["POD", "CID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]
            keys = ("Pod", "ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs")
            text = render([head] + [[r[k] for k in keys] for r in table], min_width=10, padding=3)
        sys.stdout.write(text)
        sys.stdout.flush()
        if opts["no_stream"] or not names:
            return 0
        time.sleep(0.5)


def rm(engine, argv: list[str]) -> int:
    opts, names = parse(argv, [Option("force,f", BOOL)], interspersed=True)
    return _each(names, "rm", lambda n: engine.pods.remove(n, opts["force"]))


def _seconds(text: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidArgument(f"invalid argument {text!r} for --time: seconds") from None
