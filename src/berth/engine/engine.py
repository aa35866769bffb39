"""The engine's Python API: containers from images, run through the monitor.

    Engine(root)  .create(CreateOptions) .start(ref, attach) .start_attached(ref) .list(filters)
                  .get(ref) .inspect(ref) .exec(ref, ...) .kill(ref, sig) .stop(ref, timeout)
                  .remove(ref, force) .wait(ref) .pause(ref) .update(ref, ResourceUpdate) ...

Engine is put together from parts named for what they do: creating.py (create), starting.py
(start and attach, the monitor), and this module: the stores, lookups, and the rest of the
lifecycle (stop, kill, wait, remove, pause, update, rename, top, exec, networks).

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
from berth.db import by_name_or_id, connect
from berth.engine import names
from berth.engine.container import CREATED, PAUSED, RUNNING, SPEC, Container
from berth.engine.creating import Creating
from berth.engine.options import CPU_PERIOD, ResourceUpdate, cpu_quota
from berth.engine.starting import Starting, bridged
from berth.errors import AlreadyExists, BerthError, FailedPrecondition, InvalidArgument, NotFound
from berth.fs import Flock, atomic_write, unlink_if_present

_SCHEMA = ("CREATE TABLE IF NOT EXISTS containers (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, image TEXT NOT NULL,"
           " image_name TEXT NOT NULL, created TEXT NOT NULL, config TEXT NOT NULL);")  # fmt: skip
_VERSION = 2  # containers.db's schema: 2, create's options as records (mounts, port bindings, limits...)


def _typed_options(db) -> None:
    """Version 1 kept create's -p, -v, --tmpfs, --ulimit, --device and --restart as the flags'
    strings; version 2 keeps them as records (berth.engine.options), whoever asked."""
    from berth.engine.options import upgrade_config

    for cid, text in db.execute("SELECT id, config FROM containers").fetchall():
        db.execute(
            "UPDATE containers SET config = ? WHERE id = ?", (fastjson.dumps(upgrade_config(fastjson.loads(text))), cid)
        )


def _reap() -> None:
    """The monitors (and other children) this process started and that have ended since."""
    if "berth.engine.children" in sys.modules:  # imported once one was adopted
        # an import, not the sys.modules entry: another thread may be importing it still, and the
        # import waits for it to finish (the bare entry has no `reap` yet)
        from berth.engine import children

        children.reap()


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


class Engine(Creating, Starting):
    def __init__(self, root: str) -> None:
        self.root = root = os.path.normpath(root)  # Container joins paths to it with f-strings
        self._db = self._store = self._volumes = self._networking = None
        self._warm: list = []  # monitors started ahead of their containers (warm_monitor)
        self._keep_warm = 0  # a server's: how many are kept started ahead (keep_monitor_warm)
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
        return self._opened("_db", lambda: connect(os.path.join(self.root, "containers.db"), _SCHEMA, _VERSION,
                                                   {2: _typed_options}))  # fmt: skip

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
        while self._warm:
            unused = self._warm.pop()
            unused.close()
            unused.child.wait()
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
            if "pod" in filters:  # Podman's: a pod's name or ID
                filters = {**filters, "pod": [self.pods.get(ref)["Id"] for ref in filters["pod"]]}
            found = [c for c in found if container_matches(c, filters)]
        return found

    def prunable(self, filters: dict[str, list[str]] | None = None) -> list[Container]:
        """The stopped containers a prune removes (those matching `filters`): never a pod's infra
        container, which goes with its pod (one whose pod was never recorded, a killed `pod create`'s, does)."""
        return [c for c in self.list(filters) if c.status in ("exited", "created") and not self._holds_a_pod(c)]

    def _holds_a_pod(self, c: Container) -> bool:
        return bool(c.config.get("podInfra")) and os.path.exists(
            os.path.join(self.root, "pods", c.config["pod"] + ".json")
        )

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

    @property
    def pods(self):
        from berth.engine.pods import Pods

        return Pods(self)

    def volume_users(self, name: str) -> list[str]:
        return [c.id[:12] for c in self.list() if name in (c.config.get("VolumeNames") or [])]

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
            unlink_if_present(os.path.join(c.dir, PAUSED))

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
        exit = c.exit
        if exit is not None:
            return exit.get("code", 0)
        # an rm deletes the spec before any other file (_discard): with no exit record and no spec,
        # the container is being removed and its state files are going, whatever they still say
        if not os.path.exists(os.path.join(c.dir, SPEC)):
            raise NotFound(f"No such container: {ref}")
        return 255 if c._read("monitor.pid") else 0

    def stop(self, ref: str, timeout: float | None = None, signal: str = "") -> Container:
        """SIGTERM (or --stop-signal), then SIGKILL after 10 s (or --stop-timeout)."""
        lock, c = self._held(ref)
        with lock:
            return self._stop(c, timeout, signal)

    def _stop(self, c: Container, timeout: float | None, signal: str) -> Container:
        ref = c.id
        if c.status != RUNNING:
            if c.config.get("network") == "cni":
                self.networking.cni_down(c)  # its CNI network outlives an end of its own: a DEL is owed
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
        mode = c.config.get("network", "")
        if mode == "cni":
            self.networking.cni_down(c)
        elif bridged(mode):
            self.networking.down(c.id)

    def collect_cni(self) -> list[str]:
        """What the processes that were killed owed to CNI networks, for a server to settle as it
        starts: the DEL of containers that ended while no one watched, and of those whose start
        never finished joining them (the starting process killed part way: such a container runs
        without its network, and is killed first). The containers' IDs; a DEL that fails stays
        owed, to the container's stop or removal."""
        from berth.engine.networking import CNI_FILE

        done = []
        for c in self.list():
            if not os.path.exists(os.path.join(c.dir, CNI_FILE)):
                continue
            if c.status == RUNNING and self.networking.cni_joined(c):
                continue
            try:
                lock, c = self._held(c.id)  # not under a start that is making its network now
            except NotFound:
                continue
            with lock:
                try:
                    if c.status == RUNNING:
                        if self.networking.cni_joined(c):
                            continue
                        self._stop(c, 0, "KILL")  # its DEL too
                    else:
                        self.networking.cni_down(c)
                except BerthError as e:
                    sys.stderr.write(f"berth: container {c.id[:12]}: {e}\n")
                    continue
            done.append(c.id)
        return done

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> Container:
        lock, c = self._held(ref)
        with lock:
            return self._remove(c, ref, force, volumes)

    def _remove(self, c: Container, ref: str, force: bool, volumes: bool) -> Container:
        if self._holds_a_pod(c):
            raise FailedPrecondition(f"container {c.name} is the infra container of a pod: remove the pod instead "
                                     "(berth pod rm)")  # fmt: skip
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
                unlink_if_present(os.path.join(c.dir, PAUSED))
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
            if limits.restart is not None:
                self._set_restart_policy(c, limits.restart)
            if not runtime_args:
                return c
            if c.status == RUNNING:
                proc = self._runtime(c, "update", *runtime_args, c.id)
                if proc.returncode != 0:
                    raise InvalidArgument(proc.stderr.strip().removeprefix("berth-runtime: "))
            # the bundle's spec holds them for the next start (and inspect), merged as the runtime merged
            # them into its copy: never read from the runtime's own state, which another runtime keeps elsewhere
            path = os.path.join(c.dir, SPEC)
            with open(path, "rb") as f:
                doc = merge_into_config(fastjson.loads(f.read()), runtime_args)
            atomic_write(path, fastjson.dumps(doc).encode())
            return c

    def _set_restart_policy(self, c: Container, policy) -> None:
        """Its record and the file its monitor reads at each exit (a running container's too)."""
        from berth.oci.record import to_json

        if c.config.get("autoRemove") and policy.name != "no":
            raise InvalidArgument("Restart policy cannot be updated because AutoRemove is enabled for the container")
        path = os.path.join(c.dir, "restart-policy")
        if policy.name == "no":
            unlink_if_present(path)
        else:
            atomic_write(path, fastjson.dumps(policy.docker()).encode())
        c.config["restart"] = to_json(policy)
        self.db.execute("UPDATE containers SET config = ? WHERE id = ?", (fastjson.dumps(c.config), c.id))

    # -- networks --------------------------------------------------------------------
    def network_connect(self, ref: str, network: str, ip: str = "", aliases: tuple[str, ...] = ()) -> None:
        """Join a network now if the container runs, and at each start from now on."""
        lock, c = self._held(ref)
        with lock:
            if c.config.get("networkDetached"):  # its first network was taken away: this one takes its place
                join = self.networking.connect(c, network, ip, aliases, 0)
                c.config.update(network=join["Name"], ip=join["IP"], networkAliases=join["Aliases"])
                del c.config["networkDetached"]
            elif not bridged(c.config.get("network", "")):
                raise FailedPrecondition(
                    "container sharing network namespace with another container or host cannot be connected to any other network"
                )
            else:
                join = self.networking.connect(c, network, ip, aliases, c.pid if c.status == RUNNING else 0)
                c.config["ExtraNetworks"] = [*(c.config.get("ExtraNetworks") or []), join]
            self.networking.event(join["Name"], "connect", container=c.id)
            self.db.execute("UPDATE containers SET config = ? WHERE id = ?", (fastjson.dumps(c.config), c.id))

    def network_disconnect(self, ref: str, network: str) -> None:
        lock, c = self._held(ref)
        with lock:
            net = self.networking.store.get(network)
            extra = c.config.get("ExtraNetworks") or []
            kept = [j for j in extra if j.get("Name") not in (net.name, net.id)]
            primary = (
                self.networking.store.get(c.config.get("network") or "")
                if bridged(c.config.get("network", ""))
                else None
            )
            if len(kept) == len(extra) and (primary is None or primary.id != net.id):
                raise FailedPrecondition(f"container {c.id} is not connected to network {net.name}")
            if primary is not None and primary.id == net.id:
                if c.status == RUNNING:
                    raise FailedPrecondition(f"berth cannot disconnect running container {c.name} from {net.name}, "
                                             "the network it was created on: stop it first")  # fmt: skip
                self._drop_first_network(c, kept)
                kept = kept[1:]
            self.networking.disconnect(c, net.id)
            self.networking.event(net.name, "disconnect", container=c.id)
            c.config["ExtraNetworks"] = kept
            self.db.execute("UPDATE containers SET config = ? WHERE id = ?", (fastjson.dumps(c.config), c.id))

    @staticmethod
    def _drop_first_network(c: Container, others: list[dict]) -> None:
        """A stopped container's first network taken away (docker-compose does so, to connect it
        again with its aliases): the next network it is on takes its place; with none left it
        has no network until one is connected (Docker's container on no network)."""
        if others:
            first = others[0]
            c.config.update(network=first["Name"], ip=first.get("IP", ""), networkAliases=first.get("Aliases") or [])
        else:
            c.config.update(network="none", ip="", networkAliases=[], networkDetached=True)

    def network_users(self, net_id: str) -> list[Container]:
        """Containers made on or connected to a network (running or not)."""
        net = self.networking.store.get(net_id)
        out = []
        for c in self.list():
            joins = [c.config.get("network") or "bridge", *(j.get("Name") for j in c.config.get("ExtraNetworks") or [])]
            if bridged(c.config.get("network", "")) and any(j in (net.name, net.id) or (net.is_default and j == "default")
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
