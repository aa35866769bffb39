"""`berth-runtime run` must not pay for modules it does not need (DESIGN: fast by design)."""

import subprocess
import sys

FORBIDDEN = {"re", "enum", "json", "argparse", "dataclasses", "typing", "shutil", "subprocess", "inspect", "socket"}
HOT = (
    "berth.runtime.cli", "berth.runtime.container_run", "berth.runtime.container_create", "berth.runtime.init",
    "berth.foreground", "berth.runtime.container_start", "berth.runtime.container_delete",
    "berth.runtime.cgroups.v1.manager", "berth.runtime.cgroups.v2.manager", "berth.runtime.container_exec",
)  # fmt: skip


def test_run_path_imports_no_heavy_modules():
    code = f"import sys; import {', '.join(HOT)}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    assert not (loaded & FORBIDDEN), f"the run path imports {sorted(loaded & FORBIDDEN)}"
