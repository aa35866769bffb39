"""A created container as the lifecycle operations see it: state, config, cgroup."""

from __future__ import annotations

import os

from berth import fastjson
from berth.oci.runtime_spec import Spec, parse_spec
from berth.runtime import cgroups, statedir


class Container:
    def __init__(self, root: str, container_id: str, state: statedir.ContainerState | None = None,
                 spec: Spec | None = None, cgroup: cgroups.Manager | None = None) -> None:  # fmt: skip
        """Load a container's state from disk, or take what create already holds."""
        self.root = root
        self.state = state or statedir.load(root, container_id)
        self.id = container_id
        self.dir = statedir.container_dir(root, container_id)
        self._spec = spec
        self._cgroup = cgroup

    @property
    def spec(self) -> Spec:
        if self._spec is None:
            with open(os.path.join(self.dir, "config.json"), "rb") as f:
                self._spec = parse_spec(fastjson.loads(f.read()))
        return self._spec

    @property
    def cgroup(self) -> cgroups.Manager:
        if self._cgroup is None:
            self._cgroup = cgroups.manager(self.state.cgroup_path)
        return self._cgroup

    def status(self) -> str:
        return statedir.status(self.root, self.state, lambda: self.cgroup.frozen())

    def oci_state(self) -> dict:
        return statedir.oci_state(self.state, self.status())
