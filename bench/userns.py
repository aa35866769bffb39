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
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anchors import busybox_imported, cgroup_parents_restored, private_mount_namespace, subordinate_user  # noqa: E402
from bench.engine_run import interleaved, report  # noqa: E402

BERTH = str(Path(sys.executable).parent / "berth")
USER = "bt18bench"


def main() -> int:
    private_mount_namespace()
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    args = ap.parse_args()
    top = Path(tempfile.mkdtemp(prefix="berth-bench-userns-"))
    os.chmod(top, 0o711)  # a mapped root reaches its container's files through it
    try:
        with subordinate_user(USER, 65536 * 64):
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


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
