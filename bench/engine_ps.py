"""`ps -a` with 10, 100 and 500 (created, not running) containers: berth against
a private dockerd, on the same busybox image; medians and ratios, and growth.

    .venv/bin/python bench/engine_ps.py [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anchors import Dockerd, busybox_imported, cgroup_parents_restored, private_mount_namespace  # noqa: E402

BERTH = str(Path(sys.executable).parent / "berth")


def median_time(argv: list[str], env: dict | None, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    private_mount_namespace()  # before anything is made: the anchors mount there
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="berth-bench-ps-"))
    docker = None
    try:
        root = str(top / "berth")
        busybox_imported(top, BERTH, root)
        (top / "docker").mkdir()
        docker = Dockerd(top / "docker", storage="overlay2")
        assert docker("import", str(top / "busybox.tar"), "bench/busybox").returncode == 0
        made = 0
        results = []
        for n in (10, 100, 500):

            def create(i: int) -> None:
                subprocess.run(
                    [BERTH, "--root", root, "create", "--name", f"b{i}", "bench/busybox", "true"],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                assert docker("create", "--name", f"b{i}", "--network", "none", "bench/busybox", "true").returncode == 0

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(create, range(made, n)))
            made = n
            b = median_time([BERTH, "--root", root, "ps", "-a"], None, args.rounds)
            d = median_time(*docker.argv("ps", "-a"), args.rounds)
            results.append((n, b, d))
            print(
                f"ps -a with {n:3d} containers: berth {b * 1000:6.1f} ms, docker {d * 1000:6.1f} ms, ratio {b / d:.2f}x"
            )
        base = results[0]
        print(f"growth 10 -> 500: berth x{results[-1][1] / base[1]:.1f}, docker x{results[-1][2] / base[2]:.1f}")
        return 0
    finally:
        if docker:
            docker("container", "prune", "-f")
            docker.stop()
        subprocess.run(f"{BERTH} --root {top}/berth ps -aq | xargs -r {BERTH} --root {top}/berth rm -f", shell=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
