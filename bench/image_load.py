"""`load` of a docker-archive holding one 60 MB incompressible layer and one 14 MB
text layer: berth against `docker load` (a private dockerd) and `podman load`,
the same archive, interleaved; then `create` from a 2 MB and a 200 MB image,
which should cost the same (layers are unpacked once, containers only stack them).

    .venv/bin/python bench/image_load.py [--rounds N]
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

from bench.anchors import Dockerd, Podman, cgroup_parents_restored, private_mount_namespace, stop_all  # noqa: E402
from bench.engine_run import BERTH  # noqa: E402


def timed(argv: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def quiet(argv: list[str], env: dict | None = None) -> None:
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def text_bytes(size: int) -> bytes:
    line = b"the quick brown fox jumps over the lazy dog, line %08d of a text layer\n"
    out, i = bytearray(), 0
    while len(out) < size:
        out += line % i
        i += 1
    return bytes(out[:size])


def main() -> int:
    private_mount_namespace()  # before anything is made: the anchors mount there
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="berth-bench-load-"))
    docker = podman = None
    try:
        root = str(top / "berth")
        b = [BERTH, "--root", root]
        subprocess.run([*b, "image", "bootstrap", "busybox"], check=True, stdout=subprocess.DEVNULL)
        for name, files in {"two-layers": (("random", os.urandom(60 << 20)), ("text", text_bytes(14 << 20))),
                            "big": (("blob", os.urandom(200 << 20)),)}.items():  # fmt: skip
            ctx = top / f"ctx-{name}"
            ctx.mkdir()
            base = "scratch" if name == "two-layers" else "busybox"
            (ctx / "Dockerfile").write_text(f"FROM {base}\n" + "".join(f"COPY {f} /{f}\n" for f, _ in files))
            for f, data in files:
                (ctx / f).write_bytes(data)
            subprocess.run([*b, "build", "-q", "-t", f"bench/{name}", str(ctx)], check=True, stdout=subprocess.DEVNULL)
        archive = str(top / "two-layers.tar")
        subprocess.run([*b, "save", "-o", archive, "bench/two-layers"], check=True)
        print(f"archive: {os.path.getsize(archive) / 1e6:.1f} MB (docker-archive: 60 MB random + 14 MB text)")
        (top / "docker").mkdir()
        (top / "podman").mkdir()
        docker = Dockerd(top / "docker", storage="overlay2")
        podman = Podman(top / "podman", storage="overlay")
        load_root = str(top / "berth-load")
        tools = {
            "berth": (([BERTH, "--root", load_root, "load", "-i", archive], None),
                      ([BERTH, "--root", load_root, "rmi", "-f", "bench/two-layers"], None)),
            "docker": (docker.argv("load", "-i", archive), docker.argv("rmi", "-f", "bench/two-layers")),
            "podman": (podman.argv("load", "-i", archive), podman.argv("rmi", "-f", "bench/two-layers")),
        }  # fmt: skip
        times: dict[str, list[float]] = {k: [] for k in tools}
        for i in range(args.rounds):
            for name in list(tools) if i % 2 == 0 else list(reversed(tools)):
                (load, env), (rmi, rmi_env) = tools[name]
                times[name].append(timed(load, env))
                quiet(rmi, rmi_env)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"load of the archive, {args.rounds} interleaved rounds (each followed by an untimed rmi)")
        for name, seconds in med.items():
            print(f"  {name:7s} median {seconds * 1000:7.1f} ms")
        best = min(med["docker"], med["podman"])
        ratio = med["berth"] / best
        print(f"  ratio berth / faster of docker and podman: {ratio:.2f}x (goal: at most 0.50x: "
              f"{'met' if ratio <= 0.5 else 'MISSED'})")  # fmt: skip
        create = {}
        for name in ("busybox", "bench/big"):
            quiet([*b, "create", "--name", "warm", name, "true"])  # unpacks the layers once
            quiet([*b, "rm", "warm"])
            samples = []
            for _ in range(args.rounds * 2):
                samples.append(timed([*b, "create", "--name", "bench-c", name, "true"]))
                quiet([*b, "rm", "bench-c"])
            create[name] = statistics.median(samples)
        print(f"create (layers already unpacked), {args.rounds * 2} rounds")
        print(f"  2 MB image   median {create['busybox'] * 1000:7.1f} ms")
        print(f"  200 MB image median {create['bench/big'] * 1000:7.1f} ms")
        print(f"  ratio 200 MB / 2 MB: {create['bench/big'] / create['busybox']:.2f}x (goal: equal within noise)")
    finally:
        stop_all(docker, podman)
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
