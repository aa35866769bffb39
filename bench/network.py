"""Networking, berth against Debian's docker (a private dockerd with a bridge of its own) and
podman (netavark, aardvark-dns), on the same busybox image, in one run:

1. `run --rm IMAGE true` on the default bridge (and berth with --network none beside it: what
   networking adds to run), interleaved rounds, medians and ratios;
2. 50 containers started on one user network, then each resolving all 50 names (`nslookup`,
   through the network's DNS server): the time each phase took.

    .venv/bin/python bench/network.py [--rounds N] [--containers N]

Traffic stays on this machine: names are resolved by each engine's own DNS server; no name is
forwarded (BERTH_DNS_FORWARD=0; the others are only asked for names they know).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anchors import Dockerd, Podman, busybox_imported, cgroup_parents_restored, private_mount_namespace  # noqa: E402
from bench.engine_run import interleaved, report  # noqa: E402

BERTH = str(Path(sys.executable).parent / "berth")


def checked(argv: list[str], env: dict | None) -> None:
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()[-500:]}")


def many_on_one_network(name: str, base: tuple[list[str], dict | None], image: str, count: int) -> tuple[float, float]:
    """(seconds to start `count` containers on a new network, seconds for each to resolve all)."""
    argv, env = base
    net = "bench-net"
    checked([*argv, "network", "create", net], env)
    try:
        t0 = time.perf_counter()
        for i in range(count):
            checked([*argv, "run", "-d", "--network", net, "--name", f"n{i}", image, "sleep", "600"], env)
        t1 = time.perf_counter()
        script = f"i=0; while [ $i -lt {count} ]; do nslookup n$i >/dev/null || exit 1; i=$((i+1)); done"
        for i in range(count):
            checked([*argv, "exec", f"n{i}", "sh", "-c", script], env)
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1
    finally:
        names = [f"n{i}" for i in range(count)]
        # kill first: podman's `rm -f` waits 10 s for each `sleep` (PID 1 ignores SIGTERM) before it kills
        subprocess.run([*argv, "kill", *names], env=env, capture_output=True)
        subprocess.run([*argv, "rm", "-f", *names], env=env, capture_output=True)
        subprocess.run([*argv, "network", "rm", net], env=env, capture_output=True)


def main() -> int:
    private_mount_namespace()  # before anything is made: the anchors mount there
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--containers", type=int, default=50)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="berth-bench-network-"))
    os.environ["BERTH_NETWORK_ROOT"] = str(top / "berth-network")
    os.environ["BERTH_DNS_FORWARD"] = "0"
    docker = podman = None
    root = str(top / "berth")
    try:
        busybox_imported(top, BERTH, root)
        (top / "docker").mkdir()
        (top / "podman").mkdir()
        docker = Dockerd(top / "docker", bridge=True, storage="overlay2")
        podman = Podman(top / "podman", storage="overlay")
        assert docker("import", str(top / "busybox.tar"), "bench/busybox").returncode == 0
        assert podman("import", str(top / "busybox.tar"), "localhost/bench/busybox").returncode == 0
        run = {
            "berth": ([BERTH, "--root", root, "run", "--rm", "bench/busybox", "true"], None),
            "docker": docker.argv("run", "--rm", "bench/busybox", "true"),
            "podman": podman.argv("run", "--rm", "localhost/bench/busybox", "true"),
            "berth none": ([BERTH, "--root", root, "run", "--rm", "--network", "none", "bench/busybox", "true"], None),
        }
        med = interleaved(run, args.rounds)
        report("run --rm IMAGE true on the default bridge", med, args.rounds)
        best = min(med["docker"], med["podman"])
        print(f"  ratio berth / faster of docker and podman: {med['berth'] / best:.2f}x (goal: at most 0.50x)")
        print(f"  what the bridge adds to berth's run: {(med['berth'] - med['berth none']) * 1000:.1f} ms")
        print(f"{args.containers} containers on one user network, each resolving all {args.containers} names")
        engines = {
            "berth": (([BERTH, "--root", root], None), "bench/busybox"),
            "docker": (docker.argv(), "bench/busybox"),
            "podman": (podman.argv(), "localhost/bench/busybox"),
        }
        for name, (base, image) in engines.items():
            start, resolve = many_on_one_network(name, base, image, args.containers)
            print(f"  {name:7s} start {start:6.2f} s   resolve {resolve:6.2f} s   total {start + resolve:6.2f} s")
        return 0
    finally:
        subprocess.run([BERTH, "--root", root, "network", "prune", "-f"], capture_output=True)
        if docker:
            docker.stop()
        if podman:
            podman("network", "prune", "-f")
            podman.stop()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
