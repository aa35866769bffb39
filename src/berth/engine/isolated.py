"""Work that mounts, run in a child process with a mount namespace of its own, so that the
calling process's never changes (a server's threads share it; unshare refuses a threaded
process anyway) and whatever the work mounts goes away with the child, SIGKILL included.

    call("berth.engine.builds:build_here", {...}, out) -> the function's (JSON) value

The child runs `function(**kwargs)` (with `out=`, a binary stream whose bytes reach `out`, when
one is given) and sends back its value or its error, raised again here as the same berth error
class. A caller with one thread and no database open (the CLI's build) forks: ~1 ms, where a
fresh interpreter costs ~15 ms and its imports again. Any other caller (a server) starts a fresh
interpreter: a fork's child inherits other threads' held locks, and SQLite's per-process lock
bookkeeping for the databases the caller has open, so its own connections would take no real
locks (the bridge-retiring process once did exactly that).
SIGTERM or Ctrl-C here ends the child the same way (a SIGTERM to its main thread: a build's child
runs the Go parser's threads, and a signal the kernel hands one of them never wakes Python's main
thread), and KeyboardInterrupt is raised once the child is gone."""

from __future__ import annotations

import os
import sys

from berth import errors, fastjson

CHUNK = 1 << 16


def call(target: str, kwargs: dict, out=None):
    result_r, result_w = os.pipe()
    out_r, out_w = os.pipe() if out is not None else (-1, -1)
    try:
        pid = _start(target, kwargs, out_w, result_w)
    finally:
        os.close(result_w)
        if out_w >= 0:
            os.close(out_w)
    try:
        try:
            while out_r >= 0:
                data = os.read(out_r, CHUNK)
                if not data:
                    break
                out.write(data)
                out.flush()
            raw = _read_all(result_r)
            os.waitpid(pid, 0)
        except BaseException:
            _end(pid)
            raise
    finally:
        os.close(result_r)
        if out_r >= 0:
            os.close(out_r)
    return _outcome(raw)


def _start(target: str, kwargs: dict, out_w: int, result_w: int) -> int:
    import _thread

    from berth import db

    if _thread._count() == 0 and db.none_open():
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(target, kwargs, out_w, result_w)  # never returns
        return pid
    # the request goes over a socket, not in argv: a request (a build's options, a Dockerfile)
    # may be larger than the kernel lets an argv be
    from berth.engine.starting import program
    from berth.foreground import Prestarted

    child = Prestarted(program("berth.engine.isolated"))
    child.start([fastjson.dumps({"target": target, "kwargs": kwargs})], [result_w] + ([out_w] if out_w >= 0 else []))
    return child.child.pid


def main() -> None:
    """The fresh interpreter's side."""
    import _signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    _signal.signal(_signal.SIGTERM, stop)
    from berth.foreground import receive

    got = receive()
    if got is None:
        os._exit(0)  # the caller gave up before it asked anything
    (text,), fds = got
    request = fastjson.loads(text)
    _child(request["target"], request["kwargs"], fds[1] if len(fds) > 1 else -1, fds[0])


def _child(target: str, kwargs: dict, out_fd: int, result_fd: int) -> None:
    try:
        try:
            from berth.linux.mount import private_mount_namespace

            private_mount_namespace()
            module, _, name = target.partition(":")
            fn = getattr(__import__(module, fromlist=[name]), name)
            if out_fd >= 0:
                with os.fdopen(out_fd, "wb") as out:
                    value = fn(out=out, **kwargs)
            else:
                value = fn(**kwargs)
            reply = {"value": value}
        except errors.BerthError as e:
            reply = {"error": type(e).__name__, "message": str(e), "code": getattr(e, "exit_code", None)}
        except KeyboardInterrupt:
            reply = {"interrupted": True}
        except OSError as e:
            reply = {
                "error": "BerthError",
                "message": f"{e.strerror or e}{': ' + str(e.filename) if e.filename else ''}",
            }
        except BaseException as e:  # noqa: BLE001 - the child's edge: whatever happened goes back as one line
            reply = {"error": "BerthError", "message": f"internal error: {type(e).__name__}: {e}"}
        data = fastjson.dumps(reply).encode()
        while data:
            data = data[os.write(result_fd, data) :]
    finally:
        os._exit(0)


def _read_all(fd: int) -> bytes:
    parts = []
    while True:
        data = os.read(fd, CHUNK)
        if not data:
            return b"".join(parts)
        parts.append(data)


def _end(pid: int) -> None:
    """The caller was interrupted: the child is told the same, and waited for (it undoes its work)."""
    import _signal

    from berth.linux.signals import to_main_thread

    to_main_thread(pid, _signal.SIGTERM)  # the thread that runs Python's handlers, not a library's
    while True:
        try:
            os.waitpid(pid, 0)
            return
        except InterruptedError:
            continue
        except ChildProcessError:
            return
        except KeyboardInterrupt:
            continue  # a second Ctrl-C: still wait, the child is cleaning up


def _outcome(raw: bytes):
    if not raw:
        raise errors.BerthError("the engine's child process died before it answered")
    reply = fastjson.loads(raw)
    if reply.get("interrupted"):
        raise KeyboardInterrupt
    if "error" in reply:
        cls = getattr(errors, reply["error"], None)
        if not (isinstance(cls, type) and issubclass(cls, errors.BerthError)):
            cls = errors.BerthError
        e = cls(reply["message"])
        if reply.get("code") is not None:
            e.exit_code = reply["code"]
        raise e
    return reply["value"]
