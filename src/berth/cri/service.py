"""`berth cri [--listen unix:///run/berth/cri.sock]`: the CRI's RuntimeService and ImageService on
a unix socket (0660, as the Docker API's), until SIGTERM or SIGINT."""

from __future__ import annotations

import os
import signal
import sys
import threading

from berth.argv import STR, Option, parse
from berth.errors import BerthError, InvalidArgument

DEFAULT_LISTEN = "unix:///run/berth/cri.sock"
OPTIONS = [Option("listen", STR, DEFAULT_LISTEN, help="the unix socket to serve on")]


def main(global_opts: dict, argv: list[str]) -> int:
    try:
        opts, args = parse(argv, OPTIONS)
        if args:
            raise InvalidArgument('"cri" takes no arguments: the socket is --listen unix:///PATH')
        if not opts["listen"].startswith("unix:///"):
            raise InvalidArgument(f"--listen {opts['listen']!r}: berth cri serves on a unix socket (unix:///PATH)")
    except BerthError as e:
        sys.stderr.write(f"Error: {e}\n")
        return e.exit_code
    from concurrent import futures

    import grpc
    from cri_api.v1 import api_pb2_grpc

    from berth.cri.images import ImageService
    from berth.cri.runtime import RuntimeService
    from berth.engine import system
    from berth.engine.engine import Engine

    path = opts["listen"][len("unix://") :]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)  # a socket a killed server left (grpc would refuse to bind)
    root = global_opts["root"] or os.environ.get("BERTH_ROOT") or "/var/lib/berth"
    system.long_running()
    engine = Engine(root)
    threading.Thread(target=engine.recover, name="recover", daemon=True).start()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    api_pb2_grpc.add_RuntimeServiceServicer_to_server(RuntimeService(engine), server)
    api_pb2_grpc.add_ImageServiceServicer_to_server(ImageService(engine), server)
    old = os.umask(0o117)
    try:
        server.add_insecure_port(f"unix://{path}")
        server.start()
    finally:
        os.umask(old)
    stopped = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopped.set())
    sys.stderr.write(f"berth: serving the CRI on unix://{path}\n")
    sys.stderr.flush()
    stopped.wait()
    server.stop(5).wait()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    engine.close()
    return 0
