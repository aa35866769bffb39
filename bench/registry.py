"""`pull` and `push` of an image with one 60 MB incompressible layer and one 14 MB
text layer, through one local docker-registry: berth against docker (a private
dockerd) and podman, interleaved in one run.

    .venv/bin/python bench/registry.py [--rounds N]

push: each tool pushes its copy of the image (loaded from the same archive) to a
registry started empty for that push (docker and podman remember where they
pushed blobs before and would mount them instead), so every blob is uploaded
(each tool as it always does: docker and podman gzip the layers on the way, berth sends them as
stored, which keeps the image's digest).
pull: the image docker pushed (gzip layers, as registries usually hold them)
into an empty store every round. berth verifies and stores the blobs and unpacks
at the first container; docker and podman unpack while pulling.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anchors import Dockerd, Podman, Registry, cgroup_parents_restored, private_mount_namespace, stop_all  # noqa: E402
from bench.engine_run import BERTH  # noqa: E402
from bench.image_load import text_bytes  # noqa: E402

CPU: dict[str, list[float]] = {}


def run(argv: list[str], env: dict | None = None, cpu: str = "") -> float:
    """Seconds of wall time; with `cpu`, the process's user+sys seconds are kept under that name."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-800:]}")
    if cpu:
        CPU.setdefault(cpu, []).append(usage.ru_utime + usage.ru_stime)
    return elapsed


def quiet(argv: list[str], env: dict | None = None) -> None:
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def report(title: str, times: dict[str, list[float]], goal: float) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{title}, {len(times['berth'])} interleaved rounds")
    for name, seconds in med.items():
        print(f"  {name:7s} median {seconds * 1000:8.1f} ms")
    ratio = med["berth"] / min(med["docker"], med["podman"])
    print(f"  ratio berth / faster of docker and podman: {ratio:.2f}x (goal: at most {goal:.2f}x: "
          f"{'met' if ratio <= goal else 'MISSED'})")  # fmt: skip


def main() -> int:
    private_mount_namespace()  # before anything is made: the anchors mount there
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="berth-bench-registry-"))
    docker = podman = registry = None
    try:
        root = str(top / "berth")
        b = [BERTH, "--root", root]
        ctx = top / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY random /random\nCOPY text /text\n")
        (ctx / "random").write_bytes(os.urandom(60 << 20))
        (ctx / "text").write_bytes(text_bytes(14 << 20))
        subprocess.run([*b, "build", "-q", "-t", "bench/two-layers", str(ctx)], check=True, stdout=subprocess.DEVNULL)
        archive = str(top / "two-layers.tar")
        subprocess.run([*b, "save", "-o", archive, "bench/two-layers"], check=True)
        registry = Registry(top / "registry")
        reg = registry.host
        (top / "docker").mkdir()
        (top / "podman").mkdir()
        docker = Dockerd(top / "docker", storage="overlay2")
        podman = Podman(top / "podman", storage="overlay")
        assert docker("load", "-i", archive).returncode == 0
        assert podman("load", "-i", archive).returncode == 0
        pushes: dict[str, list[float]] = {"berth": [], "docker": [], "podman": []}
        for i in range(args.rounds):
            order = ["berth", "docker", "podman"] if i % 2 == 0 else ["podman", "docker", "berth"]
            for tool in order:
                empty = Registry(top / f"registry-{tool}-{i}")
                name = f"{empty.host}/push/image:v1"
                if tool == "berth":
                    quiet([*b, "tag", "bench/two-layers", name])
                    pushes[tool].append(run([*b, "push", name], cpu="push"))
                    quiet([*b, "rmi", name])
                elif tool == "docker":
                    quiet(*docker.argv("tag", "bench/two-layers", name))
                    pushes[tool].append(run(*docker.argv("push", name)))
                    quiet(*docker.argv("rmi", name))
                else:
                    quiet(*podman.argv("tag", "bench/two-layers", name))
                    pushes[tool].append(run(*podman.argv("push", "--tls-verify=false", name)))
                    quiet(*podman.argv("rmi", name))
                empty.stop()
                shutil.rmtree(top / f"registry-{tool}-{i}", ignore_errors=True)
        report("push (every blob uploaded)", pushes, 0.75)
        source = f"{reg}/pull/image:v1"
        quiet(*docker.argv("tag", "bench/two-layers", source))
        run(*docker.argv("push", source))
        quiet(*docker.argv("rmi", "bench/two-layers", source))
        quiet(*podman.argv("rmi", "-f", "bench/two-layers"))
        pulls: dict[str, list[float]] = {"berth": [], "docker": [], "podman": []}
        for i in range(args.rounds):
            order = ["berth", "docker", "podman"] if i % 2 == 0 else ["podman", "docker", "berth"]
            for tool in order:
                if tool == "berth":
                    fresh = str(top / f"pull-{i}")
                    pulls[tool].append(run([BERTH, "--root", fresh, "pull", source], cpu="pull"))
                    shutil.rmtree(fresh, ignore_errors=True)
                elif tool == "docker":
                    pulls[tool].append(run(*docker.argv("pull", source)))
                    quiet(*docker.argv("rmi", source))
                else:
                    pulls[tool].append(run(*podman.argv("pull", "--tls-verify=false", source)))
                    quiet(*podman.argv("rmi", source))
        report("pull (into an empty store)", pulls, 0.75)
        for what, seconds in CPU.items():
            print(f"berth {what}: CPU (user+sys) median {statistics.median(seconds) * 1000:.1f} ms")
    finally:
        stop_all(docker, podman, registry)
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
