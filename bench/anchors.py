"""The anchors berth is measured and tested against, started privately: Debian's
dockerd with its own data, socket, mount namespace and bridge (no firewall rules
but for the networking benchmarks), podman with its own store and config, and
containerd's CRI with its own root, socket and mount namespace. Stopped by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

PODMAN_CONF = ('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
               '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')  # fmt: skip


# a private dockerd's own bridge, never the host's docker0: `--bridge none` would make dockerd delete
# a docker0 it finds (the host's anchor dockerd's), so even the tests' dockerd gets one of its own
BENCH_BRIDGE = ("bdbench0", "172.31.250.1/24")  # the networking benchmarks' (with iptables rules)
TEST_BRIDGE = ("bdtest0", "172.31.251.1/24")  # the tests' (no firewall rules; their containers use --network none)


# the parents containers' cgroups are made under: berth's default, the benchmarks', containerd's CRI's
CGROUP_PARENTS = ("berth", "berth-bench", "k8s.io")


def _cgroup_parents() -> set[str]:
    import glob

    return {p for name in CGROUP_PARENTS for p in glob.glob(f"/sys/fs/cgroup/*/{name}") + [f"/sys/fs/cgroup/{name}"]
            if os.path.isdir(p)}  # fmt: skip


@contextlib.contextmanager
def cgroup_parents_restored():
    """The parent cgroups (/berth in each hierarchy) that runs inside made, removed at the end if
    empty: the runtime removes each container's own, the engine leaves the parent, as Docker leaves
    /docker; a benchmark or a test run leaves the host as it found it."""
    existed = _cgroup_parents()
    try:
        yield
    finally:
        for path in sorted(_cgroup_parents() - existed):
            try:
                os.rmdir(path)
            except OSError:
                pass  # still in use (not ours to empty), or gone


def private_mount_namespace() -> None:
    """Run the rest of this program (and every anchor it starts) in a mount namespace of its own:
    podman on overlay mounts its layers in the namespace it runs in, and they must never land in
    the host's. Re-executes the program under `unshare` once; a no-op the second time."""
    import sys

    if os.environ.get("BERTH_BENCH_NAMESPACE") == "1":
        return
    os.environ["BERTH_BENCH_NAMESPACE"] = "1"
    argv = ["unshare", "--mount", "--propagation", "private", sys.executable, *sys.argv]
    os.execvp(argv[0], argv)


class Dockerd:
    def __init__(self, top: Path, bridge: bool = False, storage: str = "vfs") -> None:
        """bridge: with NAT and firewall rules on its bridge (BENCH_BRIDGE), for the networking
        benchmarks; otherwise a bridge without either (TEST_BRIDGE), for the tests. storage: vfs
        for the tests (nothing to mount), overlay2 (what people run) for the benchmarks."""
        binary = shutil.which("dockerd")
        if binary is None or shutil.which("docker") is None:
            raise RuntimeError("docker is not installed: scripts/install.sh installs Debian's docker.io")
        self.top = top
        self.bridge_name, address = BENCH_BRIDGE if bridge else TEST_BRIDGE
        subprocess.run(["ip", "link", "del", self.bridge_name], capture_output=True)  # a killed run's
        for cmd in (["link", "add", self.bridge_name, "type", "bridge"], ["addr", "add", address, "dev", self.bridge_name],
                    ["link", "set", self.bridge_name, "up"]):  # fmt: skip
            subprocess.run(["ip", *cmd], check=True, capture_output=True)
        network = ["--bridge", self.bridge_name, "--ip6tables=false"]
        network += ["--iptables=true"] if bridge else ["--iptables=false", "--ip-masq=false"]
        sock = top / "docker.sock"
        self.log = open(top / "dockerd.log", "w")
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", binary, "--host", f"unix://{sock}",
             "--data-root", str(top / "data"), "--exec-root", str(top / "exec"), "--pidfile", str(top / "dockerd.pid"),
             *network, "--storage-driver", storage,
             "--exec-opt", "native.cgroupdriver=cgroupfs", "--default-ulimit", "nofile=1024:1024",
             "--default-ulimit", "nproc=1024:1024", "--containerd-namespace", "berth-test",
             "--containerd-plugins-namespace", "berth-test-plugins"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
        deadline = time.monotonic() + 60
        while self("version").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dockerd did not start: {(top / 'dockerd.log').read_text()[-2000:]}")
            time.sleep(0.5)

    def __call__(self, *args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], capture_output=True, env=self.env, timeout=timeout, **kw)

    def argv(self, *args: str) -> tuple[list[str], dict]:
        return ["docker", *args], self.env

    def stop(self) -> None:
        _terminate(self.proc, self.log)  # unshare execs dockerd: this pid is dockerd's
        subprocess.run(["ip", "link", "del", self.bridge_name], capture_output=True)


class Podman:
    def __init__(self, top: Path, storage: str = "vfs") -> None:
        """storage: vfs for the tests, overlay (what people run) for the benchmarks, which run in
        a mount namespace of their own (private_mount_namespace)."""
        if storage != "vfs" and os.environ.get("BERTH_BENCH_NAMESPACE") != "1":
            raise RuntimeError("podman on overlay mounts in its caller's namespace: call private_mount_namespace()")
        binary = shutil.which("podman")
        if binary is None:
            raise RuntimeError("podman is not installed: scripts/install.sh installs Debian's podman")
        (top / "containers.conf").write_text(PODMAN_CONF)
        self.env = dict(os.environ, CONTAINERS_CONF=str(top / "containers.conf"))
        self.base = [binary, "--root", str(top / "root"), "--runroot", str(top / "run"), "--storage-driver", storage]
        self.top = top

    def __call__(self, *args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        kw.setdefault("stdin", subprocess.DEVNULL)
        # conmon writes a file named `oom` into its working directory when a container is
        # OOM-killed: in ours, never the caller's (it once landed in the repository)
        kw.setdefault("cwd", str(self.top))
        return subprocess.run([*self.base, *args], capture_output=True, text=True, env=self.env, timeout=timeout, **kw)

    def argv(self, *args: str) -> tuple[list[str], dict]:
        return [*self.base, *args], self.env

    def stop(self) -> None:
        self("rm", "-a", "-f")
        self("rmi", "-a", "-f")


class Containerd:
    """Debian's containerd 1.6 with its CRI plugin, private: its own root, state and socket, in
    a mount namespace of its own (it mounts snapshots and pins network namespaces), the cgroupfs
    driver, the CNI configuration and plugins given, and `sandbox_image` a local image (nothing is
    pulled). `restrict_oom_score_adj`: this host refuses negative scores."""

    def __init__(self, top: Path, cni_conf_dir: str, cni_bin_dir: str, sandbox_image: str) -> None:
        binary = shutil.which("containerd")
        if binary is None or shutil.which("ctr") is None:
            raise RuntimeError("containerd is not installed: apt-get install containerd")
        self.top = top
        self.sock = str(top / "containerd.sock")
        (top / "config.toml").write_text(f"""version = 2
root = "{top / 'root'}"
state = "{top / 'state'}"
[grpc]
  address = "{self.sock}"
[ttrpc]
  address = "{self.sock}.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin_dir}"
    conf_dir = "{cni_conf_dir}"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
""")  # fmt: skip
        self.log = open(top / "containerd.log", "w")
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", binary, "--config",
                                      str(top / "config.toml")], stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while self.ctr("version").returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"containerd did not start: {(top / 'containerd.log').read_text()[-2000:]}")
            time.sleep(0.2)

    def ctr(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ctr", "--address", self.sock, "--namespace", "k8s.io", *args], capture_output=True,
                              timeout=300, **kw)  # fmt: skip

    def stop(self) -> None:
        _terminate(self.proc, self.log)  # unshare execs containerd: this pid is containerd's


def busybox_imported(top: Path, berth: str, root: str, image: str = "bench/busybox") -> None:
    """A busybox root file system tarred at TOP/busybox.tar (for the anchors to import as well)
    and imported into the berth store at ROOT as IMAGE, with `CMD ["sh"]`."""
    import tarfile

    from berth.image.bootstrap import make_busybox_rootfs

    make_busybox_rootfs(str(top / "rootfs"))
    with tarfile.open(top / "busybox.tar", "w") as tar:
        tar.add(top / "rootfs", arcname=".")
    subprocess.run([berth, "--root", root, "import", "-c", 'CMD ["sh"]', str(top / "busybox.tar"), image],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip


SUBID_FILES = ("/etc/subuid", "/etc/subgid")


@contextlib.contextmanager
def subordinate_user(name: str, count: int, home: bool = False):
    """A system user of the bench's or the tests' own with `count` subordinate ids after every
    range in /etc/subuid and /etc/subgid (no other line is touched; none with count 0); its first
    id. With `home`, a home directory and a shell: a user who logs in. The user, its home and its
    lines go at the end."""
    without_user(name)
    login = ["--create-home", "--shell", "/bin/sh"] if home else ["--no-create-home", "--shell", "/usr/sbin/nologin"]
    subprocess.run(["useradd", "--system", *login, name], capture_output=True, check=True)
    try:
        first = first_free_subordinate_id()
        for path in SUBID_FILES if count else ():
            with open(path, "a") as f:
                f.write(f"{name}:{first}:{count}\n")
        yield first
    finally:
        without_user(name)


def first_free_subordinate_id() -> int:
    ends = [100000]
    for path in SUBID_FILES:
        with open(path) as f:
            for fields in (line.split(":") for line in f.read().splitlines()):
                if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                    ends.append(int(fields[1]) + int(fields[2]))
    return max(ends)


def without_user(name: str) -> None:
    """The user and its lines in /etc/subuid and /etc/subgid gone (every other line as it was)."""
    for path in SUBID_FILES:
        with open(path) as f:
            lines = f.read().splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(f"{name}:")]
        if kept != lines:
            with open(path, "w") as f:
                f.write("".join(kept))
    if subprocess.run(["id", name], capture_output=True).returncode == 0:
        subprocess.run(["userdel", "--remove", name], capture_output=True)  # (a home it never had is no error)
        if subprocess.run(["id", name], capture_output=True).returncode == 0:
            raise RuntimeError(f"userdel {name} failed")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """Debian's docker-registry on 127.0.0.1 with a config of its own: plain HTTP,
    TLS (`tls=(cert, key)`), htpasswd basic auth, or Bearer tokens
    (`token={"realm", "service", "issuer", "rootcertbundle"}`)."""

    def __init__(self, top: Path, tls: tuple[str, str] | None = None, htpasswd: str | None = None,
                 token: dict | None = None) -> None:  # fmt: skip
        binary = shutil.which("docker-registry")
        if binary is None:
            raise RuntimeError("docker-registry is not installed: scripts/install.sh installs Debian's docker-registry")
        top.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        lines = ["version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:",
                 f"    rootdirectory: {top / 'data'}", "  delete:", "    enabled: true", "http:",
                 f"  addr: 127.0.0.1:{self.port}", f"  secret: {os.urandom(8).hex()}"]  # fmt: skip
        if tls:
            lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
        if htpasswd:
            lines += ["auth:", "  htpasswd:", "    realm: berth-test", f"    path: {htpasswd}"]
        if token:
            lines += ["auth:", "  token:"] + [f"    {k}: {v}" for k, v in token.items()]
        (top / "config.yml").write_text("\n".join(lines) + "\n")
        self.log = open(top / "registry.log", "w")
        self.proc = subprocess.Popen([binary, "serve", str(top / "config.yml")], stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 30
        import socket

        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"docker-registry did not start: {(top / 'registry.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        _terminate(self.proc, self.log)


def stop_all(*anchors) -> None:
    """Stop whichever anchors were started (a bench's finally)."""
    for anchor in anchors:
        if anchor is not None:
            anchor.stop()


def _terminate(proc: subprocess.Popen, log) -> None:
    """SIGTERM to a process the bench started (by its PID), SIGKILL after 30 s; then its log is closed."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    log.close()
