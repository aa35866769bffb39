"""berth.engine.isolated: work run in a child with a mount namespace of its own, by fork (one
thread, no database open) or by a fresh interpreter (otherwise), with the same results either way:
its value, its output, its error as the same class, and the caller's namespace untouched."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.root

SCRIPT = r"""
import io, os, sys, threading
from berth.engine import isolated
from berth.errors import NotFound

mode = sys.argv[1]
if mode == "threaded":
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()
ours = os.readlink("/proc/self/ns/mnt")
out = io.BytesIO()
value = isolated.call("tests.integration.test_isolated:work", {"text": "hello"}, out)
print(value["ns"] != ours, value["pid"] != os.getpid(), value["forked"], out.getvalue().decode())
big = io.BytesIO()  # a request larger than an argv may be (128 KiB a string)
isolated.call("tests.integration.test_isolated:work", {"text": "x" * 300_000}, big)
print("big", big.getvalue() == b"x" * 300_000)
try:
    isolated.call("tests.integration.test_isolated:fail", {})
except NotFound as e:
    print("raised", type(e).__name__, e)
print(os.readlink("/proc/self/ns/mnt") == ours)
"""


def work(text: str, out) -> dict:
    out.write(text.encode())
    return {"ns": os.readlink("/proc/self/ns/mnt"), "pid": os.getpid(), "forked": "berth.engine.engine" in sys.modules}


def fail() -> None:
    from berth.errors import NotFound

    raise NotFound("No such thing: x")


@pytest.mark.parametrize("mode,forked", [("plain", "True"), ("threaded", "False")])
def test_a_child_with_its_own_mount_namespace(mode, forked):
    """A fork's child has what its parent imported (the script imports the engine first when plain)."""
    code = SCRIPT.replace(
        "from berth.engine import isolated", "import berth.engine.engine\nfrom berth.engine import isolated"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=60, cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"True True {forked} hello", "big True", "raised NotFound No such thing: x",
                                        "True"]  # fmt: skip


def test_an_interrupted_caller_ends_the_child(tmp_path):
    """SIGTERM to the caller (the CLI's handler makes it a KeyboardInterrupt) reaches the child, which
    is waited for: no child outlives the call."""
    code = r"""
import _signal, os, sys, time
from berth.engine import isolated

def stop(signum, frame):
    raise KeyboardInterrupt

_signal.signal(_signal.SIGTERM, stop)
try:
    isolated.call("tests.integration.test_isolated:sleep", {"path": sys.argv[1]})
except KeyboardInterrupt:
    print("interrupted", open(f"/proc/self/task/{os.getpid()}/children").read().split())
"""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "started")], stdout=subprocess.PIPE, text=True,
                            cwd=root)  # fmt: skip
    import time

    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    assert out == "interrupted []\n"
    assert (tmp_path / "stopped").exists()  # the child's own KeyboardInterrupt ran its cleanup


def sleep(path: str) -> None:
    import time

    open(path, "w").close()
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        open(os.path.join(os.path.dirname(path), "stopped"), "w").close()
        raise
