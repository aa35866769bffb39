"""The instructions that change only the image config (ENV, LABEL, EXPOSE, VOLUME, USER,\nSTOPSIGNAL, SHELL, CMD, ENTRYPOINT, HEALTHCHECK, ONBUILD, ARG) and WORKDIR, which may also\nmake its directory. A part of berth.build.builder.Builder."""

from __future__ import annotations

import posixpath

from berth import fastjson
from berth.build.dockerfile import Instruction, Stage
from berth.build.shell import expand, expand_words
from berth.build.state import DEFAULT_SHELL, State, cache_key, copy_json
from berth.errors import BerthError, InvalidArgument


class ConfigInstructions:
    def _env(self, state: State) -> dict[str, str]:
        """What variables expand to: ARGs in scope, overridden by ENV."""
        env = dict(state.args)
        for entry in state.config["config"].get("Env") or []:
            k, _, v = entry.partition("=")
            env[k] = v
        return env

    def _x(self, state: State, text: str) -> str:
        return expand(text, self._env(state), self.df.escape)

    def _config_step(self, state: State, ins: Instruction, created_by: str, change) -> State:
        config = copy_json(state.config)
        change(config["config"])
        config["history"].append({"created": self._last_created(config), "created_by": created_by,
                                  "comment": "berth.build.v0", "empty_layer": True})  # fmt: skip
        new = State(config=config, layers=state.layers, key=cache_key(state.key, created_by), top=state.top,
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
        new = State(config=state.config, layers=state.layers, key=cache_key(state.key, "ARG", name, value), top=state.top,
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

        return self._layer_step(state, created_by, cache_key(state.key, created_by), make, change)
