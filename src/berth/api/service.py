"""`berth system service [--time SECONDS] [URI]`: podman's command, serving the Docker Engine
API until stopped (SIGTERM, SIGINT) or idle for --time seconds (0: never; 5 by default, as
podman's)."""

from __future__ import annotations

import os
import signal
import sys

from berth.argv import BOOL, INT, STR, Option, parse
from berth.errors import BerthError, InvalidArgument

OPTIONS = [
    Option("time,t", INT, 5, help="seconds without a client before the service exits (0: never)"),
    Option("tls", BOOL, help="serve TCP with TLS (implied by --tlsverify)"),
    Option("tlsverify", BOOL, help="serve TCP with TLS and require client certificates signed by --tlscacert"),
    Option("tlscacert", STR, "", help="the CA that signs the clients' certificates"),
    Option("tlscert", STR, "", help="the server's certificate"),
    Option("tlskey", STR, "", help="the server's key"),
]


def main(global_opts: dict, argv: list[str]) -> int:
    from berth.api.server import DEFAULT_URI, Service, Tls, listen
    from berth.engine.engine import Engine

    try:
        opts, args = parse(argv, OPTIONS)
        if len(args) > 1:
            raise InvalidArgument('"system service" accepts at most one argument: the URI to listen on')
        if opts["time"] < 0:
            raise InvalidArgument("--time must be 0 (never) or a number of seconds")
        uri = args[0] if args else _default_uri(DEFAULT_URI)
        root = global_opts["root"] or os.environ.get("BERTH_ROOT") or "/var/lib/berth"
        if global_opts["runtime"]:
            os.environ["BERTH_RUNTIME"] = global_opts["runtime"]
        tls = None
        if opts["tls"] or opts["tlsverify"]:
            if not uri.startswith("tcp://"):
                raise InvalidArgument("TLS is for tcp:// addresses: a unix socket is guarded by its mode and group")
            if not (opts["tlscert"] and opts["tlskey"]):
                raise InvalidArgument("TLS needs the server's --tlscert and --tlskey")
            tls = Tls(opts["tlscert"], opts["tlskey"], opts["tlscacert"], opts["tlsverify"])
        sock = listen(uri, tls)
    except BerthError as e:
        sys.stderr.write(f"Error: {e}\n")
        return e.exit_code
    except OSError as e:
        sys.stderr.write(f"Error: {uri}: {e.strerror or e}\n")
        return 1
    from berth.engine import system

    system.long_running()
    engine = Engine(root)
    # what a service killed mid-create, mid-pull or mid-load left; collect waits for the store's
    # writers (a build or pull of the CLI's) to end, so this runs beside the service, not before it
    import threading

    def recover() -> None:
        engine.recover()
        engine.images.collect()

    threading.Thread(target=recover, name="recover", daemon=True).start()
    service = Service(engine, sock, float(opts["time"]), tls)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: service.stop())
    verify = " DOCKER_TLS_VERIFY=1" if tls and tls.verify else ""
    sys.stderr.write(f"berth: serving the Docker API on {uri}\nexport DOCKER_HOST={uri}{verify}\n")
    sys.stderr.flush()
    try:
        service.serve()
    finally:
        sock.close()
        if uri.startswith("unix://") and not os.environ.get("LISTEN_FDS"):
            try:
                os.unlink(uri[len("unix://") :])
            except FileNotFoundError:
                pass
        engine.close()
    return 0


def _default_uri(root_default: str) -> str:
    """Root's /run/berth/berth.sock, or a rootless user's $XDG_RUNTIME_DIR/berth/berth.sock
    (Podman's place for its own)."""
    from berth.engine import rootless

    if not rootless.active():
        return root_default
    return "unix://" + os.path.join(rootless.runtime_dir(), os.path.basename(root_default))
