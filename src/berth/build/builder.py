"""Executing a Dockerfile: stages, instructions, the layer cache, the image.

Each stage is a `State` (the image config as JSON, its layers, and the cache
key of everything so far). Config-only instructions change the config; RUN,
COPY, ADD and a WORKDIR that makes its directory produce a layer: the step's
changes in an active snapshot, written as an uncompressed tar into the content
store (its digest is its diff ID) and committed as the snapshot of that chain
ID, so the next step and later containers stand on it without unpacking.

The cache maps a key (the parent's key, the instruction as it will run, the
build args it sees, and for COPY/ADD a checksum of the sources) to the layer
it made. Only stages the target needs are built; stages with no dependency on
each other build in threads, at the same time.
"""

from __future__ import annotations

import os
import posixpath
import threading

from berth import fastjson
from berth.build.backend import RunRequest, StepRunner
from berth.build.cache import Cache
from berth.build.dockerfile import Dockerfile, Instruction, Stage, parse
from berth.build.ignore import Matcher
from berth.build.shell import expand, expand_words
from berth.clock import rfc3339
from berth.errors import BerthError, FailedPrecondition, InvalidArgument, NotFound
from berth.oci.digest import sha256  # the builtin one: hashlib's OpenSSL import costs ~4 ms on the all-cached path
from berth.oci.record import to_json

PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY",
              "no_proxy", "ALL_PROXY", "all_proxy")  # fmt: skip
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class BuildError(BerthError):
    """A step failed; exit_code is Docker's (1) and the message names the step."""


class Options:
    def __init__(self, context: str, dockerfile: str, dockerfile_name: str = "Dockerfile", tags=(), build_args=None,
                 target: str = "", no_cache: bool = False, labels=None, network: str = "", quiet: bool = False) -> None:  # fmt: skip
        self.context = context
        self.dockerfile = dockerfile  # the Dockerfile's text
        self.dockerfile_name = dockerfile_name
        self.tags = list(tags)
        self.build_args: dict[str, str] = dict(build_args or {})
        self.target = target
        self.no_cache = no_cache
        self.labels: dict[str, str] = dict(labels or {})
        self.network = network
        self.quiet = quiet


class State:
    __slots__ = ("config", "layers", "key", "top", "args", "image_id", "cmd_set")

    def __init__(self, config: dict, layers: list[dict], key: str, top: str = "", args: dict | None = None,
                 image_id: str = "", cmd_set: bool = False) -> None:  # fmt: skip
        self.config = config
        self.layers = layers
        self.key = key
        self.top = top  # snapshot key of the top layer, once unpacked (checked before use)
        self.args: dict[str, str] = args if args is not None else {}  # ARGs in scope with their values
        self.image_id = image_id  # the image this state is exactly, when known
        self.cmd_set = cmd_set  # a CMD in this stage: an ENTRYPOINT after it keeps it


def _copy_json(doc: dict) -> dict:
    return fastjson.loads(fastjson.dumps(doc))


def _key(*parts: object) -> str:
    return "sha256:" + sha256(fastjson.dumps(parts).encode()).hexdigest()


class Progress:
    """Docker's step lines (`Step N/M : ...`, ` ---> Using cache`, ` ---> ID`), one whole line at a time."""

    def __init__(self, out: object, quiet: bool) -> None:
        self.out, self.quiet = out, quiet
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        if self.quiet:
            return
        with self.lock:
            self.out.write(text.encode() + b"\n")
            self.out.flush()


class Builder:
    """`runners()` makes a StepRunner: each thread gets its own, and so its own
    SQLite connections, which is how SQLite is shared between threads."""

    def __init__(self, runners, cache_root: str, opts: Options, out: object) -> None:
        self.runners, self.cache_root, self.opts, self.out = runners, cache_root, opts, out
        self._local = threading.local()
        self.progress = Progress(out, opts.quiet)
        self.df: Dockerfile = parse(opts.dockerfile, opts.dockerfile_name)
        self.matcher = Matcher.from_context(opts.context)
        self.cancel = threading.Event()
        self.used_args: set[str] = set()
        self.results: dict[int, State] = {}
        self.step_no = 0
        self.total = 0
        self.meta: dict[str, str] = {}
        self._views: dict[str, str] = {}  # snapshot key -> where a stage's root is mounted for COPY --from
        self._cleanups: list[tuple[str, str]] = []

    @property
    def runner(self) -> StepRunner:
        if not hasattr(self._local, "runner"):
            self._local.runner = self.runners()
        return self._local.runner

    @property
    def cache(self) -> Cache:
        if not hasattr(self._local, "cache"):
            self._local.cache = Cache(self.cache_root)
        return self._local.cache

    def _close_local(self) -> None:
        """What this thread opened: SQLite connections close in the thread that made them."""
        for name in ("runner", "cache"):
            opened = self._local.__dict__.pop(name, None)
            if opened is not None:
                opened.close()

    # -- planning -------------------------------------------------------------
    def _meta_args(self) -> dict[str, str]:
        """ARGs before the first FROM, on top of BuildKit's automatic platform ARGs."""
        from berth.oci.image_spec import host_arch

        arch = host_arch()
        out: dict[str, str] = {}
        for side in ("TARGET", "BUILD"):
            out |= {f"{side}PLATFORM": f"linux/{arch}", f"{side}OS": "linux", f"{side}ARCH": arch, f"{side}VARIANT": ""}
        for ins in self.df.meta_args:
            name, sep, default = ins.args[0].partition("=")
            if name in self.opts.build_args:
                out[name] = self.opts.build_args[name]
                self.used_args.add(name)
            elif sep:
                out[name] = expand(default, out, self.df.escape)
        return out

    def stage_by_ref(self, ref: str) -> Stage | None:
        for st in self.df.stages:
            if st.name and st.name == ref.lower():
                return st
        if ref.isdigit() and int(ref) < len(self.df.stages):
            return self.df.stages[int(ref)]
        return None

    def _deps(self, stage: Stage) -> set[int]:
        refs = [expand(stage.base, self.meta, self.df.escape)]
        for ins in stage.instructions:
            if ins.cmd == "COPY" and ins.flag("from"):
                refs.append(expand(ins.flag("from"), self.meta, self.df.escape))
            for mnt in ins.flags.get("mount", []):
                opts = dict(kv.partition("=")[::2] for kv in mnt.split(","))
                if opts.get("from"):
                    refs.append(opts["from"])
        out = set()
        for ref in refs:
            st = self.stage_by_ref(ref)
            if st is not None and st.index < stage.index:
                out.add(st.index)
            elif st is not None:
                raise InvalidArgument(f"{self.df.path}:{stage.line}: stage {ref} is used before it is defined")
        return out

    def plan(self) -> list[Stage]:
        """The stages the target needs, in file order."""
        self.meta = self._meta_args()
        target = self.df.stages[-1]
        if self.opts.target:
            target = self.stage_by_ref(self.opts.target)
            if target is None or target.name != self.opts.target.lower():
                raise NotFound(f"failed to reach build target {self.opts.target} in Dockerfile")
        needed, todo = set(), [target.index]
        while todo:
            i = todo.pop()
            if i not in needed:
                needed.add(i)
                todo.extend(self._deps(self.df.stages[i]))
        self.deps = {i: self._deps(self.df.stages[i]) for i in needed}
        self.target = target
        stages = [s for s in self.df.stages if s.index in needed]
        self.total = sum(1 + len(s.instructions) for s in stages)
        return stages

    # -- running ------------------------------------------------------------
    def build(self) -> str:
        stages = self.plan()
        if len(stages) == 1:
            self._build_stage(stages[0])
        else:
            self._build_parallel(stages)
        unused = sorted(set(self.opts.build_args) - self.used_args - set(PROXY_ARGS))
        if unused:
            self.progress.line(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed")
        state = self.results[self.target.index]
        image_id = self._commit_image(state)
        self.progress.line(f"Successfully built {image_id.removeprefix('sha256:')[:12]}")
        for tag in self.opts.tags:
            name = tag.rpartition("/")[2]
            self.progress.line(f"Successfully tagged {tag if ':' in name or '@' in name else tag + ':latest'}")
        return image_id

    def _build_parallel(self, stages: list[Stage]) -> None:
        events = {s.index: threading.Event() for s in stages}
        errors: list[BaseException] = []

        def work(stage: Stage) -> None:
            try:
                for dep in self.deps[stage.index]:
                    while not events[dep].wait(0.05):
                        if self.cancel.is_set():
                            return
                    if dep not in self.results:
                        return  # a dependency failed
                if not self.cancel.is_set():
                    self._build_stage(stage)
            except BaseException as e:  # noqa: BLE001 - reported by the main thread
                errors.append(e)
                self.cancel.set()
            finally:
                self._close_local()
                events[stage.index].set()

        threads = [threading.Thread(target=work, args=(s,), name=f"stage-{s.index}") for s in stages]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.1)
        except BaseException:
            self.cancel.set()
            for t in threads:
                t.join()
            raise
        if errors:
            raise errors[0]

    def _step(self, text: str) -> None:
        with self.progress.lock:
            self.step_no += 1
            n = self.step_no
        self.progress.line(f"Step {n}/{self.total} : {text}")

    def _build_stage(self, stage: Stage) -> None:
        state = self._from(stage)
        for ins in list(stage.instructions):
            if self.cancel.is_set():
                raise KeyboardInterrupt
            self._step(ins.original.split("\n")[0])
            state = self._dispatch(stage, state, ins)
        self.results[stage.index] = state

    def _from(self, stage: Stage) -> State:
        base = expand(stage.base, self.meta, self.df.escape)
        platform = expand(stage.platform, self.meta, self.df.escape)
        if platform and platform != self.meta["TARGETPLATFORM"]:
            raise InvalidArgument(f"{self.df.path}:{stage.line}: FROM --platform={platform}: berth builds for the "
                                  f"host's platform ({self.meta['TARGETPLATFORM']}) only")  # fmt: skip
        self._step(f"FROM {base}" + (f" AS {stage.name}" if stage.name else ""))
        args: dict[str, str] = {}
        ref_stage = self.stage_by_ref(base)
        if base == "scratch":
            from berth.oci.image_spec import host_arch

            config = {"architecture": host_arch(), "os": "linux",
                      "config": {"Env": [DEFAULT_PATH], "WorkingDir": "/"}, "rootfs": {"type": "layers", "diff_ids": []}, "history": []}  # fmt: skip
            state = State(config=config, layers=[], key=_key("scratch"))
        elif ref_stage is not None and ref_stage.index in self.results:
            prev = self.results[ref_stage.index]
            state = State(config=_copy_json(prev.config), layers=list(prev.layers), key=prev.key,
                          top=prev.top, image_id=prev.image_id)  # fmt: skip
        else:
            image = self.runner.base(base)
            config = dict(image.config)
            config.setdefault("config", {})
            config["history"] = list(config.get("history") or [])
            state = State(config=config, layers=list(image.layers), key=_key("image", image.id), image_id=image.id)
        state.args = args
        self.progress.line(f" ---> {(state.image_id or state.key).removeprefix('sha256:')[:12]}")
        triggers = state.config["config"].pop("OnBuild", None) or []
        for text in triggers:
            sub = parse(f"FROM scratch\n{text}\n", f"{self.df.path} (ONBUILD of {base})").stages[0].instructions[0]
            self.progress.line(f"Executing ONBUILD trigger: {text}")
            state = self._dispatch(stage, state, sub)
        return state

    # -- instructions -------------------------------------------------------
    def _env(self, state: State) -> dict[str, str]:
        """What variables expand to: ARGs in scope, overridden by ENV."""
        env = dict(state.args)
        for entry in state.config["config"].get("Env") or []:
            k, _, v = entry.partition("=")
            env[k] = v
        return env

    def _x(self, state: State, text: str) -> str:
        return expand(text, self._env(state), self.df.escape)

    def _dispatch(self, stage: Stage, state: State, ins: Instruction) -> State:
        handler = getattr(self, "_ins_" + ins.cmd.lower())
        try:
            return handler(stage, state, ins)
        except BuildError:
            raise
        except InvalidArgument as e:
            raise InvalidArgument(f"{self.df.path}:{ins.line}: {ins.cmd}: {e}") from None

    def _config_step(self, state: State, ins: Instruction, created_by: str, change) -> State:
        config = _copy_json(state.config)
        change(config["config"])
        config["history"].append({"created": self._last_created(config), "created_by": created_by,
                                  "comment": "berth.build.v0", "empty_layer": True})  # fmt: skip
        new = State(config=config, layers=state.layers, key=_key(state.key, created_by), top=state.top,
                    args=state.args, cmd_set=state.cmd_set)  # fmt: skip
        self.progress.line(f" ---> {new.key.removeprefix('sha256:')[:12]}")
        return new

    @staticmethod
    def _last_created(config: dict) -> str:
        history = config.get("history") or []
        return history[-1].get("created", "") if history else config.get("created", "")

    def _pairs(self, state: State, ins: Instruction) -> list[tuple[str, str]]:
        env = self._env(state)
        args = list(ins.args)
        if len(args) % 2:
            raise InvalidArgument(f"{ins.cmd} needs NAME=VALUE pairs")
        out = []
        for k, v in zip(args[::2], args[1::2], strict=True):
            key = expand(k, env, self.df.escape)
            if not key:
                raise InvalidArgument(f"{ins.cmd} names cannot be empty")
            out.append((key, expand(v, env, self.df.escape)))
        return out

    def _ins_env(self, stage: Stage, state: State, ins: Instruction) -> State:
        pairs = self._pairs(state, ins)

        def change(c: dict) -> None:
            env = list(c.get("Env") or [])
            for k, v in pairs:
                env = [e for e in env if e.partition("=")[0] != k] + [f"{k}={v}"]
            c["Env"] = env

        return self._config_step(state, ins, "ENV " + " ".join(f"{k}={v}" for k, v in pairs), change)

    def _ins_label(self, stage: Stage, state: State, ins: Instruction) -> State:
        pairs = self._pairs(state, ins)
        return self._config_step(state, ins, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs),
                                 lambda c: c.__setitem__("Labels", {**(c.get("Labels") or {}), **dict(pairs)}))  # fmt: skip

    def _ins_maintainer(self, stage: Stage, state: State, ins: Instruction) -> State:
        name = ins.args[0]
        new = self._config_step(state, ins, f"MAINTAINER {name}", lambda c: None)
        new.config["author"] = name
        return new

    def _ins_expose(self, stage: Stage, state: State, ins: Instruction) -> State:
        ports = {}
        for word in ins.args:
            for spec in expand_words(word, self._env(state), self.df.escape):
                port, _, proto = spec.partition("/")
                proto = (proto or "tcp").lower()
                if proto not in ("tcp", "udp", "sctp"):
                    raise InvalidArgument(f"invalid proto: {proto}")
                lo, _, hi = port.partition("-")
                if not lo.isdigit() or (hi and not hi.isdigit()):
                    raise InvalidArgument(f"invalid containerPort: {port}")
                for p in range(int(lo), int(hi or lo) + 1):
                    ports[f"{p}/{proto}"] = {}
        text = "EXPOSE map[" + " ".join(f"{p}:{{}}" for p in sorted(ports)) + "]"
        return self._config_step(state, ins, text,
                                 lambda c: c.__setitem__("ExposedPorts", {**(c.get("ExposedPorts") or {}), **ports}))  # fmt: skip

    def _ins_volume(self, stage: Stage, state: State, ins: Instruction) -> State:
        env = self._env(state)
        paths = [expand(a, env, self.df.escape) for a in ins.args] if ins.json else \
            [w for a in ins.args for w in expand_words(a, env, self.df.escape)]  # fmt: skip
        if any(not p for p in paths):
            raise InvalidArgument("VOLUME specified can not be an empty string")
        return self._config_step(state, ins, f"VOLUME {fastjson.dumps(paths)}",
                                 lambda c: c.__setitem__("Volumes", {**(c.get("Volumes") or {}), **{p: {} for p in paths}}))  # fmt: skip

    def _ins_user(self, stage: Stage, state: State, ins: Instruction) -> State:
        user = self._x(state, ins.args[0])
        return self._config_step(state, ins, f"USER {user}", lambda c: c.__setitem__("User", user))

    def _ins_stopsignal(self, stage: Stage, state: State, ins: Instruction) -> State:
        sig = self._x(state, ins.args[0])
        from berth.linux import signals

        try:
            signals.parse(sig)
        except (ValueError, BerthError):
            raise InvalidArgument(f"invalid signal: {sig}") from None
        return self._config_step(state, ins, f"STOPSIGNAL {sig}", lambda c: c.__setitem__("StopSignal", sig))

    def _ins_shell(self, stage: Stage, state: State, ins: Instruction) -> State:
        shell = list(ins.args)
        return self._config_step(state, ins, f"SHELL {fastjson.dumps(shell)}", lambda c: c.__setitem__("Shell", shell))

    def _command(self, state: State, ins: Instruction) -> list[str]:
        if ins.json:
            return list(ins.args)
        return list(state.config["config"].get("Shell") or DEFAULT_SHELL) + [ins.args[0]]

    def _ins_cmd(self, stage: Stage, state: State, ins: Instruction) -> State:
        cmd = self._command(state, ins)
        new = self._config_step(state, ins, f"CMD {fastjson.dumps(cmd)}", lambda c: c.__setitem__("Cmd", cmd))
        new.cmd_set = True
        return new

    def _ins_entrypoint(self, stage: Stage, state: State, ins: Instruction) -> State:
        ep = self._command(state, ins)
        cmd_here = state.cmd_set

        def change(c: dict) -> None:
            c["Entrypoint"] = ep
            if not cmd_here:
                c["Cmd"] = None  # Docker: an ENTRYPOINT resets the CMD the base image gave

        return self._config_step(state, ins, f"ENTRYPOINT {fastjson.dumps(ep)}", change)

    def _ins_healthcheck(self, stage: Stage, state: State, ins: Instruction) -> State:
        if ins.args[0].upper() == "NONE":
            hc: dict = {"Test": ["NONE"]}
        else:
            rest = list(ins.args[1:])
            hc = {"Test": ["CMD", *rest] if ins.json else ["CMD-SHELL", rest[0]]}
            from berth.units import parse_duration

            for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                              ("start-interval", "StartInterval")):  # fmt: skip
                if ins.flag(flag):
                    hc[key] = int(parse_duration(ins.flag(flag)) * 1e9)
            if ins.flag("retries"):
                if not ins.flag("retries").isdigit():
                    raise InvalidArgument(f"invalid --retries value {ins.flag('retries')!r}")
                hc["Retries"] = int(ins.flag("retries"))
        text = f"HEALTHCHECK {fastjson.dumps(dict(sorted(hc.items())))}"
        return self._config_step(state, ins, text, lambda c: c.__setitem__("Healthcheck", hc))

    def _ins_onbuild(self, stage: Stage, state: State, ins: Instruction) -> State:
        text = ins.original.split(None, 1)[1]
        return self._config_step(state, ins, f"ONBUILD {text}",
                                 lambda c: c.__setitem__("OnBuild", [*(c.get("OnBuild") or []), text]))  # fmt: skip

    def _ins_arg(self, stage: Stage, state: State, ins: Instruction) -> State:
        name, sep, default = ins.args[0].partition("=")
        if name in self.opts.build_args:
            value = self.opts.build_args[name]
            self.used_args.add(name)
        elif sep:
            value = self._x(state, default)
        elif name in self.meta:
            value = self.meta[name]
        else:
            value = None
        args = dict(state.args)
        if value is not None:
            args[name] = value
        new = State(config=state.config, layers=state.layers, key=_key(state.key, "ARG", name, value), top=state.top,
                    args=args, image_id=state.image_id, cmd_set=state.cmd_set)  # fmt: skip
        self.progress.line(f" ---> {(new.image_id or new.key).removeprefix('sha256:')[:12]}")
        return new

    def _ins_workdir(self, stage: Stage, state: State, ins: Instruction) -> State:
        from berth.build import copy as copying

        path = self._x(state, ins.args[0])
        path = posixpath.normpath(posixpath.join(state.config["config"].get("WorkingDir") or "/", path))
        created_by = f"WORKDIR {path}"

        def change(c: dict) -> None:
            c["WorkingDir"] = path

        def make(root: str) -> None:
            copier = copying.Copier(root, copying.Owner(), None)
            try:
                if not copier.is_dir(path):
                    copier.mkdir(path)
            finally:
                copier.close()

        return self._layer_step(state, created_by, _key(state.key, created_by), make, change)

    # -- layer steps -------------------------------------------------------
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
            _remove_quietly(sn, active)

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
        config = _copy_json(state.config)
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
        key = _key(state.key, created_by, network, mount_key)
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
            _remove_quietly(self.runner.snapshotter, active)

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
        key = _key(state.key, created_by, copying.checksum(sources, matcher, self.cache),
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

    # -- the image ----------------------------------------------------------
    def _commit_image(self, state: State) -> str:
        config = _copy_json(state.config)
        if self.opts.labels:
            config["config"]["Labels"] = {**(config["config"].get("Labels") or {}), **self.opts.labels}
        config["created"] = self._last_created(config) or rfc3339()
        config["config"] = {k: v for k, v in config["config"].items() if v not in (None, [], {}, "")}
        config_bytes = fastjson.dumps(config).encode()
        config_digest = self.runner.content.put(config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                       "size": len(config_bytes)},
            "layers": state.layers,
        }  # fmt: skip
        return self.runner.add_image(config_bytes, fastjson.dumps(manifest).encode(), self.opts.tags)

    def close(self) -> None:
        from berth.linux import mount as m

        for view, target in getattr(self, "_cleanups", []):
            try:
                m.umount2(target, m.MNT_DETACH)
            except OSError:
                pass
            os.rmdir(target)
            if view:
                _remove_quietly(self.runner.snapshotter, view)
        self._close_local()


def _remove_quietly(sn, key: str) -> None:
    try:
        sn.remove(key)
    except BerthError:
        pass
