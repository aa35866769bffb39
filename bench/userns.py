"""What a user namespace costs a container's run: `berth run --rm --network none busybox true`
with `--userns=auto` (a range of its own, the image's layers idmapped) against the same run
without one, interleaved. Goal (issue 18): at most 1.2x.

The bench makes its own user (bt18bench) with a subordinate range after every range in
/etc/subuid and /etc/subgid, and removes it and its lines at the end.

    .venv/bin/python bench/userns.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anchors import busybox_imported, cgroup_parents_restored, private_mount_namespace  # noqa: E402
from bench.engine_run import interleaved, report  # noqa: E402

BERTH = str(Path(sys.executable).parent / "berth")
USER = "bt18bench"
FILES = ("/etc/subuid", "/etc/subgid")


def _first_free() -> int:
    ends = [100000]
    for path in FILES:
        with open(path) as f:
            for line in f.read().splitlines():
                fields = line.split(":")
                if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                    ends.append(int(fields[1]) + int(fields[2]))
    return max(ends)


def _remove_user() -> None:
    for path in FILES:
        with open(path) as f:
            lines = f.read().splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(f"{USER}:")]
        if kept != lines:
            with open(path, "w") as f:
                f.write("".join(kept))
    if subprocess.run(["id", USER], capture_output=True).returncode == 0:
        subprocess.run(["userdel", USER], check=True)


def main() -> int:
    private_mount_namespace()
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="berth-bench-userns-"))
    os.chmod(top, 0o711)  # a mapped root reaches its container's files through it
    _remove_user()
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True)
        first = _first_free()
        for path in FILES:
            with open(path, "a") as f:
                f.write(f"{USER}:{first}:{65536 * 64}\n")
        (top / "config").mkdir()
        (top / "config" / "daemon.json").write_text(json.dumps({"userns-auto-user": USER}))
        env = dict(os.environ, BERTH_CONFIG_DIR=str(top / "config"))
        root = str(top / "berth")
        busybox_imported(top, BERTH, root)
        base = [BERTH, "--root", root, "run", "--rm", "--network", "none"]
        med = interleaved({"host": ([*base, "bench/busybox", "true"], env),
                           "auto": ([*base, "--userns=auto", "bench/busybox", "true"], env)}, args.rounds)  # fmt: skip
        report("berth run --rm --network none busybox true, without and with --userns=auto", med, args.rounds)
        print(f"  ratio auto / host: {med['auto'] / med['host']:.2f}x (goal: at most 1.20x)")
        return 0
    finally:
        shutil.rmtree(top, ignore_errors=True)
        _remove_user()


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
