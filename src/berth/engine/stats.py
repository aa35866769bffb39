"""A running container's resource use for every front end: what its cgroup has used, as its
runtime reports it (`events --stats`, runc's command), and its network namespace's counters."""

from __future__ import annotations

import os

from berth import fastjson
from berth.errors import FailedPrecondition
from berth.oci.record import record


@record
class Sample:
    cpu: int  # nanoseconds of CPU the container has used
    host_cpu: int  # nanoseconds the host has used: CPU % is the ratio of two samples' differences
    memory: int  # bytes, less the reclaimable page cache (as Docker counts it)
    limit: int  # bytes: the container's limit, or the host's memory
    pids: int
    net: tuple[int, ...]  # (received, sent) bytes, all interfaces but lo
    block: tuple[int, ...]  # (read, written) bytes


def sample(engine, c) -> Sample:
    proc = engine._runtime(c, "events", "--stats", c.id)
    if proc.returncode != 0:
        raise FailedPrecondition(
            proc.stderr.strip().removeprefix("berth-runtime: ") or f"container {c.id} is not running"
        )
    data = fastjson.loads(proc.stdout)["data"]
    memory = data.get("memory") or {}
    stats = memory.get("stats") or {}
    usage = (memory.get("usage") or {}).get("usage", 0)
    usage -= stats.get("total_inactive_file", stats.get("inactive_file", 0))
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    limit = (memory.get("usage") or {}).get("limit", 0)
    service = (data.get("blkio") or {}).get("ioServiceBytesRecursive") or []
    return Sample(cpu=((data.get("cpu") or {}).get("usage") or {}).get("total", 0), host_cpu=_host_cpu(),
                  memory=max(usage, 0), limit=limit if 0 < limit <= total else total,
                  pids=(data.get("pids") or {}).get("current", 0), net=_net(c.pid),
                  block=(sum(e["value"] for e in service if e.get("op") == "Read"),
                         sum(e["value"] for e in service if e.get("op") == "Write")))  # fmt: skip


def _host_cpu() -> int:
    """The host's CPU time so far, in nanoseconds (/proc/stat's first line, in USER_HZ ticks)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(x) for x in fields) * (10**9 // os.sysconf("SC_CLK_TCK"))


def _net(pid: int) -> tuple[int, int]:
    rx = tx = 0
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return 0, 0
    for line in lines:
        name, _, rest = line.partition(":")
        if name.strip() != "lo" and rest.split():
            rx += int(rest.split()[0])
            tx += int(rest.split()[8])
    return rx, tx
