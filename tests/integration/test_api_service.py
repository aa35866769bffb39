"""`berth system service`: the Docker Engine API on a unix socket, driven by real clients (the
docker SDK for Python, Debian's docker CLI) and by raw HTTP for what clients never send (bad
bodies, unknown paths, versions out of range), plus a client gone mid-stream and the service
killed and started again while its containers run on."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.root

docker = pytest.importorskip("docker")

from tests.integration.conftest import Service, request  # noqa: E402


def test_ping_version_info_and_the_socket(service, client):
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] == "1.51" and v["MinAPIVersion"] == "1.24" and v["Os"] == "linux"
    assert client.info()["OSType"] == "linux"
    assert oct(os.stat(service.sock).st_mode & 0o777) == "0o660"
    status, _ = request(service.sock, "HEAD", "/_ping")
    assert status == 200


def test_the_sdk_runs_a_container_and_berth_sees_it(berth, client):
    c = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2; exit 3"], name="api-sdk",
                              network_mode="none", labels={"made": "by-sdk"}, detach=True)  # fmt: skip
    assert c.wait(timeout=30)["StatusCode"] == 3
    assert c.logs(stdout=True, stderr=False) == b"out\n"
    assert c.logs(stdout=False, stderr=True) == b"err\n"
    assert "api-sdk" in berth("ps", "-a", "--format", "{{.Names}}").stdout.split()
    listed = client.containers.list(all=True, filters={"label": "made=by-sdk"})
    assert [x.name for x in listed] == ["api-sdk"] and listed[0].status == "exited"
    assert client.containers.get("api-sdk").attrs["State"]["ExitCode"] == 3
    c.remove()
    assert "api-sdk" not in berth("ps", "-a").stdout


def test_create_reads_dockers_host_config(berth, client, tmp_path):
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "f").write_text("from the host\n")
    c = client.containers.create(
        "busybox", ["sh", "-c", "cat /h/f; grep -c ' /t tmpfs ' /proc/mounts; ulimit -n; cat /data/x 2>/dev/null; echo x > /data/x"],
        network_mode="none", volumes={str(tmp_path / "h"): {"bind": "/h", "mode": "ro"}, "api-vol": {"bind": "/data"}},
        tmpfs={"/t": "size=1m"}, ulimits=[docker.types.Ulimit(name="nofile", soft=300, hard=400)],
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 1}, environment={"A": "1"}, working_dir="/tmp",
    )  # fmt: skip
    c.start()
    assert c.wait(timeout=30)["StatusCode"] == 0
    assert c.logs() == b"from the host\n1\n300\n"
    host = client.api.inspect_container(c.id)["HostConfig"]
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 1}
    assert host["Ulimits"] == [{"Name": "nofile", "Hard": 400, "Soft": 300}] and host["Tmpfs"] == {"/t": "size=1m"}
    assert berth("inspect", "-f", "{{.Config.WorkingDir}}", c.id).stdout.strip() == "/tmp"
    c.remove(v=True)
    berth("volume", "rm", "api-vol")


def test_lifecycle_calls(client):
    c = client.containers.run("busybox", ["sleep", "30"], network_mode="none", detach=True, name="api-life")
    assert c.status in ("created", "running")
    c.reload()
    assert c.status == "running"
    assert c.top()["Titles"][0] == "UID" and any("sleep" in " ".join(p) for p in c.top()["Processes"])
    c.pause()
    c.reload()
    assert c.status == "paused"
    c.unpause()
    c.rename("api-life2")
    c.kill(signal="KILL")  # (sleep as PID 1 ignores TERM, in docker too)
    assert c.wait(timeout=30)["StatusCode"] == 137
    with pytest.raises(docker.errors.APIError) as e:
        c.kill()
    assert e.value.status_code == 409 and "is not running" in str(e.value)
    c.start()
    c.stop(timeout=1)
    c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("api-life2")


def test_images(client, berth):
    names = [t for i in client.images.list() for t in i.tags]
    assert "busybox:latest" in names
    img = client.images.get("busybox")
    assert img.id.startswith("sha256:") and img.attrs["Id"] == img.id
    img.tag("api-test/bb", "one")
    assert "api-test/bb:one" in [t for i in client.images.list() for t in i.tags]
    client.images.remove("api-test/bb:one")
    assert "api-test/bb" not in berth("images").stdout
    assert client.images.get("busybox").history()[0]["Id"] == img.id


def test_the_docker_cli_drives_the_service(service, berth):
    env = dict(os.environ, DOCKER_HOST=f"unix://{service.sock}")

    def docker_cli(*args):
        return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=60)

    out = docker_cli("run", "-d", "--name", "cli-made", "--network", "none", "busybox", "sleep", "30")
    assert out.returncode == 0, out.stderr
    cid = out.stdout.strip()
    assert docker_cli("ps", "--format", "{{.Names}} {{.Status}}").stdout.startswith("cli-made Up")
    assert docker_cli("inspect", "-f", "{{.State.Running}} {{.Id}}", "cli-made").stdout.split() == ["true", cid]
    assert "busybox" in docker_cli("images").stdout
    assert docker_cli("rm", "-f", "cli-made").returncode == 0
    assert "cli-made" not in berth("ps", "-a").stdout
    gone = docker_cli("inspect", "cli-made")
    assert gone.returncode == 1 and "No such object: cli-made" in gone.stderr  # the CLI's words, as with dockerd


@pytest.mark.parametrize("method, path, body, status, message", [
    ("POST", "/v1.41/containers/create", b"{not json", 400, "invalid JSON"),
    ("POST", "/v1.41/containers/create", b'{"Image": "busybox", "Cmd": 7}', 400,
     "json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Cmd"),
    ("POST", "/v1.41/containers/create", b'{"Cmd": ["true"]}', 400, "no image was specified"),
    ("POST", "/v1.41/containers/create", b'{"Image": "nosuch/image"}', 404, "No such image: nosuch/image"),
    ("POST", "/v1.41/containers/create", b'{"Image": "busybox", "HostConfig": {"Binds": ["a:b"]}}', 400,
     "invalid volume specification: 'a:b'"),
    ("POST", "/v1.41/containers/create", b'{"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "nfs", "Target": "/x"}]}}',
     400, "mount type unknown: 'nfs'"),
    ("GET", "/v1.41/containers/nosuch/json", None, 404, "No such container: nosuch"),
    ("GET", "/v1.41/containers/json?filters=%7Bbad", None, 400, "invalid filter"),
    ("GET", "/v1.41/nowhere", None, 404, "page not found"),
    ("GET", "/v9.99/version", None, 400, "client version 9.99 is too new"),
    ("GET", "/v1.12/version", None, 400, "client version 1.12 is too old"),
    ("POST", "/v1.41/containers/nosuch/wait?condition=sometimes", None, 400, "invalid condition"),
])  # fmt: skip
def test_bad_requests_get_dockers_status_and_message(service, method, path, body, status, message):
    got, raw = request(service.sock, method, path, body)
    assert got == status, raw
    assert message in json.loads(raw)["message"]


def test_a_client_gone_mid_stream_and_a_killed_service(berth, service, client, tmp_path):
    c = client.containers.run("busybox", ["sh", "-c", "while true; do echo tick; sleep 0.2; done"],
                              network_mode="none", detach=True, name="api-follow")  # fmt: skip
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(service.sock)
    s.sendall(f"GET /v1.41/containers/{c.id}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert b"tick" in s.recv(4096) + s.recv(4096)
    s.close()  # gone mid-stream: the service goes on
    assert client.ping()
    service.proc.kill()  # SIGKILL: the container runs on, and a new service finds it
    service.proc.wait(10)
    assert berth("inspect", "-f", "{{.State.Running}}", "api-follow").stdout.strip() == "true"
    again = Service(berth.root, service.sock)
    try:
        fresh = docker.DockerClient(base_url=f"unix://{service.sock}", version="auto")
        assert fresh.containers.get("api-follow").status == "running"
        fresh.containers.get("api-follow").remove(force=True)
        fresh.close()
    finally:
        service.proc = again.proc


def test_exec_through_the_sdk_and_the_cli(service, client):
    c = client.containers.run("busybox", ["sleep", "60"], network_mode="none", detach=True, name="api-exec")
    try:
        code, (out, err) = c.exec_run(["sh", "-c", "echo to-out; echo to-err >&2; exit 4"], demux=True)
        assert (code, out, err) == (4, b"to-out\n", b"to-err\n")
        code, out = c.exec_run(["sh", "-c", "tty; echo $A"], tty=True, environment={"A": "from-env"})
        assert code == 0 and out.replace(b"\r", b"").splitlines()[1:] == [b"from-env"], out
        assert out.startswith(b"/dev/pts/"), out
        code, out = c.exec_run(["nosuch-command"])
        assert code in (126, 127) and b"executable file not found" in out, (code, out)
        env = dict(os.environ, DOCKER_HOST=f"unix://{service.sock}")
        ps = subprocess.run(["docker", "exec", "api-exec", "ps"], env=env, capture_output=True, text=True, timeout=60)
        assert ps.returncode == 0 and "sleep 60" in ps.stdout, ps.stderr
        piped = subprocess.run(["docker", "exec", "-i", "api-exec", "sh", "-c", "tr a-z A-Z; exit 5"], input="shout\n",
                               env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
        assert (piped.returncode, piped.stdout) == (5, "SHOUT\n"), piped.stderr
        exec_id = client.api.exec_create(c.id, ["true"])["Id"]
        client.api.exec_start(exec_id)
        assert client.api.exec_inspect(exec_id)["ExitCode"] == 0
        with pytest.raises(docker.errors.APIError) as e:
            client.api.exec_start(exec_id)
        assert e.value.status_code == 409
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.api.exec_inspect("0" * 64)


def test_docker_run_in_the_foreground(service, berth):
    """docker run attaches before it starts: nothing the container writes is missed, the exit code
    is the container's, stdin reaches it, and --rm removes it."""
    env = dict(os.environ, DOCKER_HOST=f"unix://{service.sock}")

    def docker_cli(*args, stdin=None):
        return subprocess.run(["docker", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)

    out = docker_cli(
        "run", "--name", "fg", "--network", "none", "busybox", "sh", "-c", "echo hi; echo oops >&2; exit 3"
    )
    assert (out.returncode, out.stdout, out.stderr) == (3, "hi\n", "oops\n")
    assert berth("inspect", "-f", "{{.State.ExitCode}}", "fg").stdout.strip() == "3"
    berth("rm", "fg")
    piped = docker_cli("run", "--rm", "-i", "--network", "none", "busybox", "tr", "a-z", "A-Z", stdin="piped in\n")
    assert (piped.returncode, piped.stdout) == (0, "PIPED IN\n"), piped.stderr
    for _ in range(3):  # --rm: the CLI waits for `removed`, before the start, and gets the exit code
        assert docker_cli("run", "--rm", "--network", "none", "busybox", "sh", "-c", "exit 3").returncode == 3
    missing = docker_cli("run", "--rm", "--network", "none", "busybox", "nosuch-command")
    assert missing.returncode == 127 and "executable file not found" in missing.stderr, missing
    assert wait_for(lambda: berth("ps", "-aq").stdout.strip() == "", 10), berth("ps", "-a").stdout
