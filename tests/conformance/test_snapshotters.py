"""One suite, every snapshotter: layers applied, stacked, viewed through real
mounts (made in a private mount namespace, never the host's), committed, removed."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile

import pytest

from berth.errors import AlreadyExists, FailedPrecondition, NotFound
from berth.snapshot.apply import apply_layer
from berth.snapshot.copy import CopySnapshotter
from berth.snapshot.overlay import OverlaySnapshotter

pytestmark = pytest.mark.root


def tar_of(entries: dict[str, str | None]) -> io.BytesIO:
    """name -> file content, or None for a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in entries.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content.encode()))
    buf.seek(0)
    return buf


def see(mounts, tmp_path) -> list[str]:
    """Mount in a private mount namespace and list every path with its content."""
    target = tmp_path / "mnt"
    target.mkdir(exist_ok=True)
    (m,) = mounts
    if m.type == "bind":
        cmd = f"mount --bind {m.source} {target} && mount -o remount,bind,{m.options[0]} {target}"
    else:
        cmd = f"mount -t {m.type} -o {','.join(m.options)} {m.source} {target}"
    script = f'{cmd} && cd {target} && find . -mindepth 1 | sort | while read p; do if [ -f "$p" ]; then echo "$p=$(cat "$p")"; else echo "$p"; fi; done'
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.fixture(params=[OverlaySnapshotter, CopySnapshotter], ids=["overlay", "copy"])
def sn(request, tmp_path):
    s = request.param(str(tmp_path / "snap"))
    yield s
    s.close()


def build(sn, key: str, parent: str, entries) -> None:
    sn.prepare(key + "-active", parent)
    apply_layer(tar_of(entries), sn.upper(key + "-active"), overlay=sn.whiteouts_as_devices)
    sn.commit(key, key + "-active")


def test_layers_stack_with_whiteouts(sn, tmp_path):
    build(sn, "l1", "", {"etc": None, "etc/a": "1", "etc/b": "2", "opq": None, "opq/old": "o"})
    build(sn, "l2", "l1", {"etc/.wh.a": "", "etc/c": "3", "opq/.wh..wh..opq": "", "opq/new": "n"})
    view = sn.view("v", "l2")
    assert see(view, tmp_path) == ["./etc", "./etc/b=2", "./etc/c=3", "./opq", "./opq/new=n"]
    active = sn.prepare("rw", "l2")
    assert see(active, tmp_path) == ["./etc", "./etc/b=2", "./etc/c=3", "./opq", "./opq/new=n"]
    assert see(sn.mounts("rw"), tmp_path) == see(active, tmp_path)
    assert [i.key for i in sn.chain(sn.stat("rw"))] == ["l2", "l1"]


def test_single_layer_and_empty(sn, tmp_path):
    build(sn, "base", "", {"x": "1"})
    assert see(sn.view("v", "base"), tmp_path) == ["./x=1"]
    assert see(sn.prepare("empty"), tmp_path) == []


def test_rules(sn):
    build(sn, "base", "", {"x": "1"})
    sn.prepare("act", "base")
    with pytest.raises(FailedPrecondition, match="not committed"):
        sn.prepare("bad", "act")
    with pytest.raises(AlreadyExists):
        sn.prepare("act", "base")
    with pytest.raises(FailedPrecondition, match="is committed"):
        sn.mounts("base")
    with pytest.raises(FailedPrecondition, match="has a child act"):
        sn.remove("base")
    with pytest.raises(NotFound):
        sn.stat("nope")
    with pytest.raises(AlreadyExists):
        sn.commit("base", "act")
    sn.remove("act")
    sn.remove("base")
    assert sn.list() == []
    assert os.listdir(os.path.join(sn.root, "snapshots")) == []


def test_failed_prepare_leaves_nothing(sn):
    with pytest.raises(NotFound):
        sn.prepare("x", "missing-parent")
    assert sn.list() == [] and os.listdir(os.path.join(sn.root, "snapshots")) == []


def test_deep_chain_fits_one_mount(tmp_path):
    sn = OverlaySnapshotter(str(tmp_path / ("deep" + "x" * 60)))  # a long root: absolute paths would not fit
    parent = ""
    for i in range(130):
        build(sn, f"l{i}", parent, {f"f{i}": str(i)})
        parent = f"l{i}"
    (m,) = sn.prepare("top", parent)
    assert m.cwd == sn.root and len(",".join(m.options)) < 4096
    target = tmp_path / "mnt"
    target.mkdir()
    script = f"cd {m.cwd} && mount -t overlay -o {','.join(m.options)} overlay {target} && ls {target} | wc -l && cat {target}/f129"
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["130", "129"]
    sn.remove("top")
    for i in reversed(range(130)):
        sn.remove(f"l{i}")
    assert os.listdir(os.path.join(sn.root, "l")) == []
    sn.close()
