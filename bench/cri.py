"""The CRI served by `berth cri` against containerd 1.6's CRI plugin (Debian's), in one run, with
one CNI configuration (bridge, host-local, portmap; loopback), driven by one gRPC client doing
what a kubelet does:

1. RunPodSandbox + CreateContainer + StartContainer, until the container runs, one pod at a time,
   interleaved rounds (each pod stopped and removed afterwards, untimed): medians and the ratio;
2. 30 pods at once (a client thread per pod): the wall time until all run;
3. memory (PSS) with those 30 pods: the server alone, and with its processes per pod (berth's
   monitors and namespace holders; containerd's shims), the containers themselves left out.

    .venv/bin/python bench/cri.py [--rounds N] [--pods N]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.anchors import Containerd, busybox_imported, cgroup_parents_restored, private_mount_namespace  # noqa: E402
from bench.engine_run import _memory  # noqa: E402

BERTH = str(Path(sys.executable).parent / "berth")
IMAGE = "bench/busybox"
SUBNET = "10.251.9.0/24"
BRIDGE = "bcnibench0"


class Client:
    """A kubelet's calls, on one runtime's socket."""

    def __init__(self, sock: str, logs: Path) -> None:
        import grpc
        from cri_api.v1 import api_pb2 as cri
        from cri_api.v1 import api_pb2_grpc as stubs

        self.cri, self.logs = cri, logs
        self.channel = grpc.insecure_channel(f"unix://{sock}")
        self.runtime = stubs.RuntimeServiceStub(self.channel)

    def pod(self, name: str) -> str:
        """A sandbox with one container, running; the sandbox's ID."""
        cri = self.cri
        config = cri.PodSandboxConfig(metadata=cri.PodSandboxMetadata(name=name, namespace="bench", uid=f"uid-{name}"),
                                      hostname=name, log_directory=str(self.logs / name))  # fmt: skip
        sandbox = self.runtime.RunPodSandbox(cri.RunPodSandboxRequest(config=config), timeout=300).pod_sandbox_id
        container = cri.ContainerConfig(metadata=cri.ContainerMetadata(name="main"), image=cri.ImageSpec(image=IMAGE),
                                        command=["sleep", "3600"], log_path="main.log")  # fmt: skip
        cid = self.runtime.CreateContainer(cri.CreateContainerRequest(pod_sandbox_id=sandbox, config=container,
                                                                      sandbox_config=config), timeout=300).container_id  # fmt: skip
        self.runtime.StartContainer(cri.StartContainerRequest(container_id=cid), timeout=300)
        state = self.runtime.ContainerStatus(cri.ContainerStatusRequest(container_id=cid)).status.state
        if state != cri.CONTAINER_RUNNING:
            raise SystemExit(f"{name}: the container is not running (state {state})")
        return sandbox

    def remove_all(self) -> None:
        cri = self.cri
        for s in self.runtime.ListPodSandbox(cri.ListPodSandboxRequest()).items:
            self.runtime.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=s.id), timeout=300)
            self.runtime.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=s.id), timeout=300)


def cni_config(top: Path) -> Path:
    conf = top / "net.d"
    conf.mkdir()
    plugins = [{"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": True, "hairpinMode": True,
                "ipam": {"type": "host-local", "dataDir": str(top / "ipam"), "ranges": [[{"subnet": SUBNET}]],
                         "routes": [{"dst": "0.0.0.0/0"}]}},
               {"type": "portmap", "capabilities": {"portMappings": True}}]  # fmt: skip
    (conf / "10-bench.conflist").write_text(json.dumps({"cniVersion": "1.0.0", "name": "bench", "plugins": plugins}))
    return conf


def nat_chains() -> set[str]:
    out = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    return {line.split()[1] for line in out.splitlines() if line.startswith("-N ")}


def remove_nat_chains(made: set[str]) -> None:
    """The NAT chains the plugins made in this run (and the jumps to them), none that were there."""
    import shlex

    out = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    for rule in out.splitlines():
        fields = rule.split()
        if fields[:1] == ["-A"] and fields[1] not in made and "-j" in fields and fields[fields.index("-j") + 1] in made:
            subprocess.run(["iptables", "-t", "nat", "-D", *shlex.split(rule)[1:]], check=True)
    for flag in ("-F", "-X"):
        for chain in made:
            subprocess.run(["iptables", "-t", "nat", flag, chain], check=True)


def pss(pids: list[int]) -> int:
    """Their summed PSS in KiB (those that are gone count nothing)."""
    total = 0
    for pid in pids:
        try:
            total += _memory(pid)[1]
        except (FileNotFoundError, ProcessLookupError, KeyError):
            pass
    return total


def berth_helpers(root: str) -> list[int]:
    """The monitors and CNI namespace holders of berth's containers."""
    pids = []
    for d in glob.glob(f"{root}/containers/*"):
        try:
            pids.append(int(Path(d, "monitor.pid").read_text()))
        except (FileNotFoundError, ValueError):
            pass
        try:
            pids.append(json.loads(Path(d, "cni.json").read_text())["holder"])
        except (FileNotFoundError, ValueError, KeyError):
            pass
    return pids


def containerd_shims(sock: str) -> list[int]:
    """The shims our containerd started (their command line names its socket)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and sock.encode() in argv:
                pids.append(int(entry))
    return pids


def main() -> int:
    private_mount_namespace()  # containerd mounts snapshots and network namespaces: never in the host's
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--pods", type=int, default=30)
    args = ap.parse_args()
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    if SUBNET.rsplit(".", 1)[0] + "." in routes:
        raise SystemExit(f"{SUBNET} is routed on this host: the benchmark needs another subnet")
    top = Path(tempfile.mkdtemp(prefix="berth-bench-cri-"))
    root = str(top / "berth")
    chains = nat_chains()
    server = containerd = None
    clients: dict[str, Client] = {}
    try:
        busybox_imported(top, BERTH, root, IMAGE)
        conf = cni_config(top)
        (top / "cri.toml").write_text(f'[cni]\nconf_dir = "{conf}"\nbin_dirs = ["/usr/lib/cni"]\n')
        server = subprocess.Popen([BERTH, "--root", root, "cri", "--listen", f"unix://{top}/berth.sock", "--config",
                                   str(top / "cri.toml")], stderr=subprocess.DEVNULL)  # fmt: skip
        while not os.path.exists(top / "berth.sock"):
            if server.poll() is not None:
                raise SystemExit("berth cri did not start")
            time.sleep(0.05)
        clients["berth"] = Client(str(top / "berth.sock"), top / "logs-berth")
        clients["berth"].pod("warm")  # makes the pause image, which containerd is then given
        clients["berth"].remove_all()
        pause = subprocess.run([BERTH, "--root", root, "images", "--format", "{{.Repository}}:{{.Tag}}"],
                               capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
        pause = next(p for p in pause if "berth-pause" in p)
        (top / "containerd").mkdir()
        containerd = Containerd(top / "containerd", str(conf), "/usr/lib/cni", pause)
        for name in (pause, IMAGE):
            subprocess.run([BERTH, "--root", root, "save", "-o", str(top / "image.tar"), name], check=True)
            out = containerd.ctr("images", "import", "--all-platforms", str(top / "image.tar"))
            if out.returncode != 0:
                raise SystemExit(f"containerd: import of {name} failed: {out.stderr.decode()}")
        clients["containerd"] = Client(containerd.sock, top / "logs-containerd")
        clients["containerd"].pod("warm")
        clients["containerd"].remove_all()

        times: dict[str, list[float]] = {k: [] for k in clients}
        for i in range(args.rounds):
            for name in list(clients) if i % 2 == 0 else reversed(list(clients)):
                t = time.perf_counter()
                clients[name].pod(f"one-{i}")
                times[name].append(time.perf_counter() - t)
                clients[name].remove_all()
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"RunPodSandbox + CreateContainer + StartContainer, one pod, {args.rounds} interleaved rounds")
        for name, seconds in med.items():
            print(f"  {name:10s} median {seconds * 1000:7.1f} ms")
        print(f"  ratio berth/containerd {med['berth'] / med['containerd']:.2f}x (goal <= 0.5x)")

        walls = {}
        for name, client in clients.items():
            errors: list[str] = []

            def one(i: int, client=client, errors=errors) -> None:
                try:
                    client.pod(f"many-{i}")
                except Exception as e:  # noqa: BLE001 - counted and shown
                    errors.append(str(e)[:200])

            threads = [threading.Thread(target=one, args=(i,)) for i in range(args.pods)]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            walls[name] = time.perf_counter() - t
            time.sleep(2)  # settled: what is measured is what the pods keep, not the start's peaks
            if name == "berth":
                own, helpers = _memory(server.pid)[1], pss(berth_helpers(root))
            else:
                own, helpers = _memory(containerd.proc.pid)[1], pss(containerd_shims(containerd.sock))
            print(f"{args.pods} pods at once on {name}: {walls[name]:.2f} s, {len(errors)} errors"
                  + (f" (first: {errors[0]})" if errors else ""))  # fmt: skip
            print(f"  memory with {args.pods} pods: server {own / 1024:.1f} MiB PSS; with its per-pod processes "
                  f"{(own + helpers) / 1024:.1f} MiB")  # fmt: skip
            client.remove_all()
        print(f"  ratio berth/containerd (30 at once) {walls['berth'] / walls['containerd']:.2f}x")
        return 0
    finally:
        for client in clients.values():
            try:
                client.remove_all()
            except Exception:  # noqa: BLE001 - the server may be gone
                pass
            client.channel.close()
        if server is not None:
            server.terminate()
            server.wait(30)
        if containerd is not None:
            containerd.stop()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        remove_nat_chains(nat_chains() - chains)
        subprocess.run(["rm", "-rf", str(top)], check=False)


if __name__ == "__main__":
    with cgroup_parents_restored():
        sys.exit(main())
