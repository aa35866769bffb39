"""Making a container: its options checked, its snapshot, volumes, /etc files, OCI bundle and
row in containers.db, all or nothing (what was made is removed when a step fails). A part of
berth.engine.engine.Engine."""

from __future__ import annotations

import _sqlite3 as sqlite3
import os

from berth import fastjson
from berth.clock import rfc3339
from berth.engine import names, user_lookup
from berth.engine.container import RUNNING, SPEC, Container, ContainerError
from berth.engine.options import CreateOptions
from berth.errors import AlreadyExists, BerthError, FailedPrecondition, NotFound
from berth.fs import atomic_write, remove_tree, unlink_if_present
from berth.oci.record import to_json

MAKING = ".making"  # containers/.making/<id>: the lock a create holds


class Creating:
    def create(self, opts: CreateOptions) -> Container:
        opts.check()
        if opts.pod and not opts.pod_infra:
            opts = self.pods.joined(opts)
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

        if opts.uts.startswith("container:"):  # the donor's UTS namespace: its hostname too (/etc/hostname)
            donor = self.get(opts.uts[len("container:") :])
            opts = opts.replace(hostname=(donor._read("hostname") or donor.id[:12]).strip())
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
        userns_lock = None
        making = self._making(cid)
        try:
            idmaps, userns_lock = self._id_maps(opts)
            fresh: list[tuple[str, str]] = []
            declared = (
                tuple((image_config.config.volumes if image_config.config else None) or ()) if image_volumes else ()
            )
            spec_opts, used, anonymous = self._volume_binds(opts, made_volumes, declared, fresh)
            os.makedirs(os.path.join(cdir, "bundle", "rootfs"))
            mounts = sn.prepare(cid, top)
            if fresh:
                self._copy_up(mounts, os.path.join(cdir, "bundle", "rootfs"), fresh)
            if idmaps is not None:
                self._owned_by(idmaps, cdir, sn.fs(sn.stat(cid)), spec_opts, [path for path, _ in fresh])
            atomic_write(
                os.path.join(cdir, "rootfs-mounts.json"), fastjson.dumps([to_json(m) for m in mounts]).encode()
            )
            etc = self._etc_files(cdir, opts)
            if log_config != {"Type": "json-file", "Config": {}}:
                atomic_write(os.path.join(cdir, "log-config.json"), fastjson.dumps(log_config).encode())
            if opts.restart is not None and opts.restart.name != "no":
                atomic_write(os.path.join(cdir, "restart-policy"), fastjson.dumps(opts.restart.docker()).encode())
            check = {} if opts.no_healthcheck else {
                **((image_config.config.healthcheck if image_config.config else None) or {}), **opts.healthcheck}  # fmt: skip
            if check.get("Test") and check["Test"][0] != "NONE":  # the monitor runs it
                atomic_write(os.path.join(cdir, "healthcheck.json"), fastjson.dumps(check).encode())
            user = opts.user or (image_config.config.user if image_config.config else "")
            if idmaps is not None and idmaps.mode == "keep-id" and not opts.user:
                user = "{}:{}".format(*idmaps.inside(0, 0))  # Podman's: the user's own ids, as on the host
            try:
                uid, gid, groups = user_lookup.resolve(self.store, user, top)
            except ContainerError:
                # Docker creates it and fails at start: `create` then `cp` or `export` takes files out
                # of an image whose USER its passwd lacks. Looked up again at each start until found.
                uid, gid, groups = 0, 0, (0,)
                atomic_write(os.path.join(cdir, user_lookup.UNRESOLVED), user.encode())
            groups = user_lookup.merged(groups, user_lookup.added_groups(self.store, opts.group_add, top))
            owner = idmaps.host_ids(uid, gid) if idmaps else (uid, gid)
            for m in spec_opts.mounts:
                if m.chown and m.source:  # -v's U: as the host sees the container's user
                    from berth.engine.userns import chown_tree

                    chown_tree(m.source, lambda st: owner)
            from berth.engine import spec
            from berth.oci.runtime_spec import spec_to_json

            oci = spec.build(spec_opts, image_config, cid, etc, uid, gid, self._init_pid_of, groups, idmaps)
            atomic_write(os.path.join(cdir, SPEC), fastjson.dumps(spec_to_json(oci)).encode())
            config = to_json(opts)
            config["Image"] = opts.image
            config["runtime"] = runtime
            if runtime != runtimes.BERTH_RUNTIME:  # ours moves with the install: found again each time
                config["runtimePath"] = runtime_path
            config["VolumeNames"], config["AnonymousVolumes"] = used, anonymous
            config.update(network)
            config["LogConfig"] = log_config
            if idmaps is not None:
                from berth.engine import userns

                config["IdMappings"] = userns.to_config(idmaps)
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
        finally:
            self._made(cid, making)
            if userns_lock is not None:
                userns_lock.release()
        c = self.get(cid)
        self._actor(c)
        self._event(c, "create")
        return c

    def _id_maps(self, opts: CreateOptions):
        """(the container's user namespace maps or None, and for `auto` the lock held until its
        record is written: its range was chosen among those of the containers there are)."""
        from berth.engine import userns

        for mode in (opts.pid, opts.ipc, opts.uts, opts.network):
            if mode.startswith("container:"):
                donor = mode[len("container:") :]
                return userns.joined(
                    opts, donor, userns.from_config(self.get(donor).config), self._init_pid_of(donor)
                ), None
        if not userns.wanted(opts):
            return None, None
        if not opts.userns.startswith("auto"):  # fixed maps: no range to choose among the others
            return userns.choose(opts, []), None
        from berth.fs import Flock

        lock = Flock(os.path.join(self.root, userns.LOCK), file=True).acquire()
        try:
            taken = []
            for (config,) in self.db.execute("SELECT config FROM containers").fetchall():
                if '"IdMappings"' in config:
                    taken.append(userns.from_config(fastjson.loads(config)))
            return userns.choose(opts, [m for m in taken if m is not None]), lock
        except BaseException:
            lock.release()
            raise

    def _owned_by(self, idmaps, cdir: str, upper: str, spec_opts: CreateOptions, fresh: list[str]) -> None:
        """What the container's root must own (its writable layer's top, volumes made for it,
        shifted into its ids) and reach: the runtime mounts its root file system and volumes from
        inside its user namespace."""
        from berth.engine import userns

        uid, gid = idmaps.root()
        os.chown(upper, uid, gid)
        userns.traversable(os.path.join(cdir, "bundle"), self.root)
        for m in spec_opts.mounts:
            if m.type == "bind" and m.source.startswith(self.root + "/"):
                userns.traversable(m.source, self.root)
            elif m.type == "bind" and m.source:
                userns.check_reachable(m.source, idmaps)
        for path in fresh:
            userns.shift_tree(path, idmaps)

    # A create holds a lock named for the container from before its directory exists until its
    # record is written: a directory with no record whose lock is free was left by a killed create.
    def _making(self, cid: str) -> int:
        import fcntl

        top = os.path.join(self.root, "containers", MAKING)
        os.makedirs(top, exist_ok=True)
        fd = os.open(os.path.join(top, cid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def _made(self, cid: str, fd: int) -> None:
        try:
            os.unlink(os.path.join(self.root, "containers", MAKING, cid))
        except FileNotFoundError:
            pass
        if fd >= 0:
            os.close(fd)

    def recover(self) -> list[str]:
        """Remove what creates killed part way left (a directory and a snapshot, no record), and
        the contexts of killed builds; the containers' IDs."""
        import fcntl

        from berth.engine.builds import collect_contexts

        collect_contexts(self.root)

        top = os.path.join(self.root, "containers")
        try:
            names = [n for n in os.listdir(top) if len(n) == 64]
        except FileNotFoundError:
            return []
        known = {row[0] for row in self.db.execute("SELECT id FROM containers").fetchall()}
        gone = []
        for cid in names:
            if cid in known:
                continue
            try:
                fd = os.open(os.path.join(top, MAKING, cid), os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                fd = -1
            try:
                if fd >= 0:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # being made now
            if self.db.execute("SELECT 1 FROM containers WHERE id = ?", (cid,)).fetchone():
                if fd >= 0:
                    os.close(fd)
                continue  # made while we looked
            self._discard(cid)
            self._made(cid, fd)
            gone.append(cid)
        return gone

    @staticmethod
    def _actor(c: Container) -> None:
        """Who the monitor's `die` events are about."""
        atomic_write(
            os.path.join(c.dir, "actor.json"), fastjson.dumps({"image": c.image_name, "name": c.name}).encode()
        )

    def _discard(self, cid: str, volumes: list[str] = ()) -> None:
        # the spec first, so that a reader (wait) tells a container being removed from one never
        # started, whichever of its state files are gone already
        unlink_if_present(os.path.join(self.root, "containers", cid, SPEC))
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

    def _volume_binds(self, opts: CreateOptions, made: list[str], image_volumes: tuple[str, ...] = (),
                      fresh: list[tuple[str, str]] | None = None) -> tuple[CreateOptions, list[str], list[str]]:  # fmt: skip
        """Volume mounts (named, anonymous, and the image's VOLUMEs no mount covers) as binds of
        volume directories: (options for the spec, names, anonymous). Volumes made now go into
        `fresh` as (directory, path in the container): the image's content there is copied in, as
        Docker does."""
        from berth.engine.options import Mount

        covered = {m.target.rstrip("/") or "/" for m in opts.mounts}
        mounts = list(opts.mounts) + [Mount(type="volume", target=path) for path in image_volumes
                                      if (path.rstrip("/") or "/") not in covered]  # fmt: skip
        if not any(m.type == "volume" for m in mounts):
            return opts, [], []
        out, used, anonymous = [], [], []
        for m in mounts:
            if m.type != "volume":
                out.append(m)
                continue
            if not m.source or not any(v["Name"] == m.source for v in self.volumes.list()):
                vol = self.volumes.create(m.source, anonymous=not m.source)
                made.append(vol["Name"])
                if fresh is not None:
                    fresh.append((vol["Mountpoint"], m.target))
            else:
                vol = self.volumes.get(m.source)
            used.append(vol["Name"])
            if not m.source:
                anonymous.append(vol["Name"])
            out.append(m.replace(type="bind", source=vol["Mountpoint"]))
        return opts.replace(mounts=tuple(out)), used, anonymous

    def _copy_up(self, mounts: list, target: str, fresh: list[tuple[str, str]]) -> None:
        """The image's files at each new volume's path, copied into it (ownership and modes kept),
        from the snapshot mounted in a child process of its own (berth.engine.isolated)."""
        from berth.engine import isolated

        isolated.call("berth.engine.volumes:copy_up", {"mounts": [to_json(x) for x in mounts], "target": target,
                                                       "fresh": [list(f) for f in fresh]})  # fmt: skip

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
