"""The Docker Engine API served by `berth system service`, against dockerd (Debian's, private)
and podman's `system service`: the same docker CLI binary talks to each, in one run.

1. `docker run --rm busybox true` (each server's default network), interleaved rounds;
2. `docker exec C true` and `docker ps -a` with 100 containers;
3. 20 clients at once (docker SDK), each creating, starting, waiting for and removing a
   container 10 times: the total time, and errors;
4. the idle service's memory (PSS) after the runs above.

    .venv/bin/python bench/api_service.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anchors import Dockerd, Podman, busybox_imported, cgroup_parents_restored, private_mount_namespace  # noqa: E402
from bench.engine_run import _memory, interleaved, report  # noqa: E402

BERTH = str(Path(sys.executable).parent / "berth")
IMAGE = "bench/busybox"


def wait_socket(path: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 60
    while subprocess.run(["docker", "-H", f"unix://{path}", "version"], capture_output=True).returncode != 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not serve on {path}")
        time.sleep(0.2)


def cli(sock: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "-H", f"unix://{sock}", *args], capture_output=True, text=True, timeout=300)


def clients(sock: str, image: str, n: int = 20, each: int = 10) -> tuple[float, list[str]]:
    """n SDK clients at once, each doing create/start/wait/rm `each` times: (seconds, errors)."""
    import docker

    errors: list[str] = []

    def work(i: int) -> None:
        c = docker.DockerClient(base_url=f"unix://{sock}", version="1.41", timeout=300)
        try:
            for _ in range(each):
                try:
                    ctr = c.containers.create(image, ["true"], network_mode="none")
                    ctr.start()
                    code = ctr.wait()["StatusCode"]
                    if code != 0:
                        errors.append(f"exit {code}")
                    ctr.remove()
                except Exception as e:  # noqa: BLE001 - counted and reported
                    errors.append(f"{type(e).__name__}: {e}")
        finally:
            c.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, errors


def main() -> int:
    private_mount_namespace()
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="berth-bench-api-"))
    procs: list[subprocess.Popen] = []
    dockerd = podman = None
    root = str(top / "berth")
    try:
        busybox_imported(top, BERTH, root, IMAGE)
        socks = {"berth": str(top / "berth.sock")}
        berth = subprocess.Popen([BERTH, "--root", root, "system", "service", "--time", "0", f"unix://{socks['berth']}"],
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        procs.append(berth)
        wait_socket(socks["berth"], berth, "berth system service")
        (top / "docker").mkdir()
        dockerd = Dockerd(top / "docker", bridge=True, storage="overlay2")
        socks["dockerd"] = str(top / "docker" / "docker.sock")
        (top / "podman").mkdir()
        podman = Podman(top / "podman", storage="overlay")
        socks["podman"] = str(top / "podman.sock")
        argv, env = podman.argv("system", "service", "--time", "0", f"unix://{socks['podman']}")
        podman_service = subprocess.Popen(argv, env=env, cwd=str(top / "podman"), stderr=subprocess.DEVNULL)
        procs.append(podman_service)
        wait_socket(socks["podman"], podman_service, "podman system service")
        for name in ("dockerd", "podman"):
            out = cli(socks[name], "import", "-c", 'CMD ["sh"]', str(top / "busybox.tar"), IMAGE)
            if out.returncode != 0:
                raise SystemExit(f"{name}: import failed: {out.stderr}")

        def on(name: str, *rest: str) -> tuple[list[str], None]:
            return ["docker", "-H", f"unix://{socks[name]}", *rest], None

        med = interleaved({name: on(name, "run", "--rm", IMAGE, "true") for name in socks}, args.rounds)
        report("docker run --rm busybox true (each server's default network)", med, args.rounds)
        best = min(med["dockerd"], med["podman"])
        print(f"  ratio berth / faster of dockerd and podman: {med['berth'] / best:.2f}x (goal: at most 0.50x)")

        for name in socks:
            out = cli(socks[name], "run", "-d", "--name", "bench-exec", "--network", "none", IMAGE, "sleep", "1000")
            if out.returncode != 0:
                raise SystemExit(f"{name}: run -d failed: {out.stderr}")
        med = interleaved({name: on(name, "exec", "bench-exec", "true") for name in socks}, args.rounds)
        report("docker exec C true", med, args.rounds)
        best = min(med["dockerd"], med["podman"])
        print(f"  ratio berth / faster of dockerd and podman: {med['berth'] / best:.2f}x (goal: at most 0.75x)")
        for name in socks:
            cli(socks[name], "rm", "-f", "bench-exec")

        for name in socks:
            for i in range(100):
                out = cli(socks[name], "create", "--name", f"bench-ps-{i}", "--network", "none", IMAGE, "true")
                if out.returncode != 0:
                    raise SystemExit(f"{name}: create failed: {out.stderr}")
        med = interleaved({name: on(name, "ps", "-a") for name in socks}, args.rounds)
        report("docker ps -a with 100 containers", med, args.rounds)
        best = min(med["dockerd"], med["podman"])
        print(f"  ratio berth / faster of dockerd and podman: {med['berth'] / best:.2f}x (goal: at most 0.75x)")
        for name in socks:
            ids = cli(socks[name], "ps", "-aq").stdout.split()
            cli(socks[name], "rm", "-f", *ids)

        totals = {}
        print("20 clients at once, each create/start/wait/rm x10 (docker SDK, --network none)")
        for name in socks:
            seconds, errors = clients(socks[name], IMAGE)
            totals[name] = seconds
            print(
                f"  {name:7s} total {seconds:6.2f} s   errors {len(errors)}"
                + (f" (first: {errors[0]})" if errors else "")
            )
        print(f"  ratio berth / dockerd: {totals['berth'] / totals['dockerd']:.2f}x (goal: at most 0.75x, zero errors)")

        time.sleep(2)  # idle: what each server holds between clients
        print("idle service memory after the runs above")
        dockerd_pid = dockerd.proc.pid
        containerd = [int(p) for p in open(f"/proc/{dockerd_pid}/task/{dockerd_pid}/children").read().split()]
        rows = {"berth system service": [berth.pid], "dockerd": [dockerd_pid],
                "dockerd + its containerd": [dockerd_pid, *containerd], "podman system service": [podman_service.pid]}  # fmt: skip
        for label, pids in rows.items():
            pss = sum(_memory(pid)[1] for pid in pids)
            print(f"  {label:26s} PSS {pss / 1024:6.1f} MiB")
        return 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if dockerd:
            dockerd.stop()
        if podman:
            podman.stop()
        ids = subprocess.run([BERTH, "--root", root, "ps", "-aq"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run([BERTH, "--root", root, "rm", "-f", *ids], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)
        os.environ.pop("BERTH_BENCH_NAMESPACE", None)


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
