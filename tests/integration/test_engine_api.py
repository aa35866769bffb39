"""The engine's Python API as README.md shows it: create, start (detached and attached), wait,
remove, and an attachment pumped to plain file descriptors."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.root

SCRIPT = """
import os, sys
from berth.engine.engine import Engine
from berth.engine.options import CreateOptions

engine = Engine(sys.argv[1])
c = engine.create(CreateOptions(image="busybox", command=("sh", "-c", "echo hi; exit 3"), name="api-attached",
                                network="none"))
code = engine.start(c.id, attach=True)  # this process's stdio, the exit code
engine.remove(c.id)
d = engine.create(CreateOptions(image="busybox", command=("sh", "-c", "echo detached"), name="api-detached",
                                network="none"))
engine.start(d.id)
print("waited", engine.wait(d.id), engine.get(d.id).status, flush=True)
engine.remove(d.id)
print("attached", code, [x.name for x in engine.list()], flush=True)
"""


def test_the_readme_api(berth):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, berth.root], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi\nwaited 0 exited\nattached 3 []\n", proc.stdout
