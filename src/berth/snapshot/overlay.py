"""The overlayfs snapshotter: each snapshot a directory, stacked by overlay mounts."""

from __future__ import annotations

import os

from berth.snapshot.base import VIEW, Info, Mount, Snapshotter

# lowerdir lists longer than a page do not fit in mount(2)'s options
PAGE = 4096


class OverlaySnapshotter(Snapshotter):
    kind = "overlay"
    whiteouts_as_devices = True  # for snapshot.apply: how layers express deletions

    def _create_dirs(self, info: Info) -> None:
        d = self.dir(info)
        os.makedirs(os.path.join(d, "fs"), 0o755)
        if info.kind != VIEW:
            os.makedirs(os.path.join(d, "work"), 0o700)

    def _mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        if info.kind == VIEW:
            if not chain:
                return [Mount(type="bind", source=self.fs(info), options=("ro", "rbind"))]
            if len(chain) == 1:
                return [Mount(type="bind", source=self.fs(chain[0]), options=("ro", "rbind"))]
            return [Mount(type="overlay", source="overlay", options=("ro", "lowerdir=" + self._lower(chain)))]
        if not chain:
            return [Mount(type="bind", source=self.fs(info), options=("rw", "rbind"))]
        options = (
            f"workdir={os.path.join(self.dir(info), 'work')}",
            f"upperdir={self.fs(info)}",
            "lowerdir=" + self._lower(chain),
        )
        return [Mount(type="overlay", source="overlay", options=options)]

    def _lower(self, chain: list[Info]) -> str:
        lower = ":".join(self.fs(p) for p in chain)
        if len(lower) > PAGE - 512:
            from berth.errors import Unsupported

            raise Unsupported(f"{len(chain)} layers do not fit in one overlay mount yet (short link names are to come)")
        return lower
