"""The image store through `berth`: local base images, the docker-like verbs,
save and load in both formats, and bad archives that leave the store as it was."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from berth.image.store import ImageStore
from berth.image.unpack import chain_ids, unpack

pytestmark = pytest.mark.root
BERTH = str(Path(sys.executable).parent / "berth")


class Berth:
    def __init__(self, root: str) -> None:
        self.root = root

    def __call__(
        self, *args: str, check: bool = False, stdin=None, input: bytes | None = None
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [BERTH, "--root", self.root, *args], capture_output=True, stdin=stdin, input=input, timeout=120
        )
        proc.stdout_text = proc.stdout.decode(errors="replace")
        proc.stderr_text = proc.stderr.decode(errors="replace")
        if check and proc.returncode != 0:
            raise AssertionError(f"berth {' '.join(args)} -> {proc.returncode}: {proc.stderr_text}")
        return proc

    def store_state(self) -> tuple[list[str], list[str]]:
        blobs = sorted(str(p.name) for p in Path(self.root, "content/blobs/sha256").glob("*"))
        images = self("images", "-q", "--no-trunc", check=True).stdout_text.split()
        return blobs, images


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A store with busybox and bash bootstrapped once for the module."""
    root = str(tmp_path_factory.mktemp("store"))
    b = Berth(root)
    b("image", "bootstrap", "busybox", check=True)
    b("image", "bootstrap", "bash", check=True)
    return b


@pytest.fixture
def berth(tmp_path):
    return Berth(str(tmp_path / "store"))


def test_images_table_like_docker(seeded):
    lines = seeded("images", check=True).stdout_text.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[0].index("TAG") == 13 and lines[0].index("IMAGE ID") == 23  # Docker's tabwriter columns
    repos = {line.split()[0] for line in lines[1:]}
    assert repos == {"busybox", "bash"}
    assert seeded("images", "busybox", check=True).stdout_text.count("\n") == 2
    rows = [json.loads(line) for line in seeded("images", "--format", "json", check=True).stdout_text.splitlines()]
    assert {r["Repository"] for r in rows} == {"busybox", "bash"}
    assert set(rows[0]) >= {"ID", "Repository", "Tag", "CreatedSince", "Size", "Digest"}
    assert seeded("images", "--filter", "reference=bu*", "-q", check=True).stdout_text.count("\n") == 1
    assert seeded("images", "--filter", "bogus=1").returncode != 0


def test_tag_inspect_history_rmi(seeded):
    seeded("tag", "busybox", "simple:v1", check=True)
    out = seeded("image", "inspect", "simple:v1", check=True).stdout_text
    doc = json.loads(out)[0]
    assert doc["Id"].startswith("sha256:") and "simple:v1" in doc["RepoTags"] and "busybox:latest" in doc["RepoTags"]
    assert doc["Config"]["Cmd"] == ["sh"] and doc["Os"] == "linux" and doc["RootFS"]["Type"] == "layers"
    assert (
        seeded("image", "inspect", "-f", "{{.Config.Cmd}} {{.Os}}", "simple:v1", check=True).stdout_text
        == "[sh] linux\n"
    )
    history = seeded("history", "simple:v1", check=True).stdout_text.splitlines()
    assert history[0].split()[:2] == ["IMAGE", "CREATED"] and "berth image bootstrap busybox" in history[1]
    short = doc["Id"][7:19]
    conflict = seeded("rmi", short)
    assert conflict.returncode == 1 and "must be forced" in conflict.stderr_text
    assert seeded("rmi", "simple:v1", check=True).stdout_text == "Untagged: simple:v1\n"
    assert seeded("image", "inspect", "simple:v1").returncode == 1
    missing = seeded("rmi", "nope")
    assert missing.returncode == 1 and missing.stderr_text.strip() == "Error: No such image: nope"


def test_bad_names(seeded):
    for args, message in ((("tag", "busybox", "UPPER"), "must be lowercase"), (("image", "bootstrap", "alpine"), "unknown base image"),
                          (("image", "inspect", "nope"), "No such image: nope")):  # fmt: skip
        proc = seeded(*args)
        assert proc.returncode != 0 and message in proc.stderr_text, proc.stderr_text


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_save_load_round_trip(seeded, berth, tmp_path, fmt):
    archive = tmp_path / "img.tar"
    seeded("save", "--format", fmt, "-o", str(archive), "bash", check=True)
    out = berth("load", "-i", str(archive), check=True).stdout_text
    assert out == "Loaded image: bash:latest\n"
    original = json.loads(seeded("image", "inspect", "bash", check=True).stdout_text)[0]
    loaded = json.loads(berth("image", "inspect", "bash", check=True).stdout_text)[0]
    assert loaded["Id"] == original["Id"] and loaded["RootFS"] == original["RootFS"]
    if fmt == "oci-archive":
        assert loaded["Descriptor"]["digest"] == original["Descriptor"]["digest"]
    # from stdin too, and loading twice changes nothing
    before = berth.store_state()
    berth("load", stdin=open(archive, "rb"), check=True)
    assert berth.store_state() == before


def test_save_refuses_unknown_image_and_writes_nothing(seeded, tmp_path):
    out = tmp_path / "x.tar"
    proc = seeded("save", "-o", str(out), "busybox", "nope")
    assert proc.returncode == 1 and "No such image: nope" in proc.stderr_text and not out.exists()


def _archive(seeded, tmp_path) -> bytes:
    path = tmp_path / "good.tar"
    seeded("save", "-o", str(path), "busybox", check=True)
    return path.read_bytes()


def _rewrite(data: bytes, change) -> bytes:
    """Copy a tar, letting change(name, bytes) return new bytes or None to drop the entry."""
    src = tarfile.open(fileobj=io.BytesIO(data))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            content = src.extractfile(m).read() if m.isfile() else None
            if content is not None:
                content = change(m.name, content)
                if content is None:
                    continue
                m.size = len(content)
                dst.addfile(m, io.BytesIO(content))
            else:
                dst.addfile(m)
    return out.getvalue()


def test_bad_archives_leave_the_store_as_it_was(seeded, berth, tmp_path):
    good = _archive(seeded, tmp_path)
    berth("image", "bootstrap", "busybox", "--tag", "keep:me", check=True)
    before = berth.store_state()
    manifest = json.loads(tarfile.open(fileobj=io.BytesIO(good)).extractfile("manifest.json").read())[0]
    layer = manifest["Layers"][0]

    def flip_layer(name, content):
        return content[:-2000] + b"X" * 2000 if name == layer else content

    def drop_layer(name, content):
        return None if name == layer else content

    def bad_config_diff(name, content):
        if name == manifest["Config"]:
            cfg = json.loads(content)
            cfg["rootfs"]["diff_ids"] = ["sha256:" + "0" * 64]
            return json.dumps(cfg).encode()
        return content

    cases = {
        "truncated": (good[: len(good) // 2], "invalid archive"),
        "garbage": (b"\0garbage" * 1000, "invalid archive"),
        "no manifest": (
            _rewrite(good, lambda n, c: None if n in ("manifest.json", "index.json") else c),
            "neither manifest.json",
        ),
        "layer corrupted": (_rewrite(good, flip_layer), "the config says"),
        "layer missing": (_rewrite(good, drop_layer), "is missing"),
        "diff id wrong": (_rewrite(good, bad_config_diff), "the config says"),
    }
    for name, (data, message) in cases.items():
        proc = berth("load", input=data)
        assert proc.returncode == 1, name
        assert message in proc.stderr_text, (name, proc.stderr_text)
        assert len(proc.stderr_text.strip().splitlines()) == 1, (name, proc.stderr_text)
        assert berth.store_state() == before, f"{name}: the store changed"


def test_oci_blob_that_does_not_match_its_digest(seeded, berth, tmp_path):
    path = tmp_path / "oci.tar"
    seeded("save", "--format", "oci-archive", "-o", str(path), "busybox", check=True)
    index = json.loads(tarfile.open(path).extractfile("index.json").read())
    manifest_name = "blobs/" + index["manifests"][0]["digest"].replace(":", "/")
    bad = _rewrite(
        path.read_bytes(), lambda n, c: c.replace(b"schemaVersion", b"schemaVersioN") if n == manifest_name else c
    )
    proc = berth("load", input=bad)
    assert proc.returncode == 1 and "does not match its digest" in proc.stderr_text
    assert berth.store_state() == ([], [])


def test_concurrent_loads_of_one_archive(seeded, berth, tmp_path):
    path = tmp_path / "img.tar"
    seeded("save", "-o", str(path), "busybox", "bash", check=True)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: berth("load", "-i", str(path)), range(4)))
    assert all(r.returncode == 0 for r in results), [r.stderr_text for r in results]
    assert len(berth.store_state()[1]) == 2
    assert not os.listdir(os.path.join(berth.root, "content/ingest"))


def test_unpack_once_into_snapshots(seeded):
    store = ImageStore(seeded.root)
    try:
        image = store.get("bash")
        top = unpack(store, image)
        assert top == chain_ids(store.config(image).rootfs.diff_ids)[-1]
        snapshots = store.snapshotter.list()
        unpack(store, image)
        assert store.snapshotter.list() == snapshots
        fs = store.snapshotter.fs(store.snapshotter.stat(top))
        assert os.path.isfile(os.path.join(fs, "bin/bash")) and os.path.islink(os.path.join(fs, "bin/ls"))
    finally:
        store.close()
