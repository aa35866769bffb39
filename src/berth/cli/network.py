"""`berth network create|ls|inspect|rm|prune|connect|disconnect`: bridge networks, as Docker's."""

from __future__ import annotations

import sys

from berth import fastjson
from berth.argv import BOOL, LIST, STR, Option, parse
from berth.argv import filters as argv_filters
from berth.errors import BerthError, InvalidArgument


def create(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("subnet", LIST), Option("gateway", LIST), Option("internal", BOOL),
                              Option("label", LIST), Option("driver,d", STR, "bridge"), Option("attachable", BOOL),
                              Option("opt,o", LIST)], interspersed=True)  # fmt: skip
    if len(args) != 1:
        raise InvalidArgument('"network create" requires exactly 1 argument.')
    if opts["driver"] != "bridge":
        raise InvalidArgument(f'plugin "{opts["driver"]}" not found: berth has the bridge driver only')
    if len(opts["subnet"]) > 1 or len(opts["gateway"]) > 1:
        raise InvalidArgument("berth networks have one IPv4 subnet: give --subnet and --gateway at most once")
    labels = dict(item.partition("=")[::2] for item in opts["label"])
    net = engine.networking.create(args[0], (opts["subnet"] or [""])[0], (opts["gateway"] or [""])[0],
                                   opts["internal"], labels)  # fmt: skip
    sys.stdout.write(net.id + "\n")
    return 0


def ls(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("quiet,q", BOOL), Option("filter,f", LIST), Option("format", STR, ""),
                              Option("no-trunc", BOOL)], interspersed=True)  # fmt: skip
    if args:
        raise InvalidArgument('"network ls" accepts no arguments.')
    from berth.engine import networks

    filters = argv_filters(opts["filter"])
    rows = networks.summaries(engine, filters)
    ids = [r["ID"] if opts["no_trunc"] else r["ID"][:12] for r in rows]
    if opts["quiet"]:
        sys.stdout.write("".join(i + "\n" for i in ids))
    elif opts["format"] == "json":
        sys.stdout.write("".join(fastjson.dumps({**r, "ID": i, "Labels": ",".join(f"{k}={v}" for k, v in r["Labels"].items()),
                                                 "Internal": str(r["Internal"]).lower(), "IPv6": "false"}) + "\n"
                                 for r, i in zip(rows, ids, strict=True)))  # fmt: skip
    else:
        from berth.tables import render

        table = [["NETWORK ID", "NAME", "DRIVER", "SCOPE"]]
        table += [[i, r["Name"], r["Driver"], r["Scope"]] for r, i in zip(rows, ids, strict=True)]
        sys.stdout.write(render(table))
    return 0


def inspect(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("format,f", STR, ""), Option("verbose,v", BOOL)], interspersed=True)
    if not args:
        raise InvalidArgument('"network inspect" requires at least 1 argument.')
    from berth.engine import networks

    docs, code = [], 0
    for ref in args:
        try:
            docs.append(networks.document(engine, ref))
        except BerthError as e:
            sys.stderr.write(f"Error: {e}\n")
            code = 1
    if docs or not code:  # docker's network inspect prints no empty array when all failed
        from berth.cli.gotemplate import format_documents

        sys.stdout.write(format_documents(opts["format"], docs))
    return code


def rm(engine, argv: list[str]) -> int:
    _opts, args = parse(argv, [Option("force,f", BOOL)], interspersed=True)
    if not args:
        raise InvalidArgument('"network rm" requires at least 1 argument.')
    from berth.cli.container_verbs import _each

    return _each(engine, args, "network rm", engine.networking.remove)


def prune(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("force,f", BOOL), Option("filter", LIST)], interspersed=True)
    if args or opts["filter"]:
        raise InvalidArgument('"network prune" accepts no arguments or filters yet')
    if not opts["force"]:
        from berth.cli import human

        if not human.confirm("This will remove all custom networks not used by at least one container."):
            return 0
    from berth.engine import networks

    gone = networks.prune(engine)
    if gone:
        sys.stdout.write("Deleted Networks:\n" + "".join(n + "\n" for n in gone) + "\n")
    return 0


def connect(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("ip", STR, ""), Option("alias", LIST)], interspersed=True)
    if len(args) != 2:
        raise InvalidArgument('"network connect" requires exactly 2 arguments: NETWORK CONTAINER')
    engine.network_connect(args[1], args[0], opts["ip"], tuple(opts["alias"]))
    return 0


def disconnect(engine, argv: list[str]) -> int:
    _opts, args = parse(argv, [Option("force,f", BOOL)], interspersed=True)
    if len(args) != 2:
        raise InvalidArgument('"network disconnect" requires exactly 2 arguments: NETWORK CONTAINER')
    engine.network_disconnect(args[1], args[0])
    return 0
