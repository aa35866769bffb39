"""The engine runs containers with another OCI runtime than its own: `--runtime runc` (Debian's),
and a runtime named in daemon.json as the default, through the same verbs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.root


@pytest.fixture
def runc():
    path = shutil.which("runc")
    if path is None:
        pytest.fail("runc is not installed: scripts/install.sh installs Debian's runc")
    return path


def runc_list(runc: str, root: str) -> list[str]:
    out = subprocess.run([runc, "--root", os.path.join(root, "runtime"), "list", "-q"], capture_output=True, text=True)
    return out.stdout.split()


def test_a_container_run_by_runc(berth, runc):
    assert berth("run", "--rm", "--network", "none", "--runtime", "runc", "busybox", "echo", "hi",
                 check=True).stdout == "hi\n"  # fmt: skip
    cid = berth("run", "-d", "--runtime", "runc", "busybox", "sleep", "60", check=True).stdout.strip()
    assert berth("inspect", "-f", "{{.HostConfig.Runtime}}", cid, check=True).stdout.strip() == "runc"
    assert cid in runc_list(runc, berth.root)  # runc's own state: runc runs it
    assert berth("exec", cid, "sh", "-c", "ip -o -4 addr show eth0 | grep -c inet", check=True).stdout.strip() == "1"
    berth("pause", cid, check=True)
    assert berth("inspect", "-f", "{{.State.Status}}", cid, check=True).stdout.strip() == "paused"
    berth("unpause", cid, check=True)
    berth("update", "--pids-limit", "33", cid, check=True)
    assert berth("exec", cid, "cat", "/sys/fs/cgroup/pids/pids.max" if os.path.exists("/sys/fs/cgroup/pids")
                 else "/sys/fs/cgroup/pids.max", check=True).stdout.strip() == "33"  # fmt: skip
    assert "sleep 60" in berth("top", cid, check=True).stdout
    stats = json.loads(berth("stats", "--no-stream", "--format", "json", cid, check=True).stdout)  # runc events --stats
    assert int(stats["PIDs"]) >= 1 and stats["MemUsage"].split(" / ")[0] != "0B", stats
    berth("stop", "-t", "1", cid, check=True)
    assert berth("inspect", "-f", "{{.State.Status}}", cid, check=True).stdout.strip() == "exited"
    berth("rm", cid, check=True)
    assert cid not in runc_list(runc, berth.root)


def test_an_unknown_runtime_is_refused(berth):
    bad = berth("run", "--runtime", "nosuch", "busybox", "true")
    assert bad.returncode == 125 and "unknown or invalid runtime name: nosuch" in bad.stderr, bad.stderr
    assert berth("ps", "-aq").stdout == ""  # nothing made


def test_the_default_runtime_from_daemon_json(berth, runc, tmp_path):
    (tmp_path / "daemon.json").write_text(json.dumps({"runtimes": {"myrunc": {"path": runc}},
                                                      "default-runtime": "myrunc"}))  # fmt: skip
    env = dict(os.environ, BERTH_CONFIG_DIR=str(tmp_path))
    cid = berth("create", "--network", "none", "busybox", "true", env=env, check=True).stdout.strip()
    assert berth("inspect", "-f", "{{.HostConfig.Runtime}}", cid, check=True).stdout.strip() == "myrunc"
    assert berth("start", "-a", cid, env=env, check=True).returncode == 0
    info = json.loads(berth("info", "--format", "json", env=env, check=True).stdout)
    assert info["DefaultRuntime"] == "myrunc" and info["Runtimes"]["myrunc"] == {"path": runc}
    assert set(info["Runtimes"]) >= {"berth-runtime", "runc", "myrunc"}
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "daemon.json").write_text("{not json")
    bad = berth("run", "--rm", "busybox", "true", env=dict(os.environ, BERTH_CONFIG_DIR=str(broken)))
    assert bad.returncode == 125 and "daemon.json" in bad.stderr, bad.stderr


def test_a_commands_default_runtime_by_path(berth, runc):
    """`berth --runtime PATH` (Podman's global flag): the default of every container the command makes."""
    cid = berth("--runtime", runc, "create", "--network", "none", "busybox", "echo", "hi", check=True).stdout.strip()
    assert berth("inspect", "-f", "{{.HostConfig.Runtime}}", cid, check=True).stdout.strip() == runc
    assert berth("start", "-a", cid, check=True).stdout == "hi\n"  # the container keeps its runtime
    bad = berth("--runtime", "/nonexistent/runc", "run", "--rm", "busybox", "true")
    assert bad.returncode == 125 and "invalid runtime /nonexistent/runc: not an executable file" in bad.stderr
    assert berth("ps", "-aq", "--no-trunc").stdout.split() == [cid]  # nothing made by the refused run
