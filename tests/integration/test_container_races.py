"""Two state changes on one container at once, through `berth` as users run them: the per-container
lock serialises them, so each pair ends in a state one of its orders would give, with nothing half
made or left behind. (Two starts of one created container once both failed, ten times out of ten.)"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest

from tests.conftest import cgroup_dir

pytestmark = pytest.mark.root
ROUNDS = 3


def together(berth, *commands: tuple[str, ...]):
    """Run the commands at the same moment, each in a thread; their results in order."""
    barrier = threading.Barrier(len(commands))
    results: list = [None] * len(commands)

    def one(i: int, args: tuple[str, ...]) -> None:
        barrier.wait()
        results[i] = berth(*args)

    threads = [threading.Thread(target=one, args=(i, args)) for i, args in enumerate(commands)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def status(berth, name: str) -> str:
    return json.loads(berth("inspect", name, check=True).stdout)[0]["State"]["Status"]


def assert_gone(berth, cid: str) -> None:
    """Removed, with nothing of it left: row, directory, runtime state, cgroup."""
    assert berth("inspect", cid).returncode == 1
    assert not os.path.exists(os.path.join(berth.root, "containers", cid))
    assert not os.path.exists(os.path.join(berth.root, "runtime", cid))
    assert not os.path.exists(cgroup_dir("pids", f"/berth/{cid}"))


def create(berth, name: str, *flags: str) -> str:
    return berth("create", "--name", name, "--network", "none", *flags, "busybox", "sleep", "300",
                 check=True).stdout.strip()  # fmt: skip


def test_two_starts_of_one_container(berth):
    for i in range(ROUNDS):
        cid = create(berth, f"twice{i}")
        a, b = together(berth, ("start", cid), ("start", cid))
        assert (a.returncode, b.returncode) == (0, 0), (a.stderr, b.stderr)
        assert status(berth, cid) == "running"
        assert berth("exec", cid, "ps", "-o", "comm", check=True).stdout.split() == ["COMMAND", "sleep", "ps"]
        berth("rm", "-f", cid, check=True)
        assert_gone(berth, cid)


def test_start_and_remove(berth):
    for i in range(ROUNDS):
        cid = create(berth, f"startrm{i}")
        start, rm = together(berth, ("start", cid), ("rm", "-f", cid))
        assert rm.returncode == 0, rm.stderr
        assert start.returncode == 0 or "No such container" in start.stderr, start.stderr
        assert_gone(berth, cid)


def test_stop_and_start(berth):
    for i in range(ROUNDS):
        cid = create(berth, f"stopstart{i}")
        berth("start", cid, check=True)
        stop, start = together(berth, ("stop", "-t", "1", cid), ("start", cid))
        assert (stop.returncode, start.returncode) == (0, 0), (stop.stderr, start.stderr)
        assert status(berth, cid) in ("running", "exited")
        berth("rm", "-f", cid, check=True)
        assert_gone(berth, cid)


def test_kill_and_remove(berth):
    for i in range(ROUNDS):
        cid = create(berth, f"killrm{i}")
        berth("start", cid, check=True)
        kill, rm = together(berth, ("kill", cid), ("rm", "-f", cid))
        assert rm.returncode == 0, rm.stderr
        assert kill.returncode == 0 or "is not running" in kill.stderr or "No such container" in kill.stderr
        assert_gone(berth, cid)


WAIT_MIDWAY = """
import os, sys
from berth.engine.container import SPEC
from berth.engine.engine import Engine
from berth.engine.options import CreateOptions
from berth.errors import NotFound

engine = Engine(sys.argv[1])
c = engine.create(CreateOptions(image="busybox", command=("sh", "-c", "exit 3"), name="midway", network="none"))
engine.start(c.id)
print("exited", engine.wait(c.id))
# what an rm leaves for a moment: the spec goes first, then the state files in any order
os.unlink(os.path.join(c.dir, SPEC))
os.unlink(os.path.join(c.dir, "exit.json"))
try:
    print("waited", engine.wait(c.id))
except NotFound as e:
    print("gone:", e)
engine.remove(c.id)
"""


def test_wait_on_a_container_being_removed(berth):
    """A wait that meets an rm part way says the container is gone; it once read the state files
    half deleted as a created container's and reported exit code 0 (docker run --rm then exited 0)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", WAIT_MIDWAY, berth.root], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["exited 3", "gone: No such container: " + proc.stdout.split()[-1]]


def test_wait_and_remove(berth):
    for i in range(ROUNDS):
        cid = create(berth, f"waitrm{i}")
        berth("start", cid, check=True)
        wait, rm = together(berth, ("wait", cid), ("rm", "-f", cid))
        assert rm.returncode == 0, rm.stderr
        assert (wait.returncode, wait.stdout) == (0, "137\n") or "No such container" in wait.stderr, wait
        assert_gone(berth, cid)


def test_two_renames(berth):
    for i in range(ROUNDS):
        cid = create(berth, f"named{i}")
        a, b = together(berth, ("rename", cid, f"first{i}"), ("rename", cid, f"second{i}"))
        assert (a.returncode, b.returncode) == (0, 0), (a.stderr, b.stderr)
        name = json.loads(berth("inspect", cid, check=True).stdout)[0]["Name"]
        assert name in (f"/first{i}", f"/second{i}")
        berth("rm", cid, check=True)


def test_update_and_start(berth):
    """Whichever comes first, the running container ends with the limit: in the bundle for its start,
    or applied to its cgroup by the runtime."""
    limit = "/sys/fs/cgroup/pids.max" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else \
        "/sys/fs/cgroup/pids/pids.max"  # fmt: skip
    for i in range(ROUNDS):
        cid = create(berth, f"upstart{i}")
        update, start = together(berth, ("update", "--pids-limit", "42", cid), ("start", cid))
        assert (update.returncode, start.returncode) == (0, 0), (update.stderr, start.stderr)
        assert berth("exec", cid, "cat", limit, check=True).stdout.strip() == "42"
        berth("rm", "-f", cid, check=True)


def test_two_network_connects(berth):
    """Both networks recorded: each connect reads the container's config and writes it back, and
    without the lock one write lost the other's network."""
    from tests.conftest import unique

    nets = [unique("rn"), unique("rn")]
    for net in nets:
        berth("network", "create", net, check=True)
    try:
        cid = berth("create", "--name", "twonets", "busybox", "sleep", "300", check=True).stdout.strip()
        a, b = together(berth, ("network", "connect", nets[0], cid), ("network", "connect", nets[1], cid))
        assert (a.returncode, b.returncode) == (0, 0), (a.stderr, b.stderr)
        berth("start", cid, check=True)  # inspect lists a container's networks while it runs
        joined = json.loads(berth("inspect", cid, check=True).stdout)[0]["NetworkSettings"]["Networks"]
        assert set(nets) <= set(joined), joined
        berth("rm", "-f", cid, check=True)
    finally:
        for net in nets:
            berth("network", "rm", net)


def restart_count(berth, cid: str) -> int:
    return int(berth("inspect", "-f", "{{.RestartCount}}", cid, check=True).stdout)


def wait_for_restarts(berth, cid: str, count: int) -> None:
    """Until the monitor has written its count-th restart: it is then waiting out that delay."""
    deadline = time.monotonic() + 30
    while restart_count(berth, cid) < count:
        assert time.monotonic() < deadline, f"{cid} never restarted {count} times"
        time.sleep(0.02)


@pytest.mark.parametrize("verb", [("stop",), ("kill",), ("rm", "-f")])
def test_stop_kill_or_remove_while_the_monitor_waits_to_restart(berth, verb):
    """Within the doubling delay before a restart the container shows Docker's restarting state, and
    a stop, kill or rm acts at once with no run after it (the monitor once restarted the container
    after a stop, which waited out the delay; a kill failed for want of a process)."""
    cid = berth("run", "-d", "--network", "none", "--restart", "always", "busybox", "sh", "-c", "echo run; exit 3",
                check=True).stdout.strip()  # fmt: skip
    wait_for_restarts(berth, cid, 5)  # a delay of 3.2 s has just begun
    state = json.loads(berth("inspect", cid, check=True).stdout)[0]["State"]
    assert (state["Status"], state["Running"], state["Restarting"]) == ("restarting", True, True)
    assert berth("ps", "--format", "{{.Status}}", "--filter", "status=restarting", check=True).stdout.startswith(
        "Restarting (3) "
    )
    runs = berth("logs", cid, check=True).stdout.count("run")
    began = time.monotonic()
    berth(*verb, cid, check=True)
    assert time.monotonic() - began < 1.5
    if verb == ("rm", "-f"):
        assert_gone(berth, cid)
        return
    time.sleep(0.5)
    state = json.loads(berth("inspect", cid, check=True).stdout)[0]
    assert (state["State"]["Status"], state["State"]["ExitCode"], state["RestartCount"]) == ("exited", 3, 5)
    assert state["State"]["Restarting"] is False
    assert berth("logs", cid, check=True).stdout.count("run") == runs
    berth("rm", cid, check=True)
    assert_gone(berth, cid)


def test_stop_meets_a_restart(berth):
    """A stop at any moment around a restart (in the delay, while the monitor starts the container
    again under the lock, just after) reaches the process it stops: the second run traps TERM, so a
    stop whose signal went to no container waits out its whole timeout."""
    script = "if [ -e /ran ]; then trap 'exit 0' TERM; sleep 300 & wait; fi; touch /ran; exit 3"
    for i, pause in enumerate((0.0, 0.1, 0.18, 0.22, 0.3, 0.5)):
        cid = berth("run", "-d", "--network", "none", "--restart", "on-failure", "busybox", "sh", "-c", script,
                    check=True).stdout.strip()  # fmt: skip
        wait_for_restarts(berth, cid, 1)  # the first run has exited 3; a delay of 0.2 s has begun
        time.sleep(pause)
        began = time.monotonic()
        berth("stop", "-t", "10", cid, check=True)
        assert time.monotonic() - began < 3, f"round {i}: the stop's signal was lost"
        assert status(berth, cid) == "exited"
        berth("rm", cid, check=True)
        assert_gone(berth, cid)
