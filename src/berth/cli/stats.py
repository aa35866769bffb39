"""`berth stats [-a] [--no-stream] [--format json] [CONTAINER...]`: Docker's live resource table,
from berth.engine.stats. CPU % is the container's CPU time over the host's in the same interval,
times the number of CPUs, as Docker computes it."""

from __future__ import annotations

import os
import sys
import time

from berth import fastjson
from berth.argv import BOOL, STR, Option, parse
from berth.cli import human
from berth.errors import BerthError, InvalidArgument

OPTIONS = [Option("all,a", BOOL, help="show all containers (default shows just running)"),
           Option("no-stream", BOOL, help="disable streaming stats and only pull the first result"),
           Option("no-trunc", BOOL, help="do not truncate output"),
           Option("format", STR, "", help="'json' or 'table'")]  # fmt: skip


def rows(engine, names: list[str], everything: bool, no_trunc: bool, interval: float) -> list[dict]:
    containers = [engine.get(n) for n in names] if names else [c for c in engine.list()
                                                                if everything or c.status == "running"]  # fmt: skip
    from berth.engine.stats import sample

    before = {}
    for c in containers:
        if c.status == "running":
            try:
                before[c.id] = sample(engine, c)
            except BerthError:
                pass  # gone since it was listed
    time.sleep(interval)
    ncpu = os.cpu_count() or 1
    out = []
    for c in containers:
        if c.id not in before or c.status != "running":
            out.append({"ID": c.id if no_trunc else c.id[:12], "Name": c.name, "CPUPerc": "0.00%",
                        "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B", "BlockIO": "0B / 0B",
                        "PIDs": "0"})  # fmt: skip
            continue
        try:
            now, was = sample(engine, c), before[c.id]
        except BerthError:
            continue
        host = now.host_cpu - was.host_cpu
        cpu = (now.cpu - was.cpu) / host * ncpu * 100 if host > 0 else 0.0
        out.append({
            "ID": c.id if no_trunc else c.id[:12], "Name": c.name, "CPUPerc": f"{cpu:.2f}%",
            "MemUsage": f"{_bin(now.memory)} / {_bin(now.limit)}",
            "MemPerc": f"{now.memory / now.limit * 100 if now.limit else 0:.2f}%",
            "NetIO": f"{human.size(now.net[0])} / {human.size(now.net[1])}",
            "BlockIO": f"{human.size(now.block[0])} / {human.size(now.block[1])}", "PIDs": str(now.pids),
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
