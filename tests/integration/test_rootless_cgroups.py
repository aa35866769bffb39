"""Rootless berth where the host delegates a cgroup v2 subtree to the user (what systemd does
with user@UID.service): the user's containers get their cgroups under it, and their limits hold.

It needs cgroup v2 as the only hierarchy (CI's guest kernel); on a v1 or hybrid host it skips
(test_rootless.py has the refusal of limits there). The test makes its own user (bt18c*, with a
home and a range after every range) and its delegated cgroup (the directory and its
cgroup.procs, cgroup.subtree_control and cgroup.threads chowned to the user, as systemd
chowns them; the user's commands are started by root from a leaf of it), and removes both."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from bench.anchors import subordinate_user

from tests.conftest import CGROUP_V2, wait_for

pytestmark = [pytest.mark.root, pytest.mark.skipif(not CGROUP_V2, reason="needs a cgroup v2-only host")]

BERTH = str(Path(sys.executable).parent / "berth")
DELEGATED_FILES = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")


def _delegate(path: str, user: str) -> None:
    os.mkdir(path)
    for name in ("", *DELEGATED_FILES):
        subprocess.run(["chown", f"{user}:", os.path.join(path, name)], check=True)


def _remove_cgroups(top: str) -> None:
    """Deepest first (a cgroup goes with rmdir once it has no children and no processes)."""
    for directory, _, _ in sorted(os.walk(top), key=lambda entry: -entry[0].count("/")):
        assert wait_for(lambda d=directory: _rmdir(d), 10), f"{directory} still has processes"


def _rmdir(directory: str) -> bool:
    try:
        os.rmdir(directory)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def test_a_rootless_containers_limits_hold_under_the_users_delegated_subtree():
    name = f"bt18c{os.getpid() % 100000}"
    top = f"/sys/fs/cgroup/{name}"
    rundir = f"/tmp/{name}-run"
    with subordinate_user(name, 65536 * 2, home=True):
        _delegate(top, name)
        _delegate(f"{top}/shell", name)
        os.makedirs(rundir, mode=0o700)
        subprocess.run(["chown", f"{name}:", rundir], check=True)

        def berth(*args: str) -> str:
            command = f"export XDG_RUNTIME_DIR={rundir} BERTH_PULL_POLICY=never && {shlex.join([BERTH, *args])}"
            proc = subprocess.run(["sh", "-c", f"echo $$ > {top}/shell/cgroup.procs && exec su --login -s /bin/sh "
                                   f"{name} -c {shlex.quote(command)}"], capture_output=True, text=True, timeout=120)  # fmt: skip
            assert proc.returncode == 0, f"berth {' '.join(args)} -> {proc.returncode}: {proc.stderr}"
            return proc.stdout

        try:
            berth("image", "bootstrap", "busybox")
            inside = berth("run", "--rm", "--network", "none", "--memory", "48m", "--pids-limit", "20", "busybox",
                           "cat", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max")  # fmt: skip
            assert inside.split() == [str(48 << 20), "20"], inside
            berth("run", "-d", "--name", "c1", "--network", "none", "--memory", "48m", "busybox", "sleep", "1000")
            cid = berth("inspect", "-f", "{{.Id}}", "c1").strip()
            with open(f"{top}/berth/{cid}/memory.max") as f:
                assert f.read().strip() == str(48 << 20), "the container's cgroup is not under the user's subtree"
            pid = berth("inspect", "-f", "{{.State.Pid}}", "c1").strip()
            with open(f"/proc/{pid}/cgroup") as f:
                assert f.read().strip() == f"0::/{name}/berth/{cid}"
            # (what the limit does is test_limits.py's; one OOM kill a run is what UML's guest kernel takes)
            forks = berth("run", "--rm", "--network", "none", "--pids-limit", "5", "busybox", "sh", "-c",
                          "(for i in $(seq 20); do sleep 5 & done) 2>/dev/null; read n < /sys/fs/cgroup/pids.current; "
                          "echo $n")  # fmt: skip
            assert 1 <= int(forks) <= 5, forks
            berth("rm", "-f", "c1")
            assert not os.path.exists(f"{top}/berth/{cid}")
        finally:
            with open(f"{top}/cgroup.kill", "w") as f:  # every process the test's user started: all are in it
                f.write("1")
            _remove_cgroups(top)
            subprocess.run(["rm", "-rf", rundir], check=True)
