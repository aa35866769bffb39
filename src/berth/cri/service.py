"""`berth cri [--listen unix:///run/berth/cri.sock] [--config /etc/berth/cri.toml]`: the CRI's
RuntimeService and ImageService on a unix socket (0660, as the Docker API's), until SIGTERM or
SIGINT. As it starts, it runs the CNI DELs that containers ended while no one watched still owe."""

from __future__ import annotations

import os
import signal
import sys
import threading

from berth.argv import STR, Option, parse
from berth.errors import BerthError, InvalidArgument

OPTIONS = [Option("listen", STR, "", help="the unix socket to serve on (unix:///run/berth/cri.sock)"),
           Option("config", STR, "", help="the settings file (/etc/berth/cri.toml)")]  # fmt: skip


def main(global_opts: dict, argv: list[str]) -> int:
    from berth.cri import config as settings

    try:
        opts, args = parse(argv, OPTIONS)
        if args:
            raise InvalidArgument('"cri" takes no arguments: the socket is --listen unix:///PATH')
        config = settings.load(opts["config"])
        listen = opts["listen"] or config.listen
        if not listen.startswith("unix:///"):
            raise InvalidArgument(f"--listen {listen!r}: berth cri serves on a unix socket (unix:///PATH)")
    except BerthError as e:
        sys.stderr.write(f"Error: {e}\n")
        return e.exit_code
    from concurrent import futures

    import grpc
    from cri_api.v1 import api_pb2_grpc

    from berth.cri.images import ImageService
    from berth.cri.runtime import RuntimeService
    from berth.cri.streaming import StreamServer
    from berth.engine import system
    from berth.engine.engine import Engine

    path = listen[len("unix://") :]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)  # a socket a killed server left (grpc would refuse to bind)
    root = global_opts["root"] or os.environ.get("BERTH_ROOT") or "/var/lib/berth"
    system.long_running()
    engine = Engine(root)
    engine.keep_monitor_warm()

    def recover() -> None:
        engine.recover()
        engine.collect_cni()

    threading.Thread(target=recover, name="recover", daemon=True).start()
    try:
        streams = StreamServer(engine, config.stream_address)
    except OSError as e:
        sys.stderr.write(f"Error: the streaming server cannot listen on {config.stream_address}: {e.strerror}\n")
        return 1
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    api_pb2_grpc.add_RuntimeServiceServicer_to_server(RuntimeService(engine, config, streams), server)
    api_pb2_grpc.add_ImageServiceServicer_to_server(ImageService(engine, config), server)
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
    streams.close()
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    engine.close()
    return 0
