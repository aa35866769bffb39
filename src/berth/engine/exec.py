"""`exec`: a process in a running container through its runtime's `exec` (runc's command line),
on the caller's stdio. Docker's 126 and 127 are found before the runtime runs, by looking the
command up in the container's own root."""

from __future__ import annotations

import os

from berth import fastjson
from berth.engine import user_lookup
from berth.engine.container import RUNNING, SPEC, ExecStartError
from berth.errors import FailedPrecondition, InvalidArgument


def run(engine, ref: str, args: list[str], env: list[str], user: str, workdir: str, detach: bool, tty: bool,
        privileged: bool) -> int:  # fmt: skip
    """On this process's stdio: the exit code (128+N for a signal)."""
    argv = command(engine, ref, args, env, user, workdir, detach, tty, privileged)
    # posix_spawn, not subprocess: exec is a hot path and subprocess costs ~6 ms to import
    pid = os.posix_spawn(argv[0], argv, os.environ)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def start(engine, ref: str, args: list[str], env: list[str], user: str, workdir: str, tty: bool, privileged: bool,
          stdin: int | None, stdout: int | None, stderr: int | None):  # fmt: skip
    """With these fds as its stdio (a server's sockets or pipes; None: /dev/null; with `tty`, the
    runtime proxies the pty to them): the runtime's process (berth.foreground.Child), for the
    caller to wait for."""
    from berth.foreground import DEVNULL, spawn

    stdio = [DEVNULL if fd is None else fd for fd in (stdin, stdout, stderr)]
    return spawn(command(engine, ref, args, env, user, workdir, False, tty, privileged), *stdio)


def start_on_terminal(engine, ref: str, args: list[str], env: list[str], user: str, workdir: str,
                      privileged: bool, timeout: float = 30.0):  # fmt: skip
    """With a terminal whose master comes back here (the runtime's --console-socket): (the
    runtime's process, the pty's master) for a server that relays it and sizes it."""
    import shutil
    import socket
    import tempfile
    import time

    from berth.foreground import DEVNULL, spawn

    scratch = tempfile.mkdtemp(prefix="berth-console-")
    path = os.path.join(scratch, "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(path)
        listener.listen(1)
        listener.settimeout(0.05)
        child = spawn(command(engine, ref, args, env, user, workdir, False, True, privileged, path),
                      DEVNULL, DEVNULL, DEVNULL)  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn, _ = listener.accept()
                break
            except TimeoutError:
                if child.poll() is not None or time.monotonic() > deadline:
                    if child.returncode is None:
                        os.kill(child.pid, 9)
                        child.wait()
                    raise ExecStartError(
                        f"the runtime's exec ended before it gave its terminal ({child.returncode})"
                    ) from None
        with conn:
            conn.settimeout(timeout)
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
        if not fds:
            child.wait()
            raise ExecStartError("the runtime's exec sent no terminal")
        return child, fds[0]
    finally:
        listener.close()
        shutil.rmtree(scratch, ignore_errors=True)


def resize_terminal(master: int, rows: int, cols: int) -> None:
    import fcntl
    import struct
    import termios

    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def command(engine, ref: str, args: list[str], env: list[str], user: str, workdir: str, detach: bool, tty: bool,
            privileged: bool, console_socket: str = "") -> list[str]:  # fmt: skip
    """The runtime's `exec` argv, after Docker's checks: a running container, a command that
    exists in it (126 and 127 as ExecStartError before anything runs)."""
    c = engine.get(ref)
    if c.status != RUNNING:
        raise FailedPrecondition(f"Container {c.id} is not running")
    if not args:
        raise InvalidArgument('"exec" requires at least 2 arguments.')
    _check_executable(c, args[0], env)
    argv = [engine.runtime_of(c), "--root", engine.runtime_root, "exec"]
    for e in env:
        argv += ["--env", e]
    if workdir:
        argv += ["--cwd", workdir]
    if user:
        uid, gid, _groups = user_lookup.resolve(engine.store, user, c.id)
        argv += ["--user", f"{uid}:{gid}"]
    if privileged:  # every capability berth may hand on, as run --privileged (seccomp stays the container's)
        from berth.engine.spec import host_caps

        for cap in host_caps():
            argv += ["--cap", cap]
    if detach:
        argv.append("--detach")
    if tty:
        argv.append("--tty")  # berth-runtime proxies the pty to its stdio itself, or gives it to console_socket
    if console_socket:
        argv += ["--console-socket", console_socket]
    return [*argv, c.id, *args]


def _check_executable(c, name: str, extra_env: list[str] | tuple[str, ...]) -> None:
    """Docker's 126/127 before the runtime runs: looked up in the container's own root."""
    from berth.linux.openat2 import open_in_root

    with open(os.path.join(c.dir, SPEC), "rb") as f:
        env = list(fastjson.loads(f.read())["process"].get("env", [])) + list(extra_env)
    path = next((e[5:] for e in reversed(env) if e.startswith("PATH=")), "/usr/bin:/bin")
    candidates = [name] if "/" in name else [f"{d or '.'}/{name}" for d in path.split(":")]
    root = os.open(f"/proc/{c.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for cand in candidates:
            try:
                fd = open_in_root(root, cand, os.O_PATH)
            except OSError:
                continue
            os.close(fd)
            return
    finally:
        os.close(root)
    problem = f"stat {name}: no such file or directory" if "/" in name else "executable file not found in $PATH"
    raise ExecStartError(f'OCI runtime exec failed: exec failed: unable to start container process: exec: "{name}": '
                         f"{problem}: unknown")  # fmt: skip
