"""The per-container monitor. Started by the engine as a program (never imported
by it), it outlives the CLI, owns the container's stdio and logs, records the
exit code, and cleans up.

    python -m berth.monitor --id ID --dir DIR --runtime PATH --runtime-root DIR [--attach [--stdin]]
                            [--netns FD [--hold FD,...]]

It runs `RUNTIME --root DIR run --detach --bundle ... --pid-file ... ID` (runc's
command line: runc works too) and becomes the subreaper of the container's init.

DIR is the container's directory, which the engine prepared:
    DIR/bundle/config.json   the OCI spec; DIR/bundle/rootfs is an empty directory
    DIR/rootfs-mounts.json   the snapshot's mounts (data, as the snapshotter gave them)
The monitor writes there:
    DIR/monitor.pid          its own pid, once the container's namespaces are being made
    DIR/init.pid             the container's init, once started
    DIR/container.log        the logs (monitor/logs.py: json-file, k8s-file or none, as DIR/log-config.json says)
    DIR/exit.json            {"code": N, "finished": RFC3339} when the container has exited
    DIR/error                one line, when the container could not be started

On a bridge network the engine has made the container's network namespace: the monitor inherits
it as fd --netns, enters it and writes its own /proc/PID/ns/net into the spec in place of the
placeholder berth.monitor.MONITOR_NETNS, so the container joins it (restarts included) and `exec`
finds it; --hold lists sockets on published host ports, kept while the monitor lives.

The rootfs is mounted in a mount namespace of the monitor's own (the host's
mount table is never touched); the runtime, started from there, makes the
container's mount namespace as a copy of it.
"""

from __future__ import annotations

import _signal
import os
import select
import sys
import time

from berth import fastjson
from berth.argv import BOOL, STR, Option, parse
from berth.foreground import DEVNULL, Foreground, reap, spawn
from berth.fs import atomic_write
from berth.linux import mount as m
from berth.linux import prctl
from berth.monitor.logs import now, open_logger

OPTIONS = [Option("id", STR, ""), Option("dir", STR, ""), Option("runtime", STR, ""), Option("runtime-root", STR, ""),
           Option("attach", BOOL), Option("stdin", BOOL), Option("netns", STR, ""), Option("hold", STR, "")]  # fmt: skip


def mount_rootfs(mounts: list[dict], target: str) -> None:
    """Mount the snapshot at target, in this process's own mount namespace."""
    m.private_mount_namespace()
    m.mount_all(mounts, target)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BaseException as e:  # noqa: BLE001 - a monitor that dies must say why where the engine looks
        opts, _ = parse(sys.argv[1:] if argv is None else argv, OPTIONS)
        if opts["dir"] and not os.path.exists(os.path.join(opts["dir"], "exit.json")):
            _failed(opts["dir"], f"monitor: {e.__class__.__name__}: {e}", 125)
        raise


def _main(argv: list[str] | None) -> int:
    opts, _ = parse(sys.argv[1:] if argv is None else argv, OPTIONS)
    cid, cdir, runtime, rroot = opts["id"], opts["dir"], opts["runtime"], opts["runtime_root"]
    attach = opts["attach"]
    if not attach and os.getsid(0) != os.getpid():
        os.setsid()  # the engine may have made us a session leader already
    prctl.set_child_subreaper()
    # the engine's CLI may be gone: never die of a closed terminal or pipe
    for sig in (_signal.SIGHUP, _signal.SIGPIPE):
        _signal.signal(sig, _signal.SIG_IGN)
    bundle = os.path.join(cdir, "bundle")
    base = [runtime, "--root", rroot]
    for fd in opts["hold"].split(",") if opts["hold"] else ():
        os.set_inheritable(int(fd), False)  # ours to hold; never the container's
    spec = _bundle_config(bundle)  # read once: the workdir, the terminal and the netns come from it
    if opts["netns"]:
        from berth.linux import ns

        fd = int(opts["netns"])
        ns.setns(fd, ns.CLONE_NEWNET)
        os.close(fd)
        _point_at_our_netns(bundle, spec)
    try:
        with open(os.path.join(cdir, "rootfs-mounts.json"), "rb") as f:
            mount_rootfs(fastjson.loads(f.read()), os.path.join(bundle, "rootfs"))
    except OSError as e:
        return _failed(cdir, f"mounting the container's root file system: {e.strerror or e}", 125)
    _make_workdir(bundle, spec)
    atomic_write(os.path.join(cdir, "monitor.pid"), str(os.getpid()).encode())
    policy = _restart_policy(cdir) if not attach else {}
    restarts = 0
    logger = None if attach else open_logger(cdir)
    while True:
        code = _run_once(cid, cdir, bundle, base, attach, logger, opts["stdin"], spec)
        if code is None:  # the runtime failed: _failed has recorded why
            return _read_code(cdir)
        _died(cid, cdir, code)
        if not _should_restart(policy, code, restarts, cdir):
            break
        restarts += 1
        atomic_write(os.path.join(cdir, "restart-count"), str(restarts).encode())
        time.sleep(min(0.1 * 2 ** min(restarts, 6), 5.0))  # Docker's doubling delay, capped
    atomic_write(os.path.join(cdir, "exit.json"), fastjson.dumps({"code": code, "finished": now()}).encode())
    return code


def _run_once(
    cid: str, cdir: str, bundle: str, base: list[str], attach: bool, logger, stdin: bool, spec: dict
) -> int | None:
    """Create and start the container once and wait for it; its exit code (None if it could not start)."""
    pid_file = os.path.join(cdir, "init.pid")
    if attach:
        # the container shares the monitor's stdio (the attached CLI's); its stdin only with -i
        stdio = {} if stdin else {"stdin": DEVNULL}
        pipes = []
    else:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stdio = {"stdin": DEVNULL, "stdout": out_w, "stderr": err_w}
        pipes = [(out_r, "stdout"), (err_r, "stderr")]
    fg = None
    if attach:
        fg = Foreground()
    err_path = os.path.join(cdir, "runtime-error")
    terminal = bool(spec.get("process", {}).get("terminal"))
    console = _console_socket(cdir) if terminal else None
    console_args = ["--console-socket", console.getsockname()] if console else []
    # attached, the container's stderr is ours, so the runtime's errors go to its --log
    log_args = ["--log", err_path, "--log-format", "json"] if attach else []
    with open(err_path, "w"):
        # create and start in one runtime process: one interpreter start fewer than create + start.
        # Attached, in the foreground: the runtime waits for the container, forwards our signals to
        # it and deletes it, so no `delete` process follows (~20 ms of `run --rm`); detached, the
        # monitor waits itself, and no runtime process stays for the container's life.
        mode = ["run"] if attach else ["run", "--detach"]
        runtime = spawn([*base, *log_args, *mode, *console_args, "--bundle", bundle, "--pid-file", pid_file, cid],
                        stdin=stdio.get("stdin"), stdout=stdio.get("stdout"), stderr=stdio.get("stderr"))  # fmt: skip
        master = _receive_master(console, runtime) if console else -1
        if attach:
            return _wait_attached(cdir, err_path, runtime, fg, master)
        runtime.wait()
    os.close(out_w)
    os.close(err_w)
    if runtime.returncode != 0:
        message = _runtime_error(err_path, pipes)
        _failed(cdir, message, _exit_code_for(message))
        return None
    init_pid = int(open(pid_file).read())
    if master >= 0:
        for fd, _ in pipes:
            os.close(fd)
        pipes = [(master, "stdout")]  # a terminal has one stream, as Docker logs it
    from berth.monitor.health import Health

    health = Health.load(cdir, base, cid)
    try:
        code = _pump_and_wait(init_pid, pipes, logger, health)
    finally:
        if health is not None:
            health.stop()
    spawn([*base, "delete", "--force", cid], stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL).wait()
    return code


def _wait_attached(cdir: str, err_path: str, runtime, fg, master: int) -> int | None:
    """The foreground runtime's exit code, which is the container's; None if the runtime failed
    (it says so in its --log: the container's own exit codes never do)."""
    if master >= 0:
        fg.attach_terminal(master)  # the CLI's terminal (or stdio) <-> the container's pty
    code = fg.wait(runtime.pid)  # our signals go to the runtime, which hands them to the container
    runtime.returncode = code
    with open(err_path) as f:
        failed = f.read().strip()
    if failed:
        message = _runtime_error(err_path, [])
        fg.close()
        _failed(cdir, message, _exit_code_for(message))
        return None
    return code


def _died(cid: str, cdir: str, code: int) -> None:
    """Docker's `die` event, in the log of the root the container's directory is in."""
    from berth import events

    try:
        with open(os.path.join(cdir, "actor.json"), "rb") as f:
            attrs = fastjson.loads(f.read())
    except (OSError, ValueError):
        attrs = {}
    events.record(os.path.dirname(os.path.dirname(cdir)), "container", "die", cid, {**attrs, "exitCode": str(code)})


def _restart_policy(cdir: str) -> dict:
    try:
        with open(os.path.join(cdir, "restart-policy"), "rb") as f:
            return fastjson.loads(f.read())
    except FileNotFoundError:
        return {}


def _should_restart(policy: dict, code: int, restarts: int, cdir: str) -> bool:
    """Docker's --restart: no, on-failure[:N], always, unless-stopped; never after `stop` or `kill`."""
    name = policy.get("Name", "no")
    if name in ("", "no") or os.path.exists(os.path.join(cdir, "stopped-by-user")):
        return False
    if name == "on-failure":
        return code != 0 and (not policy.get("MaximumRetryCount") or restarts < policy["MaximumRetryCount"])
    return name in ("always", "unless-stopped")


def _read_code(cdir: str) -> int:
    try:
        with open(os.path.join(cdir, "exit.json"), "rb") as f:
            return int(fastjson.loads(f.read()).get("code", 125))
    except (OSError, ValueError):
        return 125


def _make_workdir(bundle: str, spec: dict) -> None:
    """Docker makes a missing working directory (-w) before the container starts; the runtime,
    as runc, refuses a cwd that is not there. Made inside the root (symlinks never lead out)."""
    cwd = spec.get("process", {}).get("cwd") or "/"
    rootfs = os.path.join(bundle, "rootfs")
    if cwd == "/" or os.path.lexists(os.path.join(rootfs, cwd.lstrip("/"))):
        return
    from berth.fs import open_or_make_in_root
    from berth.linux.syscalls import Syscalls

    root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(open_or_make_in_root(Syscalls(), root, cwd))
    except OSError:
        pass  # a read-only root, say: the runtime says what is wrong
    finally:
        os.close(root)


def _point_at_our_netns(bundle: str, doc: dict) -> None:
    """The spec's network namespace becomes ours (the placeholder, or the path an earlier monitor of
    this container wrote): the runtime and `exec` join it by path."""
    for entry in doc.get("linux", {}).get("namespaces", []):
        if entry.get("type") == "network":
            entry["path"] = f"/proc/{os.getpid()}/ns/net"
            atomic_write(os.path.join(bundle, "config.json"), fastjson.dumps(doc).encode())


def _bundle_config(bundle: str) -> dict:
    with open(os.path.join(bundle, "config.json"), "rb") as f:
        return fastjson.loads(f.read())


def _console_socket(cdir: str):
    """Where the runtime sends the pty master (runc's console-socket protocol).

    In a private directory of its own, not the container's: a unix socket path
    must fit in 108 bytes. Never an abstract socket (CVE-2020-15257).
    """
    import socket
    import tempfile

    path = os.path.join(tempfile.mkdtemp(prefix="berth-console-"), "s")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    return sock


def _receive_master(sock, runtime) -> int:
    """The pty master, or -1 if the runtime failed before it sent one."""
    import socket

    path = sock.getsockname()
    sock.settimeout(0.1)
    try:
        while True:
            try:
                conn, _ = sock.accept()
                break
            except TimeoutError:
                if runtime.poll() is not None:
                    return -1
        with conn:
            conn.settimeout(None)  # init sends it only once the rootfs is ready
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
        return fds[0] if fds else -1
    finally:
        sock.close()
        os.unlink(path)
        os.rmdir(os.path.dirname(path))


def _pump_and_wait(init_pid: int, pipes: list[tuple[int, str]], logger, health=None) -> int:
    """Copy the container's output into the log until it exits, running health checks if any; its exit code."""
    fds = {fd: name for fd, name in pipes}
    code = None
    while fds or code is None:
        if health is not None and code is None:
            health.tick()
        if fds:
            ready, _, _ = select.select(list(fds), [], [], 0.2)
            for fd in ready:
                data = os.read(fd, 65536)
                if data:
                    logger.write(fds[fd], data)
                else:
                    os.close(fd)
                    del fds[fd]
        if code is None:
            code = reap(init_pid, block=not fds and health is None)
            if code is None and not fds:
                time.sleep(0.2)
    logger.flush()
    return code


def _runtime_error(err_path: str, pipes: list[tuple[int, str]]) -> str:
    text = open(err_path).read()
    for fd, _ in pipes:
        try:
            text += os.read(fd, 65536).decode(errors="replace")
        finally:
            os.close(fd)
    lines = [fastjson.loads(line)["msg"] if line.startswith("{") else line.removeprefix("berth-runtime: ")
             for line in text.strip().splitlines() if line.strip()]  # fmt: skip
    return lines[-1] if lines else "the runtime failed"


def _exit_code_for(message: str) -> int:
    """Docker's: 127 for a command that is not there, 126 for one that cannot run."""
    if "executable file not found" in message or "no such file or directory" in message.lower():
        return 127
    if "permission denied" in message.lower() or "is a directory" in message:
        return 126
    return 125


def _failed(cdir: str, message: str, code: int) -> int:
    atomic_write(os.path.join(cdir, "error"), message.encode())
    atomic_write(
        os.path.join(cdir, "exit.json"), fastjson.dumps({"code": code, "finished": now(), "error": message}).encode()
    )
    return code
