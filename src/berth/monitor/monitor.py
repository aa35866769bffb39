"""The per-container monitor. Started by the engine as a program (never imported
by it), it outlives the CLI, owns the container's stdio and logs, records the
exit code, and cleans up.

    python -m berth.monitor --id ID --dir DIR --runtime PATH --runtime-root DIR [--attach] [--stdin [--stdin-once]]
                            [--netns FD [--hold FD,...]] [--exit-command JSON-ARGV]
    python -m berth.monitor --prestarted

The engine starts it the second way, ahead of the container (berth.foreground.Prestarted):
it imports while the engine makes the container, then reads the arguments of the first way
from fd 3, with the fds they name (--netns and --hold count in those, from 0). Its socket
closed unread, it ends having made nothing.

It runs `RUNTIME --root DIR run --detach --bundle ... --pid-file ... ID` (runc's
command line: runc works too) and becomes the subreaper of the container's init.
The container's stdio are the monitor's pipes (stdin one only with --stdin, else
/dev/null) or a pty: the monitor logs the output and serves it on DIR/attach.sock
(monitor/attach.py), where clients attach and write to the container's stdin.
With --attach (a foreground `run` or `start -a`) it waits for the first client
before it starts the container, so that nothing the container writes is missed,
and runs the runtime in the foreground (`run` without --detach), which waits for
the container, hands it the signals the monitor gets and deletes it.

DIR is the container's directory, which the engine prepared:
    DIR/bundle/config.json   the OCI spec; DIR/bundle/rootfs is an empty directory
    DIR/rootfs-mounts.json   the snapshot's mounts (data, as the snapshotter gave them)
The monitor writes there:
    DIR/monitor.pid          its own pid, once the container's namespaces are being made
    DIR/init.pid             the container's init, once started
    DIR/container.log        the logs (monitor/logs.py: json-file, k8s-file or none, as DIR/log-config.json says)
    DIR/attach.sock          the attach socket, while the monitor runs
    DIR/exit.json            {"code": N, "finished": RFC3339} when the container has exited
    DIR/restarting.json      the same for the last run, while a restart policy waits to run it again
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

from berth import fastjson, streams
from berth.argv import BOOL, STR, Option, parse
from berth.clock import rfc3339
from berth.foreground import DEVNULL, Child, Foreground, Prestarted, reap, receive, spawn
from berth.fs import Flock, atomic_write
from berth.linux import mount as m
from berth.monitor.attach import AttachServer
from berth.monitor.logs import open_logger

OPTIONS = [Option("id", STR, ""), Option("dir", STR, ""), Option("runtime", STR, ""), Option("runtime-root", STR, ""),
           Option("attach", BOOL), Option("stdin", BOOL), Option("stdin-once", BOOL), Option("netns", STR, ""),
           Option("hold", STR, ""), Option("exit-command", STR, "")]  # fmt: skip
RESTARTING = "restarting.json"
# how long an attached start waits for the client that asked for it
_FIRST_CLIENT_TIMEOUT = 10.0
_NOT_FORWARDED = {_signal.SIGCHLD, _signal.SIGWINCH, _signal.SIGURG, _signal.SIGPIPE, _signal.SIGHUP}


def _prestart_runtime() -> Prestarted | None:
    """berth-runtime started ahead (its interpreter's start overlaps ours and the engine's work):
    berth's own, the one installed beside this Python, which the engine runs by default. It is
    started in our mount namespace, where the rootfs will be mounted; never a runtime named
    otherwise (runc), which gets its command line."""
    path = os.path.join(os.path.dirname(sys.executable), "berth-runtime")
    if not os.access(path, os.X_OK):
        return None
    return Prestarted([path, "--prestarted"], stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL)


def _foreground_priority(runtime: Prestarted | None) -> None:
    """A server starts us ahead at a low priority (niced), so that we import on spare CPU: the
    container's start is in the foreground, ours and the runtime's (started by us, niced too)."""
    if os.getpriority(os.PRIO_PROCESS, 0) <= 0:
        return
    for pid in (0, runtime.child.pid) if runtime is not None else (0,):
        try:
            os.setpriority(os.PRIO_PROCESS, pid, 0)
        except OSError:
            pass  # without CAP_SYS_NICE: niced it stays (the engine nices none then)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fds = None
    runtime = None
    if argv == ["--prestarted"]:  # the engine started us ahead of the container: our arguments come on ARGS_FD
        m.private_mount_namespace()  # first: the runtime started now must share it
        runtime = _prestart_runtime()
        got = receive()
        if got is None:
            if runtime is not None:
                runtime.close()
                runtime.child.wait()
            return 0  # not needed after all: nothing was made
        argv, fds = got
        _foreground_priority(runtime)
    else:
        m.private_mount_namespace()
    try:
        return _main(argv, fds, runtime)
    except BaseException as e:  # noqa: BLE001 - a monitor that dies must say why where the engine looks
        opts, _ = parse(argv, OPTIONS)
        if opts["dir"] and not os.path.exists(os.path.join(opts["dir"], "exit.json")):
            _failed(opts["dir"], f"monitor: {e.__class__.__name__}: {e}", 125)
        raise


def _main(argv: list[str], fds: list[int] | None, prestarted: Prestarted | None) -> int:
    """`fds`: the fds the engine handed over with the arguments (--netns and --hold count in it),
    None when the arguments were a command line (they are fd numbers then). `prestarted`: a
    runtime started ahead, for the first run if it is the runtime asked for. Runs in a mount
    namespace of the monitor's own (the host's mount table is never touched)."""
    opts, _ = parse(argv, OPTIONS)
    cid, cdir, runtime, rroot = opts["id"], opts["dir"], opts["runtime"], opts["runtime_root"]
    attach = opts["attach"]
    if os.getsid(0) != os.getpid():
        os.setsid()  # the engine may have made us a session leader already
    # the subreaper of the container's init; every signal caught (the engine's CLI may be gone: never
    # die of a closed terminal or pipe), the ones a client proxies passed on to the container
    fg = Foreground()
    bundle = os.path.join(cdir, "bundle")
    base = [runtime, "--root", rroot]
    for fd in opts["hold"].split(",") if opts["hold"] else ():
        os.set_inheritable(_fd(fds, fd), False)  # ours to hold; never the container's
    spec = _bundle_config(bundle)  # read once: the workdir, the terminal and the netns come from it
    if opts["netns"]:
        from berth.linux import ns

        fd = _fd(fds, opts["netns"])
        ns.setns(fd, ns.CLONE_NEWNET)
        os.close(fd)
        _point_at_our_netns(bundle, spec)
    try:
        with open(os.path.join(cdir, "rootfs-mounts.json"), "rb") as f:
            _mount_rootfs(fastjson.loads(f.read()), os.path.join(bundle, "rootfs"), spec)
    except OSError as e:
        return _failed(cdir, f"mounting the container's root file system: {e.strerror or e}", 125)
    _make_workdir(bundle, spec)
    atomic_write(os.path.join(cdir, "monitor.pid"), str(os.getpid()).encode())
    restarts_allowed = not attach  # a foreground run is never restarted
    restarts = 0
    logger = open_logger(cdir)
    # a terminal is never closed by a client's end of input (docker's -it: the container's shell goes on)
    terminal = bool(spec.get("process", {}).get("terminal"))
    server = AttachServer(cdir, stdin=opts["stdin"], stdin_once=opts["stdin_once"] and not terminal,
                          reopen_log=logger.reopen)  # fmt: skip
    code = None
    lock = None  # the first run is the engine's start, which holds the container's lock meanwhile
    try:
        if attach and not _first_client(server, fg):
            return _failed(cdir, "the container was stopped before it started", 128 + _signal.SIGTERM)
        while True:
            code = _run_once(cid, cdir, bundle, base, attach, logger, opts["stdin"], terminal, server, fg, lock,
                             prestarted)  # fmt: skip
            prestarted = None
            lock = None  # _run_once let it go once the container ran
            if code is None:  # the runtime failed: _failed has recorded why
                code = _read_code(cdir)
                return code
            _died(cid, cdir, code)
            lock = _lock_unless_stopping(cdir)
            # read at each exit: `update --restart` changes it while the container runs
            if not restarts_allowed or not _should_restart(_restart_policy(cdir), code, restarts, cdir):
                break
            restarts += 1
            atomic_write(os.path.join(cdir, "restart-count"), str(restarts).encode())
            # Docker's "restarting" state, until the container runs again (or never does)
            atomic_write(os.path.join(cdir, RESTARTING), fastjson.dumps({"code": code, "finished": rfc3339()}).encode())
            _release(lock)
            lock = None
            _back_off(cdir, min(0.1 * 2 ** min(restarts, 6), 5.0))  # Docker's doubling delay, capped
            lock = _lock_unless_stopping(cdir)
            if _stopping(cdir):  # a stop, kill or rm came during the delay: no more runs
                break
        atomic_write(os.path.join(cdir, "exit.json"), fastjson.dumps({"code": code, "finished": rfc3339()}).encode())
        return code
    finally:
        _release(lock)
        _not_restarting(cdir)
        watched = server.attached() > 0
        server.finish(code if code is not None else 125)  # after exit.json: clients may remove the container
        fg.close()
        if opts["exit_command"] and not watched:
            # conmon's --exit-command: what runs once the container is done for good (the engine's
            # `rm` of a --rm container), in a session of its own. Not when a client saw the exit:
            # the client removes it then (`run --rm` returns once it is gone, as docker's). It
            # starts in our mount namespace: the rootfs is unmounted first, or rm could not remove it.
            try:
                m.umount2(os.path.join(bundle, "rootfs"), m.MNT_DETACH)
            except OSError:
                pass
            spawn(fastjson.loads(opts["exit_command"]), stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, setsid=True)


def _mount_rootfs(mounts: list[dict], target: str, spec: dict) -> None:
    """The snapshot at the bundle's rootfs; for a container with a user namespace of its own,
    the image's layers idmapped to its ids (no copy of them is made), or where the kernel
    cannot (rootless berth: the store's file system is the host's), copies of them chowned to
    its ids, kept for the next container with the same maps."""
    linux = spec.get("linux") or {}
    if not linux.get("uidMappings"):  # (a user namespace joined has them too: berth.engine.userns.joined)
        m.mount_all(mounts, target)
        return
    from berth.linux.idmap import userns_fd

    def maps(key: str) -> tuple:
        return tuple((e["containerID"], e["hostID"], e["size"]) for e in linux.get(key, ()))

    fd = userns_fd(maps("uidMappings"), maps("gidMappings"))
    try:
        m.mount_all(mounts, target, fd, (maps("uidMappings"), maps("gidMappings")))
    finally:
        os.close(fd)


def _first_client(server: AttachServer, fg: Foreground) -> bool:
    """An attached start: the client that asked is connecting; start once it has (or it never will).
    False when told to stop first (SIGTERM or SIGINT, say from a build interrupted meanwhile)."""
    deadline = time.monotonic() + _FIRST_CLIENT_TIMEOUT
    while not server.attached() and time.monotonic() < deadline:
        ready, _, _ = select.select([*server.fds(), fg.wake_r], [], [], max(0.0, deadline - time.monotonic()))
        for fd in ready:
            if fd != fg.wake_r:
                server.handle(fd)
            elif any(sig in (_signal.SIGTERM, _signal.SIGINT) for sig in os.read(fd, 256)):
                return False
    return True


def _lock_unless_stopping(cdir: str) -> Flock | None:
    """The container's lock, for a restart or the recorded exit: the engine's state changes hold it,
    so none of them meets a container half restarted. A stop, kill or rm marks stopped-by-user,
    then holds the lock until this monitor records the exit: seeing the mark, go on without it."""
    lock = Flock(cdir)
    while not lock.try_acquire():
        if _stopping(cdir):
            return None
        time.sleep(0.01)
    return lock


def _not_restarting(cdir: str) -> None:
    try:
        os.unlink(os.path.join(cdir, RESTARTING))
    except FileNotFoundError:
        pass


def _release(lock: Flock | None) -> None:
    if lock is not None:
        lock.release()


def _stopping(cdir: str) -> bool:
    return os.path.exists(os.path.join(cdir, "stopped-by-user"))


def _fd(fds: list[int] | None, value: str) -> int:
    return fds[int(value)] if fds is not None else int(value)


def _back_off(cdir: str, delay: float) -> None:
    """Sleep before a restart, cut short by a stop, kill or rm: they must not wait out the delay."""
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and not _stopping(cdir):
        time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))


def _run_once(cid: str, cdir: str, bundle: str, base: list[str], attach: bool, logger, stdin: bool, terminal: bool,
              server: AttachServer, fg: Foreground, lock: Flock | None, prestarted: Prestarted | None) -> int | None:  # fmt: skip
    """Create and start the container once and wait for it; its exit code (None if it could not
    start). `lock`, if given, is let go once the runtime has started the container."""
    pid_file = os.path.join(cdir, "init.pid")
    in_r = in_w = -1
    if stdin and not terminal:
        in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pipes = [(out_r, "stdout"), (err_r, "stderr")]
    err_path = os.path.join(cdir, "runtime-error")
    console = _console_socket(cdir) if terminal else None
    console_args = ["--console-socket", console.getsockname()] if console else []
    # attached, the container's stderr is the runtime's too, so the runtime's errors go to its --log
    log_args = ["--log", err_path, "--log-format", "json"] if attach else []
    with open(err_path, "w"):
        # create and start in one runtime process: one interpreter start fewer than create + start.
        # Attached, in the foreground: the runtime waits for the container, forwards our signals to
        # it and deletes it, so no `delete` process follows (~20 ms of `run --rm`); detached, the
        # monitor waits itself, and no runtime process stays for the container's life.
        mode = ["run"] if attach else ["run", "--detach"]
        runtime = _start_runtime([*base, *log_args, *mode, *console_args, "--bundle", bundle, "--pid-file", pid_file, cid],
                                 in_r, out_w, err_w, prestarted)  # fmt: skip
    for fd in (in_r, out_w, err_w):
        if fd >= 0:
            os.close(fd)
    if in_w >= 0:
        os.set_blocking(in_w, False)  # see AttachServer.pending
        server.attach_stdin(in_w)
    master = _receive_master(console, runtime) if console else -1
    if master >= 0:
        server.set_master(master)
        if stdin:
            os.set_blocking(master, False)  # as the stdin pipe: see AttachServer.pending
            server.attach_stdin(master)
        pipes.append((master, "stdout"))  # a terminal has one stream, as Docker logs it
    if attach:
        code = _serve(runtime.pid, pipes, logger, server, fg)
        runtime.returncode = code
        with open(err_path) as f:
            failed = f.read().strip()
        if failed:
            message = _runtime_error(err_path, [])
            _failed(cdir, message, _exit_code_for(message))
            return None
        return code
    runtime.wait()
    _release(lock)
    _not_restarting(cdir)
    if runtime.returncode != 0:
        message = _runtime_error(err_path, pipes)
        _failed(cdir, message, _exit_code_for(message))
        return None
    init_pid = int(open(pid_file).read())
    from berth.monitor.health import Health

    health = Health.load(cdir, base, cid)
    try:
        code = _serve(init_pid, pipes, logger, server, fg, health)
    finally:
        if health is not None:
            health.stop()
    spawn([*base, "delete", "--force", cid], stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL).wait()
    return code


def _start_runtime(argv: list[str], stdin: int, stdout: int, stderr: int, prestarted: Prestarted | None) -> Child:
    """The runtime process with these stdio (stdin -1: /dev/null): the prestarted one if it is
    the runtime asked for (it takes the stdio as fds), else a new one."""
    if prestarted is not None and prestarted.child.args[0] == argv[0]:
        null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC) if stdin < 0 else -1
        try:
            return prestarted.start(argv[1:], [stdin if stdin >= 0 else null, stdout, stderr])
        finally:
            if null >= 0:
                os.close(null)
    if prestarted is not None:
        prestarted.close()  # it ends; reaped with the others
    return spawn(argv, stdin=stdin if stdin >= 0 else DEVNULL, stdout=stdout, stderr=stderr)


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
    if name in ("", "no") or _stopping(cdir):
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


def _serve(pid: int, pipes: list[tuple[int, str]], logger, server: AttachServer, fg: Foreground,
           health=None) -> int:  # fmt: skip
    """Log the container's output and hand it to the attached clients, take their input, pass the
    signals the monitor gets on to `pid`, run health checks if any, until `pid` has exited and its
    output is drained; its exit code."""
    fds = dict(pipes)
    code = reap(pid)
    while fds or code is None:
        if health is not None and code is None:
            health.tick()
        watch = [*fds, *server.fds(), fg.wake_r]
        try:
            ready, writable, _ = select.select(
                watch, server.waiting_to_write(), [], 0.2 if health is not None else None
            )
        except InterruptedError:
            continue
        if writable:
            server.flush()
        for fd in ready:
            if fd in fds:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: a pty whose other side has closed
                    data = b""
                if data:
                    logger.write(fds[fd], data)
                    server.broadcast(streams.STDOUT if fds[fd] == "stdout" else streams.STDERR, data)
                else:
                    os.close(fd)
                    del fds[fd]
            elif fd == fg.wake_r:
                for sig in os.read(fd, 256):
                    if sig not in _NOT_FORWARDED and code is None:
                        try:
                            os.kill(pid, sig)
                        except ProcessLookupError:
                            pass
            elif fd in server.clients or fd == server.sock.fileno():
                server.handle(fd)
        if code is None:
            code = reap(pid)
    logger.flush()
    server.close_stdin()
    server.master = -1
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
        os.path.join(cdir, "exit.json"),
        fastjson.dumps({"code": code, "finished": rfc3339(), "error": message}).encode(),
    )
    return code
