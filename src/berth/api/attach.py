"""POST /containers/{id}/attach: the client's connection, taken over, joined to the container's
monitor (berth.engine.attach): output as Docker frames it (by stream without a tty, raw with
one), input passed on as it comes, the client's half-close closing the container's stdin.

Docker lets a client attach to a container that is not running yet (`docker run` attaches, then
starts): such an attachment waits, and the container's start is then an attached start whose
monitor lets this client in before the container runs, so that nothing it writes is missed."""

from __future__ import annotations

import threading

from berth import streams
from berth.api.http import ApiError, Hijack, Request
from berth.errors import BerthError

_lock = threading.Lock()
_waiting: dict[str, _Waiting] = {}
WAIT_FOR_START = 600.0  # seconds an attachment waits for its container's start


class _Waiting:
    """An attachment to a container not started yet, and what its start hands over."""

    def __init__(self, stdin: bool) -> None:
        self.stdin = stdin
        self.ready = threading.Event()
        self.attachment = None
        self.ended = threading.Event()  # the run's end collected: `error` says why it could not start
        self.error = ""


# the exit codes of attached runs, for a `wait` whose container an --rm removed first
_exits: dict[str, int] = {}
KEPT_EXITS = 256


def last_exit(cid: str) -> int | None:
    with _lock:
        return _exits.get(cid)


def attach(engine, req: Request, ref: str) -> Hijack:
    if not req.flag("stream") and not req.flag("logs"):
        raise ApiError(400, "at least one of stream or logs must be set")
    c = engine.get(ref)
    want_stdin = req.flag("stdin") and bool(c.config.get("interactive"))
    tty = bool(c.config.get("tty"))
    kind = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    if c.status == "running":
        if c.paused:
            raise ApiError(409, "You cannot attach to a paused container, unpause it first")
        _, att = engine.attach(c.id, stdin=want_stdin)
        return Hijack(lambda sock, leftover: relay(att, sock, leftover, tty, want_stdin), kind)
    waiting = _Waiting(want_stdin)
    with _lock:
        if c.id in _waiting:
            raise ApiError(409, f"container {c.id} has an attachment waiting for its start already")
        _waiting[c.id] = waiting

    def take(sock, leftover: bytes) -> None:
        try:
            if not waiting.ready.wait(WAIT_FOR_START) or waiting.attachment is None:
                return
            relay(waiting.attachment, sock, leftover, tty, want_stdin, lambda: _say_error(waiting, sock, tty))
        finally:
            with _lock:
                if _waiting.get(c.id) is waiting:
                    del _waiting[c.id]
            sock.close()

    return Hijack(take, kind)


def start_waiting(engine, cid: str) -> bool:
    """Start `cid` attached if an attachment waits for it (True), its monitor then let go of in
    a thread of its own: the exit collected, and an --rm container removed."""
    with _lock:
        waiting = _waiting.pop(cid, None)
    if waiting is None:
        return False
    try:
        c, att, monitor = engine.start_attached(cid)
    except BaseException:
        waiting.ready.set()  # the client's connection ends: the start failed
        raise
    waiting.attachment = att
    waiting.ready.set()

    def collect() -> None:
        from berth.engine.autoremove import remove_exited

        code = None
        try:
            code = engine.end_attached(c, monitor, None)
        except BerthError as e:  # it could not start: the attached client is told, as dockerd's start would
            waiting.error = str(e)
            code = getattr(e, "exit_code", None)
        finally:
            if code is not None:
                with _lock:
                    _exits[c.id] = code
                    while len(_exits) > KEPT_EXITS:
                        del _exits[next(iter(_exits))]
            waiting.ended.set()
        if c.config.get("autoRemove"):
            remove_exited(engine, c.id)

    threading.Thread(target=collect, daemon=True).start()
    return True


def _say_error(waiting: _Waiting, sock, tty: bool) -> None:
    """Why the run could not start, on its stderr, before the connection closes."""
    if waiting.ended.wait(10) and waiting.error:
        data = waiting.error.encode() + b"\n"
        sock.sendall(data if tty else streams.frame(streams.STDERR, data))


def relay(att, sock, leftover: bytes, tty: bool, stdin: bool, before_close=None) -> None:
    """Until the container exits or either side goes away; `before_close()` once it has exited."""

    def feed() -> None:
        try:
            if leftover:
                att.send(streams.STDIN, leftover)
            while data := sock.recv(65536):
                att.send(streams.STDIN, data)
            att.send(streams.STDIN_CLOSED)
        except OSError:
            pass

    if stdin:
        threading.Thread(target=feed, daemon=True).start()
    reader = streams.Reader()
    try:
        while chunk := att.sock.recv(65536):
            for stream, payload in reader.feed(chunk):
                if stream == streams.EXIT:
                    if before_close is not None:
                        before_close()
                    return
                if stream in (streams.STDOUT, streams.STDERR):
                    sock.sendall(payload if tty else streams.frame(stream, payload))
    except OSError:
        pass  # the client went away: the container runs on
    finally:
        att.close()
        try:
            sock.shutdown(2)
        except OSError:
            pass
