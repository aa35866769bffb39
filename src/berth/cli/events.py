"""`berth events`: what happened to containers and networks, as Docker prints it; without --until
it goes on printing new events until interrupted."""

from __future__ import annotations

import sys

from berth import fastjson
from berth.argv import LIST, STR, Option, parse
from berth.argv import filters as argv_filters
from berth.clock import rfc3339_ns
from berth.errors import InvalidArgument


def _line(event: dict, fmt: str) -> str:
    if fmt == "json":
        return fastjson.dumps(event)
    if fmt:
        from berth.cli.gotemplate import render

        return render(fmt, event)
    t = event["timeNano"]
    stamp = rfc3339_ns(t)
    attrs = ", ".join(f"{k}={v}" for k, v in sorted(event["Actor"].get("Attributes", {}).items()))
    return f"{stamp} {event['Type']} {event['Action']} {event['Actor']['ID']}" + (f" ({attrs})" if attrs else "")


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("since", STR, ""), Option("until", STR, ""), Option("filter,f", LIST),
                              Option("format", STR, "")], interspersed=True)  # fmt: skip
    if args:
        raise InvalidArgument('"events" accepts no arguments.')
    from berth.cli.container_verbs import _when

    since = _when(opts["since"], "since") if opts["since"] else None
    until = _when(opts["until"], "until") if opts["until"] else None
    filters = argv_filters(opts["filter"])
    from berth.engine.events import stream

    try:
        for event in stream(engine, filters, since, until):
            sys.stdout.write(_line(event, opts["format"]) + "\n")
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass
    return 0
