"""Another engine drives berth-runtime: Debian's podman with --runtime, through conmon."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile

import pytest

from tests.conftest import RUNTIME

pytestmark = [pytest.mark.root, pytest.mark.anchor]


@pytest.fixture(scope="module")
def podman(tmp_path_factory, busybox_rootfs):
    binary = shutil.which("podman")
    if binary is None:
        pytest.fail("podman is not installed: the test command installs Debian's podman")
    top = tmp_path_factory.mktemp("podman")
    conf = top / "containers.conf"
    # cgroupfs (no systemd here) and the ulimits this machine allows; a private store
    conf.write_text('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                    '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')  # fmt: skip
    env = dict(os.environ, CONTAINERS_CONF=str(conf))
    base = [binary, "--root", str(top / "root"), "--runroot", str(top / "run"), "--storage-driver", "vfs"]

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], capture_output=True, text=True, env=env, timeout=timeout,
                              stdin=subprocess.DEVNULL)  # fmt: skip

    with tarfile.open(top / "busybox.tar", "w") as tar:
        tar.add(busybox_rootfs, arcname=".")
    assert run("import", str(top / "busybox.tar"), "localhost/berth-test-busybox").returncode == 0
    yield run
    run("rm", "-a", "-f")
    run("rmi", "-a", "-f")
    shutil.rmtree(top, ignore_errors=True)


def with_berth(*args: str) -> list[str]:
    return ["--runtime", RUNTIME, *args]


def test_podman_run_echo(podman):
    proc = podman(*with_berth("run", "--rm", "--network", "none", "localhost/berth-test-busybox", "echo", "hi"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi\n"


def test_podman_exit_code_and_memory_limit(podman):
    proc = podman(*with_berth("run", "--rm", "--network", "none", "localhost/berth-test-busybox", "sh", "-c", "exit 3"))
    assert proc.returncode == 3
    proc = podman(*with_berth("run", "--rm", "--network", "none", "--memory", "64m", "localhost/berth-test-busybox",
                              "dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"))  # fmt: skip
    assert proc.returncode == 137


def test_podman_detach_exec_stop(podman):
    proc = podman(*with_berth("run", "-d", "--network", "none", "localhost/berth-test-busybox", "sleep", "1000"))
    assert proc.returncode == 0, proc.stderr
    cid = proc.stdout.strip()
    try:
        ps = podman(*with_berth("exec", cid, "ps", "-o", "pid,args"))
        assert ps.returncode == 0, ps.stderr
        assert ps.stdout.splitlines()[1].split(None, 1) == ["1", "sleep 1000"]
        tty = podman(*with_berth("exec", "-t", cid, "tty"))
        assert tty.stdout.strip() == "/dev/pts/0"
        assert podman(*with_berth("stop", "-t", "1", cid)).returncode == 0
        assert podman("inspect", "-f", "{{.State.Status}}", cid).stdout.strip() == "exited"
    finally:
        podman(*with_berth("rm", "-f", cid))
