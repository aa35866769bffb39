"""The engine's Python API as README.md shows it: create, start (detached and attached), wait,
remove, and an attachment pumped to plain file descriptors."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.root

SCRIPT = """
import os, signal, sys
from berth.engine.engine import Engine
from berth.engine.options import CreateOptions

def handlers():
    return [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGWINCH, signal.SIGHUP)]

engine = Engine(sys.argv[1])
c = engine.create(CreateOptions(image="busybox", command=("sh", "-c", "echo hi; exit 3"), name="api-attached",
                                network="none"))
before = handlers()
code = engine.start(c.id, attach=True)  # this process's stdio, the exit code
assert handlers() == before and signal.set_wakeup_fd(-1) == -1, "the caller's signal handling changed"
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


TYPED_SCRIPT = """
import os, sys
from berth.engine.engine import Engine
from berth.engine.options import CreateOptions, DeviceMapping, Mount, PortBinding, RestartPolicy, Ulimit
from berth.errors import InvalidArgument

engine = Engine(sys.argv[1])
host_dir = sys.argv[2]
opts = CreateOptions(
    image="busybox", network="none", name="api-typed",
    command=("sh", "-c", "cat /host/f; cat /proc/self/mounts | grep -c ' /scratch tmpfs '; ulimit -n; ls -l /dev/zz"),
    mounts=(Mount(type="bind", source=host_dir, target="/host", read_only=True),
            Mount(type="volume", source="api-typed-vol", target="/data"),
            Mount(type="tmpfs", target="/scratch", options=("size=1m",))),
    ulimits=(Ulimit(name="nofile", soft=321, hard=654),),
    devices=(DeviceMapping(path_on_host="/dev/zero", path_in_container="/dev/zz", permissions="r"),),
    publish=(PortBinding(port=80),),  # no bridge: Docker drops it, as -p with --network none
    restart=RestartPolicy(name="on-failure", maximum_retry_count=2),
)
c = engine.create(opts)
engine.start(c.id)
print("exit", engine.wait(c.id))
from berth.engine import logs
print("saw", repr("".join(r.text for r in logs.read(engine, c.id) if r.stream == "stdout")))
host = engine.inspect(c.id)["HostConfig"]
print("binds", host["Binds"])
print("tmpfs", host["Tmpfs"], "ulimits", host["Ulimits"], "restart", host["RestartPolicy"])
print("devices", host["Devices"])
engine.remove(c.id, force=True)
engine.volumes.remove("api-typed-vol", [])
for bad in (Mount(type="bind", source="relative", target="/x"), Mount(type="nfs", target="/x"),
            Mount(type="tmpfs", target="x")):
    try:
        engine.create(CreateOptions(image="busybox", mounts=(bad,)))
    except InvalidArgument as e:
        print("refused", e)
for bad in (dict(ulimits=(Ulimit(name="nofile", soft=10, hard=5),)),
            dict(restart=RestartPolicy(name="sometimes")),
            dict(restart=RestartPolicy(name="always"), auto_remove=True)):
    try:
        engine.create(CreateOptions(image="busybox", **bad))
    except InvalidArgument as e:
        print("refused", e)
print("left", [x.name for x in engine.list()])
engine.close()
"""


def test_create_takes_records(berth, tmp_path):
    """Mounts, limits, devices, ports and the restart policy as records, as the API servers will
    pass them; what the container sees, what inspect shows, and bad records refused before
    anything is made."""
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    (host_dir / "f").write_text("from the host\n")
    proc = subprocess.run([sys.executable, "-c", TYPED_SCRIPT, berth.root, str(host_dir)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "exit 0", proc.stdout
    seen = eval(lines.pop(1).removeprefix("saw "))  # the container's stdout
    host_file, tmpfs_mounts, nofile, device = seen.splitlines()
    assert (host_file, tmpfs_mounts, nofile) == ("from the host", "1", "321")
    assert device.startswith("c") and "1,   5" in device and device.endswith("/dev/zz"), device
    assert lines[1] == f"binds ['{host_dir}:/host:ro', 'api-typed-vol:/data']"
    assert lines[2] == ("tmpfs {'/scratch': 'size=1m'} ulimits [{'Name': 'nofile', 'Hard': 654, 'Soft': 321}] "
                        "restart {'Name': 'on-failure', 'MaximumRetryCount': 2}")  # fmt: skip
    assert lines[3] == "devices [{'PathOnHost': '/dev/zero', 'PathInContainer': '/dev/zz', 'CgroupPermissions': 'r'}]"
    assert lines[4].startswith("refused invalid mount source 'relative'")
    assert lines[5].startswith("refused mount type unknown: 'nfs'")
    assert lines[6].startswith("refused invalid mount target 'x'")
    assert lines[7] == "refused invalid ulimit argument: nofile=10:5"
    assert lines[8].startswith("refused invalid restart policy 'sometimes'")
    assert lines[9] == "refused Conflicting options: --restart and --rm"
    assert lines[10] == "left []"


LISTING_SCRIPT = """
import sys, time
from berth.engine import documents
from berth.engine.engine import Engine
from berth.engine.options import CreateOptions

engine = Engine(sys.argv[1])

def listing():
    entries = documents.container_summaries(engine.list(), engine.published_ports)
    return {e["Names"][0]: (e["State"], e["Status"].split(")")[0]) for e in entries}

c = engine.create(CreateOptions(image="busybox", command=("sh", "-c", "sleep 0.5; exit 3"), name="kept",
                                network="none"))
print(listing(), c.dir in documents._kept)  # just made: not kept yet
time.sleep(documents.STABLE + 0.1)
print(listing(), c.dir in documents._kept)
engine.rename(c.id, "renamed")
print(listing())
engine.start(c.id)
print(listing())
engine.wait(c.id)
print(listing())
time.sleep(documents.STABLE + 0.1)
print(listing(), c.dir in documents._kept)
engine.remove(c.id)
print(listing())
"""


def test_list_entries_kept_between_listings_follow_every_change(berth):
    """A stopped container's list entry is kept while its record and directory are unchanged;
    a rename, a start, an exit and an rm each show in the next listing."""
    proc = subprocess.run([sys.executable, "-c", LISTING_SCRIPT, berth.root], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "{'/kept': ('created', 'Created')} False",
        "{'/kept': ('created', 'Created')} True",
        "{'/renamed': ('created', 'Created')}",
        "{'/renamed': ('running', 'Up Less than a second')}",
        "{'/renamed': ('exited', 'Exited (3')}",
        "{'/renamed': ('exited', 'Exited (3')} True",
        "{}",
    ]
