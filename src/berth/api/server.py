"""`berth system service`: the Docker Engine API on a socket, a thread per connection, all of
them calling one Engine (the façade is thread-safe; containers outlive the service).

    unix:///run/berth/berth.sock (the default), unix:///PATH, tcp://127.0.0.1:PORT
    systemd socket activation: LISTEN_FDS / LISTEN_PID (the first fd passed)

The unix socket is 0660, root's, and the `berth` group's when there is one (Docker's model:
membership of that group is as good as root). TCP is served on loopback addresses, or on any
with TLS client certificates (dockerd's --tlsverify, --tlscacert, --tlscert, --tlskey)."""

from __future__ import annotations

import os
import queue
import selectors
import socket
import threading
import time

from berth.api import routes
from berth.api.http import Connection
from berth.errors import InvalidArgument

DEFAULT_URI = "unix:///run/berth/berth.sock"
WORKER_NAME = "berth-api"  # the workers' thread name: /proc/PID/task/TID/comm
LISTEN_FDS_START = 3


class Tls:
    """The server's certificate and key, and with `verify` the CA that client certificates must
    be signed by (dockerd's --tlsverify)."""

    def __init__(self, cert: str, key: str, ca: str = "", verify: bool = False) -> None:
        import ssl

        if verify and not ca:
            raise InvalidArgument("--tlsverify needs --tlscacert: the CA that signs the clients' certificates")
        for flag, path in (("--tlscert", cert), ("--tlskey", key), ("--tlscacert", ca)):
            if path and not os.path.isfile(path):
                raise InvalidArgument(f"{flag} {path}: no such file")
        self.verify = verify
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            self.context.load_cert_chain(cert, key)
            if verify:
                self.context.verify_mode = ssl.CERT_REQUIRED
                self.context.load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError) as e:
            raise InvalidArgument(f"TLS: cannot load the certificates: {e}") from None

    def wrap(self, conn: socket.socket) -> socket.socket:
        """The handshake (bounded in time); an OSError (ssl.SSLError among them) if it fails."""
        conn.settimeout(10)
        wrapped = self.context.wrap_socket(conn, server_side=True)
        wrapped.settimeout(None)
        return wrapped


def listen(uri: str, tls: Tls | None = None) -> socket.socket:
    """The listening socket for `uri` (or the one systemd passed)."""
    if os.environ.get("LISTEN_PID") == str(os.getpid()) and int(os.environ.get("LISTEN_FDS", "0")) >= 1:
        return socket.socket(fileno=LISTEN_FDS_START)
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme not in ("unix", "tcp"):
        raise InvalidArgument(f"{uri}: the service listens on unix:///PATH or tcp://HOST:PORT")
    if scheme == "tcp":
        return _tcp(uri, rest, tls)
    path = rest
    if not path.startswith("/"):
        raise InvalidArgument(f"{uri}: a unix socket's path must be absolute")
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    _remove_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)  # 0660 from the start: no moment when others may connect
    try:
        sock.bind(path)
    finally:
        os.umask(old)
    try:
        import grp

        os.chown(path, 0, grp.getgrnam("berth").gr_gid)
    except KeyError:
        pass
    sock.listen(128)
    return sock


def _tcp(uri: str, rest: str, tls: Tls | None) -> socket.socket:
    import ipaddress

    host, _, port = rest.rstrip("/").rpartition(":")
    host = host.strip("[]")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
        number = int(port)
    except ValueError:
        raise InvalidArgument(f"{uri}: tcp://HOST:PORT with an IP address and a port number") from None
    if not loopback and not (tls and tls.verify):
        raise InvalidArgument(f"{uri}: berth serves TCP beyond loopback only with TLS client certificates "
                              "(--tlsverify --tlscacert --tlscert --tlskey): anyone who reaches the socket is root")  # fmt: skip
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, number))
    sock.listen(128)
    return sock


def _remove_stale(path: str) -> None:
    """A socket file left by a service that died: removed if nothing answers on it."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        os.unlink(path)
        return
    finally:
        probe.close()
    raise InvalidArgument(f"{path}: another service is listening on it already")


class Service:
    """Connections wait in a selector between requests and are answered by workers: a worker is
    busy only while a request is (a client may hold dozens of idle keep-alive connections: the
    docker SDK keeps one per URL). Workers are kept once started, as many as requests were ever
    in progress at once: each thread's database connections go with it, and SQLite holds a
    closed connection's descriptor while another connection has the file locked."""

    def __init__(self, engine, sock: socket.socket, idle: float = 0.0, tls: Tls | None = None) -> None:
        self.engine, self.sock, self.idle, self.tls = engine, sock, idle, tls
        self.router = routes.Router(engine)
        self.lock = threading.Lock()
        self.open = 0  # connections
        self.busy = 0  # requests in progress
        self.idle_workers = 0
        self.last = self.last_request = time.monotonic()
        self.trimmed = True
        self.stopping = threading.Event()
        self.ready: queue.SimpleQueue = queue.SimpleQueue()  # (connection, fresh) to answer
        self.selector = selectors.DefaultSelector()
        self.parked: queue.SimpleQueue = queue.SimpleQueue()  # connections to wait on
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_w.setblocking(False)  # a byte pending is enough: a full buffer is no reason to wait

    def serve(self) -> None:
        """Until stop() or `idle` seconds without a connection (0: never)."""
        self.sock.setblocking(False)
        self.selector.register(self.sock, selectors.EVENT_READ, None)
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self.stopping.is_set():
                for key, _ in self.selector.select(0.5):
                    if key.data is None:
                        self._accept()
                    elif key.data == "wake":
                        self.wake_r.recv(4096)
                    else:
                        self.selector.unregister(key.fileobj)
                        self._dispatch(key.data, fresh=False)
                while True:
                    try:
                        conn = self.parked.get_nowait()
                    except queue.Empty:
                        break
                    self.selector.register(conn.sock, selectors.EVENT_READ, conn)
                with self.lock:
                    now = time.monotonic()
                    quiet = self.open == 0 and now - self.last > self.idle
                    trim = not self.trimmed and self.busy == 0 and now - self.last_request > 1.0
                    self.trimmed = self.trimmed or trim
                if trim:  # a second without requests: what the allocator holds free goes back
                    from berth.engine import system

                    system.idle()
                if self.idle and quiet:
                    return
        finally:
            for key in list(self.selector.get_map().values()):
                if isinstance(key.data, Connection):
                    key.data.close()
            self.selector.close()

    def _accept(self) -> None:
        try:
            sock, _ = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(True)
        with self.lock:
            self.open += 1
        self._dispatch(sock, fresh=True)

    def _dispatch(self, item, fresh: bool) -> None:
        with self.lock:
            self.busy += 1
            spare = self.idle_workers > 0
            if spare:
                self.idle_workers -= 1
        if not spare:
            threading.Thread(target=self._worker, daemon=True, name="api-worker").start()
        self.ready.put((item, fresh))

    def _worker(self) -> None:
        from berth.engine import system

        system.name_thread(WORKER_NAME)
        while True:
            item, fresh = self.ready.get()
            try:
                self._answer(item, fresh)
            finally:
                with self.lock:
                    self.busy -= 1
                    self.idle_workers += 1
                    self.last_request = time.monotonic()
                    self.trimmed = False

    def _answer(self, item, fresh: bool) -> None:
        if fresh:
            if self.tls is not None:
                try:
                    item = self.tls.wrap(item)
                except OSError:  # no certificate, a wrong one, or not TLS at all: nothing is served
                    item.close()
                    self._closed()
                    return
            item = Connection(item, self.router.dispatch, routes.split_version)
        while item.serve_one():
            if not item.waiting():
                self.parked.put(item)  # the selector waits for its next request
                self._wake()
                return
        self._closed()

    def _closed(self) -> None:
        with self.lock:
            self.open -= 1
            self.last = time.monotonic()

    def _wake(self) -> None:
        try:
            self.wake_w.send(b"x")
        except OSError:  # BlockingIOError among them: the selector has a wake-up waiting already
            pass

    def stop(self) -> None:
        self.stopping.set()
        self._wake()
