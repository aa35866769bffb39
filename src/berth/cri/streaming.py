"""The CRI's streaming server: Exec, Attach and PortForward answer with a URL on it, and the client
(a kubelet, crictl) upgrades a request to that URL into the stream itself.

Each URL holds a one-time token for the request, kept for a minute (containerd's cache); the
server listens on loopback only. Two upgrades are spoken:

- SPDY/3.1 (`cri/spdy.py`) with Kubernetes' `v4.channel.k8s.io` (exec, attach) or
  `portforward.k8s.io`: the client opens a stream per channel, named by its `streamtype`
  header (error, stdin, stdout, stderr, resize; port-forward: a data and an error stream per
  connection, with `port` and `requestid` headers);
- WebSocket (wsproto) with `v5.channel.k8s.io` or `v4.channel.k8s.io` (exec, attach): every
  message starts with its channel's number (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize;
  v5's 255 closes a channel).

Both end an exec or an attach the same way: the error channel carries a Kubernetes Status, Success,
or Failure with the exit code (reason NonZeroExitCode), then the connection closes.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time

from berth import fastjson

TOKEN_TTL = 60.0
OPEN_TIMEOUT = 30.0  # seconds a client has to open the streams it announced
EXEC_PROTOCOLS = ("v4.channel.k8s.io",)
WS_PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
CHANNELS = {0: "stdin", 1: "stdout", 2: "stderr", 3: "error", 4: "resize"}


class Request:
    """What a token stands for: exec (a command), attach or port-forward, and the stream flags."""

    def __init__(self, kind: str, target: str, cmd: tuple[str, ...] = (), tty: bool = False, stdin: bool = False,
                 stdout: bool = True, stderr: bool = True) -> None:  # fmt: skip
        self.kind, self.target, self.cmd, self.tty = kind, target, cmd, tty
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr and not tty
        self.expires = time.monotonic() + TOKEN_TTL


class StreamServer:
    def __init__(self, engine, address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.engine = engine
        self.listener = socket.create_server(address)
        self.host, self.port = self.listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._requests: dict[str, Request] = {}
        threading.Thread(target=self._accept, name="stream-server", daemon=True).start()

    def url(self, request: Request) -> str:
        token = secrets.token_urlsafe(12)
        with self._lock:
            now = time.monotonic()
            for stale in [t for t, r in self._requests.items() if r.expires < now]:
                del self._requests[stale]
            self._requests[token] = request
        return f"http://{self.host}:{self.port}/{request.kind}/{token}"

    def close(self) -> None:
        self.listener.close()

    def _take(self, path: str) -> Request | None:
        kind, _, token = path.strip("/").partition("/")
        token = token.split("?")[0]
        with self._lock:
            request = self._requests.pop(token, None)
        if request is None or request.kind != kind or request.expires < time.monotonic():
            return None
        return request

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        import h11

        try:
            conn.settimeout(OPEN_TIMEOUT)
            parser, head, raw = _read_request(conn)
            if head is None:
                return
            request = self._take(head.target.decode("latin-1"))
            if request is None:
                _respond(conn, parser, 404, "no such stream: the URL is unknown, used or expired")
                return
            headers = _headers(head)
            upgrade = headers.get("upgrade", "").lower()
            if upgrade == "websocket" and request.kind != "portforward":
                self._websocket(conn, raw, request)
            elif upgrade.startswith("spdy/3"):
                self._spdy(conn, parser, headers, request)
            else:
                _respond(conn, parser, 400, "the stream needs an upgrade: SPDY/3.1, or websocket for exec and attach")
        except (OSError, ValueError, h11.ProtocolError):
            pass  # the client went away, or spoke no HTTP
        finally:
            conn.close()

    # -- SPDY ----------------------------------------------------------------------------
    def _spdy(self, conn, parser, headers: dict[str, str], request: Request) -> None:
        import h11

        from berth.cri import spdy

        offered = [p.strip() for p in headers.get("x-stream-protocol-version", "").split(",") if p.strip()]
        wanted = ("portforward.k8s.io",) if request.kind == "portforward" else EXEC_PROTOCOLS
        chosen = next((p for p in offered if p in wanted), None)
        if chosen is None:
            _respond(conn, parser, 403,
                     f"unable to negotiate protocol: client supports {offered}, server accepts {list(wanted)}")  # fmt: skip
            return
        conn.sendall(parser.send(h11.InformationalResponse(status_code=101, headers=[
            ("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"), ("X-Stream-Protocol-Version", chosen)])))  # fmt: skip
        session = spdy.Session(conn, parser.trailing_data[0])
        if request.kind == "portforward":
            conn.settimeout(None)
            _PortForward(self.engine, request, session).run()
            return
        channel = _SpdyChannels(session, request)
        events = session.events()
        if not channel.open_all(events):
            return
        conn.settimeout(None)
        _Relay(self.engine, request, channel).start()
        for event in events:
            channel.dispatch(event)
        channel.client_gone()

    # -- WebSocket -----------------------------------------------------------------------
    def _websocket(self, conn, raw: bytes, request: Request) -> None:
        from wsproto import ConnectionType, WSConnection
        from wsproto.events import AcceptConnection, RejectConnection
        from wsproto.events import Request as WsRequest

        ws = WSConnection(ConnectionType.SERVER)
        ws.receive_data(raw)  # the handshake, read again by wsproto (and what followed it)
        for event in ws.events():
            if isinstance(event, WsRequest):
                chosen = next((p for p in event.subprotocols if p in WS_PROTOCOLS), None)
                if chosen is None:
                    conn.sendall(ws.send(RejectConnection(status_code=403)))
                    return
                conn.sendall(ws.send(AcceptConnection(subprotocol=chosen)))
                channel = _WsChannels(conn, ws, chosen)
                conn.settimeout(None)
                _Relay(self.engine, request, channel).start()
                channel.pump()
                return


class _Channels:
    """What the client sends on a channel goes to its handler (data, or None at the client's end
    of it); what comes before the handler is there (the process is starting) waits for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: dict[str, object] = {}
        self._pending: dict[str, list] = {}

    def on(self, kind: str, handler) -> None:
        with self._lock:
            waiting = self._pending.pop(kind, [])
            self._handlers[kind] = handler
        for data in waiting:
            handler(data)

    def deliver(self, kind: str, data: bytes | None) -> None:
        with self._lock:
            handler = self._handlers.get(kind)
            if handler is None:
                self._pending.setdefault(kind, []).append(data)
                return
        handler(data)

    def client_gone(self) -> None:
        for kind in ("stdin", "resize"):
            self.deliver(kind, None)


class _SpdyChannels(_Channels):
    """exec and attach's channels as SPDY streams, by their `streamtype`."""

    def __init__(self, session, request: Request) -> None:
        super().__init__()
        self.session, self.request = session, request
        self.streams: dict[str, int] = {}
        self.kinds: dict[int, str] = {}

    def open_all(self, events) -> bool:
        """Until every stream the request implies is open (False if the client went first)."""
        want = {"error"} | {k for k in ("stdin", "stdout", "stderr") if getattr(self.request, k)}
        if self.request.tty:
            want.add("resize")
        for event in events:
            if event[0] == "open":
                kind = event[2].get("streamtype", "")
                self.streams[kind], self.kinds[event[1]] = event[1], kind
                self.session.reply(event[1])
                if want <= set(self.streams):
                    return True
        return False

    def dispatch(self, event) -> None:
        if event[0] == "data" and self.kinds.get(event[1]) in ("stdin", "resize"):
            kind = self.kinds[event[1]]
            if event[2]:
                self.deliver(kind, event[2])
            if event[3]:
                self.deliver(kind, None)

    def send(self, kind: str, data: bytes) -> None:
        if kind in self.streams and data:
            self.session.data(self.streams[kind], data)

    def finish(self, status: dict) -> None:
        try:
            for kind in ("stdout", "stderr"):
                if kind in self.streams:
                    self.session.data(self.streams[kind], b"", fin=True)
            self.session.data(self.streams["error"], fastjson.dumps(status).encode(), fin=True)
            self.session.goaway()
        except OSError:
            pass
        finally:
            _close(self.session.sock)


class _WsChannels(_Channels):
    """exec and attach's channels as WebSocket messages, each led by its channel's number."""

    def __init__(self, conn, ws, protocol: str) -> None:
        super().__init__()
        self.conn, self.ws, self.protocol = conn, ws, protocol
        self.lock = threading.Lock()
        self.partial = b""

    def _out(self, event) -> None:
        with self.lock:
            self.conn.sendall(self.ws.send(event))

    def pump(self) -> None:
        from wsproto.events import BytesMessage, CloseConnection, Ping

        while True:
            try:
                data = self.conn.recv(65536)
            except OSError:
                data = b""
            with self.lock:
                self.ws.receive_data(data or None)
                events = list(self.ws.events())
            for event in events:
                if isinstance(event, Ping):
                    self._out(event.response())
                elif isinstance(event, CloseConnection):
                    break
                elif isinstance(event, BytesMessage):
                    self.partial += bytes(event.data)
                    if event.message_finished:
                        self._message(self.partial)
                        self.partial = b""
            if not data or any(isinstance(e, CloseConnection) for e in events):
                self.client_gone()
                return

    def _message(self, message: bytes) -> None:
        if not message:
            return
        if message[0] == 255 and self.protocol.startswith("v5") and len(message) > 1:  # a channel closed
            if CHANNELS.get(message[1]) in ("stdin", "resize"):
                self.deliver(CHANNELS[message[1]], None)
            return
        if CHANNELS.get(message[0]) in ("stdin", "resize") and len(message) > 1:
            self.deliver(CHANNELS[message[0]], message[1:])

    def send(self, kind: str, data: bytes) -> None:
        from wsproto.events import BytesMessage

        if data:
            number = next(n for n, k in CHANNELS.items() if k == kind)
            self._out(BytesMessage(data=bytes([number]) + data))

    def finish(self, status: dict) -> None:
        from wsproto.events import BytesMessage, CloseConnection

        try:
            self._out(BytesMessage(data=b"\x03" + fastjson.dumps(status).encode()))
            self._out(CloseConnection(code=1000))
        except Exception:  # noqa: BLE001 - the client went away first
            pass
        finally:
            _close(self.conn)


class _Relay:
    """An exec's process, or an attachment to the container, joined to the channels: output sent
    as it comes, input and resizes passed on, and the Status at the end."""

    def __init__(self, engine, request: Request, channels) -> None:
        self.engine, self.request, self.channels = engine, request, channels

    def start(self) -> None:
        run = self._exec if self.request.kind == "exec" else self._attach
        threading.Thread(target=self._guarded, args=(run,), daemon=True).start()

    def _guarded(self, run) -> None:
        from berth.errors import BerthError

        try:
            code = run()
        except (BerthError, OSError) as e:
            self.channels.finish(_failure(str(e)))
            return
        self.channels.finish(_status(code, self.request.cmd))

    def _exec(self) -> int:
        from berth.engine import exec as execs

        r = self.request
        if r.tty:
            child, master = execs.start_on_terminal(self.engine, r.target, list(r.cmd), [], "", "", False)
            terminal = _Input(master, closes=False)  # the client's end of input is not the terminal's
            self.channels.on("stdin", terminal)
            self.channels.on("resize", _resizer(lambda rows, cols: execs.resize_terminal(master, rows, cols)))
            try:
                _copy(master, self.channels, "stdout")
                return child.wait()
            finally:
                terminal.close()
        stdin = os.pipe() if r.stdin else None
        out, err = os.pipe(), os.pipe()
        try:
            child = execs.start(self.engine, r.target, list(r.cmd), [], "", "", False, False,
                                stdin[0] if stdin else None, out[1], err[1])  # fmt: skip
        finally:
            for fd in ([stdin[0]] if stdin else []) + [out[1], err[1]]:
                os.close(fd)
        feed = _Input(stdin[1]) if stdin else None
        if feed is not None:
            self.channels.on("stdin", feed)
        errors = threading.Thread(target=_copy, args=(err[0], self.channels, "stderr"), daemon=True)
        errors.start()
        _copy(out[0], self.channels, "stdout")
        errors.join()
        for fd in (out[0], err[0]):
            os.close(fd)
        code = child.wait()
        if feed is not None:
            feed(None)
        return code

    def _attach(self) -> int:
        from berth import streams

        r = self.request
        _, att = self.engine.attach(r.target, stdin=r.stdin)
        if r.stdin:
            self.channels.on("stdin", lambda data: att.send(streams.STDIN, data) if data is not None
                             else att.send(streams.STDIN_CLOSED))  # fmt: skip
        self.channels.on("resize", _resizer(lambda rows, cols: att.send(streams.RESIZE, f"{rows} {cols}".encode())))
        reader = streams.Reader()
        try:
            while chunk := att.sock.recv(65536):
                for stream, payload in reader.feed(chunk):
                    if stream == streams.EXIT:
                        return 0  # the attachment ends with the container, successfully
                    self.channels.send("stderr" if stream == streams.STDERR and r.stderr else "stdout", payload)
        finally:
            att.close()
        return 0


class _PortForward:
    """portforward.k8s.io over SPDY: each connection of the client is a pair of streams (data and
    error) with one `requestid`; the data stream is joined to a connection to the port on the
    pod's localhost, the error stream says why one could not be made."""

    def __init__(self, engine, request: Request, session) -> None:
        self.engine, self.request, self.session = engine, request, session
        self.sockets: dict[int, socket.socket] = {}
        self.errors: dict[str, int] = {}  # requestid -> its error stream

    def run(self) -> None:
        try:
            for event in self.session.events():
                if event[0] == "open":
                    self._open(event[1], event[2])
                elif event[0] == "data":
                    sock = self.sockets.get(event[1])
                    if sock is not None:
                        try:
                            if event[2]:
                                sock.sendall(event[2])
                            if event[3]:
                                sock.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                elif event[0] == "reset" and event[1] in self.sockets:
                    _close(self.sockets.pop(event[1]))
        except OSError:
            pass
        finally:
            for sock in self.sockets.values():
                _close(sock)

    def _open(self, stream: int, headers: dict[str, str]) -> None:
        self.session.reply(stream)
        request_id = headers.get("requestid", "")
        if headers.get("streamtype") == "error":
            self.errors[request_id] = stream
            return
        try:
            port = int(headers.get("port", ""))
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            self._fail(request_id, stream, f"invalid port {headers.get('port', '')!r}")
            return
        from berth.errors import BerthError

        try:
            sock = self.engine.pods.connect(self.request.target, port)
        except BerthError as e:
            self._fail(request_id, stream, str(e))
            return
        self.sockets[stream] = sock
        threading.Thread(target=self._outward, args=(stream, sock), daemon=True).start()

    def _outward(self, stream: int, sock: socket.socket) -> None:
        try:
            while data := sock.recv(65536):
                self.session.data(stream, data)
            self.session.data(stream, b"", fin=True)
        except OSError:
            pass

    def _fail(self, request_id: str, stream: int, message: str) -> None:
        error = self.errors.get(request_id)
        try:
            if error is not None:
                self.session.data(error, message.encode(), fin=True)
            self.session.data(stream, b"", fin=True)
        except OSError:
            pass


def _status(code: int, cmd: tuple[str, ...]) -> dict:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: error executing command {list(cmd)}, exit code {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}  # fmt: skip


def _failure(message: str) -> dict:
    return {"metadata": {}, "status": "Failure", "reason": "InternalError", "message": message}


def _resizer(apply):
    """A resize channel's handler: JSON objects {"Width": W, "Height": H}, one after another."""
    pending = b""

    def handle(data: bytes | None) -> None:
        nonlocal pending
        if data is None:
            return
        pending += data
        while pending:
            try:
                size, end = _scan_json(pending)
            except ValueError:
                return  # incomplete: wait for the rest
            pending = pending[end:].lstrip()
            try:
                apply(int(size["Height"]), int(size["Width"]))
            except (KeyError, TypeError, ValueError, OSError):
                pass  # a bad size is ignored, as the kubelet's server does

    return handle


def _scan_json(data: bytes) -> tuple[dict, int]:
    text = data.decode(errors="replace")
    depth = 0
    for i, ch in enumerate(text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0 and ch == "}":
            return fastjson.loads(text[: i + 1]), len(text[: i + 1].encode())
    raise ValueError("incomplete")


def _copy(fd: int, channels, kind: str) -> None:
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: a terminal whose other side closed
            return
        if not data:
            return
        try:
            channels.send(kind, data)
        except OSError:
            return  # the client went away: the process runs on until it ends


class _Input:
    """A process's input: written as the client's stdin comes, closed once (at the client's end
    of stdin, or when the process has ended), from whichever thread comes first."""

    def __init__(self, fd: int, closes: bool = True) -> None:
        self.fd, self.closes = fd, closes
        self.lock = threading.Lock()

    def __call__(self, data: bytes | None) -> None:
        if data is None:
            if self.closes:
                self.close()
            return
        with self.lock:
            if self.fd >= 0:
                try:
                    os.write(self.fd, data)
                except OSError:
                    pass

    def close(self) -> None:
        with self.lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1


def _close(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _read_request(conn):
    """(the parser, the request's head, every byte read) once the head is in; (parser, None, b"")
    if the client went first."""
    import h11

    parser = h11.Connection(h11.SERVER, max_incomplete_event_size=65536)
    raw = b""
    while True:
        event = parser.next_event()
        if event is h11.NEED_DATA:
            chunk = conn.recv(65536)
            if not chunk:
                return parser, None, b""
            raw += chunk
            parser.receive_data(chunk)
            continue
        return parser, event if isinstance(event, h11.Request) else None, raw


def _headers(head) -> dict[str, str]:
    """Names lower-cased; repeated ones joined by commas."""
    out: dict[str, str] = {}
    for name, value in head.headers:
        key = name.decode("latin-1").lower()
        out[key] = f"{out[key]}, {value.decode('latin-1')}" if key in out else value.decode("latin-1")
    return out


def _respond(conn, parser, status: int, message: str) -> None:
    import h11

    body = message.encode() + b"\n"
    conn.sendall(parser.send(h11.Response(status_code=status, headers=[
        ("Content-Type", "text/plain"), ("Content-Length", str(len(body))), ("Connection", "close")]))
        + parser.send(h11.Data(data=body)) + parser.send(h11.EndOfMessage()))  # fmt: skip
