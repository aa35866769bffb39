"""Real clients against `berth system service`: the docker CLI (the seed's walkthrough word for
word, a terminal with detach keys, files, stats, events, networks and volumes, a local
registry), the docker SDK for Python (build from a file object, push and pull, networks,
volumes, events) and docker-compose (a web service with a health check, a client of it by
name, a named volume). Every address is loopback or a network the test made."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import signal
import subprocess
import threading
import time

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.root

docker = pytest.importorskip("docker")


@pytest.fixture
def cli(service, tmp_path):
    """The docker CLI on PATH, pointed at the service, with a config directory of its own."""
    env = dict(os.environ, DOCKER_HOST=f"unix://{service.sock}", DOCKER_CONFIG=str(tmp_path / "docker-config"),
               DOCKER_BUILDKIT="0")  # fmt: skip

    def run(*args, cwd=None, stdin=None, timeout=120):
        return subprocess.run(["docker", *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True,
                              timeout=timeout)  # fmt: skip

    run.env = env
    return run


@pytest.fixture
def registry(tmp_path):
    from bench.anchors import Registry

    reg = Registry(tmp_path / "registry")
    yield reg
    reg.stop()


def ps_aux(cli, name: str) -> list[list[str]]:
    out = cli("exec", name, "ps", "aux")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["PID", "USER", "COMMAND"]
    return [line.split(None, 2) for line in lines[1:]]


def test_the_seed_walkthrough_through_the_docker_cli(cli, tmp_path):
    (tmp_path / "ch5Dockerfile").write_text('FROM bash\nCMD ["ping", "127.0.0.1"]\n')
    built = cli("build", "-t", "simple", "-f", "ch5Dockerfile", ".", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert 'Step 2/2 : CMD ["ping", "127.0.0.1"]' in built.stdout
    assert "Successfully tagged simple:latest" in built.stdout
    listing = [line for line in cli("image", "ls").stdout.splitlines() if "simple" in line]
    assert len(listing) == 1 and listing[0].split()[:2] == ["simple", "latest"]

    proc = subprocess.Popen(["docker", "run", "simple"], env=cli.env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("PING 127.0.0.1 (127.0.0.1): 56 data bytes")
        assert "seq=0" in proc.stdout.readline()
        proc.send_signal(signal.SIGINT)  # Ctrl-C: the CLI passes it on, ping prints its summary
        rest = proc.stdout.read()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "--- 127.0.0.1 ping statistics ---" in rest and "packets transmitted" in rest

    assert cli("run", "--name", "c1", "-d", "bash", "sh", "-c", "sleep 1d").returncode == 0
    c1 = ps_aux(cli, "c1")
    assert c1[0][0] == "1" and [row[2] for row in c1] == ["sleep 1d", "ps aux"]
    assert cli("run", "--name", "c2", "-d", "bash", "sh", "-c", "sleep 2d").returncode == 0
    c2 = ps_aux(cli, "c2")
    assert [row[0] for row in c2] == [row[0] for row in c1], "each container has PIDs of its own"
    assert cli("rm", "c2", "--force").stdout == "c2\n"
    assert cli("run", "--name", "c2", "--pid=container:c1", "-d", "bash", "sh", "-c", "sleep 2d").returncode == 0
    for name in ("c2", "c1"):
        seen = [row[2] for row in ps_aux(cli, name)]
        assert seen[:2] == ["sleep 1d", "sleep 2d"] and seen[-1] == "ps aux", (name, seen)
    assert cli("rm", "--force", "c1", "c2").returncode == 0
    assert cli("container", "prune", "-f").returncode == 0  # the foreground run's
    assert cli("rmi", "simple").returncode == 0


def _on_a_terminal(env: dict, argv: list[str], keys: list[tuple[bytes, float]]) -> tuple[bytes, int | None]:
    """argv run on a new pty, the keys typed with a pause after each: (what it showed, its exit status)."""
    pid, fd = pty.fork()
    if pid == 0:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))  # the CLI passes it on
        os.execvpe(argv[0], argv, env)
    out, reaped = b"", False

    def read(seconds: float) -> None:
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    return

    try:
        read(1.5)
        for data, pause in keys:
            os.write(fd, data)
            read(pause)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                reaped = True
                return out, os.waitstatus_to_exitcode(status)
            read(0.1)
        return out, None
    finally:
        if not reaped:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def test_run_it_on_a_terminal_with_detach_keys_and_exec_it(cli):
    out, code = _on_a_terminal(cli.env, ["docker", "run", "-it", "--name", "tty", "--detach-keys", "ctrl-x,x",
                                         "busybox", "sh"], [(b"echo $((6*7)); stty size\r", 1.0), (b"\x18x", 2.0)])  # fmt: skip
    assert code == 0, out
    assert b"42" in out and b"33 101" in out, out
    assert cli("inspect", "-f", "{{.State.Running}}", "tty").stdout.strip() == "true", "detached, not stopped"
    out, code = _on_a_terminal(cli.env, ["docker", "exec", "-it", "tty", "sh"],
                               [(b"tty; echo $((5*5)); stty size\r", 1.0), (b"exit 3\r", 1.0)])  # fmt: skip
    assert code == 3, out
    assert b"/dev/pts/" in out and b"25" in out and b"33 101" in out, out
    assert cli("rm", "-f", "tty").returncode == 0


def test_files_logs_stats_events_and_disk_usage(cli, tmp_path):
    since = str(int(time.time()) - 1)
    assert cli("volume", "create", "files-vol").stdout == "files-vol\n"
    assert cli("network", "create", "files-net").returncode == 0
    run = cli("run", "-d", "--name", "files", "--network", "files-net", "-v", "files-vol:/data", "busybox", "sh", "-c",
              "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.2; done")  # fmt: skip
    assert run.returncode == 0, run.stderr
    (tmp_path / "in.txt").write_text("copied in\n")
    assert cli("cp", str(tmp_path / "in.txt"), "files:/data/").returncode == 0
    assert cli("exec", "files", "cat", "/data/in.txt").stdout == "copied in\n"
    assert cli("cp", "files:/etc/hostname", str(tmp_path / "out.txt")).returncode == 0
    assert (tmp_path / "out.txt").read_text().strip() == cli(
        "inspect", "-f", "{{.Config.Hostname}}", "files"
    ).stdout.strip()
    follow = subprocess.Popen(["docker", "logs", "-f", "files"], env=cli.env, stdout=subprocess.PIPE, text=True)
    try:
        assert follow.stdout.readline() == "line0\n" and follow.stdout.readline() == "line1\n"
    finally:
        follow.kill()
        follow.wait()
    stats = cli("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "files")
    assert stats.returncode == 0 and stats.stdout.split()[0] == "files", stats.stderr
    assert int(stats.stdout.split()[1]) >= 1
    assert "A /data" in cli("diff", "files").stdout.splitlines()  # the volume's mount point; not what is in it
    exported = subprocess.run(["docker", "export", "files"], env=cli.env, capture_output=True, timeout=60)
    import tarfile

    names = tarfile.open(fileobj=io.BytesIO(exported.stdout)).getnames()
    assert "bin/busybox" in names and "etc/hostname" in names
    df = cli("system", "df")
    assert df.returncode == 0 and df.stdout.splitlines()[0].split()[:2] == ["TYPE", "TOTAL"], df.stderr
    rows = {line.split()[0]: line.split() for line in df.stdout.splitlines()[1:]}
    assert rows["Containers"][1:3] == ["1", "1"] and rows["Local"][2:4] == ["1", "1"]
    net = cli("network", "inspect", "-f", "{{range .Containers}}{{.Name}}{{end}}", "files-net")
    assert net.stdout.strip() == "files"
    assert "files-net" in cli("network", "ls", "--filter", "name=files-").stdout
    assert "files-vol" in cli("volume", "ls", "-q").stdout.split()
    busy = cli("volume", "rm", "files-vol")
    assert busy.returncode == 1 and "volume is in use" in busy.stderr
    assert cli("rm", "-f", "files").returncode == 0
    events = cli("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "container=files",
                 "--format", "{{.Action}}")  # fmt: skip
    actions = events.stdout.split()
    assert actions[:2] == ["create", "start"] and "destroy" in actions, events
    assert cli("network", "rm", "files-net").stdout == "files-net\n"
    assert cli("volume", "rm", "files-vol").stdout == "files-vol\n"
    assert "files-net" not in cli("network", "ls").stdout


def test_push_and_pull_through_a_local_registry(cli, registry, tmp_path):
    name = f"{registry.host}/walk/busybox:v1"
    assert cli("tag", "busybox", name).returncode == 0
    pushed = cli("push", name)
    assert pushed.returncode == 0, pushed.stderr
    assert "The push refers to repository" in pushed.stdout and "v1: digest: sha256:" in pushed.stdout
    assert cli("rmi", name).returncode == 0
    pulled = cli("pull", name)
    assert pulled.returncode == 0, pulled.stderr
    assert f"Status: Downloaded newer image for {name}" in pulled.stdout
    assert cli("run", "--rm", "--network", "none", name, "echo", "pulled").stdout == "pulled\n"
    missing = cli("pull", f"{registry.host}/walk/nosuch:v1")
    assert missing.returncode == 1 and "nosuch" in missing.stderr
    assert cli("rmi", name).returncode == 0


def test_the_sdk_builds_pushes_pulls_and_watches(client, registry):
    image, logs = client.images.build(fileobj=io.BytesIO(b"FROM busybox\nRUN echo sdk > /sdk\nCMD cat /sdk\n"),
                                      tag="sdk-built")  # fmt: skip
    assert "sdk-built:latest" in image.tags
    assert any("Step 2/3" in entry.get("stream", "") for entry in logs)
    name = f"{registry.host}/sdk/built"
    assert image.tag(name, "v1")
    out = list(client.images.push(name, tag="v1", stream=True, decode=True))
    assert "error" not in out[-1] and out[-1]["aux"]["Tag"] == "v1", out[-3:]
    client.images.remove(f"{name}:v1")
    assert client.images.pull(name, tag="v1").id == image.id
    assert client.containers.run(f"{name}:v1", network_mode="none", remove=True) == b"sdk\n"

    net = client.networks.create("sdk-net")
    vol = client.volumes.create("sdk-vol")
    c = client.containers.run("busybox", ["sh", "-c", "while true; do echo tick; sleep 0.2; done"], detach=True,
                              network="sdk-net", volumes={"sdk-vol": {"bind": "/v", "mode": "rw"}},
                              ports={"80/tcp": ("127.0.0.1", None)})  # fmt: skip
    try:
        c.reload()
        assert c.ports["80/tcp"][0]["HostIp"] == "127.0.0.1" and int(c.ports["80/tcp"][0]["HostPort"]) > 0
        lines = c.logs(stream=True)
        assert next(lines) == b"tick\n"
        lines.close()
        assert c.exec_run(["sh", "-c", "echo o; echo e >&2"], demux=True).output == (b"o\n", b"e\n")
        assert [n.name for n in client.networks.list(names=["sdk-net"])] == ["sdk-net"]
        assert client.volumes.get("sdk-vol").attrs["Driver"] == "local"
        events = client.events(decode=True, filters={"type": "container", "event": "die"})
        threading.Timer(0.5, c.kill).start()
        assert next(events)["Actor"]["ID"] == c.id
        events.close()
    finally:
        c.remove(force=True)
    net.remove()
    vol.remove()
    assert client.networks.list(names=["sdk-net"]) == [] and client.volumes.list(filters={"name": "sdk-vol"}) == []
    client.images.remove("sdk-built")


COMPOSE = """\
version: "3.7"
services:
  web:
    image: busybox
    command: sh -c "echo hello-from-web > /www/index.html && httpd -f -p 80 -h /www"
    ports:
      - "127.0.0.1:{port}:80"
    volumes:
      - data:/www
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "-", "http://127.0.0.1/"]
      interval: 1s
      timeout: 2s
      retries: 20
  client:
    image: busybox
    command: sh -c "wget -q -O - http://web/ && sleep 300"
    depends_on:
      web:
        condition: service_healthy
volumes:
  data:
"""


def test_docker_compose_up_ps_logs_exec_down(cli, tmp_path, berth):
    import shutil
    import urllib.request

    from bench.anchors import free_port

    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed: scripts/install.sh installs Debian's docker-compose")
    port = free_port()
    project = tmp_path / "proj"
    project.mkdir()
    (project / "docker-compose.yml").write_text(COMPOSE.format(port=port))

    def compose(*args):
        return subprocess.run(["docker-compose", *args], env=cli.env, cwd=project, capture_output=True, text=True,
                              timeout=180)  # fmt: skip

    try:
        up = compose("up", "-d")
        assert up.returncode == 0, up.stderr
        ps = compose("ps")
        assert "proj_web_1" in ps.stdout and "(healthy)" in ps.stdout and "proj_client_1" in ps.stdout, ps.stdout
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read() == b"hello-from-web\n"
        assert wait_for(lambda: "hello-from-web" in compose("logs", "client").stdout, 20)
        got = compose("exec", "-T", "client", "wget", "-q", "-O", "-", "http://web/")
        assert got.stdout == "hello-from-web\n", got.stderr
    finally:
        down = compose("down", "-v")
    assert down.returncode == 0, down.stderr
    assert berth("ps", "-aq").stdout == ""
    assert "proj_default" not in berth("network", "ls").stdout
    assert "proj_data" not in berth("volume", "ls").stdout


def test_save_load_import_export_update_and_prunes(cli, tmp_path):
    assert cli("tag", "busybox", "saved:v1").returncode == 0
    assert cli("save", "-o", str(tmp_path / "saved.tar"), "saved:v1").returncode == 0
    assert cli("rmi", "saved:v1").stdout == "Untagged: saved:v1\n"
    loaded = cli("load", "-i", str(tmp_path / "saved.tar"))
    assert loaded.returncode == 0 and "Loaded image: saved:v1" in loaded.stdout, loaded.stderr
    assert cli("run", "-d", "--name", "exported", "--network", "none", "saved:v1", "sleep", "300").returncode == 0
    exported = subprocess.run(["docker", "export", "exported"], env=cli.env, capture_output=True, timeout=60)
    assert exported.returncode == 0, exported.stderr  # a running container: its /proc and /sys are mount points
    imported = subprocess.run(["docker", "import", "-", "imported:v1"], env=cli.env, input=exported.stdout,
                              capture_output=True, timeout=60)  # fmt: skip
    assert imported.returncode == 0 and imported.stdout.startswith(b"sha256:"), imported.stderr
    assert cli("run", "--rm", "--network", "none", "imported:v1", "cat", "/proc/1/comm").stdout == "cat\n"
    updated = cli("update", "--memory", "64m", "--memory-swap", "128m", "--cpus", "0.5", "exported")
    assert updated.returncode == 0, updated.stderr
    assert cli("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", "exported").stdout.split() == [
        "67108864", "500000000"]  # fmt: skip
    started = cli("inspect", "-f", "{{.State.StartedAt}}", "exported").stdout.strip()
    assert cli("restart", "-t", "0", "exported").stdout == "exported\n"
    status, restarted = cli("inspect", "-f", "{{.State.Status}} {{.State.StartedAt}}", "exported").stdout.split()
    assert status == "running" and restarted != started
    assert cli("stop", "-t", "0", "exported").returncode == 0
    pruned = cli("container", "prune", "-f")
    assert pruned.returncode == 0 and "exported" not in cli("ps", "-a", "--format", "{{.Names}}").stdout
    assert cli("rmi", "saved:v1", "imported:v1").returncode == 0
    assert cli("image", "prune", "-f").returncode == 0
    assert cli("builder", "prune", "-f").returncode == 0
    assert cli("network", "create", "unused-net").returncode == 0
    assert cli("run", "--name", "anon", "--network", "none", "-v", "/scratch", "busybox", "true").returncode == 0
    anonymous = cli("inspect", "-f", "{{range .Mounts}}{{.Name}}{{end}}", "anon").stdout.strip()
    assert anonymous and cli("rm", "anon").returncode == 0  # without -v: its volume stays, unused
    networks = cli("network", "prune", "-f")
    assert networks.stdout.split("\n")[:2] == ["Deleted Networks:", "unused-net"], networks
    volumes = cli("volume", "prune", "-f")
    assert anonymous in volumes.stdout.split() and anonymous not in cli("volume", "ls", "-q").stdout.split()


def test_volume_prune_takes_named_volumes_for_clients_before_1_42(service):
    from tests.integration.conftest import request

    for name in ("kept-by-1-43", "pruned-by-1-41"):
        assert request(service.sock, "POST", "/v1.43/volumes/create", f'{{"Name": "{name}"}}'.encode())[0] == 201
        status, raw = request(service.sock, "POST", "/v1.43/volumes/prune")
        assert status == 200 and b"kept-by-1-43" not in raw, raw  # 1.42 on: anonymous ones only
    status, raw = request(service.sock, "POST", "/v1.41/volumes/prune")
    assert status == 200 and sorted(json.loads(raw)["VolumesDeleted"]) == ["kept-by-1-43", "pruned-by-1-41"]


def test_login_and_credentials_for_push_and_pull(cli, password_registry):
    reg = password_registry
    name = f"{reg.host}/private/busybox:v1"
    assert cli("tag", "busybox", name).returncode == 0
    denied = cli("push", name)
    assert denied.returncode != 0 and "unauthorized" in (denied.stdout + denied.stderr).lower()
    wrong = cli("login", "-u", "alice", "--password-stdin", reg.host, stdin="nope\n")
    assert wrong.returncode != 0 and "unauthorized" in wrong.stderr.lower(), wrong.stderr
    ok = cli("login", "-u", "alice", "--password-stdin", reg.host, stdin="s3cret\n")
    assert ok.returncode == 0 and "Login Succeeded" in ok.stdout, ok.stderr
    pushed = cli("push", name)  # the CLI sends the credentials it kept (X-Registry-Auth)
    assert pushed.returncode == 0, pushed.stderr
    assert cli("rmi", name).returncode == 0
    assert cli("pull", name).returncode == 0
    assert cli("logout", reg.host).returncode == 0
    assert cli("rmi", name).returncode == 0
    anonymous = cli("pull", name)
    assert anonymous.returncode != 0 and "unauthorized" in anonymous.stderr.lower(), anonymous.stderr


def test_update_of_the_restart_policy(cli, berth):
    """`docker update --restart` on a running container: its monitor reads the new policy at the
    container's next exit; refused for an --rm container, as dockerd refuses it."""
    assert (
        cli("run", "-d", "--name", "flaky", "--network", "none", "busybox", "sh", "-c", "sleep 1; exit 3").returncode
        == 0
    )
    updated = cli("update", "--restart", "on-failure:2", "flaky")
    assert updated.returncode == 0, updated.stderr
    assert cli("wait", "flaky", timeout=60).stdout == "3\n"
    shown = cli("inspect", "-f", "{{.RestartCount}} {{.HostConfig.RestartPolicy.Name}} "
                "{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "flaky")  # fmt: skip
    assert shown.stdout.split() == ["2", "on-failure", "2"]
    assert cli("rm", "flaky").returncode == 0
    assert cli("run", "-d", "--rm", "--name", "gone", "--network", "none", "busybox", "sleep", "30").returncode == 0
    refused = cli("update", "--restart", "always", "gone")
    assert refused.returncode == 1 and "AutoRemove is enabled" in refused.stderr
    bad = berth("update", "--restart", "sometimes", "gone")
    assert bad.returncode == 1 and "invalid restart policy 'sometimes'" in bad.stderr
    assert cli("rm", "-f", "gone").returncode == 0


TEMPLATES = [
    "{{.Name}} {{.State.Running}} {{.HostConfig.NetworkMode}}",
    "{{range .Config.Env}}[{{.}}]{{end}}",
    '{{join .Config.Env ","}}',
    "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
    "{{range .Config.Labels}}<{{.}}>{{end}}",
    "{{range .Mounts}}{{.Destination}}{{else}}no mounts{{end}}",
    "{{if .State.Running}}up{{else}}down{{end}} {{if .State.Paused}}paused{{else}}not paused{{end}}",
    '{{index .Config.Labels "tier"}} {{json .Config.Labels}} {{upper .HostConfig.NetworkMode}}',
    "{{- .Name -}} | {{- .State.Status}}",
]


def test_inspect_templates_render_as_the_docker_clis(cli, berth):
    """berth's own template engine against Go's (the docker CLI's), on the same document."""
    assert cli("run", "-d", "--name", "tpl", "--network", "none", "-e", "A=1", "-l", "tier=web", "-l", "b=2",
               "busybox", "sleep", "60").returncode == 0  # fmt: skip
    try:
        for template in TEMPLATES:
            ours, theirs = berth("inspect", "-f", template, "tpl"), cli("inspect", "-f", template, "tpl")
            assert (ours.returncode, ours.stdout) == (0, theirs.stdout), (template, ours.stderr, theirs.stderr)
    finally:
        cli("rm", "-f", "tpl")


def test_the_lists_networks_and_mounts(cli):
    """`docker ps --format` reads networks and mounts from the list's entries, not from inspect."""
    assert cli("create", "--name", "listed", "--network", "none", "-v", "listed-vol:/data", "-v", "/tmp:/host:ro",
               "busybox", "true").returncode == 0  # fmt: skip
    try:
        shown = cli("ps", "-a", "--filter", "name=listed", "--format", "{{.Networks}}|{{.Mounts}}")
        networks, _, mounts = shown.stdout.strip().partition("|")
        assert (networks, sorted(mounts.split(","))) == ("none", ["/tmp", "listed-vol"]), (
            shown
        )  # dockerd's order varies too
    finally:
        cli("rm", "-v", "listed")
        cli("volume", "rm", "listed-vol")


def test_cgroup_parent(cli):
    """`docker run --cgroup-parent`: the container's cgroup under it, as /proc says; inspect shows it."""
    assert cli("run", "-d", "--name", "parented", "--network", "none", "--cgroup-parent", "/berth-api-test",
               "busybox", "sleep", "60").returncode == 0  # fmt: skip
    try:
        pid = cli("inspect", "-f", "{{.State.Pid}}", "parented").stdout.strip()
        cid = cli("inspect", "-f", "{{.Id}}", "parented").stdout.strip()
        with open(f"/proc/{pid}/cgroup") as f:
            assert f"/berth-api-test/{cid}" in f.read()
        assert cli("inspect", "-f", "{{.HostConfig.CgroupParent}}", "parented").stdout == "/berth-api-test\n"
    finally:
        cli("rm", "-f", "parented")
        for top in [f"/sys/fs/cgroup/{h}" for h in os.listdir("/sys/fs/cgroup")] + ["/sys/fs/cgroup"]:
            if os.path.isdir(os.path.join(top, "berth-api-test")):
                os.rmdir(os.path.join(top, "berth-api-test"))
