"""The `berth` program: which front end a command line is for. `berth system service` serves
the Docker Engine API (berth.api.service), `berth cri` the Kubernetes CRI (berth.cri.service);
everything else is the CLI (berth.cli.main). Above
every front end, so that the CLI never imports a server, nor a server the CLI."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    from berth.argv import parse
    from berth.cli.main import GLOBAL
    from berth.cli.main import main as cli
    from berth.errors import BerthError

    try:
        opts, rest = parse(argv, GLOBAL)
    except BerthError:
        return cli(argv)  # the CLI says what is wrong with it
    if rest[:1] == ["cri"] and not opts["help"]:
        import os

        if os.geteuid() != 0:
            sys.stderr.write("Error: berth cri serves a kubelet and runs as root: rootless berth has no CRI server\n")
            return 1
        from berth.cri.service import main as serve_cri

        return serve_cri(opts, rest[1:])
    if rest[:2] != ["system", "service"] or opts["help"]:
        return cli(argv)
    import os

    if os.geteuid() != 0 or os.environ.get("BERTH_ROOTLESS") == "1":
        from berth.engine import rootless

        rootless.enter()  # an ordinary user's service: the user's engine, as the CLI's
        opts["root"] = opts["root"] or os.environ.get("BERTH_ROOT") or rootless.store_root()
    from berth.api.service import main as serve

    return serve(opts, rest[2:])
