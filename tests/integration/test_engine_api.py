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


IMAGES_SCRIPT = """
import io, sys
from berth.engine.engine import Engine
from berth.engine.builds import BuildRequest, build
from berth.engine import container_files, logs, system
from berth.engine.options import CreateOptions
from berth.errors import FailedPrecondition, InvalidArgument, NotFound

engine = Engine(sys.argv[1])
images = engine.images
images.tag("busybox", "api-test/box:one")
[summary] = images.list({"reference": ["api-test/*"]})
print("listed", summary.names, summary.id == images.inspect("busybox")["Id"])
print("history", images.history("api-test/box:one")[0].id == summary.id)
archive = io.BytesIO()
images.save(["api-test/box:one"], archive)
print("removed", images.remove("api-test/box:one"))
archive.seek(0)
print("loaded", [l.names for l in images.load(archive)])
try:
    images.list({"colour": ["red"]})
except InvalidArgument as e:
    print("refused", e)
c = engine.create(CreateOptions(image="api-test/box:one", command=("sh", "-c", "echo out; echo err >&2"),
                                network="none"))
try:
    images.remove("api-test/box:one")
except FailedPrecondition as e:
    print("in use", "is using its referenced image" in str(e))
engine.start(c.id)
engine.wait(c.id)
print("logs", sorted((r.stream, r.text) for r in logs.read(engine, c.id)))
tar = io.BytesIO()
container_files.archive_out(engine, c.id, "/etc/hostname", tar)
print("archive", len(tar.getvalue()) > 512)
out = io.BytesIO()
image = build(engine, BuildRequest(context=io.BytesIO(b"FROM api-test/box:one\\nRUN echo built > /built\\n"),
                                   tags=("api-test/built",), network="none", quiet=True), out)
print("built", images.inspect("api-test/built")["Id"] == image)
pruned = system.prune(engine)
print("pruned", pruned.containers == (c.id,), pruned.containers, c.id)
for name in ("api-test/built", "api-test/box:one"):
    images.remove(name)
try:
    logs.read(engine, c.id)
except NotFound as e:
    print("gone", e)
engine.close()
"""


def test_the_image_and_system_facade(berth):
    """The calls the CLI's image, build, logs, cp and prune verbs make, driven as a library."""
    proc = subprocess.run([sys.executable, "-c", IMAGES_SCRIPT, berth.root], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "listed (('api-test/box', 'one'),) True", lines
    assert lines[1] == "history True"
    assert lines[2] == "removed [('Untagged', 'api-test/box:one')]"  # busybox still holds the image
    assert lines[3] == "loaded [('api-test/box:one',)]"
    assert lines[4] == "refused invalid filter 'colour'"
    assert lines[5] == "in use True"
    assert lines[6] == "logs [('stderr', 'err\\n'), ('stdout', 'out\\n')]"  # two pipes: no order between them
    assert lines[7:9] == ["archive True", "built True"] and lines[9].startswith("pruned True"), lines[7:10]
    assert lines[10].startswith("gone No such container: ")
    assert "api-test" not in berth("images").stdout
