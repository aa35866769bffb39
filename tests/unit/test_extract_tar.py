"""berth.fs.extract_tar: the PEP 706 filters, and the same rules where Python has none (Debian 12's 3.11.2)."""

import io
import os
import stat
import tarfile

import pytest

from berth.fs import extract_tar


def archive(*members: tuple[tarfile.TarInfo, bytes]) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return tarfile.open(fileobj=buf)


def entry(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


# the fallback simulated on a Python with filters calls extractall without one, which 3.12+ warns of
pytestmark = pytest.mark.filterwarnings("ignore:Python 3.14 will, by default, filter:DeprecationWarning")


@pytest.fixture(params=["filters", "fallback"])
def mode(request, monkeypatch):
    if request.param == "fallback":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no extraction filters")
    return request.param


def test_files_land_inside_with_safe_modes(tmp_path, mode):
    extract_tar(archive((entry("/abs/a", mode=0o4777), b"x"), (entry("b"), b"y")), str(tmp_path))
    a = tmp_path / "abs" / "a"
    assert a.read_bytes() == b"x" and (tmp_path / "b").read_bytes() == b"y"
    assert not a.stat().st_mode & (stat.S_ISUID | 0o022)


@pytest.mark.parametrize(
    "bad",
    [entry("../escape"), entry("link", tarfile.SYMTYPE, link="../../etc"), entry("hard", tarfile.LNKTYPE, link="../x")],
)
def test_nothing_placed_or_linked_outside(tmp_path, mode, bad):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(tarfile.TarError):
        extract_tar(archive((bad, b"")), str(dest))
    assert sorted(os.listdir(tmp_path)) == ["dest"]


def test_data_refuses_devices(tmp_path, mode):
    dev = entry("null", tarfile.CHRTYPE)
    with pytest.raises(tarfile.TarError):
        extract_tar(archive((dev, b"")), str(tmp_path), "data")
    assert not (tmp_path / "null").exists()


def test_data_ignores_the_archives_owners(tmp_path, mode):
    f = entry("f")
    f.uid, f.gid, f.uname, f.gname = 4242, 4343, "nobody-here", "nogroup-here"
    extract_tar(archive((f, b"z")), str(tmp_path), "data")
    st = (tmp_path / "f").stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
