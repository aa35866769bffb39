"""`berth stats [-a] [--no-stream] [--format json] [CONTAINER...]`: Docker's live resource table.

Read from each container's cgroup (v1 here: cpuacct, memory, pids, blkio; v2
files where the host has them) and its network namespace's /proc/net/dev.
CPU % is the container's CPU time over the host's in the same interval, times
the number of CPUs, as Docker computes it.
"""

from __future__ import annotations

import os
import sys
import time

from berth import fastjson
from berth.argv import BOOL, STR, Option, parse
from berth.cli import human
from berth.errors import InvalidArgument

OPTIONS = [Option("all,a", BOOL, help="show all containers (default shows just running)"),
           Option("no-stream", BOOL, help="disable streaming stats and only pull the first result"),
           Option("no-trunc", BOOL, help="do not truncate output"),
           Option("format", STR, "", help="'json' or 'table'")]  # fmt: skip


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _int(path: str) -> int:
    text = _read(path).split()
    return int(text[0]) if text and text[0].isdigit() else 0


def _host_cpu() -> int:
    """The host's CPU time so far, in nanoseconds (/proc/stat's first line, in USER_HZ ticks)."""
    fields = _read("/proc/stat").split("\n", 1)[0].split()[1:8]
    return sum(int(x) for x in fields) * (10**9 // os.sysconf("SC_CLK_TCK"))


def sample(c) -> dict:
    cg = f"berth/{c.id}"
    v1 = os.path.isdir(f"/sys/fs/cgroup/memory/{cg}")
    if v1:
        cpu = _int(f"/sys/fs/cgroup/cpuacct/{cg}/cpuacct.usage")
        usage = _int(f"/sys/fs/cgroup/memory/{cg}/memory.usage_in_bytes")
        stat = dict(line.split() for line in _read(f"/sys/fs/cgroup/memory/{cg}/memory.stat").splitlines() if line)
        usage -= int(stat.get("total_inactive_file", 0))  # what Docker leaves out: reclaimable page cache
        limit = _int(f"/sys/fs/cgroup/memory/{cg}/memory.limit_in_bytes")
        pids = _int(f"/sys/fs/cgroup/pids/{cg}/pids.current")
        blk = _read(f"/sys/fs/cgroup/blkio/{cg}/blkio.throttle.io_service_bytes").splitlines()
        read = sum(int(x.split()[2]) for x in blk if len(x.split()) == 3 and x.split()[1] == "Read")
        write = sum(int(x.split()[2]) for x in blk if len(x.split()) == 3 and x.split()[1] == "Write")
    else:
        stat = dict(line.split() for line in _read(f"/sys/fs/cgroup/{cg}/cpu.stat").splitlines() if line)
        cpu = int(stat.get("usage_usec", 0)) * 1000
        usage = _int(f"/sys/fs/cgroup/{cg}/memory.current")
        limit = _int(f"/sys/fs/cgroup/{cg}/memory.max")
        pids = _int(f"/sys/fs/cgroup/{cg}/pids.current")
        read = write = 0
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if not limit or limit > total:
        limit = total
    rx = tx = 0
    for line in _read(f"/proc/{c.pid}/net/dev").splitlines()[2:]:
        name, _, rest = line.partition(":")
        if name.strip() != "lo" and rest.split():
            rx += int(rest.split()[0])
            tx += int(rest.split()[8])
    return {"cpu": cpu, "host": _host_cpu(), "mem": max(usage, 0), "limit": limit, "pids": pids,
            "net": (rx, tx), "blk": (read, write)}  # fmt: skip


def rows(engine, names: list[str], everything: bool, no_trunc: bool, interval: float) -> list[dict]:
    containers = [engine.get(n) for n in names] if names else [c for c in engine.list()
                                                                if everything or c.status == "running"]  # fmt: skip
    before = {c.id: sample(c) for c in containers if c.status == "running"}
    time.sleep(interval)
    ncpu = os.cpu_count() or 1
    out = []
    for c in containers:
        if c.id not in before or c.status != "running":
            out.append({"ID": c.id if no_trunc else c.id[:12], "Name": c.name, "CPUPerc": "0.00%",
                        "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B", "BlockIO": "0B / 0B",
                        "PIDs": "0"})  # fmt: skip
            continue
        now, was = sample(c), before[c.id]
        host = now["host"] - was["host"]
        cpu = (now["cpu"] - was["cpu"]) / host * ncpu * 100 if host > 0 else 0.0
        out.append({
            "ID": c.id if no_trunc else c.id[:12], "Name": c.name, "CPUPerc": f"{cpu:.2f}%",
            "MemUsage": f"{_bin(now['mem'])} / {_bin(now['limit'])}",
            "MemPerc": f"{now['mem'] / now['limit'] * 100 if now['limit'] else 0:.2f}%",
            "NetIO": f"{human.size(now['net'][0])} / {human.size(now['net'][1])}",
            "BlockIO": f"{human.size(now['blk'][0])} / {human.size(now['blk'][1])}", "PIDs": str(now["pids"]),
        })  # fmt: skip
    return out


def _bin(n: float) -> str:
    """go-units BytesSize: binary units, as Docker shows memory."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    i = 0
    while n >= 1024 and i < len(units) - 1:
        n /= 1024
        i += 1
    return f"{n:.4g}{units[i]}"


def main(engine, argv: list[str]) -> int:
    opts, names = parse(argv, OPTIONS, interspersed=True)
    if opts["format"] not in ("", "table", "json"):
        raise InvalidArgument(f"unsupported --format {opts['format']!r}: use json or table")
    from berth.tables import render

    tty = sys.stdout.isatty() and not opts["no_stream"]
    while True:
        table = rows(engine, names, opts["all"], opts["no_trunc"], 0.5)
        if opts["format"] == "json":
            text = "".join(fastjson.dumps(r) + "\n" for r in table)
        else:
            head = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"]
            keys = ("ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs")
            text = render([head] + [[r[k] for k in keys] for r in table], min_width=10, padding=3)
        sys.stdout.write(("\x1b[2J\x1b[H" if tty else "") + text)
        sys.stdout.flush()
        if opts["no_stream"]:
            return 0
        time.sleep(0.5)
