"""`berth import [-c CHANGE] [-m MESSAGE] FILE|URL|- [REPOSITORY[:TAG]]`: a root
file system tarball (plain or compressed) as a one-layer image."""

from __future__ import annotations

import sys

from berth.argv import LIST, STR, Option, parse
from berth.errors import InvalidArgument, NotFound
from berth.image.importer import import_tarball

OPTIONS = [Option("change,c", LIST, help='apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE'),
           Option("message,m", STR, "", help="commit message"),
           Option("platform", STR, "", help="only the host's platform is supported")]  # fmt: skip


def main(store, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if not 1 <= len(args) <= 2:
        raise InvalidArgument('"import" requires at least 1 and at most 2 arguments: file|URL|- [REPOSITORY[:TAG]]')
    source, name = args[0], (args[1] if len(args) > 1 else "")
    if source == "-":
        stream = sys.stdin.buffer
    elif source.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            stream = urllib.request.urlopen(source, timeout=60)  # noqa: S310 - the user's URL
        except (urllib.error.URLError, OSError) as e:
            raise NotFound(f"import from {source}: {getattr(e, 'reason', e)}") from None
    else:
        try:
            stream = open(source, "rb")
        except FileNotFoundError:
            raise NotFound(f"open {source}: no such file or directory") from None
    with stream:
        image = import_tarball(store, stream, name, opts["change"], opts["message"], source)
    sys.stdout.write(image.id + "\n")
    return 0
