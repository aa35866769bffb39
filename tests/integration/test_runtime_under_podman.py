"""Another engine drives berth-runtime: Debian's podman with --runtime, through conmon."""

from __future__ import annotations

import pytest

from tests.conftest import RUNTIME

pytestmark = [pytest.mark.root, pytest.mark.anchor]


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
