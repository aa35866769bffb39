"""Applying layers: hostile tarballs never write outside the target, and
whiteouts become what each snapshotter needs (CVE-2014-6407 and its kin)."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from berth.errors import InvalidArgument
from berth.snapshot.apply import OPAQUE_XATTR, apply_layer

pytestmark = pytest.mark.root


def layer(*entries) -> io.BytesIO:
    """entries: (name, kind, payload) with kind file|dir|symlink|hardlink|char|fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "file":
                data = payload.encode() if isinstance(payload, str) else payload
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "char": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[kind]  # fmt: skip
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind in ("symlink", "hardlink"):
                info.linkname = payload
            if kind == "char":
                info.devmajor, info.devminor = payload
            tar.addfile(info)
    buf.seek(0)
    return buf


@pytest.fixture
def dirs(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return root, outside


def untouched(outside) -> None:
    assert os.listdir(outside) == [], "something was written outside the layer's root"


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/abs/file", "./../x"])
def test_names_that_leave_the_root_are_refused(dirs, name):
    root, outside = dirs
    with pytest.raises(InvalidArgument, match="points outside the layer"):
        apply_layer(layer((name, "file", "x")), str(root), overlay=False)
    untouched(outside)
    assert not os.path.exists(root.parent / "escape")


def test_write_through_an_absolute_symlink_stays_inside(dirs):
    root, outside = dirs
    apply_layer(layer(("link", "symlink", str(outside)), ("link/file", "file", "pwned")), str(root), overlay=False)
    untouched(outside)
    assert (root / str(outside).lstrip("/") / "file").read_text() == "pwned"


def test_write_through_a_dotdot_symlink_stays_inside(dirs):
    root, outside = dirs
    apply_layer(layer(("up", "symlink", "../../../../../.."), ("up/x", "file", "y")), str(root), overlay=False)
    assert (root / "x").read_text() == "y"
    untouched(outside)


def test_symlink_planted_in_a_lower_layer(dirs):
    root, outside = dirs
    apply_layer(layer(("etc", "symlink", str(outside))), str(root), overlay=False)
    apply_layer(layer(("etc/passwd", "file", "root::0:0::/:/bin/sh")), str(root), overlay=False)
    untouched(outside)


def test_hardlinks_only_inside(dirs, tmp_path):
    root, outside = dirs
    secret = outside / "secret"
    secret.write_text("host")
    with pytest.raises(InvalidArgument, match="points outside the layer"):
        apply_layer(layer(("hl", "hardlink", str(secret))), str(root), overlay=False)
    with pytest.raises(InvalidArgument, match="not in the layer"):
        apply_layer(layer(("hl", "hardlink", "etc/nothing")), str(root), overlay=False)
    with pytest.raises(InvalidArgument, match="points outside the layer"):
        apply_layer(layer(("hl", "hardlink", "../outside/secret")), str(root), overlay=False)
    assert os.stat(secret).st_nlink == 1
    apply_layer(layer(("a", "file", "data"), ("b", "hardlink", "a")), str(root), overlay=False)
    assert os.stat(root / "a").st_ino == os.stat(root / "b").st_ino


def test_hardlink_through_symlinked_dir_stays_inside(dirs):
    root, outside = dirs
    (outside / "secret").write_text("host")
    with pytest.raises(InvalidArgument):
        apply_layer(layer(("d", "symlink", str(outside)), ("hl", "hardlink", "d/secret")), str(root), overlay=False)
    assert os.stat(outside / "secret").st_nlink == 1


def test_device_nodes_are_skipped(dirs):
    root, _ = dirs
    stats = apply_layer(
        layer(("dev", "dir", None), ("dev/mem", "char", (1, 1)), ("dev/fifo", "fifo", None)), str(root), overlay=False
    )
    assert stats.skipped_devices == ["dev/mem"]
    assert not os.path.lexists(root / "dev/mem")
    assert stat.S_ISFIFO(os.lstat(root / "dev/fifo").st_mode)


def test_whiteouts_for_overlay(dirs):
    root, _ = dirs
    apply_layer(
        layer(
            ("gone", "file", ""),
        ),
        str(root),
        overlay=True,
    )
    apply_layer(layer(("d", "dir", None), ("d/.wh..wh..opq", "file", ""), ("d/new", "file", "n"), (".wh.gone", "file", "")),
                str(root), overlay=True)  # fmt: skip
    st = os.lstat(root / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(root / "d", OPAQUE_XATTR) == b"y"
    assert (root / "d/new").read_text() == "n"


def test_whiteouts_for_copy(dirs):
    root, _ = dirs
    apply_layer(
        layer(("d", "dir", None), ("d/old", "file", "o"), ("gone", "dir", None), ("gone/x", "file", "")),
        str(root),
        overlay=False,
    )
    apply_layer(
        layer(("d/new", "file", "n"), ("d/.wh..wh..opq", "file", ""), (".wh.gone", "file", "")),
        str(root),
        overlay=False,
    )
    assert sorted(os.listdir(root / "d")) == ["new"], "opaque must keep this layer's own entries"
    assert not os.path.lexists(root / "gone")


def test_metadata_and_replacement(dirs):
    root, _ = dirs
    apply_layer(layer(("f", "file", "one"), ("s", "symlink", "f")), str(root), overlay=False)
    apply_layer(layer(("f", "dir", None), ("s", "file", "two")), str(root), overlay=False)
    assert (root / "f").is_dir() and not (root / "s").is_symlink() and (root / "s").read_text() == "two"
    assert os.stat(root / "s").st_mtime == 1_700_000_000


def test_truncated_and_garbage_layers(dirs):
    root, _ = dirs
    data = layer(("big", "file", "x" * 100_000)).getvalue()
    with pytest.raises(InvalidArgument, match="not a valid tar"):
        apply_layer(io.BytesIO(data[:5000]), str(root), overlay=False)
    with pytest.raises(InvalidArgument, match="not a valid tar"):
        apply_layer(io.BytesIO(b"\x01garbage" * 200), str(root), overlay=False)
