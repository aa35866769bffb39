"""The runtime's part of isolation: what can never leak or escape."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import pytest

from tests.conftest import host_mountinfo, unique

pytestmark = pytest.mark.root


@pytest.fixture
def own_rootfs(busybox_rootfs):
    """A private copy that a test may booby-trap."""
    top = tempfile.mkdtemp(prefix="berth-safety-")
    shutil.copytree(busybox_rootfs, top + "/rootfs", symlinks=True)
    yield top + "/rootfs"
    shutil.rmtree(top)


def test_no_host_fd_reaches_the_container(runtime, bundle, tmp_path):
    bundle.set_args("sh", "-c", "echo $(ls /proc/self/fd/); readlink /proc/self/fd/* || true")
    leaked = open(tmp_path / "secret", "w")
    os.set_inheritable(leaked.fileno(), True)
    try:
        proc = subprocess.run([runtime.binary, "--root", runtime.root, "run", "--bundle", str(bundle), unique()],
                              capture_output=True, text=True, pass_fds=(leaked.fileno(),))  # fmt: skip
    finally:
        leaked.close()
    fds = sorted(int(x) for x in proc.stdout.split("\n")[0].split())
    assert fds == [0, 1, 2, 3], proc.stdout  # 3 is ls's own directory fd
    assert "secret" not in proc.stdout and str(tmp_path) not in proc.stdout


def test_no_python_visible_inside(runtime, bundle):
    bundle.set_args("sleep", "1000")
    cid = unique()
    runtime("run", "-d", "--bundle", str(bundle), cid, check=True)
    out = runtime("exec", cid, "sh", "-c", "for p in /proc/[0-9]*; do cat $p/comm; echo; done", check=True).stdout
    assert "python" not in out and "berth" not in out, out
    assert set(out.split()) <= {"sleep", "sh", "cat"}


def test_proc_symlink_in_rootfs_is_refused(runtime, bundle, own_rootfs, tmp_path):
    target = tmp_path / "decoy"
    target.mkdir()
    os.rmdir(own_rootfs + "/proc")
    os.symlink(str(target), own_rootfs + "/proc")
    bundle.config["root"]["path"] = own_rootfs
    bundle.set_args("true")
    before = host_mountinfo()
    proc = runtime("run", "--bundle", str(bundle), unique())
    assert proc.returncode != 0 and "is a symlink" in proc.stderr
    assert host_mountinfo() == before
    assert os.listdir(target) == []


def test_sys_symlink_in_rootfs_is_refused(runtime, bundle, own_rootfs):
    os.rmdir(own_rootfs + "/sys")
    os.symlink("/", own_rootfs + "/sys")
    bundle.config["root"]["path"] = own_rootfs
    bundle.set_args("true")
    proc = runtime("run", "--bundle", str(bundle), unique())
    assert proc.returncode != 0 and "/sys is a symlink" in proc.stderr


def test_mount_target_symlink_cannot_lead_out(runtime, bundle, own_rootfs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), own_rootfs + "/data")  # absolute: resolved inside the rootfs, never the host
    source = tmp_path / "source"
    source.mkdir()
    (source / "hello").write_text("hi")
    bundle.config["root"] = {"path": own_rootfs, "readonly": False}
    bundle.config["mounts"].append(
        {"destination": "/data", "type": "bind", "source": str(source), "options": ["rbind", "ro"]}
    )
    bundle.set_args("cat", "/data/hello")
    before = host_mountinfo()
    assert runtime("run", "--bundle", str(bundle), unique(), check=True).stdout == "hi"
    assert os.listdir(outside) == [], "the mount went through the symlink onto the host"
    assert host_mountinfo() == before
    assert os.path.isdir(own_rootfs + str(outside)), "the target was made inside the rootfs"


def test_dotdot_mount_destination_stays_inside(runtime, bundle, own_rootfs, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    bundle.config["root"] = {"path": own_rootfs, "readonly": False}
    bundle.config["mounts"].append(
        {"destination": "/../../../../escape", "type": "bind", "source": str(source), "options": ["bind"]}
    )
    bundle.set_args("ls", "-d", "/escape")
    assert runtime("run", "--bundle", str(bundle), unique(), check=True).stdout.strip() == "/escape"
    assert not os.path.exists("/escape")


def test_cwd_through_leaked_fd_is_refused(runtime, bundle):
    """CVE-2024-21626: a cwd of /proc/self/fd/N must not reach a host directory."""
    bundle.config["process"]["cwd"] = "/proc/self/fd/7"
    bundle.set_args("pwd")
    proc = runtime("run", "--bundle", str(bundle), unique())
    assert proc.returncode != 0 and "process.cwd" in proc.stderr


def test_masked_and_readonly_paths(runtime, bundle):
    assert os.path.getsize("/proc/timer_list") == 0 and os.listdir("/sys/firmware"), (
        "host lacks the paths this test masks"
    )
    bundle.set_args("sh", "-c", "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; cat /proc/keys | wc -c; "
                                "echo 1 > /proc/sys/kernel/domainname; echo x > /sys/x; true")  # fmt: skip
    out = runtime("run", "--bundle", str(bundle), unique())
    assert out.stdout.split() == ["0", "0", "0"]
    assert out.stderr.count("Read-only file system") == 2


def test_host_mounts_untouched_after_many_runs(runtime, bundle):
    before = host_mountinfo()
    bundle.set_args("true")
    for _ in range(3):
        runtime("run", "--bundle", str(bundle), unique(), check=True)
    assert host_mountinfo() == before
