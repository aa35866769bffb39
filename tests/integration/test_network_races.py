"""Bursts of parallel `run -d` on the default bridge and on a user network, repeated, each burst
started while the previous one's `rm` is deciding whether the idle default bridge may go.

The bridge is removed by a process of its own LINGER seconds after the last container left it;
a burst that begins around then races that removal. A forked remover once read the lease table
without a real lock, saw no leases, and took the bridge from under live containers
(`ip: argument "berth0" is wrong: Device does not exist`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import unique

pytestmark = pytest.mark.root

LINGER = 2.0  # berth.engine.networking.LINGER
# Pauses between bursts: the remover decides during the next burst, just as it starts, or before it.
PAUSES = (LINGER - 0.5, LINGER, LINGER + 0.3)


@pytest.fixture(params=["bridge", "user"])
def network(request, berth):
    if request.param == "bridge":
        yield "bridge"
        return
    name = unique("race")
    berth("network", "create", name, check=True)
    yield name
    berth.cleanup()
    berth("network", "rm", name)


def burst(berth, network: str, names: list[str]) -> list:
    with ThreadPoolExecutor(len(names)) as pool:
        return list(
            pool.map(
                lambda name: berth("run", "-d", "--network", network, "--name", name, "busybox", "sleep", "100"), names
            )
        )


@pytest.mark.parametrize(("n", "rounds"), [(20, 3), (50, 2), (100, 2)])
def test_parallel_runs_on_one_network(berth, network, n, rounds):
    for r in range(rounds):
        runs = burst(berth, network, [f"race{r}-{i}" for i in range(n)])
        failed = [run.stderr.strip() for run in runs if run.returncode]
        assert not failed, f"round {r}: {len(failed)} of {n} failed: {failed[:3]}"
        ids = [run.stdout.strip() for run in runs]
        documents = json.loads(berth("inspect", *ids, check=True).stdout)
        addresses = [n["IPAddress"] for d in documents for n in d["NetworkSettings"]["Networks"].values()]
        assert len(addresses) == n and len(set(addresses)) == n, addresses
        assert berth("rm", "-f", *ids, check=True).stdout.split() == ids
        time.sleep(PAUSES[r % len(PAUSES)])
    assert berth("ps", "-aq").stdout == ""


def retiring(root: str) -> int:
    """The processes waiting to retire the default bridge of the berth root given."""
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(b"_retire_after_linger" in a for a in argv) and root.encode() in argv:
            count += 1
    return count


def test_one_process_waits_to_retire_the_bridge(berth):
    """A run of `run --rm` on the default bridge leaves one process waiting to retire it, not one
    per container (each an interpreter that cost the next run CPU time), and none once it is gone."""
    most = 0
    for _ in range(8):
        berth("run", "--rm", "busybox", "true", check=True)
        most = max(most, retiring(berth.root))
        time.sleep(0.3)
    assert 1 <= most <= 2, most
    deadline = time.monotonic() + LINGER + 5
    while retiring(berth.root) or b"berth0" in subprocess.run(["ip", "-o", "link"], capture_output=True).stdout:
        assert time.monotonic() < deadline, "the idle bridge or a process waiting to retire it stayed"
        time.sleep(0.1)
