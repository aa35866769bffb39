"""`berth system service`: the Docker Engine API on a socket, a thread per connection, all of
them calling one Engine (the façade is thread-safe; containers outlive the service).

    unix:///run/berth/berth.sock (the default), unix:///PATH, tcp://127.0.0.1:PORT
    systemd socket activation: LISTEN_FDS / LISTEN_PID (the first fd passed)

The unix socket is 0660, root's, and the `berth` group's when there is one (Docker's model:
membership of that group is as good as root). TCP is served on loopback addresses, or on any
with TLS client certificates (dockerd's --tlsverify, --tlscacert, --tlscert, --tlskey)."""

from __future__ import annotations

import os
import socket
import threading
import time

from berth.api import routes
from berth.api.http import Connection
from berth.errors import InvalidArgument

DEFAULT_URI = "unix:///run/berth/berth.sock"
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
    def __init__(self, engine, sock: socket.socket, idle: float = 0.0, tls: Tls | None = None) -> None:
        self.engine, self.sock, self.idle, self.tls = engine, sock, idle, tls
        self.router = routes.Router(engine)
        self.active = 0
        self.lock = threading.Lock()
        self.last = time.monotonic()
        self.stopping = threading.Event()

    def serve(self) -> None:
        """Until stop() or `idle` seconds without a connection (0: never)."""
        self.sock.settimeout(0.5)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                with self.lock:
                    quiet = self.active == 0 and time.monotonic() - self.last > self.idle
                if self.idle and quiet:
                    return
                continue
            except OSError:
                if self.stopping.is_set():
                    return
                raise
            conn.settimeout(None)
            with self.lock:
                self.active += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap(conn)
                except OSError:  # no certificate, a wrong one, or not TLS at all: nothing is served
                    conn.close()
                    return
            Connection(conn, self.router.dispatch, routes.split_version).serve()
        finally:
            with self.lock:
                self.active -= 1
                self.last = time.monotonic()

    def stop(self) -> None:
        self.stopping.set()
