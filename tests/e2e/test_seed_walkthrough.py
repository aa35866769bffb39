"""The seed's Docker walkthrough (../shared/seeds), with `berth` in place of `docker`
and local images: `simple` is built from the seed's ch5Dockerfile (pinging loopback)."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

pytestmark = pytest.mark.root


def ps_aux(berth, name: str) -> list[list[str]]:
    out = berth("exec", name, "ps", "aux", check=True).stdout.splitlines()
    assert out[0].split()[:3] == ["PID", "USER", "COMMAND"]
    return [line.split(None, 2) for line in out[1:]]


def test_image_ls_and_run_simple_until_ctrl_c(berth, tmp_path):
    # the seed's ch5Dockerfile, pinging loopback: tests reach no other host
    (tmp_path / "ch5Dockerfile").write_text('FROM bash\nCMD ["ping", "127.0.0.1"]\n')
    built = subprocess.run([berth.binary, "--root", berth.root, "build", "-t", "simple", "-f", "ch5Dockerfile", "."],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert built.returncode == 0, built.stderr
    listing = [line for line in berth("image", "ls", check=True).stdout.splitlines() if "simple" in line]
    assert len(listing) == 1 and listing[0].split()[:2] == ["simple", "latest"]
    proc = subprocess.Popen([berth.binary, "--root", berth.root, "run", "simple"], stdout=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert first.startswith("PING 127.0.0.1 (127.0.0.1): 56 data bytes")
    assert "seq=0" in proc.stdout.readline()
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    rest = proc.stdout.read()
    assert proc.wait(30) == 0
    assert "--- 127.0.0.1 ping statistics ---" in rest and "packets transmitted" in rest


def test_isolation_then_a_shared_pid_namespace(berth):
    berth("run", "--name", "c1", "-d", "bash", "sh", "-c", "sleep 1d", check=True)
    c1 = ps_aux(berth, "c1")
    assert c1[0][0] == "1" and "sleep 1d" in c1[0][2]
    assert [row[2] for row in c1] == ["sleep 1d", "ps aux"]
    berth("run", "--name", "c2", "-d", "bash", "sh", "-c", "sleep 2d", check=True)
    c2 = ps_aux(berth, "c2")
    assert [row[0] for row in c2] == [row[0] for row in c1], "each container has PIDs of its own"
    assert c2[0][2] == "sleep 2d"
    assert berth("rm", "c2", "--force", check=True).stdout == "c2\n"
    berth("run", "--name", "c2", "--pid=container:c1", "-d", "bash", "sh", "-c", "sleep 2d", check=True)
    for name in ("c2", "c1"):
        seen = [row[2] for row in ps_aux(berth, name)]
        assert seen[:2] == ["sleep 1d", "sleep 2d"] and seen[-1] == "ps aux", (name, seen)
