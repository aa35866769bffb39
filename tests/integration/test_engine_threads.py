"""One Engine driven from 16 threads at once, as a server drives it: create, start, exec, logs,
stop and rm of containers of their own, builds, and pulls of one image from a local registry.
The end state is checked, and that the process kept no mount, fd, thread or child it did not
have before (the engine's children are its monitors and the processes that mount)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from bench.anchors import Registry

pytestmark = pytest.mark.root

THREADS = 16
SCRIPT = r"""
import gc, io, os, sys, threading, time
from berth.engine.builds import BuildRequest, build
from berth.engine.engine import Engine
from berth.engine import logs
from berth.engine.options import CreateOptions

root, pulled, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = Engine(root)
engine.list()
errors, results = [], {}


def children() -> list[str]:
    found = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            found += f.read().split()
    return found


def container(i: int, image: str) -> str:
    c = engine.create(CreateOptions(image=image, command=("sh", "-c", f"echo hello {i}; exec sleep 30"),
                                    name=f"thread-{i}", network="none"))
    engine.start(c.id)
    code = engine.exec(c.id, ["sh", "-c", f"exit {i}"])
    deadline = time.monotonic() + 10
    while True:
        lines = [r.text for r in logs.read(engine, c.id)]
        if lines or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    engine.stop(c.id, timeout=1)
    status = engine.get(c.id).status
    engine.remove(c.id)
    return f"exec {code} logs {lines} {status}"


def worker(i: int) -> None:
    try:
        if i % 4 == 3:
            out = io.BytesIO()
            image = build(engine, BuildRequest(context=io.BytesIO(f"FROM busybox\nRUN echo {i} > /i\n".encode()),
                                               tags=(f"threads/built-{i}",), network="none", no_cache=True), out)
            results[i] = ("built", engine.images.inspect(f"threads/built-{i}")["Id"] == image,
                          container(i, f"threads/built-{i}"))
        elif i % 4 == 2:
            engine.images.pull(pulled)
            results[i] = ("pulled", container(i, pulled))
        else:
            results[i] = ("ran", container(i, "busybox"))
    except BaseException as e:
        errors.append(f"{i}: {type(e).__name__}: {e}")


def run_round(r: int) -> None:
    results.clear()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    for i in sorted(results):
        print(r, i, *results[i])
    print(r, "errors", errors)
    print(r, "left", [c.name for c in engine.list() if c.name.startswith("thread-")])
    for i in range(threads):
        if i % 4 == 3:
            engine.images.remove(f"threads/built-{i}")
    engine.images.remove(pulled)
    gc.collect()  # the ended threads' connections
    deadline = time.monotonic() + 10
    while children() and time.monotonic() < deadline:  # monitors finishing their exit
        engine.list()  # reaps what ended
        time.sleep(0.05)
    print(r, "threads", threading.active_count(), "children", children())


run_round(1)
def fds() -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return sorted(out)


# Each thread's database connections close with it, but SQLite parks a closed connection's fd
# while another connection of the process holds its lock on the file, and reuses it for the next
# open: at most one per thread that had the file open at once (the workers, three pull workers
# each, this one). Any other fd must be as it was after the first round.
PARKED_AT_MOST = threads + 3 * (threads // 4) + 1
run_round(1)
before, mounts = fds(), open("/proc/self/mountinfo").read()
run_round(2)
after = fds()
grown = [f for f in set(after) if after.count(f) > before.count(f) and not f.endswith(".db")]
parked = {f: after.count(f) for f in set(after) if f.endswith(".db") and after.count(f) > PARKED_AT_MOST}
print("fds", grown, parked, "mounts", open("/proc/self/mountinfo").read() == mounts)
engine.close()
"""


@pytest.fixture(scope="module")
def pulled(tmp_path_factory, image_root):
    """An image in a local registry and not in the shared store (its busybox layer is)."""
    from tests.conftest import BerthCLI

    reg = Registry(tmp_path_factory.mktemp("threads-registry"))
    name = f"{reg.host}/berth/threads:1"
    ctx = tmp_path_factory.mktemp("threads-context")
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo pulled > /pulled\n")
    cli = BerthCLI(image_root)
    cli("build", "-q", "--network", "none", "-t", name, str(ctx), check=True)
    cli("push", "-q", name, check=True)
    cli("rmi", name, check=True)
    yield name
    reg.stop()


def test_sixteen_threads_on_one_engine(berth, pulled):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, berth.root, pulled, str(THREADS)], capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    for r in (1, 2):
        block = [line.removeprefix(f"{r} ") for line in lines if line.startswith(f"{r} ")]
        assert block[THREADS] == "errors []", proc.stdout
        for i in range(THREADS):
            kind = {3: "built True", 2: "pulled"}.get(i % 4, "ran")
            assert block[i] == f"{i} {kind} exec {i} logs ['hello {i}\\n'] exited", block[i]
        assert block[THREADS + 1] == "left []"
        assert block[THREADS + 2] == "threads 1 children []", block[THREADS + 2]
    assert lines[-1] == "fds [] {} mounts True", lines[-1]
    assert pulled not in berth("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
