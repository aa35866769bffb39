"""`berth start|stop|kill|rm|wait|exec|logs`: the short container verbs."""

from __future__ import annotations

import sys
import time

from berth.argv import BOOL, LIST, STR, Option, parse
from berth.errors import BerthError, FailedPrecondition, InvalidArgument, NotFound


def _each(engine, names: list[str], verb: str, fn) -> int:
    if not names:
        raise InvalidArgument(f'"{verb}" requires at least 1 argument.')
    code = 0
    for name in names:
        try:
            fn(name)
            sys.stdout.write(name + "\n")
        except BerthError as e:
            sys.stderr.write(f"Error response from daemon: {e}\n")
            code = 1
    return code


def start(engine, argv: list[str]) -> int:
    opts, names = parse(argv, [Option("attach,a", BOOL), Option("interactive,i", BOOL),
                               Option("detach-keys", STR, "")], interspersed=True)  # fmt: skip
    if (opts["attach"] or opts["interactive"]) and len(names) == 1:
        from berth.cli.attach import run_attached

        return run_attached(engine, names[0], opts["detach_keys"], stdin=opts["interactive"])
    if opts["attach"] or opts["interactive"]:
        raise InvalidArgument("you cannot start and attach multiple containers at once")
    return _each(engine, names, "start", lambda n: engine.start(n))


def _stop_options(argv: list[str]) -> tuple[dict, list[str], float | None]:
    opts, names = parse(argv, [Option("time,t", STR, ""), Option("signal,s", STR, "")], interspersed=True)
    try:
        return opts, names, float(opts["time"]) if opts["time"] else None
    except ValueError:
        raise InvalidArgument(f'invalid argument "{opts["time"]}" for "-t, --time" flag') from None


def stop(engine, argv: list[str]) -> int:
    opts, names, timeout = _stop_options(argv)
    return _each(engine, names, "stop", lambda n: engine.stop(n, timeout, opts["signal"]))


def restart(engine, argv: list[str]) -> int:
    """Stop (SIGTERM, then SIGKILL after -t seconds) and start again, each container in turn."""
    opts, names, timeout = _stop_options(argv)

    def again(name: str):
        c = engine.stop(name, timeout, opts["signal"])
        engine.start(c.id)
        return c

    return _each(engine, names, "restart", again)


def kill(engine, argv: list[str]) -> int:
    opts, names = parse(argv, [Option("signal,s", STR, "KILL")], interspersed=True)
    return _each(engine, names, "kill", lambda n: engine.kill(n, opts["signal"]))


def rm(engine, argv: list[str]) -> int:
    opts, names = parse(argv, [Option("force,f", BOOL), Option("volumes,v", BOOL)], interspersed=True)
    return _each(engine, names, "rm", lambda n: engine.remove(n, opts["force"], opts["volumes"]))


def wait(engine, argv: list[str]) -> int:
    _, names = parse(argv, [], interspersed=True)
    if not names:
        raise InvalidArgument('"wait" requires at least 1 argument.')
    for name in names:
        sys.stdout.write(f"{engine.wait(name)}\n")
    return 0


EXEC_OPTIONS = [Option("detach,d", BOOL), Option("env,e", LIST), Option("user,u", STR, ""), Option("workdir,w", STR, ""),
                Option("interactive,i", BOOL), Option("tty,t", BOOL), Option("privileged", BOOL)]  # fmt: skip


def exec_(engine, argv: list[str]) -> int:
    opts, args = parse(argv, EXEC_OPTIONS)
    if len(args) < 2:
        raise InvalidArgument('"exec" requires at least 2 arguments.')
    from berth.engine.container import ExecStartError

    try:
        return engine.exec(args[0], args[1:], opts["env"], opts["user"], opts["workdir"], opts["detach"], opts["tty"],
                           opts["privileged"])  # fmt: skip
    except ExecStartError as e:
        sys.stdout.write(f"{e}\n")  # docker's: into the exec's stream
        return e.exit_code
    except (FailedPrecondition, NotFound) as e:
        sys.stderr.write(f"Error response from daemon: {e}\n")
        return 1


def logs(engine, argv: list[str]) -> int:
    opts, names = parse(argv, [Option("follow,f", BOOL), Option("tail,n", STR, "all"), Option("timestamps,t", BOOL),
                               Option("since", STR, ""), Option("until", STR, "")], interspersed=True)  # fmt: skip
    if len(names) != 1:
        raise InvalidArgument('"logs" requires exactly 1 argument.')
    from berth.engine.logs import read

    tail = None
    if opts["tail"] != "all":
        try:
            tail = int(opts["tail"])
        except ValueError:
            raise InvalidArgument(f"invalid value for --tail: {opts['tail']}") from None
    since = _when(opts["since"], "since") if opts["since"] else None
    until = _when(opts["until"], "until") if opts["until"] else None
    for rec in read(engine, names[0], opts["follow"], tail, since, until):
        out = sys.stdout if rec.stream == "stdout" else sys.stderr
        out.write((rec.time + " " if opts["timestamps"] else "") + rec.text)
        out.flush()
    return 0


def _when(text: str, flag: str) -> float:
    """Docker's forms: a Unix time (1700000000[.5]), a duration before now (10m, 1h30m), or RFC 3339 (a date alone too)."""
    from berth.cli import human
    from berth.units import parse_duration

    try:
        return float(text)
    except ValueError:
        pass
    if text[-1:].isalpha() and not text[:4].isdigit() or text[-2:] in ("ms", "us", "ns"):
        return time.time() - parse_duration(text)
    stamp = text + ("T00:00:00Z" if len(text) == 10 else "")
    when = human.parse_time(stamp)
    if not when:
        raise InvalidArgument(f'invalid value for "{flag}": {text!r}: use a Unix time, a duration (10m) or RFC 3339')
    return when


def pause(engine, argv: list[str]) -> int:
    _, names = parse(argv, [], interspersed=True)
    return _each(engine, names, "pause", lambda n: engine.pause(n))


def unpause(engine, argv: list[str]) -> int:
    _, names = parse(argv, [], interspersed=True)
    return _each(engine, names, "unpause", lambda n: engine.pause(n, resume=True))


def rename(engine, argv: list[str]) -> int:
    if len(argv) != 2:
        raise InvalidArgument('"rename" requires exactly 2 arguments: CONTAINER NEW_NAME')
    engine.rename(argv[0], argv[1])
    return 0


def top(engine, argv: list[str]) -> int:
    if not argv:
        raise InvalidArgument('"top" requires at least 1 argument.')
    sys.stdout.write(engine.top(argv[0], argv[1:]))
    return 0


def prune(engine, argv: list[str]) -> int:
    """`berth container prune [-f]`: remove every stopped container."""
    from berth.cli import human

    opts, args = parse(argv, [Option("force,f", BOOL), Option("filter", LIST)], interspersed=True)
    if args or opts["filter"]:
        raise InvalidArgument('"container prune" accepts no arguments or filters yet')
    if not opts["force"] and not human.confirm("This will remove all stopped containers."):
        return 0
    gone = [c.id for c in engine.prunable()]
    for cid in gone:
        engine.remove(cid)
    if gone:
        sys.stdout.write("Deleted Containers:\n" + "".join(i + "\n" for i in gone) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human.size(0)}\n")
    return 0


UPDATE_OPTIONS = [
    Option("cpus", STR, "", help="number of CPUs"),
    Option("cpu-shares,c", STR, "", help="CPU shares (relative weight)"),
    Option("cpuset-cpus", STR, "", help="CPUs in which to allow execution (0-3, 0,1)"),
    Option("memory,m", STR, "", help="memory limit"),
    Option("memory-reservation", STR, "", help="memory soft limit"),
    Option("memory-swap", STR, "", help="memory plus swap limit (-1: unlimited)"),
    Option("pids-limit", STR, "", help="tune container pids limit (-1 for unlimited)"),
    Option("blkio-weight", STR, "", help="block IO weight, 10 to 1000"),
    Option("restart", STR, "", help="restart policy to apply when a container exits"),
]


def update(engine, argv: list[str]) -> int:
    """`berth update`: new resource limits for running containers, kept for their next start, and
    a new restart policy."""
    from berth.engine.options import ResourceUpdate
    from berth.units import parse_size

    opts, names = parse(argv, UPDATE_OPTIONS, interspersed=True)

    def number(flag: str, kind=int):
        return kind(opts[flag]) if opts[flag] else None

    def size(flag: str) -> int | None:
        return parse_size(opts[flag]) if opts[flag] else None

    try:
        limits = ResourceUpdate(cpus=number("cpus", float), cpu_shares=number("cpu_shares"),
                                pids_limit=number("pids_limit"), blkio_weight=number("blkio_weight"))  # fmt: skip
    except ValueError as e:
        raise InvalidArgument(f"invalid value: {e}") from None
    from berth.engine.options import RestartPolicy

    limits = limits.replace(cpuset_cpus=opts["cpuset_cpus"], memory=size("memory"),
                            memory_reservation=size("memory_reservation"), memory_swap=size("memory_swap"),
                            restart=RestartPolicy.parse(opts["restart"]) if opts["restart"] else None)  # fmt: skip
    limits.check()
    return _each(engine, names, "update", lambda n: engine.update(n, limits))


def port(engine, argv: list[str]) -> int:
    """`berth port CONTAINER [PORT[/PROTO]]`: the host addresses of its published ports."""
    _opts, args = parse(argv, [], interspersed=True)
    if not 1 <= len(args) <= 2:
        raise InvalidArgument('"port" requires at least 1 and at most 2 arguments: CONTAINER [PRIVATE_PORT[/PROTO]]')
    c = engine.get(args[0])
    published = engine.published_ports([c]).get(c.id, []) if c.status == "running" else []
    if len(args) == 2:
        wanted = args[1] if "/" in args[1] else args[1] + "/tcp"
        hits = [b for b in published if f"{b['Port']}/{b['Proto']}" == wanted]
        if not hits:
            raise InvalidArgument(f"No public port '{wanted}' published for {c.name}")
        sys.stdout.write("".join(f"{b['HostIp']}:{b['HostPort']}\n" for b in hits))
        return 0
    sys.stdout.write("".join(f"{b['Port']}/{b['Proto']} -> {b['HostIp']}:{b['HostPort']}\n" for b in published))
    return 0
