"""logs --since/--until, stats, info and system df, in Docker's shapes."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.root


def test_logs_since_and_until(berth):
    berth("run", "-d", "--name", "timed", "busybox", "sh", "-c", "echo one; sleep 1.5; echo two", check=True)
    berth("wait", "timed", check=True)
    stamped = berth("logs", "-t", "timed", check=True).stdout.splitlines()
    assert [line.split()[1] for line in stamped] == ["one", "two"]
    second = stamped[1].split()[0]
    assert berth("logs", "--since", "1s", "timed", check=True).stdout == "two\n"
    assert berth("logs", "--until", "1s", "timed", check=True).stdout == "one\n"
    assert berth("logs", "--since", second, "timed", check=True).stdout == "two\n"
    assert berth("logs", "--since", "2000-01-01", "--until", str(time.time() + 60), "timed").stdout == "one\ntwo\n"
    bad = berth("logs", "--since", "yesterday", "timed")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1


def test_stats_no_stream(berth):
    berth("run", "-d", "--name", "busy", "--memory", "64m", "--pids-limit", "20", "busybox", "sh", "-c",
          "while true; do :; done", check=True)  # fmt: skip
    berth("run", "-d", "--name", "idle", "busybox", "sleep", "60", check=True)
    table = berth("stats", "--no-stream", check=True).stdout.splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
                                "NET", "I/O", "BLOCK", "I/O", "PIDS"]  # fmt: skip
    rows = {
        r["Name"]: r for r in map(json.loads, berth("stats", "--no-stream", "--format", "json").stdout.splitlines())
    }
    assert float(rows["busy"]["CPUPerc"].rstrip("%")) > 50  # a spinning shell
    assert float(rows["idle"]["CPUPerc"].rstrip("%")) < 5
    assert rows["busy"]["MemUsage"].endswith("/ 64MiB") and rows["busy"]["PIDs"] == "1"
    assert berth("stats", "--no-stream", "nosuch").returncode != 0


def test_info_and_system_df(berth):
    berth("run", "-d", "--name", "counted", "busybox", "sleep", "60", check=True)
    berth("create", "--name", "stopped", "busybox", "sh", "-c", "echo x > /file", check=True)
    info = json.loads(berth("info", "--format", "json", check=True).stdout)
    assert info["ContainersRunning"] >= 1 and info["ContainersStopped"] >= 1 and info["Images"] >= 1
    assert info["Driver"] == "overlay" and info["OSType"] == "linux" and info["NCPU"] >= 1
    assert "Storage Driver: overlay" in berth("info", check=True).stdout
    assert berth("info", "-f", "{{.Driver}}", check=True).stdout == "overlay\n"
    df = berth("system", "df", check=True).stdout.splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in df[1:]] == ["Images", "Containers", "Local", "Build"]
