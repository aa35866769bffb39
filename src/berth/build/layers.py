"""The steps that make a layer (RUN, COPY, ADD, and a WORKDIR that makes its directory): the\ncache lookup, the step run through the StepRunner in an active snapshot, the layer written\nand committed. A part of berth.build.builder.Builder."""

from __future__ import annotations

import os
import posixpath

from berth.build.backend import RunRequest
from berth.build.dockerfile import Instruction, Stage
from berth.build.shell import expand
from berth.build.state import DEFAULT_SHELL, LAYER_MEDIA_TYPE, PROXY_ARGS, BuildError, State, cache_key, copy_json
from berth.clock import rfc3339
from berth.errors import BerthError, FailedPrecondition, InvalidArgument
from berth.oci.digest import sha256
from berth.oci.record import to_json


class LayerSteps:
    def _layer_step(self, state: State, created_by: str, key: str, fill, change=None) -> State:
        """A step that changes files: from the cache, or by `fill(root)` on a mounted snapshot."""
        import tempfile

        from berth.linux import mount as m

        hit = self._cached(key)
        if hit is not None:
            return self._apply(state, key, hit, change, created_by)
        parent = self._top(state)
        active = f"build-{os.getpid()}-{os.urandom(6).hex()}"
        sn = self.runner.snapshotter
        mounts = sn.prepare(active, parent)
        try:
            target = tempfile.mkdtemp(prefix="berth-build-")
            try:
                m.mount_all([to_json(x) for x in mounts], target)
                try:
                    fill(target)
                finally:
                    m.umount2(target, m.MNT_DETACH)
            finally:
                os.rmdir(target)
            return self._commit_step(state, key, active, created_by, change)
        finally:
            remove_quietly(sn, active)

    def _cached(self, key: str) -> dict | None:
        """The cache's layer for a step, if --no-cache is off and its blobs are still stored."""
        hit = None if self.opts.no_cache else self.cache.get(key)
        if hit is None or not all(self.runner.content.exists(d["digest"]) for d in hit.get("layer", [])):
            return None
        self.progress.line(" ---> Using cache")
        return hit

    def _top(self, state: State) -> str:
        if state.top:
            try:
                self.runner.snapshotter.stat(state.top)
            except BerthError:
                state.top = ""
        if not state.top:
            state.top = self.runner.unpack(state.layers, list(state.config["rootfs"]["diff_ids"]))
        return state.top

    def _commit_step(self, state: State, key: str, active: str, created_by: str, change) -> State:
        """The active snapshot's changes as a layer: into the content store and committed under its chain ID."""
        from berth.oci.digest import chain_ids
        from berth.snapshot import diff

        sn = self.runner.snapshotter
        info = sn.stat(active)
        changes = diff.snapshot_changes(sn, active)
        hit: dict = {"created": rfc3339(), "layer": []}
        if changes:
            with self.runner.content.writer() as writer:
                diff.write_tar(writer, sn.fs(info), changes)
                digest = writer.commit()
                size = writer.written
            hit["layer"] = [{"mediaType": LAYER_MEDIA_TYPE, "digest": digest, "size": size}]
            chain = chain_ids(list(state.config["rootfs"]["diff_ids"]) + [digest])[-1]
            try:
                sn.commit(chain, active)
            except BerthError:
                pass  # the same layer is already there
            hit["top"] = chain
        self.cache.put(key, hit)
        return self._apply(state, key, hit, change, created_by)

    def _apply(self, state: State, key: str, hit: dict, change, created_by: str) -> State:
        config = copy_json(state.config)
        if change:
            change(config["config"])
        layers = list(state.layers)
        top = state.top
        for layer in hit["layer"]:
            layers.append(layer)
            config["rootfs"]["diff_ids"].append(layer["digest"])  # uncompressed: the digest is the diff ID
            top = hit.get("top", "")  # checked when first needed: gc may have taken it
        entry = {"created": hit["created"], "created_by": created_by, "comment": "berth.build.v0"}
        if not hit["layer"]:
            entry["empty_layer"] = True
        config["history"].append(entry)
        new = State(config=config, layers=layers, key=key, top=top, args=state.args, cmd_set=state.cmd_set)
        self.progress.line(f" ---> {key.removeprefix('sha256:')[:12]}")
        return new

    def _ins_run(self, stage: Stage, state: State, ins: Instruction) -> State:
        if ins.heredocs and ins.args and ins.args[0].strip() == f"<<{ins.heredocs[0][0]}" and len(ins.heredocs) == 1:
            script = ins.heredocs[0][1]
            argv = list(state.config["config"].get("Shell") or DEFAULT_SHELL) + [script]
        elif ins.heredocs:
            text = ins.args[0] + "\n" + "".join(f"{body}{name}\n" for name, body in ins.heredocs)
            argv = list(state.config["config"].get("Shell") or DEFAULT_SHELL) + [text]
        else:
            argv = self._command(state, ins)
        env_names = {e.partition("=")[0] for e in state.config["config"].get("Env") or []}
        args_env = [f"{k}={v}" for k, v in sorted(state.args.items()) if k not in env_names]
        prefix = f"|{len(args_env)} {' '.join(args_env)} " if args_env else ""
        # proxy settings reach RUN without an ARG, and stay out of the history and the cache key, as Docker's
        proxies = [f"{k}={v}" for k, v in sorted(self.opts.build_args.items())
                   if k in PROXY_ARGS and k not in state.args and k not in env_names]  # fmt: skip
        created_by = f"RUN {prefix}{' '.join(argv)}"
        network = ins.flag("network") or self.opts.network
        binds, tmpfs, mount_key = self._run_mounts(state, ins)
        key = cache_key(state.key, created_by, network, mount_key)
        hit = self._cached(key)
        if hit is not None:
            return self._apply(state, key, hit, None, created_by)
        request = RunRequest(key=os.urandom(32).hex(), parent=self._top(state), config=state.config, argv=argv, env=args_env + proxies,
                             network="" if network == "default" else network, binds=binds, tmpfs=tmpfs)  # fmt: skip
        output: object = self.out
        captured = None
        if self.opts.quiet:
            import tempfile

            captured = tempfile.TemporaryFile()
            output = captured
        active = request.key  # removed below unless committed, however the step ends
        try:
            code = self.runner.run(request, output, self.cancel.is_set)
            if self.cancel.is_set():
                raise KeyboardInterrupt
            if code != 0:
                if captured is not None:
                    captured.seek(0)
                    self.out.write(captured.read())
                raise BuildError(f"The command '{' '.join(argv)}' returned a non-zero code: {code}")
            self._forget_mount_points(active)
            return self._commit_step(state, key, active, created_by, None)
        finally:
            remove_quietly(self.runner.snapshotter, active)

    def _run_mounts(self, state: State, ins: Instruction) -> tuple[list[str], list[str], list]:
        binds, tmpfs, key = [], [], []
        for spec in ins.flags.get("mount", []):
            opts: dict[str, str] = {}
            for kv in spec.split(","):
                k, sep, v = kv.partition("=")
                opts[k.strip()] = v if sep else "true"
            kind = opts.get("type", "bind")
            target = opts.get("target") or opts.get("dst") or opts.get("destination")
            if not target:
                raise InvalidArgument(f"--mount {spec}: a target is required")
            target = posixpath.join(state.config["config"].get("WorkingDir") or "/", target)
            if kind == "tmpfs":
                tmpfs.append(target + (f":size={opts['size']}" if "size" in opts else ""))
            elif kind == "cache":
                cid = opts.get("id") or target
                path = os.path.join(self.cache.mounts, sha256(cid.encode()).hexdigest()[:24])
                os.makedirs(path, exist_ok=True)
                binds.append(f"{path}:{target}" + (":ro" if opts.get("readonly", opts.get("ro")) == "true" else ""))
            elif kind == "bind":
                from berth.build import copy as copying

                src_root = self.opts.context
                if opts.get("from"):
                    src_root = self._stage_root(opts["from"])
                source = opts.get("source") or opts.get("src") or "/"
                srcs = copying.resolve_sources(
                    src_root, [source], None if opts.get("from") else self.matcher, "RUN --mount"
                )
                rw = opts.get("rw", opts.get("readwrite")) == "true"
                binds.append(f"{srcs[0].path}:{target}" + ("" if rw else ":ro"))
                key.append(copying.checksum(srcs, None, self.cache))
            else:
                raise InvalidArgument(f"--mount type={kind} is not supported (bind, cache and tmpfs are)")
            key.append(spec)
        return binds, tmpfs, key

    def _forget_mount_points(self, active: str) -> None:
        """Drop the runtime's mount-point files from the step's layer (and the /etc copied up for them)."""
        from berth.snapshot.diff import lower_has, mount_point_files

        sn = self.runner.snapshotter
        root = sn.fs(sn.stat(active))
        for rel in mount_point_files(sn, active):
            os.unlink(os.path.join(root, rel))
        etc = os.path.join(root, "etc")
        if sn.whiteouts_as_devices and os.path.isdir(etc) and not os.listdir(etc) and lower_has(sn, active, "etc"):
            try:
                os.getxattr(etc, "trusted.overlay.opaque")
            except OSError:
                os.rmdir(etc)

    def _stage_root(self, ref: str) -> str:
        """A read-only view of a stage's (or an image's) root, mounted for the rest of the build."""
        import tempfile

        from berth.linux import mount as m

        st = self.stage_by_ref(ref)
        if st is not None:
            if st.index not in self.results:
                raise FailedPrecondition(f"stage {ref} has not been built")
            state = self.results[st.index]
        else:
            image = self.runner.base(ref)
            state = State(config=image.config, layers=image.layers, key="")
        top = self._top(state)
        if top in self._views:
            return self._views[top]
        target = tempfile.mkdtemp(prefix="berth-from-")
        view = f"view-{os.getpid()}-{os.urandom(6).hex()}"
        if top:
            mounts = self.runner.snapshotter.view(view, top)
            m.mount_all([to_json(x) for x in mounts], target)
            self._cleanups.append((view, target))
        else:
            self._cleanups.append(("", target))
        self._views[top] = target
        return target

    def _copy(self, stage: Stage, state: State, ins: Instruction, add: bool) -> State:
        from berth.build import copy as copying

        what = ins.cmd
        env = self._env(state)
        words = [expand(a, env, self.df.escape) for a in ins.args]
        dest_word = words[-1]
        workdir = state.config["config"].get("WorkingDir") or "/"
        dest = posixpath.join(workdir, dest_word) + ("/" if dest_word.endswith("/") or dest_word in (".", "") else "")
        heredocs = {name: body for name, body in ins.heredocs}
        from_ref = expand(ins.flag("from"), env, self.df.escape) if ins.flag("from") else ""
        src_root = self._stage_root(from_ref) if from_ref else self.opts.context
        matcher = None if from_ref else self.matcher
        file_sources = [w for w in words[:-1] if not (w.startswith("<<") and w.lstrip("<-").strip("\"'") in heredocs)]
        urls = [w for w in file_sources if w.startswith(("http://", "https://"))]
        if urls and (not add or from_ref):
            raise InvalidArgument(f"source can't be a URL ({urls[0]}): use ADD")
        if any(w.startswith(("git@", "git://")) for w in file_sources):
            raise InvalidArgument("git sources are not supported")
        local = [w for w in file_sources if w not in urls]
        sources = copying.resolve_sources(src_root, local, matcher, what) if local else []
        if urls:
            import tempfile

            scratch = tempfile.mkdtemp(prefix="berth-add-")
            try:
                fetched = [copying.fetch(u, scratch, what) for u in urls]
                return self._copy_step(
                    state, ins, what, words, from_ref, sources, fetched, matcher, dest, heredocs, env
                )
            finally:
                from berth.fs import remove_tree

                remove_tree(scratch)
        return self._copy_step(state, ins, what, words, from_ref, sources, [], matcher, dest, heredocs, env)

    def _copy_step(self, state: State, ins: Instruction, what: str, words: list[str], from_ref: str, sources: list,
                   fetched: list, matcher, dest: str, heredocs: dict, env: dict) -> State:  # fmt: skip
        from berth.build import copy as copying

        add = what == "ADD"
        chown = ins.flag("chown")
        chmod = ins.flag("chmod")
        if chmod and not all(c in "01234567" for c in chmod):
            raise InvalidArgument(f"invalid --chmod={chmod}: only octal modes are supported")
        created_by = (
            f"{what} {' '.join(f'--{k}={v[-1]}' for k, v in sorted(ins.flags.items()) if k != 'from')}".rstrip()
        )
        created_by += (f" --from={from_ref}" if from_ref else "") + " " + " ".join(words)
        key = cache_key(state.key, created_by, copying.checksum(sources, matcher, self.cache),
                   copying.checksum(fetched, None), sorted(heredocs.items()))  # fmt: skip
        count = len(sources) + len(fetched)

        def fill(root: str) -> None:
            owner = (
                self._owner(root, chown) if chown else copying.Owner(None, None) if from_ref else copying.Owner(0, 0)
            )
            copier = copying.Copier(root, owner, int(chmod, 8) if chmod else None)
            try:
                if sources:
                    copying.copy_sources(copier, sources, dest, matcher, what, extract=add, count=count)
                if fetched:  # remote files are never extracted
                    copying.copy_sources(copier, fetched, dest, None, what, count=count)
                for name, body in heredocs.items():
                    target = posixpath.join(dest, name) if dest.endswith("/") else dest
                    copier.put_bytes(target, expand(body, env, self.df.escape).encode())
            finally:
                copier.close()

        return self._layer_step(state, created_by, key, fill)

    def _ins_copy(self, stage: Stage, state: State, ins: Instruction) -> State:
        return self._copy(stage, state, ins, add=False)

    def _ins_add(self, stage: Stage, state: State, ins: Instruction) -> State:
        return self._copy(stage, state, ins, add=True)

    def _owner(self, root: str, chown: str):
        """--chown's USER[:GROUP], names looked up in the stage's own /etc/passwd and /etc/group."""
        from berth import users
        from berth.build import copy as copying

        user, _, group = chown.partition(":")

        def entry(path: str, name: str) -> list[str]:
            found = users.find(users.entries(root, path) or [], name)
            if found is None or len(found) < 3 or not found[2].isdigit():
                raise InvalidArgument(
                    f"unable to convert uid/gid chown string to host mapping: can't find uid for user {name}"
                )
            return found

        if user.isdigit():
            uid = gid = int(user)
        else:
            found = entry("/etc/passwd", user)
            uid, gid = int(found[2]), int(found[3]) if len(found) > 3 and found[3].isdigit() else int(found[2])
        if group:
            gid = int(group) if group.isdigit() else int(entry("/etc/group", group)[2])
        return copying.Owner(uid, gid)


def remove_quietly(sn, key: str) -> None:
    try:
        sn.remove(key)
    except BerthError:
        pass
