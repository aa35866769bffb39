"""/containers/{id}/exec and /exec/{id}: Docker's two-step exec. An exec's record (its command,
and once started its pid and exit code) lives in the service's memory, as in dockerd's; the
process itself is the runtime's `exec`, with the client's connection, taken over, as its stdio:
raw with a tty (the runtime proxies the pty to it), else through pipes, its output framed by
stream."""

from __future__ import annotations

import os
import threading
import time

from berth import streams
from berth.api.http import ApiError, Hijack, Request, Response, json_response
from berth.engine.container import ExecStartError

_lock = threading.Lock()
_execs: dict[str, dict] = {}


def create(engine, req: Request, ref: str) -> Response:
    body = req.json()
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    if not cmd or not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
        raise ApiError(400, "No exec command specified")
    env = body.get("Env") or []
    if not isinstance(env, list) or not all(isinstance(e, str) for e in env):
        raise ApiError(400, "json: cannot unmarshal value into Go struct field ExecConfig.Env of type []string")
    c = engine.get(ref)
    if c.status != "running":
        raise ApiError(409, f"Container {c.id} is not running")
    if c.paused:
        raise ApiError(409, f"Container {c.id} is paused, unpause the container before exec")
    exec_id = os.urandom(32).hex()
    with _lock:
        _execs[exec_id] = {"ID": exec_id, "ContainerID": c.id, "Running": False, "ExitCode": None, "Pid": 0,
                           "OpenStdin": bool(body.get("AttachStdin")), "OpenStdout": bool(body.get("AttachStdout")),
                           "OpenStderr": bool(body.get("AttachStderr")), "CanRemove": False,
                           "ProcessConfig": {"tty": bool(body.get("Tty")), "entrypoint": cmd[0], "arguments": cmd[1:],
                                             "privileged": bool(body.get("Privileged")), "user": body.get("User") or ""},
                           "_env": env, "_workdir": body.get("WorkingDir") or ""}  # fmt: skip
    return json_response({"Id": exec_id}, 201)


def _get(exec_id: str) -> dict:
    with _lock:
        record = _execs.get(exec_id)
    if record is None:
        raise ApiError(404, f"No such exec instance: {exec_id}")
    return record


def inspect(engine, req: Request, exec_id: str) -> Response:
    record = _get(exec_id)
    return json_response({k: v for k, v in record.items() if not k.startswith("_")})


def start(engine, req: Request, exec_id: str):
    record = _get(exec_id)
    body = req.json()
    with _lock:
        if record["Running"] or record["ExitCode"] is not None:
            raise ApiError(409, f"exec {exec_id} has already been started")
        record["Running"] = True
    tty = bool(body.get("Tty", record["ProcessConfig"]["tty"]))
    pc = record["ProcessConfig"]
    args = [pc["entrypoint"], *pc["arguments"]]

    def launch(stdin: int, stdout: int, stderr: int):
        from berth.engine import exec as execs

        return execs.start(engine, record["ContainerID"], args, record["_env"], pc["user"], record["_workdir"], tty,
                           pc["privileged"], stdin, stdout, stderr)  # fmt: skip

    if body.get("Detach"):
        try:
            child = launch(None, None, None)
        except ExecStartError:
            _finish(record, 126)
            raise
        record["Pid"] = child.pid
        threading.Thread(target=lambda: _finish(record, _code(child.wait())), daemon=True).start()
        return Response(200, content_type="")
    return Hijack(lambda sock, leftover: _attached(engine, record, launch, tty, sock, leftover),
                  "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream")  # fmt: skip


def _failed_to_start(sock, message: bytes) -> None:
    """An exec that could not start says why on its stream, as dockerd's does. Not together with
    the response's head: clients read the head through a buffered reader and take the raw socket
    over after it, so bytes that came with the head are lost to them (dockerd's message follows
    runc's failure, tens of ms later)."""
    time.sleep(0.05)
    sock.sendall(message)


def _code(status: int) -> int:
    return 128 - status if status < 0 else status


def _finish(record: dict, code: int) -> None:
    with _lock:
        record["Running"], record["ExitCode"] = False, code


def _attached(engine, record: dict, launch, tty: bool, sock, leftover: bytes) -> None:
    """The exec on the client's connection until it exits; the connection is closed after."""
    try:
        if tty:
            _on_terminal(engine, record, sock, leftover)
        else:
            _piped(record, launch, sock, leftover)
    finally:
        try:
            sock.shutdown(2)
        except OSError:
            pass
        sock.close()


def _on_terminal(engine, record: dict, sock, leftover: bytes) -> None:
    """The runtime gives the exec's pty master here: relayed to the connection (whatever it is:
    unix, TCP, TLS), sized by POST /exec/ID/resize."""
    from berth.engine import exec as execs

    pc = record["ProcessConfig"]
    try:
        child, master = execs.start_on_terminal(engine, record["ContainerID"],
                                                [pc["entrypoint"], *pc["arguments"]], record["_env"], pc["user"],
                                                record["_workdir"], pc["privileged"])  # fmt: skip
    except ExecStartError as e:
        _failed_to_start(sock, f"{e}\r\n".encode())
        _finish(record, 126)
        return
    record["Pid"], record["_master"] = child.pid, master
    if record.get("_size"):
        execs.resize_terminal(master, *record["_size"])

    def feed() -> None:
        try:
            if leftover:
                os.write(master, leftover)
            while data := sock.recv(65536):
                os.write(master, data)
        except OSError:
            pass

    threading.Thread(target=feed, daemon=True).start()
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal's other side is gone
                break
            if not data:
                break
            sock.sendall(data)
    except OSError:
        pass  # the client went away: the process goes on until it ends by itself, as with dockerd
    code = _code(child.wait())
    with _lock:
        record["_master"] = None
    os.close(master)
    _finish(record, code)


def resize(engine, req: Request, exec_id: str) -> Response:
    from berth.engine import exec as execs

    record = _get(exec_id)
    rows, cols = req.int_arg("h", 0), req.int_arg("w", 0)
    if not (0 < rows < 65536 and 0 < cols < 65536):
        raise ApiError(400, "invalid terminal size: h and w must be between 1 and 65535")
    if not record["ProcessConfig"]["tty"]:
        raise ApiError(400, f"exec {exec_id} has no terminal to resize")
    with _lock:
        master = record.get("_master")
        if master is None:
            record["_size"] = (rows, cols)  # for the terminal when it comes
            return Response(200, content_type="")
        execs.resize_terminal(master, rows, cols)
    return Response(200, content_type="")


def _piped(record: dict, launch, sock, leftover: bytes) -> None:
    in_r, in_w = os.pipe() if record["OpenStdin"] else (-1, -1)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        child = launch(in_r if in_r >= 0 else None, out_w, err_w)
    except ExecStartError as e:
        _failed_to_start(sock, streams.frame(streams.STDERR, f"{e}\n".encode()))
        _finish(record, 126)
        for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
            if fd >= 0:
                os.close(fd)
        return
    record["Pid"] = child.pid
    for fd in (in_r, out_w, err_w):
        if fd >= 0:
            os.close(fd)
    send_lock = threading.Lock()

    def relay(src: int, stream: int) -> None:
        try:
            while data := os.read(src, 65536):
                with send_lock:
                    sock.sendall(streams.frame(stream, data))
        except OSError:
            pass  # the client went away: the process's writes fail, and it ends as it would
        finally:
            os.close(src)

    def feed() -> None:
        try:
            if leftover:
                os.write(in_w, leftover)
            while data := sock.recv(65536):
                os.write(in_w, data)
        except OSError:
            pass
        finally:
            os.close(in_w)

    relays = [threading.Thread(target=relay, args=(out_r, streams.STDOUT), daemon=True),
              threading.Thread(target=relay, args=(err_r, streams.STDERR), daemon=True)]  # fmt: skip
    for t in relays:
        t.start()
    if in_w >= 0:
        threading.Thread(target=feed, daemon=True).start()
    code = _code(child.wait())
    for t in relays:
        t.join()
    _finish(record, code)
