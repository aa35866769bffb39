"""Shared fixtures: a busybox rootfs, bundles, a private runtime root, and
helpers that run the installed `berth-runtime` (and runc) as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from bench.anchors import Dockerd, Podman

from berth.image.bootstrap import make_busybox_rootfs

IS_ROOT = os.geteuid() == 0
# An image missing from a test's store is never pulled implicitly: tests reach no host but loopback.
# The registry tests pull and push explicitly, from registries they start on 127.0.0.1.
os.environ["BERTH_PULL_POLICY"] = "never"
# The networks' DNS servers never forward a name anywhere.
os.environ["BERTH_DNS_FORWARD"] = "0"
BIN = Path(sys.executable).parent
RUNTIME = str(BIN / "berth-runtime")


def pytest_collection_modifyitems(config, items):
    # privileged tests skip only when not root; as root (CI) they must pass
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config):
    # Network state is the host's (one networks.db for every berth root): the tests keep theirs in
    # a directory of their own, made here and not at import, so that only a run that will end
    # in pytest_unconfigure makes one
    os.environ["BERTH_NETWORK_ROOT"] = tempfile.mkdtemp(prefix="berth-net-")


def pytest_unconfigure(config):
    """At the end: the idle default bridge and berth's rules (which outlive a container by
    network.LINGER seconds), then the network state."""
    root = os.environ.get("BERTH_NETWORK_ROOT", "")
    if not root:
        return
    if IS_ROOT and os.path.exists(os.path.join(root, "networks.db")):
        subprocess.run([str(BIN / "berth"), "--root", root, "network", "prune", "-f"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
    del os.environ["BERTH_NETWORK_ROOT"]


@pytest.fixture(scope="session", autouse=True)
def cgroup_parent_leftover():
    """At the end: the parent cgroups (/berth) the containers' cgroups sat under, if empty."""
    from bench.anchors import cgroup_parents_restored

    with cgroup_parents_restored():
        yield


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory) -> str:
    return make_busybox_rootfs(str(tmp_path_factory.mktemp("busybox") / "rootfs"))


CGROUP_V2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")  # cgroup v2 alone (the v2 guest), else v1 or hybrid


def cgroup_dir(controller: str, path: str) -> str:
    """Where the cgroup at `path` is for `controller`: one tree on v2, one per controller on v1."""
    return f"/sys/fs/cgroup{path}" if CGROUP_V2 else f"/sys/fs/cgroup/{controller}{path}"


def run_captured(argv: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    """Run and capture through files, not pipes: a created or detached container
    (or its monitor) keeps its stdio open, and a pipe would never reach EOF."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)
        code = subprocess.run(argv, stdout=out, stderr=err, timeout=timeout, **kw).returncode
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv[3:], code, out.read().decode(), err.read().decode())


def unique(prefix: str = "t") -> str:
    return f"berth-{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(predicate, timeout: float = 10.0) -> bool:
    """Poll `predicate` until it holds (True) or `timeout` seconds have gone (its last answer):
    what a test waits for, rather than a sleep that a slow machine outruns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


class Runtime:
    """Runs a runtime binary (berth-runtime or runc) with a private --root."""

    def __init__(self, binary: str, root: str) -> None:
        self.binary = binary
        self.root = root
        self.made: list[str] = []

    def __call__(self, *args: str, check: bool = False, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        if args and args[0] in ("create", "run"):
            self.made.append(args[-1])
        proc = run_captured([self.binary, "--root", self.root, *args], timeout, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.binary} {' '.join(args)} -> {proc.returncode}: {proc.stderr}")
        return proc

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid, check=True).stdout)

    def cleanup(self) -> None:
        for cid in self.made:
            subprocess.run(
                [self.binary, "--root", self.root, "delete", "--force", cid], capture_output=True, timeout=60
            )


@pytest.fixture
def runtime(tmp_path):
    rt = Runtime(RUNTIME, str(tmp_path / "state"))
    yield rt
    rt.cleanup()


@pytest.fixture
def runc(tmp_path):
    binary = shutil.which("runc")
    if binary is None:
        pytest.fail("runc is not installed: the test command installs Debian's runc")
    rt = Runtime(binary, str(tmp_path / "runc-state"))
    yield rt
    rt.cleanup()


class Bundle:
    def __init__(self, path: Path, rootfs: str) -> None:
        self.path = path
        proc = subprocess.run([RUNTIME, "spec", "--bundle", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        self.config = json.loads((path / "config.json").read_text())
        self.config["root"] = {"path": rootfs, "readonly": True}
        self.config["process"]["terminal"] = False

    def set_args(self, *args: str) -> Bundle:
        self.config["process"]["args"] = list(args)
        return self.write()

    def write(self) -> Bundle:
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))
        return self

    def __str__(self) -> str:
        return str(self.path)


@pytest.fixture
def bundle(tmp_path, busybox_rootfs):
    """A bundle around the shared busybox rootfs; each test's cgroup path is its own."""
    path = tmp_path / "bundle"
    path.mkdir()
    b = Bundle(path, busybox_rootfs)
    b.config["linux"]["cgroupsPath"] = "/" + unique("cg")
    return b.write()


def host_mountinfo() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return sorted(" ".join(line.split()[3:5]) for line in f)


@pytest.fixture
def open_rootfs(busybox_rootfs):
    """A copy of the rootfs that a mapped (non-host-root) uid can reach."""
    top = tempfile.mkdtemp(prefix="berth-userns-", dir="/tmp")
    os.chmod(top, 0o755)
    shutil.copytree(busybox_rootfs, top + "/rootfs", symlinks=True)
    yield top + "/rootfs"
    shutil.rmtree(top)


def userns_bundle(bundle: Bundle, rootfs: str, host_id: int = 100000) -> Bundle:
    bundle.config["root"]["path"] = rootfs
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_id, "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_id, "size": 65536}]
    bundle.config["mounts"] = [m for m in bundle.config["mounts"] if m["type"] not in ("cgroup", "sysfs")]
    return bundle.write()


@pytest.fixture(scope="session")
def podman(tmp_path_factory, busybox_rootfs):
    top = tmp_path_factory.mktemp("podman")
    try:
        p = Podman(top)
    except RuntimeError as e:
        pytest.fail(str(e))
    with tarfile.open(top / "busybox.tar", "w") as tar:
        tar.add(busybox_rootfs, arcname=".")
    assert p("import", str(top / "busybox.tar"), "localhost/berth-test-busybox").returncode == 0
    yield p
    p.stop()
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory):
    """Debian's dockerd for these tests alone (bench.anchors.Dockerd)."""
    top = tmp_path_factory.mktemp("dockerd")
    try:
        d = Dockerd(top)
    except RuntimeError as e:
        pytest.fail(str(e))
    yield d
    d.stop()
    shutil.rmtree(top, ignore_errors=True)


class BerthCLI:
    """The `berth` command with a private --root; removes its containers at the end."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.binary = str(BIN / "berth")

    def __call__(self, *args: str, check: bool = False, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        proc = run_captured([self.binary, "--root", self.root, *args], timeout, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"berth {' '.join(args)} -> {proc.returncode}: {proc.stderr}")
        return proc

    def cleanup(self) -> None:
        for pod in Path(self.root, "pods").glob("*.json"):  # the infra containers go with their pods
            self("pod", "rm", "-f", pod.stem)
        for cid in self("ps", "-aq", "--no-trunc").stdout.split():
            self("rm", "-f", cid)

    def store_state(self) -> tuple[list[str], list[str]]:
        """(blobs, image IDs): what a failed operation must leave as it was."""
        blobs = sorted(p.name for p in Path(self.root, "content/blobs/sha256").glob("*"))
        return blobs, self("images", "-q", "--no-trunc", check=True).stdout.split()


def bootstrapped(root: str) -> BerthCLI:
    """A store at root with the busybox and bash images."""
    cli = BerthCLI(root)
    cli("image", "bootstrap", "busybox", check=True)
    cli("image", "bootstrap", "bash", check=True)
    return cli


def berth_and_docker(tmp_path_factory, dockerd, name: str) -> tuple[BerthCLI, Path]:
    """A berth store with busybox and bash, the same busybox loaded into the tests' dockerd, and a
    scratch directory."""
    cli = bootstrapped(str(tmp_path_factory.mktemp(f"{name}-root")))
    top = tmp_path_factory.mktemp(name)
    cli("save", "-o", str(top / "busybox.tar"), "busybox", check=True)
    assert dockerd("load", "-i", str(top / "busybox.tar")).returncode == 0
    return cli, top


@pytest.fixture(scope="session")
def image_root(tmp_path_factory):
    """A store with the busybox and bash images, shared by the container tests."""
    cli = bootstrapped(str(tmp_path_factory.mktemp("berth-root")))
    yield cli.root
    cli.cleanup()


@pytest.fixture
def berth(image_root):
    cli = BerthCLI(image_root)
    yield cli
    cli.cleanup()
