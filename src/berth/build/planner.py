"""Planning a build: the ARGs before the first FROM, the stages the target needs and the\nstages each one waits for. A part of berth.build.builder.Builder."""

from __future__ import annotations

from berth.build.dockerfile import Stage
from berth.build.shell import expand
from berth.errors import InvalidArgument, NotFound


class Planning:
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
