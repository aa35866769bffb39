"""`berth commit [-a AUTHOR] [-c CHANGE]... [-m MESSAGE] [-p=false] CONTAINER [REPOSITORY[:TAG]]`
and `berth diff CONTAINER`: a container's changes as an image, or as a list."""

from __future__ import annotations

import sys

from berth.argv import BOOL, LIST, STR, Option, parse
from berth.errors import InvalidArgument

OPTIONS = [
    Option("author,a", STR, "", help='author (e.g. "John Hannibal Smith <hannibal@a-team.com>")'),
    Option("change,c", LIST, help="apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE"),
    Option("message,m", STR, "", help="commit message"),
    Option("pause,p", BOOL, True, help="pause the container during commit"),
]


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if not 1 <= len(args) <= 2:
        raise InvalidArgument('"commit" requires at least 1 and at most 2 arguments: CONTAINER [REPOSITORY[:TAG]]')
    from berth.errors import NotFound
    from berth.image.commit import commit

    c = engine.get(args[0])
    try:
        base = engine.images.get(c.image) if c.image else None
    except NotFound:
        base = None
    paused = False
    if opts["pause"] and c.status == "running" and not c.paused:
        engine.pause(c.id)
        paused = True
    try:
        command = " ".join([*(c.config.get("entrypoint") or []), *(c.config.get("command") or [])])
        image = commit(engine.images, base, c.id, [args[1]] if len(args) > 1 else [], opts["change"],
                       opts["message"], opts["author"], created_by=command)  # fmt: skip
    finally:
        if paused:
            engine.pause(c.id, resume=True)
    sys.stdout.write(image.id + "\n")
    return 0


def diff(engine, argv: list[str]) -> int:
    _opts, args = parse(argv, [], interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"diff" requires exactly 1 argument: CONTAINER')
    from berth.image.commit import docker_diff

    c = engine.get(args[0])
    sys.stdout.write("".join(f"{kind} {path}\n" for kind, path in docker_diff(engine.images, c.id)))
    return 0
