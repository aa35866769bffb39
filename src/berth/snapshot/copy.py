"""The copy snapshotter, for hosts without overlayfs: each active snapshot is a
full copy of its parent's tree, and mounts are plain binds."""

from __future__ import annotations

import os
import subprocess

from berth.errors import Unavailable
from berth.snapshot.base import VIEW, Info, Mount, Snapshotter


class CopySnapshotter(Snapshotter):
    kind = "copy"
    whiteouts_as_devices = False

    def _create_dirs(self, info: Info) -> None:
        fs = os.path.join(self.dir(info), "fs")
        os.makedirs(os.path.dirname(fs), exist_ok=True)
        if not info.parent:
            os.mkdir(fs, 0o755)
            return
        parent = self.fs(self.stat(info.parent))
        # cp -a keeps owners, modes, times, links, xattrs; reflinks where the fs has them
        proc = subprocess.run(["cp", "-a", "--reflink=auto", parent, fs], capture_output=True, text=True)
        if proc.returncode != 0:
            raise Unavailable(f"copying snapshot {info.parent}: {proc.stderr.strip()}")

    def _mounts(self, info: Info, chain: list[Info]) -> list[Mount]:
        ro = "ro" if info.kind == VIEW else "rw"
        return [Mount(type="bind", source=self.fs(info), options=(ro, "rbind"))]
