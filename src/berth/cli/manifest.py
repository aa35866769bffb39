"""`berth manifest inspect [--tls-verify=false] NAME[:TAG|@DIGEST]`: the manifest (or index) as the registry has it."""

from __future__ import annotations

import sys

from berth.argv import BOOL, Option, parse
from berth.errors import InvalidArgument


def inspect(store, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("tls-verify", BOOL, True), Option("verbose,v", BOOL)], interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"manifest inspect" requires exactly 1 argument: NAME[:TAG|@DIGEST]')
    import json

    from berth.oci import reference
    from berth.registry.client import Client
    from berth.registry.config import api_host

    ref = reference.parse(args[0])
    client = Client(api_host(ref.domain), tls_verify=opts["tls_verify"])
    data, _media_type, _digest = client.get_manifest(ref.path, ref.digest or ref.tag)
    sys.stdout.write(json.dumps(json.loads(data), indent="\t") + "\n")
    return 0
