"""berth-runtime run vs runc run on the same busybox bundle running `true`.

Runs the two interleaved in one process, so drift on a shared machine hits both,
and prints the median wall time of each, their ratio, and the peak RSS of the
runtime process (the container's own process is not counted).

    .venv/bin/python bench/runtime_run.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anchors import cgroup_parents_restored  # noqa: E402
from berth.image.bootstrap import make_busybox_rootfs  # noqa: E402

RUNTIME = os.path.join(os.path.dirname(sys.executable), "berth-runtime")
HOT_IMPORTS = "import berth.runtime.cli, berth.runtime.container_run"


def timed(argv: list[str], cwd: str) -> float:
    """Wall seconds of one run."""
    quiet = [(os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0)]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=quiet)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}")
    return elapsed


def peak_rss(argv: list[str]) -> int:
    """Peak RSS (KiB) of one run: the runtime's processes and the container's.

    Measured by GNU time, a small C process: a child spawned from this Python
    process would start out counted with the bench's own memory.
    """
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, check=True)
    return int(out.stderr.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=50)
    args = ap.parse_args()
    runc = shutil.which("runc")
    if runc is None or not os.path.exists("/usr/bin/time"):
        raise SystemExit("runc and GNU time are needed: bash scripts/install.sh installs them")
    top = tempfile.mkdtemp(prefix="berth-bench-")
    try:
        make_busybox_rootfs(os.path.join(top, "rootfs"))
        subprocess.run([RUNTIME, "spec", "--bundle", top], check=True)
        with open(os.path.join(top, "config.json")) as f:
            config = json.load(f)
        config["process"].update(terminal=False, args=["true"])
        config["linux"]["cgroupsPath"] = "/berth-bench"
        with open(os.path.join(top, "config.json"), "w") as f:
            json.dump(config, f)
        tools = {"berth-runtime": [RUNTIME, "--root", os.path.join(top, "state-berth")],
                 "runc": [runc, "--root", os.path.join(top, "state-runc")]}  # fmt: skip
        times: dict[str, list[float]] = {name: [] for name in tools}
        os.chdir(top)
        for base in tools.values():  # warm the page cache once
            timed([*base, "run", "--bundle", top, "warm"], top)
        for i in range(args.rounds):
            order = list(tools) if i % 2 == 0 else list(reversed(tools))
            for name in order:
                times[name].append(timed([*tools[name], "run", "--bundle", top, f"b{i}"], top))
        rss = {
            name: max(peak_rss([*base, "run", "--bundle", top, f"m{k}"]) for k in range(5))
            for name, base in tools.items()
        }
        bare = statistics.median(timed([sys.executable, "-c", "pass"], top) for _ in range(args.rounds))
        hot = statistics.median(timed([sys.executable, "-c", HOT_IMPORTS], top) for _ in range(args.rounds))
        b, r = statistics.median(times["berth-runtime"]), statistics.median(times["runc"])
        print(f"rounds: {args.rounds} (interleaved)")
        print(f"berth-runtime run: median {b * 1000:.1f} ms, median peak RSS {rss['berth-runtime'] / 1024:.1f} MiB")
        print(f"runc run:          median {r * 1000:.1f} ms, median peak RSS {rss['runc'] / 1024:.1f} MiB")
        print(f"ratio berth/runc:  {b / r:.2f}x (goal: at most 1.00x)")
        print(
            f"of berth's time:   Python start {bare * 1000:.1f} ms, run-path imports {(hot - bare) * 1000:.1f} ms, "
            f"the rest {(b - hot) * 1000:.1f} ms"
        )
        return 0
    finally:
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
