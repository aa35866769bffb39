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
from tests.conftest import BerthCLI, bootstrapped

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A store with busybox and bash of this module's own: its tests tag and remove images."""
    return bootstrapped(str(tmp_path_factory.mktemp("store")))


@pytest.fixture
def berth(tmp_path):
    return BerthCLI(str(tmp_path / "store"))


def test_images_table_like_docker(seeded):
    lines = seeded("images", check=True).stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[0].index("TAG") == 13 and lines[0].index("IMAGE ID") == 23  # Docker's tabwriter columns
    repos = {line.split()[0] for line in lines[1:]}
    assert repos == {"busybox", "bash"}
    assert seeded("images", "busybox", check=True).stdout.count("\n") == 2
    rows = [json.loads(line) for line in seeded("images", "--format", "json", check=True).stdout.splitlines()]
    assert {r["Repository"] for r in rows} == {"busybox", "bash"}
    assert set(rows[0]) >= {"ID", "Repository", "Tag", "CreatedSince", "Size", "Digest"}
    assert seeded("images", "--filter", "reference=bu*", "-q", check=True).stdout.count("\n") == 1
    assert seeded("images", "--filter", "bogus=1").returncode != 0


def test_images_filters_label_before_since(berth, tmp_path):
    import time as _time

    berth("image", "bootstrap", "busybox", check=True)
    ids = {}
    for name, labels in (("first", "a=1"), ("second", "a=2"), ("third", "b=x")):
        ctx = tmp_path / name
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM busybox\nLABEL {labels} name={name}\nRUN echo {name} > /n\n")
        berth("build", "-q", "-t", name, str(ctx), check=True)
        ids[name] = berth("images", "-q", name, check=True).stdout.strip()
        _time.sleep(0.05)

    def names(*filters):
        args = [a for f in filters for a in ("--filter", f)]
        return sorted(line.split()[0] for line in berth("images", *args, check=True).stdout.splitlines()[1:])

    assert names("label=a") == ["first", "second"]
    assert names("label=a=2") == ["second"]
    assert names("label=a", "label=name=first") == ["first"]
    assert names("before=third") == ["busybox", "first", "second"]
    assert names("since=first") == ["second", "third"]
    assert names("since=first", "before=third") == ["second"]
    assert names("reference=first", "reference=third") == ["first", "third"]
    assert names("dangling=false", "label=b") == ["third"]
    assert berth("images", "-a", "-q", check=True).stdout == berth("images", "-q", check=True).stdout
    bad = berth("images", "--filter", "before=nosuch")
    assert bad.returncode != 0 and "No such image: nosuch" in bad.stderr
    assert berth("images", "--filter", "label").returncode != 0


def test_tag_inspect_history_rmi(seeded):
    seeded("tag", "busybox", "simple:v1", check=True)
    out = seeded("image", "inspect", "simple:v1", check=True).stdout
    doc = json.loads(out)[0]
    assert doc["Id"].startswith("sha256:") and "simple:v1" in doc["RepoTags"] and "busybox:latest" in doc["RepoTags"]
    assert doc["Config"]["Cmd"] == ["sh"] and doc["Os"] == "linux" and doc["RootFS"]["Type"] == "layers"
    assert seeded("image", "inspect", "-f", "{{.Config.Cmd}} {{.Os}}", "simple:v1", check=True).stdout == "[sh] linux\n"
    history = seeded("history", "simple:v1", check=True).stdout.splitlines()
    assert history[0].split()[:2] == ["IMAGE", "CREATED"] and "berth image bootstrap busybox" in history[1]
    short = doc["Id"][7:19]
    conflict = seeded("rmi", short)
    assert conflict.returncode == 1 and "must be forced" in conflict.stderr
    assert seeded("rmi", "simple:v1", check=True).stdout == "Untagged: simple:v1\n"
    assert seeded("image", "inspect", "simple:v1").returncode == 1
    missing = seeded("rmi", "nope")
    assert missing.returncode == 1 and missing.stderr.strip() == "Error: No such image: nope"


def test_bad_names(seeded):
    for args, message in ((("tag", "busybox", "UPPER"), "must be lowercase"), (("image", "bootstrap", "alpine"), "unknown base image"),
                          (("image", "inspect", "nope"), "No such image: nope")):  # fmt: skip
        proc = seeded(*args)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_save_load_round_trip(seeded, berth, tmp_path, fmt):
    archive = tmp_path / "img.tar"
    seeded("save", "--format", fmt, "-o", str(archive), "bash", check=True)
    out = berth("load", "-i", str(archive), check=True).stdout
    assert out == "Loaded image: bash:latest\n"
    original = json.loads(seeded("image", "inspect", "bash", check=True).stdout)[0]
    loaded = json.loads(berth("image", "inspect", "bash", check=True).stdout)[0]
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
    assert proc.returncode == 1 and "No such image: nope" in proc.stderr and not out.exists()


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
        assert message in proc.stderr, (name, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (name, proc.stderr)
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
    assert proc.returncode == 1 and "does not match its digest" in proc.stderr
    assert berth.store_state() == ([], [])


def test_concurrent_loads_of_one_archive(seeded, berth, tmp_path):
    path = tmp_path / "img.tar"
    seeded("save", "-o", str(path), "busybox", "bash", check=True)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: berth("load", "-i", str(path)), range(4)))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
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


def test_a_100_layer_image_runs_a_container(tmp_path, busybox_rootfs):
    """101 layers (busybox, then 100 that each add a file and change one), unpacked,
    mounted from a mount namespace of the test's own, run by berth-runtime."""
    from berth.image.create import image_from_layers

    store = ImageStore(str(tmp_path / "store"))
    try:
        layers = [(busybox_rootfs, "busybox")]
        for i in range(100):
            d = tmp_path / f"layer{i}"
            (d / "layers").mkdir(parents=True)
            (d / "layers" / f"{i}").write_text(str(i))
            (d / "etc").mkdir()
            (d / "etc" / "top").write_text(f"layer {i}\n")
            layers.append((str(d), f"layer {i}"))
        image = image_from_layers(store, layers, ["deep:latest"])
        top = unpack(store, image)
        (m,) = store.snapshotter.prepare("deep-container", top)
        assert m.type == "overlay"
        bundle = tmp_path / "bundle"
        (bundle / "rootfs").mkdir(parents=True)
        runtime = str(Path(sys.executable).parent / "berth-runtime")
        subprocess.run([runtime, "spec", "--bundle", str(bundle)], check=True)
        config = json.loads((bundle / "config.json").read_text())
        config["process"].update(terminal=False, args=["sh", "-c", "ls /layers | wc -l; cat /etc/top"])
        config["linux"]["cgroupsPath"] = "/" + bundle.name + "-" + os.urandom(4).hex()
        (bundle / "config.json").write_text(json.dumps(config))
        mount = f"cd {m.cwd or '/'} && mount -t overlay -o {','.join(m.options)} overlay {bundle}/rootfs"
        run = f"{runtime} --root {tmp_path}/state run --bundle {bundle} deep-{os.urandom(4).hex()}"
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", f"{mount} && {run}"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["100", "layer", "99"]
        assert len(store.snapshotter.list()) == 102
    finally:
        store.close()


def test_import_file_stdin_url_and_prune(berth, tmp_path, busybox_rootfs):
    import http.server
    import threading

    tarball = tmp_path / "rootfs.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(busybox_rootfs, arcname=".")
    image_id = berth("import", "-c", 'CMD ["sh", "-c", "echo hi"]', "-c", "ENV A=1", "-m", "from a file",
                     str(tarball), "imported:file", check=True).stdout.strip()  # fmt: skip
    doc = json.loads(berth("image", "inspect", "imported:file", check=True).stdout)[0]
    assert doc["Id"] == image_id and doc["Config"]["Cmd"] == ["sh", "-c", "echo hi"] and "A=1" in doc["Config"]["Env"]
    assert doc["Comment"] == "from a file"
    same = berth("import", "-", "imported:stdin", stdin=open(tarball, "rb"), check=True).stdout.strip()
    assert json.loads(berth("image", "inspect", same, check=True).stdout)[0]["RootFS"] == doc["RootFS"]
    # a URL, served from loopback by the test itself, for a bounded two requests
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/rootfs.tar.gz"
        berth("import", url, "imported:url", check=True)
    finally:
        thread.join(30)
        server.server_close()
    assert berth("import", "http://127.0.0.1:9/none.tar", "x").returncode == 1
    bad = berth("import", "-c", "FROB x", str(tarball), "x")
    assert bad.returncode == 1 and "FROB is not a valid change command" in bad.stderr
    not_tar = tmp_path / "not.tar"
    not_tar.write_bytes(b"plain text, not a tar" * 100)
    assert "not a tar archive" in berth("import", str(not_tar), "x").stderr
    # untag everything; prune deletes the images and every blob they held
    for name in ("imported:file", "imported:stdin", "imported:url"):
        berth("image", "rm", name, check=True)
    out = berth("image", "prune", "-f", check=True).stdout
    assert out.endswith("Total reclaimed space: 0B\n")
    assert berth.store_state() == ([], [])


def test_prune_keeps_what_tagged_images_need(seeded, tmp_path):
    b = BerthCLI(str(tmp_path / "store"))
    b("image", "bootstrap", "busybox", check=True)
    b("image", "bootstrap", "busybox", "--tag", "second:one", check=True)  # same content, new config (created differs)
    b("tag", "busybox", "dangling-soon", check=True)
    b("rmi", "second:one", check=True)
    before = b.store_state()
    out = b("image", "prune", "-f", check=True).stdout
    assert out == "Total reclaimed space: 0B\n"
    assert b.store_state() == before
    store = ImageStore(b.root)
    try:
        unpack(store, store.get("busybox"))
    finally:
        store.close()


def test_zstd_layers(berth, tmp_path, busybox_rootfs):
    import hashlib

    import zstandard

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(busybox_rootfs, arcname=".")
    layer = zstandard.ZstdCompressor().compress(raw.getvalue())
    diff_id = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                         "config": {"Cmd": ["sh"]}}).encode()  # fmt: skip
    sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()  # noqa: E731
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": sha(layer), "size": len(layer)}]}).encode()  # fmt: skip
    index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha(manifest),
                        "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "zstd.test/img:v1"}}]}).encode()  # fmt: skip
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index),
                           (f"blobs/sha256/{sha(config)[7:]}", config), (f"blobs/sha256/{sha(layer)[7:]}", layer),
                           (f"blobs/sha256/{sha(manifest)[7:]}", manifest)):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert berth("load", input=archive.getvalue(), check=True).stdout == "Loaded image: zstd.test/img:v1\n"
    store = ImageStore(berth.root)
    try:
        top = unpack(store, store.get("zstd.test/img:v1"))
        assert os.path.isfile(os.path.join(store.snapshotter.fs(store.snapshotter.stat(top)), "bin/busybox"))
    finally:
        store.close()
    saved = tmp_path / "docker.tar"
    berth("save", "-o", str(saved), "zstd.test/img:v1", check=True)  # written out uncompressed, as docker save does
    assert BerthCLI(str(tmp_path / "other"))("load", "-i", str(saved), check=True).returncode == 0


def test_system_prune_and_images_in_use(berth, tmp_path):
    berth("image", "bootstrap", "busybox", check=True)
    berth("image", "bootstrap", "bash", check=True)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN --mount=type=cache,target=/c echo x > /c/x && echo y > /y\n")
    berth("build", "-t", "built", str(ctx), check=True)
    berth("tag", "built", "second", check=True)
    berth("rmi", "built", check=True)
    used = berth("create", "bash", "true", check=True).stdout.strip()
    running = berth("run", "-d", "busybox", "sleep", "60", check=True).stdout.strip()
    stopped = berth("create", "second", "true", check=True).stdout.strip()
    # prune -a keeps what a container uses
    berth("image", "prune", "-a", "-f", check=True)
    assert sorted(line.split()[0] for line in berth("images", check=True).stdout.splitlines()[1:]) == [
        "bash", "busybox", "second"]  # fmt: skip
    proc = berth("system", "prune", "-a", "-f", check=True)
    assert "Deleted Containers:" in proc.stdout and used in proc.stdout and stopped in proc.stdout
    assert running not in proc.stdout
    assert "Total reclaimed space:" in proc.stdout
    assert berth("ps", "-aq", "--no-trunc", check=True).stdout.split() == [running]
    assert [line.split()[0] for line in berth("images", check=True).stdout.splitlines()[1:]] == ["busybox"]
    assert not (tmp_path / "store" / "build" / "mounts").exists()
    berth("rm", "-f", running, check=True)
    berth("system", "prune", "-a", "-f", check=True)
    assert berth("images", "-q", check=True).stdout == ""
    assert not list((tmp_path / "store" / "content" / "blobs" / "sha256").iterdir())
