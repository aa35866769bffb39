"""`berth manifest inspect [--tls-verify=false] NAME[:TAG|@DIGEST]`: the manifest (or index) as the registry has it."""

from __future__ import annotations

import sys

from berth.argv import BOOL, Option, parse
from berth.errors import InvalidArgument


def inspect(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("tls-verify", BOOL, True), Option("verbose,v", BOOL)], interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"manifest inspect" requires exactly 1 argument: NAME[:TAG|@DIGEST]')
    import json

    data = engine.images.manifest(args[0], opts["tls_verify"])
    sys.stdout.write(json.dumps(json.loads(data), indent="\t") + "\n")
    return 0
