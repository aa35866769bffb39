"""`berth volume create|ls|inspect|rm|prune`: named volumes, as Docker's local driver."""

from __future__ import annotations

import sys

from berth import fastjson
from berth.argv import BOOL, LIST, STR, Option, parse
from berth.argv import filters as argv_filters
from berth.errors import BerthError, InvalidArgument


def create(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("label", LIST), Option("driver,d", STR, "local"), Option("name", STR, "")],
                       interspersed=True)  # fmt: skip
    if opts["driver"] != "local":
        raise InvalidArgument(f"volume driver {opts['driver']!r} is not supported: only local")
    if len(args) > 1 or (args and opts["name"]):
        raise InvalidArgument('"volume create" requires at most 1 argument: [VOLUME]')
    labels = dict(item.partition("=")[::2] for item in opts["label"])
    vol = engine.volumes.create(args[0] if args else opts["name"], labels)
    sys.stdout.write(vol["Name"] + "\n")
    return 0


def ls(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("quiet,q", BOOL), Option("filter,f", LIST), Option("format", STR, "")],
                       interspersed=True)  # fmt: skip
    if args:
        raise InvalidArgument('"volume ls" accepts no arguments.')
    from berth.engine.volumes import listed

    filters = argv_filters(opts["filter"])
    vols = listed(engine, filters)
    if opts["quiet"]:
        sys.stdout.write("".join(v["Name"] + "\n" for v in vols))
    elif opts["format"] == "json":
        sys.stdout.write("".join(fastjson.dumps(v) + "\n" for v in vols))
    else:
        from berth.tables import render

        sys.stdout.write(render([["DRIVER", "VOLUME NAME"]] + [[v["Driver"], v["Name"]] for v in vols],
                                min_width=10, padding=4))  # fmt: skip
    return 0


def inspect(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("format,f", STR, "")], interspersed=True)
    if not args:
        raise InvalidArgument('"volume inspect" requires at least 1 argument.')
    docs, code = [], 0
    for name in args:
        try:
            doc = engine.volumes.get(name)
            doc.pop("Anonymous")
            docs.append(doc)
        except BerthError as e:
            sys.stderr.write(f"Error response from daemon: {e}\n")
            code = 1
    from berth.cli.gotemplate import format_documents

    sys.stdout.write(format_documents(opts["format"], docs))
    return code


def rm(engine, argv: list[str]) -> int:
    _opts, args = parse(argv, [Option("force,f", BOOL)], interspersed=True)
    if not args:
        raise InvalidArgument('"volume rm" requires at least 1 argument.')
    from berth.cli.container_verbs import _each

    return _each(engine, args, "volume rm", lambda name: engine.volumes.remove(name, engine.volume_users(name)))


def prune(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("all,a", BOOL), Option("force,f", BOOL), Option("filter", LIST)],
                       interspersed=True)  # fmt: skip
    if args or opts["filter"]:
        raise InvalidArgument('"volume prune" accepts no arguments or filters yet')
    if not opts["force"]:
        what = "all unused volumes" if opts["all"] else "all anonymous local volumes not used by at least one container"
        from berth.cli import human

        if not human.confirm(f"This will remove {what}."):
            return 0
    from berth.cli import human
    from berth.engine.volumes import prune as prune_volumes

    gone, freed = prune_volumes(engine, opts["all"])
    if gone:
        sys.stdout.write("Deleted Volumes:\n" + "".join(n + "\n" for n in gone) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human.size(freed)}\n")
    return 0
