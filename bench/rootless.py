"""Rootless berth against rootless Podman, both run by the same ordinary user in one run:
`run --rm --network none busybox true`, interleaved. Goal (issue 18): berth at most 0.5x.

The bench makes its own user (bt18rbench: a home, a subordinate range after every range in
/etc/subuid and /etc/subgid) and removes it, its home and its lines at the end; the namespace
holders both engines leave (berth's holder, Podman's pause process) are ended by their pids.

    .venv/bin/python bench/rootless.py [--rounds N]
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

from bench.anchors import busybox_imported, cgroup_parents_restored, subordinate_user  # noqa: E402

BERTH = str(Path(sys.executable).parent / "berth")
USER = "bt18rbench"
PODMAN_LIMITS = "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"  # this machine denies CAP_SYS_RESOURCE

TIMER = r"""
import statistics, subprocess, sys, time
rounds, commands = int(sys.argv[1]), dict(zip(sys.argv[2::2], sys.argv[3::2]))
times = {k: [] for k in commands}
for i in range(rounds):
    for name in list(commands) if i % 2 == 0 else list(reversed(commands)):
        start = time.perf_counter()
        subprocess.run(commands[name], shell=True, check=True, stdout=subprocess.DEVNULL)
        times[name].append(time.perf_counter() - start)
for name, values in times.items():
    print(name, statistics.median(values))
"""


def as_user(rundir: str, script: str, *args: str, timeout: float = 900) -> str:
    env = f"XDG_RUNTIME_DIR={rundir} BERTH_PULL_POLICY=never"
    command = " ".join([f"export {env} &&", script, *(f"'{a}'" for a in args)])
    proc = subprocess.run(["su", "--login", "-s", "/bin/sh", USER, "-c", command], capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"as {USER}: {script}: {proc.stderr.strip()}")
    return proc.stdout


def end_holder(path: str) -> None:
    try:
        with open(path) as f:
            os.kill(int(f.read().split()[0]), 9)
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        pass


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="berth-bench-rootless-"))
    os.chmod(top, 0o755)
    rundir = f"/tmp/{USER}-run"
    with subordinate_user(USER, 65536 * 2, home=True):
        try:
            os.makedirs(rundir, mode=0o700, exist_ok=True)
            shutil.chown(rundir, USER, USER)
            busybox_imported(top, BERTH, str(top / "root"))  # for its archive, busybox.tar
            os.chmod(top / "busybox.tar", 0o644)
            as_user(rundir, f"{BERTH} import -c 'CMD [\"sh\"]' {top / 'busybox.tar'} bench/busybox")
            as_user(rundir, f"podman import -c 'CMD [\"sh\"]' {top / 'busybox.tar'} bench/busybox")
            (top / "timer.py").write_text(TIMER)
            out = as_user(rundir, f"{sys.executable} {top / 'timer.py'} {args.rounds}",
                          "berth", f"{BERTH} run --rm --network none bench/busybox true",
                          "podman", f"podman run --rm {PODMAN_LIMITS} --network none bench/busybox true")  # fmt: skip
            med = {name: float(value) for name, value in (line.split() for line in out.splitlines())}
            print(f"run --rm --network none busybox true as an ordinary user, {args.rounds} interleaved rounds")
            for name, seconds in med.items():
                print(f"  {name:7s} median {seconds * 1000:7.1f} ms")
            print(f"  ratio berth / podman: {med['berth'] / med['podman']:.2f}x (goal: at most 0.50x)")
            return 0
        finally:
            end_holder(os.path.join(rundir, "berth", "holder.pid"))
            end_holder(os.path.join(rundir, "libpod", "tmp", "pause.pid"))
            uid = subprocess.run(["id", "-u", USER], capture_output=True, text=True).stdout.strip()
            if uid.isdigit() and os.path.exists(f"/dev/shm/libpod_rootless_lock_{uid}"):
                os.unlink(f"/dev/shm/libpod_rootless_lock_{uid}")  # rootless Podman's, outliving its user
            shutil.rmtree(rundir, ignore_errors=True)
            shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
