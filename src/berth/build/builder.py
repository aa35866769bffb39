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

Builder is put together from parts named for what they do: planner.py (the stages the target
needs), instructions.py (the config-only instructions), layers.py (the steps that make a layer,
and the cache); state.py holds what they share.
"""

from __future__ import annotations

import os
import threading

from berth import fastjson
from berth.build.backend import StepRunner
from berth.build.cache import Cache, parsed_dir
from berth.build.dockerfile import Dockerfile, Instruction, Stage, parse
from berth.build.ignore import Matcher
from berth.build.instructions import ConfigInstructions
from berth.build.layers import LayerSteps, remove_quietly
from berth.build.planner import Planning
from berth.build.shell import expand
from berth.build.state import DEFAULT_PATH, PROXY_ARGS, BuildError, Options, Progress, State, cache_key, copy_json
from berth.clock import rfc3339
from berth.errors import InvalidArgument


class Builder(Planning, ConfigInstructions, LayerSteps):
    """`runners()` makes a StepRunner: each thread gets its own, and so its own
    SQLite connections, which is how SQLite is shared between threads."""

    def __init__(self, runners, cache_root: str, opts: Options, out: object,
                 cancel: threading.Event | None = None) -> None:  # fmt: skip
        """`cancel`: set by the caller to stop the build (its signal handler's, for one)."""
        self.runners, self.cache_root, self.opts, self.out = runners, cache_root, opts, out
        self._local = threading.local()
        self.progress = Progress(out, opts.quiet)
        self.df: Dockerfile = parse(opts.dockerfile, opts.dockerfile_name, parsed_dir(cache_root))
        self.matcher = Matcher.from_context(opts.context)
        self.cancel = cancel or threading.Event()
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
            state = State(config=config, layers=[], key=cache_key("scratch"))
        elif ref_stage is not None and ref_stage.index in self.results:
            prev = self.results[ref_stage.index]
            state = State(config=copy_json(prev.config), layers=list(prev.layers), key=prev.key,
                          top=prev.top, image_id=prev.image_id)  # fmt: skip
        else:
            image = self.runner.base(base)
            config = dict(image.config)
            config.setdefault("config", {})
            config["history"] = list(config.get("history") or [])
            state = State(config=config, layers=list(image.layers), key=cache_key("image", image.id), image_id=image.id)
        state.args = args
        self.progress.line(f" ---> {(state.image_id or state.key).removeprefix('sha256:')[:12]}")
        triggers = state.config["config"].pop("OnBuild", None) or []
        for text in triggers:
            sub = parse(f"FROM scratch\n{text}\n", f"{self.df.path} (ONBUILD of {base})").stages[0].instructions[0]
            self.progress.line(f"Executing ONBUILD trigger: {text}")
            state = self._dispatch(stage, state, sub)
        return state

    # -- instructions -------------------------------------------------------

    def _dispatch(self, stage: Stage, state: State, ins: Instruction) -> State:
        handler = getattr(self, "_ins_" + ins.cmd.lower())
        try:
            return handler(stage, state, ins)
        except BuildError:
            raise
        except InvalidArgument as e:
            raise InvalidArgument(f"{self.df.path}:{ins.line}: {ins.cmd}: {e}") from None

    # -- layer steps -------------------------------------------------------

    # -- the image ----------------------------------------------------------
    def _commit_image(self, state: State) -> str:
        config = copy_json(state.config)
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
                remove_quietly(self.runner.snapshotter, view)
        self._close_local()
