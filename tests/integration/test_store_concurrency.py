"""Load, rmi, prune and container creation racing on one store, as separate
processes: afterwards every recorded image is whole, every committed snapshot
is on disk, and the store still loads and runs."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import bootstrapped

pytestmark = pytest.mark.root


def loop(cli, tally: Path, n: int, *commands: list[str]) -> subprocess.Popen:
    """A shell loop of berth commands, each allowed to fail (the race is the point); each success
    appends the verb to `tally`."""
    body = "; ".join(" ".join([cli.binary, "--root", cli.root, *c]) + f" >/dev/null 2>&1 && echo {c[0]} >> {tally}"
                     for c in commands)  # fmt: skip
    return subprocess.Popen(["sh", "-c", f"for i in $(seq {n}); do {body}; done; true"])


def test_load_rmi_prune_and_create_race_without_corruption(tmp_path):
    cli = bootstrapped(str(tmp_path / "root"))
    try:
        archive = tmp_path / "bash.tar"
        cli("save", "-o", str(archive), "bash", check=True)
        cli("rmi", "bash", check=True)
        keeper = cli("create", "--name", "keeper", "busybox", "true", check=True).stdout.strip()  # busybox stays in use
        tally = tmp_path / "tally"
        procs = [
            loop(cli, tally, 6, ["load", "-i", str(archive)]),
            loop(cli, tally, 6, ["load", "-i", str(archive)]),
            loop(cli, tally, 6, ["rmi", "-f", "bash"]),
            loop(cli, tally, 6, ["image", "prune", "-a", "-f"]),
            loop(cli, tally, 6, ["create", "--name", "racer", "busybox", "true"], ["rm", "-f", "racer"]),
            loop(cli, tally, 4, ["run", "--rm", "busybox", "true"]),
        ]
        for p in procs:
            assert p.wait(600) == 0
        done = tally.read_text().split()
        assert {"load", "image", "create", "rm", "run"} <= set(done), done  # they really raced (rmi may always lose)
        root = Path(cli.root)
        blobs = {f"sha256:{p.name}" for p in (root / "content/blobs/sha256").iterdir()}
        db = sqlite3.connect(root / "images.db")
        for image_id, manifest in db.execute("SELECT id, manifest FROM images"):
            assert manifest in blobs, f"image {image_id}: manifest blob gone"
            doc = json.loads((root / "content/blobs/sha256" / manifest[7:]).read_text())
            for desc in [doc["config"], *doc["layers"]]:
                assert desc["digest"] in blobs, f"image {image_id}: blob {desc['digest']} gone"
        for (image,) in db.execute("SELECT image FROM tags"):
            assert db.execute("SELECT 1 FROM images WHERE id = ?", (image,)).fetchone(), "a tag of a missing image"
        db.close()
        meta = sqlite3.connect(root / "overlay/metadata.db")
        for sid, key, kind in meta.execute("SELECT id, key, kind FROM snapshots"):
            assert kind == "committed" or key == keeper, f"snapshot {key} left {kind}"
            assert os.path.isdir(root / "overlay/snapshots" / str(sid) / "fs"), f"snapshot {key} has no directory"
        meta.close()
        assert cli("ps", "-aq", check=True).stdout.split() == [keeper[:12]]
        # and it still works
        cli("load", "-i", str(archive), check=True)
        assert cli("run", "--rm", "bash", "bash", "-c", "echo ok").stdout == "ok\n"
    finally:
        cli.cleanup()
