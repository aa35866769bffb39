"""`build`: berth against `docker build` (Debian's docker.io: its default legacy
builder, and BuildKit) and `podman build`, same Dockerfiles, same busybox base,
interleaved in one process. Prints medians and ratios against the fastest anchor.

    .venv/bin/python bench/build.py [--rounds N]

- cold: one RUN step, --no-cache on every tool
- cached: the same Dockerfile again, everything from the cache
- copy: COPY of a 75 MB context (75 files of 1 MiB of random bytes), --no-cache
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anchors import Dockerd, Podman, cgroup_parents_restored, private_mount_namespace, stop_all  # noqa: E402
from bench.engine_run import BERTH, interleaved, report  # noqa: E402

GOALS = {"cold": 0.5, "cached": 0.5, "copy": 1.0}


def main() -> int:
    private_mount_namespace()  # before anything is made: the anchors mount there
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="berth-bench-build-"))
    docker = podman = None
    try:
        root = str(top / "berth")
        subprocess.run([BERTH, "--root", root, "image", "bootstrap", "busybox"], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([BERTH, "--root", root, "save", "-o", str(top / "busybox.tar"), "busybox"], check=True)
        (top / "docker").mkdir()
        (top / "podman").mkdir()
        docker = Dockerd(top / "docker", storage="overlay2")
        podman = Podman(top / "podman", storage="overlay")
        assert docker("load", "-i", str(top / "busybox.tar")).returncode == 0
        assert podman("load", "-i", str(top / "busybox.tar")).returncode == 0
        contexts = {
            "cold": ("FROM busybox\nRUN echo step > /f\n", 0, True),
            "cached": ("FROM busybox\nRUN echo cached > /f\n", 0, False),
            "copy": ("FROM busybox\nCOPY . /ctx/\n", 75, True),
        }
        for name, (dockerfile, megabytes, no_cache) in contexts.items():
            ctx = top / f"ctx-{name}"
            ctx.mkdir()
            (ctx / "Dockerfile").write_text(dockerfile)
            for i in range(megabytes):
                (ctx / f"blob{i:03d}").write_bytes(os.urandom(1 << 20))
            flags = ["--network", "none", *(["--no-cache"] if no_cache else []), "-t", f"bench-{name}", str(ctx)]
            legacy = ["/usr/bin/docker", "build", *flags]
            commands = {
                "berth": ([BERTH, "--root", root, "build", *flags], None),
                "docker": (legacy, dict(docker.env, DOCKER_BUILDKIT="0")),
                "docker-bk": (legacy, dict(docker.env, DOCKER_BUILDKIT="1")),
                "podman": podman.argv("build", *flags),
            }
            if not no_cache:  # fill every cache first
                for argv, env in commands.values():
                    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            med = interleaved(commands, args.rounds)
            best = min(v for k, v in med.items() if k != "berth")
            report(f"build ({name}): {dockerfile.splitlines()[-1]}", med, args.rounds)
            ratio = med["berth"] / best
            verdict = "met" if ratio <= GOALS[name] else "MISSED"
            print(f"  ratio berth / fastest anchor: {ratio:.2f}x (goal: at most {GOALS[name]:.2f}x: {verdict})")
    finally:
        stop_all(docker, podman)
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
