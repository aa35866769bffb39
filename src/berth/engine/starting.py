"""Starting a container: its last run's files cleared, its network sandbox made, and its monitor
started (detached, or with the caller's client attached before the container runs). A part of
berth.engine.engine.Engine.

The monitor is a program with an argv contract (berth.monitor.monitor), never imported here:
started ahead (warm_monitor, berth.foreground.Prestarted) it imports while the container is made,
and gets its arguments and the sandbox's fds once the container is ready to start."""

from __future__ import annotations

import os
import sys
import time

from berth import fastjson
from berth.engine import user_lookup
from berth.engine.container import PAUSED, RUNNING, Container, ContainerError
from berth.errors import FailedPrecondition
from berth.fs import atomic_write, unlink_if_present

BACKGROUND_NICE = 19  # a monitor started ahead by a server, until it has its arguments
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def program(module: str) -> list[str]:
    """argv that runs `module`'s main(): -S, no site (~2 ms); berth's own directory is all it imports from."""
    return [sys.executable, "-S", "-c",
            f"import sys; sys.path.insert(0, {_PACKAGE_DIR!r}); from {module} import main; sys.exit(main())"]  # fmt: skip


def bridged(mode: str) -> bool:
    """On a bridge network (the default or a user network), not none, host, cni, slirp4netns or
    container:NAME."""
    return mode not in ("none", "host", "cni", "slirp4netns") and not mode.startswith("container:")


class Starting:
    def _monitor(self, c: Container, attach: bool, sandbox=None):
        """The container's monitor, in a session of its own; attached, it waits for our client before
        it starts the container. With a sandbox (a bridge network's namespace and held ports), it
        is handed those fds."""
        args = ["--id", c.id, "--dir", c.dir, "--runtime", self.runtime_of(c), "--runtime-root", self.runtime_root]
        if attach:
            args.append("--attach")
        if c.config.get("interactive"):
            # -i: the container's stdin is the monitor's pipe (else /dev/null, as Docker's); for an
            # attached run, the client closing its input closes the container's (Docker's StdinOnce)
            args += ["--stdin", "--stdin-once"] if attach or c.config.get("stdinOnce") else ["--stdin"]
        if c.config.get("autoRemove"):
            # --rm: the monitor removes the container once it has exited for good, unattached
            remove = [*program("berth.engine.autoremove"), self.root, c.id]
            args += ["--exit-command", fastjson.dumps(remove)]
        fds: list[int] = []
        if sandbox is not None:
            fds = sandbox.fds  # counted from 0 in the monitor's arguments
            args += ["--netns", "0"] + (["--hold", ",".join(map(str, range(1, len(fds))))] if sandbox.held else [])
        with self._opening:
            warm = self._warm.pop(0) if self._warm else None
        return (warm or self._prestart()).start(args, fds)

    def warm_monitor(self) -> None:
        """Start the next container's monitor now, so that its interpreter's start overlaps the
        caller's making of the container (`berth run`: create, then start); it waits for its
        arguments until then, and ends unused at close()."""
        with self._opening:
            if not self._warm:
                self._warm.append(self._prestart())

    def keep_monitor_warm(self, count: int = 2) -> None:
        """A server's engine: `count` monitors are kept started ahead from now on, a pod's worth
        (its infra container's and its container's), so that neither of a pod's starts waits for
        an interpreter, and none is started beside them: the starts that empty the pool fill it
        again once their container runs, when the pod is made. Started by a server, they import
        niced, on the CPU its work leaves, and take their priority back with their arguments
        (root may: CAP_SYS_NICE)."""
        self._keep_warm = count
        self._refill()

    def _refill(self) -> None:
        with self._opening:
            while len(self._warm) < self._keep_warm:
                warm = self._prestart()
                if os.geteuid() == 0 and not os.environ.get("BERTH_ROOTLESS"):
                    os.setpriority(os.PRIO_PROCESS, warm.child.pid, BACKGROUND_NICE)
                self._warm.append(warm)

    @staticmethod
    def _prestart():
        # posix_spawn (foreground), not subprocess: run is a hot path and subprocess costs ~6 ms to import
        from berth.foreground import DEVNULL, Prestarted

        return Prestarted([*program("berth.monitor.monitor"), "--prestarted"], stdin=DEVNULL, stdout=DEVNULL,
                          stderr=DEVNULL, setsid=True)  # fmt: skip

    def start(self, ref: str, attach: bool = False) -> int:
        """Start; attached (this process's stdio, no detach keys; its signal handlers and terminal
        left alone), wait and return the exit code, else return once it runs."""
        if attach:
            from berth.engine import attach as attaching

            c, att, monitor = self.start_attached(ref)
            tty = bool(c.config.get("tty"))
            return self.end_attached(c, monitor, attaching.pump(att, tty=tty, stdin=bool(c.config.get("interactive"))))
        lock, c = self._held(ref)
        with lock:
            if c.status == RUNNING:
                return 0
            self._prepare_start(c, lambda sandbox: self._start_monitor(c, sandbox))
        return 0

    def start_attached(self, ref: str):
        """Start with a client attached before the container runs (nothing it writes is missed):
        (container, berth.engine.attach.Attachment, the monitor process)."""
        from berth.engine import attach as attaching

        lock, c = self._held(ref)
        with lock:  # until our client is in: the monitor starts the container then
            if c.status == RUNNING:
                raise FailedPrecondition(f"container {c.id} is already running")
            monitor = self._prepare_start(c, lambda sandbox: self._monitor(c, attach=True, sandbox=sandbox),
                                          attached=True)  # fmt: skip
            try:
                att = attaching.connect(c.dir, bool(c.config.get("interactive")), alive=lambda: monitor.poll() is None)
            except FileNotFoundError:
                monitor.wait()
                self._raise_start_error(c)
                raise
        att.monitor_pid = monitor.pid
        return c, att, monitor

    def reopen_log(self, ref: str) -> None:
        """The running container's monitor opens its log file again at its path (the CRI's
        ReopenContainerLog, after the kubelet moved the old file away); returns once it has."""
        from berth import streams
        from berth.engine import attach as attaching

        c = self.get(ref)
        if c.status != RUNNING:
            raise FailedPrecondition(f"container {c.id} is not running: its log is not open")
        try:
            att = attaching.connect(c.dir, False, timeout=2.0)
        except FileNotFoundError:
            raise FailedPrecondition(f"container {c.id} is not running: its log is not open") from None
        try:
            att.send(streams.REOPEN_LOG)
            reader = streams.Reader()
            while chunk := att.sock.recv(65536):
                for stream, _payload in reader.feed(chunk):
                    if stream == streams.LOG_REOPENED:
                        return
                    if stream == streams.EXIT:
                        break
            raise FailedPrecondition(f"container {c.id} exited before its log was reopened")
        finally:
            att.close()

    def attach(self, ref: str, stdin: bool = True):
        """A client of a running container's monitor: (container, Attachment)."""
        from berth.engine import attach as attaching

        c = self.get(ref)
        if c.status != RUNNING:
            raise FailedPrecondition("You cannot attach to a stopped container, start it first")
        if c.paused:
            raise FailedPrecondition("You cannot attach to a paused container, unpause it first")
        self._event(c, "attach")
        return c, attaching.connect(c.dir, stdin and bool(c.config.get("interactive")), timeout=2.0)

    def resize(self, ref: str, rows: int, cols: int) -> None:
        """The size of a running container's terminal (through its monitor, which holds the pty)."""
        from berth import streams
        from berth.engine import attach as attaching

        c = self.get(ref)
        if not c.config.get("tty"):
            return  # Docker accepts it, and there is nothing to size
        # a container being started counts: its monitor keeps the size for the pty to come
        # (docker run -it sizes the terminal as soon as its start returns)
        try:
            att = attaching.connect(c.dir, False, timeout=0.0) if c.status != "exited" else None
        except FileNotFoundError:
            att = None
        if att is None:
            raise FailedPrecondition(f"cannot resize container {c.id}: it is not running")
        try:
            att.send(streams.RESIZE, f"{rows} {cols}".encode())
        finally:
            att.close()

    def end_attached(self, c: Container, monitor, code: int | None) -> int:
        """After an attached start's client has seen the exit (or the monitor gone): the exit code."""
        monitor.wait()
        self._raise_start_error(c)
        if code is None:
            code = int((self.get(c.id).exit or {}).get("code", 125))
        return code

    def _prepare_start(self, c: Container, begin, attached: bool = False):
        """Clear the last run's files, set up the network sandbox and run `begin(sandbox)`."""
        user_lookup.resolve_pending(self.store, c)
        self._join_donors(c)
        for name in (
            "exit.json",
            "error",
            "init.pid",
            "monitor.pid",
            "stopped-by-user",
            "restart-count",
            "restarting.json",
            "health.json",
            PAUSED,
        ):
            unlink_if_present(os.path.join(c.dir, name))
        sandbox = self._sandbox(c)
        try:
            if attached:
                self._event(c, "attach")  # docker's order: attach, then start
                self._event(c, "start")  # attached: it runs until it exits, now or never
                result = begin(sandbox)
            else:
                result = begin(sandbox)
            if self._keep_warm and not self._warm:
                self._refill()
            self._network_joined(c, sandbox)
            if not attached:
                self._event(c, "start")  # detached: once it runs, as Docker records it
            return result
        except BaseException:
            if sandbox is not None and sandbox.joining is not None:
                sandbox.settle()
                self.networking.cni_down(c)
            raise
        finally:
            if sandbox is not None:
                sandbox.close()  # the monitor holds its own copies

    def _network_joined(self, c: Container, sandbox) -> None:
        """A CNI network is joined while the container starts (its plugins take as long as the
        start): once both are done, a container whose network failed is killed, with the error."""
        if sandbox is None or sandbox.joining is None:
            return
        try:
            sandbox.settle(raise_error=True)
        except BaseException:
            atomic_write(os.path.join(c.dir, "stopped-by-user"), b"")  # not restarted by a policy
            self._runtime(c, "kill", "--all", c.id, "KILL")
            self.wait(c.id, 30)
            raise

    def _join_donors(self, c: Container) -> None:
        """Namespaces taken from another container (container:NAME, a pod's) are those of its init as
        it runs now: the donor may have been restarted since the spec was written. A pod's infra
        container is started first."""
        if c.config.get("pod") and not c.config.get("podInfra"):
            from berth.errors import NotFound

            try:
                pod = self.pods.get(c.config["pod"])
            except NotFound:
                raise FailedPrecondition(f"the pod of container {c.name} is gone") from None
            self.pods.start_infra(pod)
        donors = {kind: mode[len("container:") :] for kind in ("pid", "ipc", "uts", "network")
                  if (mode := c.config.get(kind) or "").startswith("container:")}  # fmt: skip
        if not donors:
            return
        from berth.engine.container import SPEC
        from berth.fs import atomic_write

        path = os.path.join(c.dir, SPEC)
        with open(path, "rb") as f:
            doc = fastjson.loads(f.read())
        for ns in doc.get("linux", {}).get("namespaces", []):
            if ns.get("type") in donors:
                proc = {"network": "net"}.get(ns["type"], ns["type"])
                ns["path"] = f"/proc/{self._init_pid_of(donors[ns['type']])}/ns/{proc}"
            elif ns.get("type") == "user" and ns.get("path"):  # the first donor's (berth.engine.userns.joined)
                ns["path"] = f"/proc/{self._init_pid_of(next(iter(donors.values())))}/ns/user"
        atomic_write(path, fastjson.dumps(doc).encode())

    def _sandbox(self, c: Container):
        """The network namespace and held ports of a container on a bridge network (None on none,
        host or another container's), for its monitor to inherit; the caller closes it."""
        if c.config.get("network") == "cni":
            return self.networking.cni_up(c)
        if c.config.get("network") == "slirp4netns":
            return self.networking.slirp_up(c, self._hostname(c))
        if not bridged(c.config.get("network", "")):
            return None
        try:
            return self.networking.up(c, self._hostname(c))
        except FailedPrecondition as e:
            if "Bind for" not in str(e):
                raise
            raise ContainerError(
                f"driver failed programming external connectivity on endpoint {c.name} ({c.id}): {e}", 125
            ) from None

    def _hostname(self, c: Container) -> str:
        return (c._read("hostname") or c.id[:12]).strip()

    def _start_monitor(self, c: Container, sandbox) -> int:
        from berth.engine import children

        proc = self._monitor(c, attach=False, sandbox=sandbox)
        children.adopt(proc)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if c._read("init.pid") or c._read("exit.json"):
                break
            if proc.poll() is not None:
                break
            time.sleep(0.001)  # a start takes ~30 ms: a coarser poll adds half its period to each
        self._raise_start_error(c)
        return 0

    def _raise_start_error(self, c: Container) -> None:
        error = c._read("error")
        if error:
            code = (c.exit or {}).get("code", 125)
            raise ContainerError(f"failed to create the container's task: {error.strip()}", code)
