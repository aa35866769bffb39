"""The overlayfs snapshotter: each snapshot a directory, stacked by overlay mounts.

    <root>/snapshots/<id>/fs     the snapshot's files (an overlay upper dir)
    <root>/snapshots/<id>/work   overlay's work dir (active snapshots)
    <root>/snapshots/<id>/link   the snapshot's short name
    <root>/l/<short>             -> ../snapshots/<id>/fs

mount(2) takes its options in one page. A chain whose absolute paths would not
fit is mounted with short relative names (l/<8 chars>, 11 bytes a layer, as
Docker's overlay2 does), from the snapshotter's root: the Mount says so in `cwd`.
That keeps 300+ layers in a page; overlayfs itself stops at 500.
"""

from __future__ import annotations

import os

from berth.snapshot.base import VIEW, Info, Mount, Snapshotter

PAGE = 4096


class OverlaySnapshotter(Snapshotter):
    kind = "overlay"
    whiteouts_as_devices = True  # for snapshot.apply: how layers express deletions

    def _create_dirs(self, info: Info) -> None:
        d = self.dir(info)
        os.makedirs(os.path.join(d, "fs"), 0o755)
        if info.kind != VIEW:
            os.makedirs(os.path.join(d, "work"), 0o700)
        links = os.path.join(self.root, "l")
        os.makedirs(links, exist_ok=True)
        while True:
            # short names keep a deep chain's lowerdir within a page; hex, since base64 imports `re`
            short = os.urandom(5).hex()
            try:
                os.symlink(f"../snapshots/{info.id}/fs", os.path.join(links, short))
                break
            except FileExistsError:
                continue
        with open(os.path.join(d, "link"), "w") as f:
            f.write(short)

    def _short(self, info: Info) -> str:
        with open(os.path.join(self.dir(info), "link")) as f:
            return "l/" + f.read().strip()

    def remove(self, key: str) -> None:
        info = self.stat(key)
        try:
            short = self._short(info)
        except FileNotFoundError:
            short = ""
        super().remove(key)
        if short:
            try:
                os.unlink(os.path.join(self.root, short))
            except FileNotFoundError:
                pass

    def _mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        if info.kind == VIEW:
            if not chain:
                return [Mount(type="bind", source=self.fs(info), options=("ro", "rbind"))]
            if len(chain) == 1:
                return [Mount(type="bind", source=self.fs(chain[0]), options=("ro", "rbind"))]
            return [self._overlay(info, chain, writable=False)]
        if not chain:
            return [Mount(type="bind", source=self.fs(info), options=("rw", "rbind"))]
        return [self._overlay(info, chain, writable=True)]

    def _overlay(self, info: Info, chain: list[Info], writable: bool) -> Mount:
        def options(lower: list[str], upper: str, work: str) -> tuple[str, ...]:
            if writable:
                return (f"workdir={work}", f"upperdir={upper}", "lowerdir=" + ":".join(lower))
            return ("ro", "lowerdir=" + ":".join(lower))

        opts = options([self.fs(p) for p in chain], self.fs(info), os.path.join(self.dir(info), "work"))
        if len(",".join(opts)) < PAGE - 1:
            return Mount(type="overlay", source="overlay", options=opts)
        rel = os.path.relpath(self.dir(info), self.root)
        opts = options([self._short(p) for p in chain], f"{rel}/fs", f"{rel}/work")
        if len(",".join(opts)) >= PAGE - 1:
            from berth.errors import Unsupported

            raise Unsupported(f"{len(chain)} layers do not fit in one overlay mount")
        return Mount(type="overlay", source="overlay", options=opts, cwd=self.root)
