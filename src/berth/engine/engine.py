"""The engine's Python API: containers from images, run through the monitor.

    Engine(root)  .create(CreateOptions) .start(ref, attach) .run(...) .list(all)
                  .get(ref) .inspect(ref) .exec(ref, ...) .kill(ref, sig) .stop(ref, timeout)
                  .remove(ref, force) .logs(ref) .wait(ref)

State: containers.db (SQLite, WAL) holds each container's immutable config; what
changes (running, exit code) lives in files the monitor writes in the
container's directory and is derived when read, so a killed monitor cannot
leave the database lying.

    <root>/containers/<id>/bundle/{config.json,rootfs/}   the OCI bundle
    <root>/containers/<id>/{hostname,hosts,resolv.conf}    bind-mounted into /etc
    <root>/containers/<id>/rootfs-mounts.json              the snapshot's mounts
    <root>/containers/<id>/{monitor.pid,init.pid,exit.json,error,container.log}
    <root>/runtime/                                        berth-runtime's --root
"""

from __future__ import annotations

import _sqlite3 as sqlite3  # the C module: the package adds only datetime adapters (~2 ms)
import os
import sys
import time
from _thread import allocate_lock

from berth import fastjson
from berth.clock import rfc3339
from berth.db import by_name_or_id, connect
from berth.engine import names, user_lookup
from berth.engine.container import CREATED, PAUSED, RUNNING, Container, ContainerError
from berth.engine.options import CPU_PERIOD, CreateOptions, ResourceUpdate, cpu_quota
from berth.errors import AlreadyExists, BerthError, FailedPrecondition, InvalidArgument, NotFound
from berth.fs import Flock, atomic_write, remove_tree
from berth.oci.record import to_json

_SCHEMA = ("CREATE TABLE IF NOT EXISTS containers (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, image TEXT NOT NULL,"
           " image_name TEXT NOT NULL, created TEXT NOT NULL, config TEXT NOT NULL);")  # fmt: skip
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _program(module: str) -> list[str]:
    """argv that runs `module`'s main(): -S, no site (~2 ms); berth's own directory is all it imports from."""
    return [sys.executable, "-S", "-c",
            f"import sys; sys.path.insert(0, {_PACKAGE_DIR!r}); from {module} import main; sys.exit(main())"]  # fmt: skip


def restart_policy(text: str) -> dict:
    """--restart's value as Docker's HostConfig.RestartPolicy."""
    name, _, count = text.partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure") or (count and name != "on-failure"):
        raise InvalidArgument(
            f"invalid restart policy {text!r}: no, always, unless-stopped or on-failure[:max-retries]"
        )
    if count and (not count.isdigit() or int(count) < 0):
        raise InvalidArgument(f"invalid restart policy {text!r}: maximum retry count must be a positive integer")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _reap() -> None:
    """The monitors (and other children) this process started and that have ended since."""
    children = sys.modules.get("berth.engine.children")
    if children is not None:  # imported once one was adopted
        children.reap()


def _bridged(mode: str) -> bool:
    """On a bridge network (the default or a user network), not none, host or container:NAME."""
    return mode not in ("none", "host") and not mode.startswith("container:")


def _update_args(limits: ResourceUpdate) -> list[str]:
    """The runtime's `update` flags (runc's) for the limits asked."""
    args: list[str] = []
    if limits.cpus is not None:
        args += ["--cpu-period", str(CPU_PERIOD), "--cpu-quota", str(cpu_quota(limits.cpus))]
    for value, flag in ((limits.cpu_shares, "--cpu-share"), (limits.pids_limit, "--pids-limit"),
                        (limits.blkio_weight, "--blkio-weight"), (limits.memory, "--memory"),
                        (limits.memory_reservation, "--memory-reservation"), (limits.memory_swap, "--memory-swap")):  # fmt: skip
        if value is not None:
            args += [flag, str(value)]
    if limits.cpuset_cpus:
        args += ["--cpuset-cpus", limits.cpuset_cpus]
    return args


class Engine:
    def __init__(self, root: str) -> None:
        self.root = root
        self._db = self._store = self._volumes = self._networking = None
        self._opening = allocate_lock()  # the stores below are opened once, by whichever thread first asks
        os.makedirs(os.path.join(root, "containers"), exist_ok=True)
        self.runtime_root = os.path.join(root, "runtime")

    def _opened(self, attr: str, make):
        value = getattr(self, attr)
        if value is None:
            with self._opening:
                value = getattr(self, attr)
                if value is None:
                    value = make()
                    setattr(self, attr, value)
        return value

    @property
    def db(self):
        """containers.db, opened on first use: a build or an image verb never needs it."""
        return self._opened("_db", lambda: connect(os.path.join(self.root, "containers.db"), _SCHEMA))

    @property
    def store(self):
        """The ImageStore, opened (and imported) on first use: exec, ps, logs and kill never need it."""

        def make():
            from berth.image.store import ImageStore

            return ImageStore(self.root)

        return self._opened("_store", make)

    @property
    def images(self):
        """The image half of the façade (berth.engine.images.Images)."""
        from berth.engine.images import Images

        return Images(self)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
        if self._store is not None:
            self._store.close()
        if self._volumes is not None:
            self._volumes.close()
        if self._networking is not None:
            self._networking.close()

    def _event(self, c: Container, action: str, **extra: str) -> None:
        from berth import events

        if "signal" in extra:  # Docker gives the number
            from berth.linux.signals import parse

            extra["signal"] = str(parse(extra["signal"]))
        events.record(self.root, "container", action, c.id, {"image": c.image_name, "name": c.name, **extra})

    # -- finding containers -------------------------------------------------
    _COLUMNS = "id, name, image, image_name, created, config"

    def get(self, ref: str) -> Container:
        rows = by_name_or_id(self.db, self._COLUMNS, "containers", ref.removeprefix("/"))
        if len(rows) > 1:
            raise InvalidArgument(f"multiple containers match {ref}: give more of the ID")
        if not rows:
            raise NotFound(f"No such container: {ref}")
        return Container(self, rows[0])

    def _held(self, ref: str) -> tuple[Flock, Container]:
        """The container's lock, taken, and the container as read again under it (lock, re-read,
        act): every state change holds it, so that two of them on one container never interleave
        (two starts once made two monitors that deleted each other's files). Another container's
        calls do not wait. The monitor takes it to restart the container or record its exit, unless
        stopped-by-user is there: stop, kill and rm write that first, then wait holding the lock."""
        c = self.get(ref)
        _reap()
        try:
            lock = Flock(c.dir).acquire()
        except FileNotFoundError:
            raise NotFound(f"No such container: {ref}") from None
        try:
            return lock, self.get(c.id)
        except BaseException:
            lock.release()
            raise

    def ensure_image(self, name: str, policy: str = "missing", platform: str = "", progress=None) -> None:
        """Docker's pull policy: always, missing (pull only what is not here) or never. Here, not
        in Images: `run` of an image present loads nothing more."""
        if policy not in ("always", "missing", "never"):
            raise InvalidArgument(f'invalid pull option: \'{policy}\': must be one of "always", "missing" or "never"')
        if policy == "never":
            return
        if policy == "missing":
            try:
                self.store.get(name)
                return
            except NotFound:
                if progress is not None:
                    progress.line(f"Unable to find image '{name}' locally")
        self.images.pull(name, platform, progress)

    def inspect(self, ref: str) -> dict:
        """Docker's container inspect document."""
        from berth.engine.documents import container_document

        return container_document(self.get(ref))

    def list(self, filters: dict[str, list[str]] | None = None) -> list[Container]:
        """Newest first. Docker's ps filters (name, id, status, label, ancestor): values of one key
        are alternatives (labels: all must hold), different keys must all match."""
        _reap()
        rows = self.db.execute(f"SELECT {self._COLUMNS} FROM containers ORDER BY created DESC").fetchall()
        found = [Container(self, r) for r in rows]
        if filters:
            from berth.engine.filters import check_container_filters, container_matches

            check_container_filters(filters)
            found = [c for c in found if container_matches(c, filters)]
        return found

    def sizes(self, c: Container) -> tuple[int, int]:
        """(its writable layer's bytes, its image's): Docker's SizeRw and SizeRootFs less SizeRw."""
        try:
            image = self.store.get(c.image).size
        except BerthError:
            image = 0
        return self.writable_size(c), image

    def writable_size(self, c: Container) -> int:
        """The bytes of its writable layer (0 if it has none)."""
        from berth.fs import tree_size

        sn = self.store.snapshotter
        try:
            return tree_size(sn.fs(sn.stat(c.id)))
        except BerthError:
            return 0

    # -- create, start, run ---------------------------------------------------
    def create(self, opts: CreateOptions) -> Container:
        image = self.store.get(opts.image)
        image_config = self.store.config(image)
        from berth.engine import spec  # containers' specs: not loaded by ps, exec, logs, kill

        spec.command(opts, image_config.config)  # "No command specified" before anything is made
        from berth.image.unpack import unpack

        return self.create_on(opts, image.id, image_config, unpack(self.store, image, image_config))

    def create_on(
        self, opts: CreateOptions, image_id: str, image_config, top: str, image_volumes: bool = True, cid: str = ""
    ) -> Container:
        """A container on the committed snapshot `top` with the image config given (build's RUN steps
        use it, with image_volumes=False: a step gets no volumes for the image's VOLUMEs, as BuildKit;
        and with the id they chose, `cid`)."""
        from berth.engine import runtimes

        runtime = opts.runtime or runtimes.default_name()
        runtime_path = runtimes.resolve(runtime)  # an unknown one fails here, before anything is made
        cid = cid or os.urandom(32).hex()
        name = names.validate(opts.name) if opts.name else names.generate(self._name_taken)
        existing = self.db.execute("SELECT id FROM containers WHERE name = ?", (name,)).fetchone()
        if existing:
            raise AlreadyExists(f'Conflict. The container name "/{name}" is already in use by container "{existing[0]}". '
                                "You have to remove (or rename) that container to be able to reuse that name.")  # fmt: skip
        from berth.monitor.logs import check as check_log_config

        log_config = check_log_config(opts.log_driver, dict(opts.log_opts))
        exposed = tuple((image_config.config.exposed_ports if image_config.config else None) or ())
        network = self.networking.check(opts, exposed)
        cdir = os.path.join(self.root, "containers", cid)
        sn = self.store.snapshotter
        made_volumes: list[str] = []
        try:
            fresh: list[tuple[str, str]] = []
            declared = (
                tuple((image_config.config.volumes if image_config.config else None) or ()) if image_volumes else ()
            )
            spec_opts, used, anonymous = self._volume_binds(opts, made_volumes, declared, fresh)
            os.makedirs(os.path.join(cdir, "bundle", "rootfs"))
            mounts = sn.prepare(cid, top)
            if fresh:
                self._copy_up(mounts, os.path.join(cdir, "bundle", "rootfs"), fresh)
            atomic_write(
                os.path.join(cdir, "rootfs-mounts.json"), fastjson.dumps([to_json(m) for m in mounts]).encode()
            )
            etc = self._etc_files(cdir, opts)
            if log_config != {"Type": "json-file", "Config": {}}:
                atomic_write(os.path.join(cdir, "log-config.json"), fastjson.dumps(log_config).encode())
            if opts.restart:
                atomic_write(
                    os.path.join(cdir, "restart-policy"), fastjson.dumps(restart_policy(opts.restart)).encode()
                )
            check = {} if opts.no_healthcheck else {
                **((image_config.config.healthcheck if image_config.config else None) or {}), **opts.healthcheck}  # fmt: skip
            if check.get("Test") and check["Test"][0] != "NONE":  # the monitor runs it
                atomic_write(os.path.join(cdir, "healthcheck.json"), fastjson.dumps(check).encode())
            user = opts.user or (image_config.config.user if image_config.config else "")
            try:
                uid, gid, groups = user_lookup.resolve(self.store, user, top)
            except ContainerError:
                # Docker creates it and fails at start: `create` then `cp` or `export` takes files out
                # of an image whose USER its passwd lacks. Looked up again at each start until found.
                uid, gid, groups = 0, 0, (0,)
                atomic_write(os.path.join(cdir, user_lookup.UNRESOLVED), user.encode())
            from berth.engine import spec
            from berth.oci.runtime_spec import spec_to_json

            oci = spec.build(spec_opts, image_config, cid, etc, uid, gid, self._init_pid_of, groups)
            atomic_write(os.path.join(cdir, "bundle", "config.json"), fastjson.dumps(spec_to_json(oci)).encode())
            config = to_json(opts)
            config["Image"] = opts.image
            config["runtime"] = runtime
            if runtime != runtimes.BERTH_RUNTIME:  # ours moves with the install: found again each time
                config["runtimePath"] = runtime_path
            config["VolumeNames"], config["AnonymousVolumes"] = used, anonymous
            config.update(network)
            config["LogConfig"] = log_config
            for attempt in range(10):
                try:
                    self.db.execute("INSERT INTO containers (id, name, image, image_name, created, config) VALUES (?, ?, ?, ?, ?, ?)",
                                    (cid, name, image_id, opts.image, rfc3339(), fastjson.dumps(config)))  # fmt: skip
                    break
                except sqlite3.IntegrityError:
                    if opts.name or attempt == 9:
                        raise
                    # a parallel create took the same generated name first: another one, as Docker retries
                    name = names.generate(self._name_taken)
        except sqlite3.IntegrityError:
            self._discard(cid, made_volumes)
            raise AlreadyExists(f'Conflict. The container name "/{name}" is already in use.') from None
        except BaseException:
            self._discard(cid, made_volumes)
            raise
        c = self.get(cid)
        self._actor(c)
        self._event(c, "create")
        return c

    @staticmethod
    def _actor(c: Container) -> None:
        """Who the monitor's `die` events are about."""
        atomic_write(
            os.path.join(c.dir, "actor.json"), fastjson.dumps({"image": c.image_name, "name": c.name}).encode()
        )

    def _discard(self, cid: str, volumes: list[str] = ()) -> None:
        try:
            self.store.snapshotter.remove(cid)
        except BerthError:
            pass
        remove_tree(os.path.join(self.root, "containers", cid))
        for name in volumes:  # made for a container that could not be made, or its anonymous ones at rm -v
            try:
                self.volumes.remove(name, [])
            except NotFound:
                pass  # an earlier rm that failed later took it already

    @property
    def networking(self):
        def make():
            from berth.engine.networking import Networking

            return Networking(self.root)

        return self._opened("_networking", make)

    @property
    def volumes(self):
        def make():
            from berth.engine.volumes import Volumes

            return Volumes(self.root)

        return self._opened("_volumes", make)

    def _volume_binds(self, opts: CreateOptions, made: list[str], image_volumes: tuple[str, ...] = (),
                      fresh: list[tuple[str, str]] | None = None) -> tuple[CreateOptions, list[str], list[str]]:  # fmt: skip
        """-v NAME:/path, -v /path and the image's VOLUMEs no -v covers, as binds of volume directories:
        (options for the spec, names, anonymous). Volumes made now go into `fresh` as (directory,
        path in the container): the image's content there is copied in, as Docker does."""
        from berth.engine import volumes

        covered = {volumes.split(item)[1].rstrip("/") or "/" for item in opts.volumes}
        items = list(opts.volumes) + [path for path in image_volumes if (path.rstrip("/") or "/") not in covered]
        if not any(not item.startswith("/") or ":" not in item for item in items):
            return opts, [], []
        binds, used, anonymous = [], [], []
        for item in items:
            source, dest, mode = volumes.split(item)
            if source.startswith("/"):
                binds.append(item)
                continue
            if not source or not any(v["Name"] == source for v in self.volumes.list()):
                vol = self.volumes.create(source, anonymous=not source)
                made.append(vol["Name"])
                if fresh is not None:
                    fresh.append((vol["Mountpoint"], dest))
            else:
                vol = self.volumes.get(source)
            used.append(vol["Name"])
            if not source:
                anonymous.append(vol["Name"])
            binds.append(f"{vol['Mountpoint']}:{dest}" + (f":{mode}" if mode else ""))
        return opts.replace(volumes=tuple(binds)), used, anonymous

    def _copy_up(self, mounts: list, target: str, fresh: list[tuple[str, str]]) -> None:
        """The image's files at each new volume's path, copied into it (ownership and modes kept),
        from the snapshot mounted in a child process of its own (berth.engine.isolated)."""
        from berth.engine import isolated

        isolated.call("berth.engine.volumes:copy_up", {"mounts": [to_json(x) for x in mounts], "target": target,
                                                       "fresh": [list(f) for f in fresh]})  # fmt: skip

    def volume_users(self, name: str) -> list[str]:
        return [c.id[:12] for c in self.list() if name in (c.config.get("VolumeNames") or [])]

    def _name_taken(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM containers WHERE name = ?", (name,)).fetchone() is not None

    def _init_pid_of(self, ref: str) -> int:
        c = self.get(ref)
        if c.status != RUNNING:
            raise FailedPrecondition(f"cannot join the namespaces of container {ref}: it is not running")
        return c.pid

    def _etc_files(self, cdir: str, opts: CreateOptions) -> dict[str, str]:
        """/etc/hostname, /etc/hosts and /etc/resolv.conf as Docker writes them; a bridge network's
        address joins /etc/hosts at start, when the container has one."""
        from berth.engine.networking import host_resolv_conf, hosts_file, resolv_conf

        hostname = opts.hostname or os.path.basename(cdir)[:12]
        files = {
            "hostname": hostname + "\n",
            "hosts": hosts_file(hostname, opts.add_hosts),
            "resolv.conf": resolv_conf(host_resolv_conf(), opts.dns, opts.dns_search, opts.dns_options),
        }
        paths = {}
        for name, text in files.items():
            paths[name] = os.path.join(cdir, name)
            atomic_write(paths[name], text.encode())
        return paths

    def _monitor(self, c: Container, attach: bool, sandbox=None):
        """The container's monitor, in a session of its own; attached, it waits for our client before
        it starts the container. With a sandbox (a bridge network's namespace and held ports), it
        inherits those fds."""
        # posix_spawn (foreground.spawn), not subprocess: run is a hot path and subprocess costs ~6 ms to import
        from berth.foreground import DEVNULL, spawn

        argv = [*_program("berth.monitor.monitor"), "--id", c.id, "--dir", c.dir,
                "--runtime", self.runtime_of(c), "--runtime-root", self.runtime_root] + (["--attach"] if attach else [])  # fmt: skip
        if c.config.get("interactive"):
            # -i: the container's stdin is the monitor's pipe (else /dev/null, as Docker's); for an
            # attached run, the client closing its input closes the container's (Docker's StdinOnce)
            argv += ["--stdin", "--stdin-once"] if attach else ["--stdin"]
        if c.config.get("autoRemove"):
            # --rm: the monitor removes the container once it has exited for good, unattached
            remove = [*_program("berth.engine.autoremove"), self.root, c.id]
            argv += ["--exit-command", fastjson.dumps(remove)]
        if sandbox is not None:
            for fd in sandbox.fds:
                os.set_inheritable(fd, True)
            argv += ["--netns", str(sandbox.netns)] + (
                ["--hold", ",".join(map(str, sandbox.held))] if sandbox.held else []
            )
        return spawn(argv, stdin=DEVNULL, stdout=DEVNULL, stderr=DEVNULL, setsid=True)

    def start(self, ref: str, attach: bool = False) -> int:
        """Start; attached (this process's stdio, no detach keys), wait and return the exit code,
        else return once it runs."""
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
            _unlink(os.path.join(c.dir, name))
        sandbox = self._sandbox(c)
        try:
            if attached:
                self._event(c, "attach")  # docker's order: attach, then start
                self._event(c, "start")  # attached: it runs until it exits, now or never
                return begin(sandbox)
            result = begin(sandbox)
            self._event(c, "start")  # detached: once it runs, as Docker records it
            return result
        finally:
            if sandbox is not None:
                sandbox.close()  # the monitor holds its own copies

    def _sandbox(self, c: Container):
        """The network namespace and held ports of a container on a bridge network (None on none,
        host or another container's), for its monitor to inherit; the caller closes it."""
        if not _bridged(c.config.get("network", "")):
            return None
        try:
            return self.networking.up(c, self._hostname(c))
        except FailedPrecondition as e:
            if "Bind for" not in str(e):
                raise
            raise ContainerError(
                f"driver failed programming external connectivity on endpoint {c.name} ({c.id}): {e}", 125
            ) from None

    def published_ports(self, containers: list[Container]) -> dict[str, list[dict]]:
        """{container id: its published ports} for those that run with some (one query for all)."""
        wanted = {c.id for c in containers if c.config.get("PortBindings") or c.config.get("publishAll")}
        if not wanted:
            return {}
        out: dict[str, list[dict]] = {}
        for lease in self.networking.store.leases():
            if lease.container in wanted and lease.ports:
                out.setdefault(lease.container, []).extend(lease.ports)
        return out

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
            time.sleep(0.005)
        self._raise_start_error(c)
        return 0

    def _raise_start_error(self, c: Container) -> None:
        error = c._read("error")
        if error:
            code = (c.exit or {}).get("code", 125)
            raise ContainerError(f"failed to create the container's task: {error.strip()}", code)

    # -- stop, kill, remove -------------------------------------------------
    def runtime_of(self, c: Container) -> str:
        """The executable of the container's OCI runtime, as create found it (containers from before
        the choice: berth-runtime)."""
        from berth.engine import runtimes

        return c.config.get("runtimePath") or runtimes.resolve(runtimes.BERTH_RUNTIME)

    def _runtime(self, c: Container, *args: str):
        import subprocess

        return subprocess.run([self.runtime_of(c), "--root", self.runtime_root, *args], capture_output=True, text=True)

    def _thaw(self, c: Container) -> None:
        """Frozen tasks cannot act on a signal, SIGKILL included, until thawed."""
        if c.paused:
            self._runtime(c, "resume", c.id)
            _unlink(os.path.join(c.dir, PAUSED))

    def kill(self, ref: str, signal: str = "KILL") -> Container:
        lock, c = self._held(ref)
        with lock:
            return self._kill(c, ref, signal)

    def _kill(self, c: Container, ref: str, signal: str) -> Container:
        if c.status != RUNNING:
            raise FailedPrecondition(f"cannot kill container: {ref}: container {c.id} is not running")
        self._thaw(c)
        atomic_write(os.path.join(c.dir, "stopped-by-user"), b"")
        if c.restarting:  # no process to signal: the mark alone ends the wait for the next run, as Docker's
            self._event(c, "kill", signal=signal)
            return c
        proc = self._runtime(c, "kill", c.id, signal)
        if proc.returncode != 0:
            raise InvalidArgument(proc.stderr.strip().removeprefix("berth-runtime: "))
        self._event(c, "kill", signal=signal)
        return c

    def wait(self, ref: str, timeout: float | None = None) -> int:
        c = self.get(ref)
        deadline = None if timeout is None else time.monotonic() + timeout
        while c.status == RUNNING or (c.status == CREATED and c._read("monitor.pid")):
            if deadline and time.monotonic() > deadline:
                raise FailedPrecondition(f"container {ref} did not stop in {timeout}s")
            time.sleep(0.01)
        return (c.exit or {}).get("code", 255 if c._read("monitor.pid") else 0)

    def stop(self, ref: str, timeout: float | None = None, signal: str = "") -> Container:
        """SIGTERM (or --stop-signal), then SIGKILL after 10 s (or --stop-timeout)."""
        lock, c = self._held(ref)
        with lock:
            return self._stop(c, timeout, signal)

    def _stop(self, c: Container, timeout: float | None, signal: str) -> Container:
        ref = c.id
        if c.status != RUNNING:
            return c
        signal = signal or c.config.get("stopSignal") or "TERM"
        atomic_write(os.path.join(c.dir, "stopped-by-user"), b"")  # no restart policy brings it back
        if timeout is None:
            timeout = c.config.get("stopTimeout") if c.config.get("stopTimeout") is not None else 10
        self._thaw(c)
        self._runtime(c, "kill", c.id, signal)
        self._event(c, "kill", signal=signal)
        try:
            self.wait(ref, timeout)
        except FailedPrecondition:
            self._runtime(c, "kill", "--all", c.id, "KILL")
            self._event(c, "kill", signal="KILL")
            self.wait(ref, 30)
        self._network_down(c)
        self._event(c, "stop")
        return c

    def _network_down(self, c: Container) -> None:
        """Addresses, port rules and an idle default bridge go when the container stops."""
        if _bridged(c.config.get("network", "")):
            self.networking.down(c.id)

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> Container:
        lock, c = self._held(ref)
        with lock:
            return self._remove(c, ref, force, volumes)

    def _remove(self, c: Container, ref: str, force: bool, volumes: bool) -> Container:
        if c.status == RUNNING:
            if not force:
                raise FailedPrecondition(
                    f'cannot remove container "{ref}": container is running: stop the container before removing or force remove'
                )
            self._thaw(c)
            atomic_write(os.path.join(c.dir, "stopped-by-user"), b"")
            self._runtime(c, "kill", "--all", c.id, "KILL")
            self._event(c, "kill", signal="KILL")
            try:
                self.wait(ref, 30)
            except FailedPrecondition:
                pass
        if self.runtime_leftover(c):
            self._runtime(c, "delete", "--force", c.id)
        self._network_down(c)
        # the row goes last: a directory that cannot go (still mounted somewhere) fails the rm with
        # the container still listed, for another rm to finish, rather than leaving it unseen
        self._discard(c.id, list(c.config.get("AnonymousVolumes") or []) if volumes else [])
        self.db.execute("DELETE FROM containers WHERE id = ?", (c.id,))
        self._event(c, "destroy")
        return c

    @staticmethod
    def runtime_leftover(c: Container) -> bool:
        """Whether the runtime may still hold the container: its monitor started and never recorded
        a clean end (it was killed, or the runtime failed). The monitor deletes it from the runtime
        before it writes exit.json; read from the container's own files, never the runtime's."""
        return c._read("monitor.pid") is not None and (c._read("exit.json") is None or c._read("error") is not None)

    def pause(self, ref: str, resume: bool = False) -> Container:
        lock, c = self._held(ref)
        with lock:
            if c.status != RUNNING:
                raise FailedPrecondition(f"container {c.id} is not running")
            if c.paused != resume:
                raise FailedPrecondition(f"container {c.id} is {'not ' if resume else ''}paused")
            proc = self._runtime(c, "resume" if resume else "pause", c.id)
            if proc.returncode != 0:
                raise FailedPrecondition(proc.stderr.strip().removeprefix("berth-runtime: "))
            if resume:
                _unlink(os.path.join(c.dir, PAUSED))
            else:
                atomic_write(os.path.join(c.dir, PAUSED), b"")
            self._event(c, "unpause" if resume else "pause")
            return c

    def update(self, ref: str, limits: ResourceUpdate) -> Container:
        """New limits: applied by the runtime when running, and written into the bundle for the next start
        (only there, for a container that is not running)."""
        from berth.runtime.container_update import merge_into_config

        limits.check()
        runtime_args = _update_args(limits)
        lock, c = self._held(ref)
        with lock:
            if c.status == RUNNING:
                proc = self._runtime(c, "update", *runtime_args, c.id)
                if proc.returncode != 0:
                    raise InvalidArgument(proc.stderr.strip().removeprefix("berth-runtime: "))
            # the bundle's spec holds them for the next start (and inspect), merged as the runtime merged
            # them into its copy: never read from the runtime's own state, which another runtime keeps elsewhere
            path = os.path.join(c.dir, "bundle", "config.json")
            with open(path, "rb") as f:
                doc = merge_into_config(fastjson.loads(f.read()), runtime_args)
            atomic_write(path, fastjson.dumps(doc).encode())
            return c

    # -- networks --------------------------------------------------------------------
    def network_connect(self, ref: str, network: str, ip: str = "", aliases: tuple[str, ...] = ()) -> None:
        """Join a network now if the container runs, and at each start from now on."""
        lock, c = self._held(ref)
        with lock:
            if not _bridged(c.config.get("network", "")):
                raise FailedPrecondition(
                    "container sharing network namespace with another container or host cannot be connected to any other network"
                )
            join = self.networking.connect(c, network, ip, aliases, c.pid if c.status == RUNNING else 0)
            self.networking.event(join["Name"], "connect", container=c.id)
            c.config["ExtraNetworks"] = [*(c.config.get("ExtraNetworks") or []), join]
            self.db.execute("UPDATE containers SET config = ? WHERE id = ?", (fastjson.dumps(c.config), c.id))

    def network_disconnect(self, ref: str, network: str) -> None:
        lock, c = self._held(ref)
        with lock:
            net = self.networking.store.get(network)
            extra = c.config.get("ExtraNetworks") or []
            kept = [j for j in extra if j.get("Name") not in (net.name, net.id)]
            primary = (
                self.networking.store.get(c.config.get("network") or "")
                if _bridged(c.config.get("network", ""))
                else None
            )
            if len(kept) == len(extra) and (primary is None or primary.id != net.id):
                raise FailedPrecondition(f"container {c.id} is not connected to network {net.name}")
            if primary is not None and primary.id == net.id:
                raise FailedPrecondition(
                    f"berth cannot disconnect container {c.name} from {net.name}, the network it was created on"
                )
            self.networking.disconnect(c, net.id)
            self.networking.event(net.name, "disconnect", container=c.id)
            c.config["ExtraNetworks"] = kept
            self.db.execute("UPDATE containers SET config = ? WHERE id = ?", (fastjson.dumps(c.config), c.id))

    def network_users(self, net_id: str) -> list[Container]:
        """Containers made on or connected to a network (running or not)."""
        net = self.networking.store.get(net_id)
        out = []
        for c in self.list():
            joins = [c.config.get("network") or "bridge", *(j.get("Name") for j in c.config.get("ExtraNetworks") or [])]
            if _bridged(c.config.get("network", "")) and any(j in (net.name, net.id) or (net.is_default and j == "default")
                                                            for j in joins):  # fmt: skip
                out.append(c)
        return out

    def rename(self, ref: str, new: str) -> None:
        lock, c = self._held(ref)
        with lock:
            new = names.validate(new)
            try:
                self.db.execute("UPDATE containers SET name = ? WHERE id = ?", (new, c.id))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f'Conflict. The container name "/{new}" is already in use.') from None
            renamed = self.get(c.id)
            self._actor(renamed)
            self._event(renamed, "rename", oldName="/" + c.name)

    def top(self, ref: str, ps_args: list[str]) -> str:
        c = self.get(ref)
        if c.status != RUNNING:
            raise FailedPrecondition(f"container {c.id} is not running")
        proc = self._runtime(c, "ps", c.id, *(ps_args or ["-ef"]))
        if proc.returncode != 0:
            raise FailedPrecondition(proc.stderr.strip().removeprefix("berth-runtime: "))
        return proc.stdout

    def mount_rootfs(self, c: Container) -> str:
        """The container's snapshot mounted at its bundle's rootfs, in this process's mount
        namespace: only for a process that has one of its own (berth.engine.isolated's child)."""
        from berth.linux import mount as m

        with open(os.path.join(c.dir, "rootfs-mounts.json"), "rb") as f:
            mounts = fastjson.loads(f.read())
        target = os.path.join(c.dir, "bundle", "rootfs")
        m.mount_all(mounts, target)
        return target

    # -- exec ----------------------------------------------------------------
    def exec(self, ref: str, args: list[str], env: list[str] = (), user: str = "", workdir: str = "",
             detach: bool = False, tty: bool = False, privileged: bool = False) -> int:  # fmt: skip
        """A process in a running container, on this process's stdio; its exit code (berth.engine.exec)."""
        from berth.engine import exec as execs

        return execs.run(self, ref, list(args), list(env), user, workdir, detach, tty, privileged)
