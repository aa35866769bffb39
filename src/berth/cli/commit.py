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
    from berth.engine.container_files import CommitRequest, commit

    req = CommitRequest(tags=tuple(args[1:]), changes=tuple(opts["change"]), message=opts["message"],
                        author=opts["author"], pause=opts["pause"])  # fmt: skip
    sys.stdout.write(commit(engine, args[0], req) + "\n")
    return 0


def diff(engine, argv: list[str]) -> int:
    _opts, args = parse(argv, [], interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"diff" requires exactly 1 argument: CONTAINER')
    from berth.engine.container_files import changes

    sys.stdout.write("".join(f"{kind} {path}\n" for kind, path in changes(engine, args[0])))
    return 0
