"""`run --rm --network none IMAGE true` and `exec CONTAINER true`: berth against
Debian's docker (a private dockerd) and podman, on the same busybox image, runs
interleaved in one process. Prints medians and ratios.

    .venv/bin/python bench/engine_run.py [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anchors import Dockerd, Podman, busybox_imported, cgroup_parents_restored, private_mount_namespace  # noqa: E402

BERTH = str(Path(sys.executable).parent / "berth")


def timed(argv: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.decode()[-500:]}")
    return elapsed


def _berth_id(root: str, name: str) -> str:
    out = subprocess.run(
        [BERTH, "--root", root, "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _memory(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB, from /proc/PID/smaps_rollup."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss"):
                values[key] = int(rest.split()[0])
    return values["Rss"], values["Pss"]


def interleaved(commands: dict[str, tuple[list[str], dict | None]], rounds: int) -> dict[str, float]:
    """Median seconds of each command, run in alternating order so drift hits all alike."""
    times: dict[str, list[float]] = {k: [] for k in commands}
    for i in range(rounds):
        for name in list(commands) if i % 2 == 0 else list(reversed(commands)):
            argv, env = commands[name]
            times[name].append(timed(argv, env))
    return {k: statistics.median(v) for k, v in times.items()}


def report(title: str, medians: dict[str, float], rounds: int) -> None:
    print(f"{title}, {rounds} interleaved rounds")
    for name, seconds in medians.items():
        print(f"  {name:7s} median {seconds * 1000:7.1f} ms")


def main() -> int:
    private_mount_namespace()  # before anything is made: the anchors mount there
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="berth-bench-engine-"))
    docker = podman = None
    try:
        root = str(top / "berth")
        busybox_imported(top, BERTH, root)
        (top / "docker").mkdir()
        (top / "podman").mkdir()
        docker = Dockerd(top / "docker", storage="overlay2")
        podman = Podman(top / "podman", storage="overlay")
        assert docker("import", str(top / "busybox.tar"), "bench/busybox").returncode == 0
        assert podman("import", str(top / "busybox.tar"), "localhost/bench/busybox").returncode == 0
        run = {
            "berth": ([BERTH, "--root", root, "run", "--rm", "--network", "none", "bench/busybox", "true"], None),
            "docker": docker.argv("run", "--rm", "--network", "none", "bench/busybox", "true"),
            "podman": podman.argv("run", "--rm", "--network", "none", "localhost/bench/busybox", "true"),
        }
        med = interleaved(run, args.rounds)
        best = min(med["docker"], med["podman"])
        report("run --rm --network none IMAGE true", med, args.rounds)
        print(f"  ratio berth / faster of docker and podman: {med['berth'] / best:.2f}x (goal: at most 0.50x)")
        subprocess.run(
            [BERTH, "--root", root, "run", "-d", "--name", "bench-exec", "bench/busybox", "sleep", "1000"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        assert (
            docker(
                "run", "-d", "--name", "bench-exec", "--network", "none", "bench/busybox", "sleep", "1000"
            ).returncode
            == 0
        )
        exec_ = {
            "berth": ([BERTH, "--root", root, "exec", "bench-exec", "true"], None),
            "docker": docker.argv("exec", "bench-exec", "true"),
        }
        emed = interleaved(exec_, args.rounds)
        report("exec CONTAINER true", emed, args.rounds)
        print(f"  ratio berth / docker: {emed['berth'] / emed['docker']:.2f}x (goal: at most 1.00x)")
        assert (
            podman(
                "run", "-d", "--name", "bench-idle", "--network", "none", "localhost/bench/busybox", "sleep", "1000"
            ).returncode
            == 0
        )
        monitors = {
            "berth monitor": int(open(f"{root}/containers/{_berth_id(root, 'bench-exec')}/monitor.pid").read()),
            "containerd-shim (docker)": _ppid(
                int(docker("inspect", "-f", "{{.State.Pid}}", "bench-exec", text=True).stdout)
            ),
            "conmon (podman)": int(podman("inspect", "--format", "{{.State.ConmonPid}}", "bench-idle").stdout),
        }
        print("host memory per idle running container (the process that watches it)")
        for name, pid in monitors.items():
            rss, pss = _memory(pid)
            print(f"  {name:26s} RSS {rss / 1024:5.1f} MiB   PSS {pss / 1024:5.1f} MiB")
        subprocess.run([BERTH, "--root", root, "rm", "-f", "bench-exec"], stdout=subprocess.DEVNULL)
        docker("rm", "-f", "bench-exec")
        podman("rm", "-f", "bench-idle")
        return 0
    finally:
        if docker:
            docker.stop()
        if podman:
            podman.stop()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
