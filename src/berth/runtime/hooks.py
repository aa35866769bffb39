"""OCI lifecycle hooks: each gets the container's state as JSON on stdin."""

from __future__ import annotations

import sys

from berth import fastjson
from berth.errors import FailedPrecondition
from berth.oci.runtime_spec import Hook


def run(hooks: tuple[Hook, ...], state: dict, stage: str, fatal: bool = True) -> None:
    """Run hooks in order; a failure stops the lifecycle (fatal) or is only a warning."""
    if not hooks:
        return
    import subprocess

    payload = fastjson.dumps(state).encode()
    for hook in hooks:
        env = dict(e.split("=", 1) for e in hook.env if "=" in e)
        try:
            proc = subprocess.run(list(hook.args) or [hook.path], executable=hook.path, input=payload, env=env,
                                  timeout=hook.timeout, capture_output=True)  # fmt: skip
            problem = (
                None
                if proc.returncode == 0
                else f"exited with status {proc.returncode}: {proc.stderr.decode(errors='replace').strip()}"
            )
        except subprocess.TimeoutExpired:
            problem = f"timed out after {hook.timeout}s"
        except OSError as e:
            problem = e.strerror
        if problem:
            message = f"{stage} hook {hook.path} {problem}"
            if fatal:
                raise FailedPrecondition(message)
            sys.stderr.write(f"berth-runtime: warning: {message}\n")
