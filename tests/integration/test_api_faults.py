"""The Docker API service under bad input and faults: Docker's status and message for each kind
of malformed request to the endpoints of images, builds, networks, volumes, archives, events and
swarm; clients that go away in the middle of a pull, a build, an export and events (no thread,
blob, container or tag left); 50 clients at once; the service SIGKILLed during a pull, a build
and creates, then started again (nothing half made, running containers untouched)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from tests.conftest import wait_for
from tests.integration.conftest import Service, request

pytestmark = pytest.mark.root


@pytest.mark.parametrize("method, path, body, status, message", [
    ("POST", "/v1.41/images/create", None, 400, "exactly one of fromImage and fromSrc"),
    ("GET", "/v1.41/images/nosuch/get", None, 404, "nosuch"),
    ("GET", "/v1.41/images/get", None, 400, "no image names given"),
    ("POST", '/v1.41/images/prune?filters={"colour":["x"]}', None, 400, "invalid filter 'colour'"),
    ("GET", "/v1.41/images/search?term=x", None, 501, "search is not available"),
    ("POST", "/v1.41/images/load", b"not a tar archive", 400, "invalid archive"),
    ("POST", "/v1.41/images/nosuch/push", None, 404, "nosuch"),
    ("POST", "/v1.41/build?buildargs=notjson", b"", 400, "invalid buildargs"),
    ("POST", "/v1.41/build?remote=https://example.invalid/x.git", b"", 400, "remote contexts"),
    ("POST", "/v1.41/build?t=Bad:Tag:x", b"", 400, 'invalid argument "Bad:Tag:x"'),
    ("POST", "/v1.41/networks/create", b"{}", 400, "network name is required"),
    ("POST", "/v1.41/networks/create", b'{"Name": "x", "Driver": "overlay"}', 404, 'plugin "overlay" not found'),
    ("GET", '/v1.41/networks?filters={"colour":["x"]}', None, 400, "invalid filter 'colour'"),
    ("GET", "/v1.41/networks/nosuch", None, 404, "nosuch"),
    ("POST", "/v1.41/networks/bridge/connect", b"{}", 400, "a container is required"),
    ("POST", "/v1.41/volumes/create", b'{"Driver": "nfs"}', 404, 'plugin "nfs" not found'),
    ("GET", "/v1.41/volumes/nosuch", None, 404, "no such volume"),
    ("DELETE", "/v1.41/volumes/nosuch", None, 404, "no such volume"),
    ("GET", '/v1.41/volumes?filters={"dangling":["maybe"]}', None, 400, "invalid filter"),
    ("GET", "/v1.41/containers/nosuch/archive", None, 400, "path is required"),
    ("GET", "/v1.41/containers/nosuch/archive?path=/", None, 404, "No such container: nosuch"),
    ("PUT", "/v1.41/containers/nosuch/archive?path=/", b"x", 404, "No such container: nosuch"),
    ("GET", "/v1.41/containers/nosuch/export", None, 404, "No such container: nosuch"),
    ("POST", "/v1.41/containers/nosuch/resize?h=0&w=0", None, 400, "invalid terminal size"),
    ("POST", "/v1.41/containers/nosuch/update", b'{"Memory": "lots"}', 400, "cannot unmarshal string"),
    ("GET", '/v1.41/events?filters={"colour":["x"]}', None, 400, "invalid filter 'colour'"),
    ("GET", "/v1.41/events?since=yesterday", None, 400, "invalid value for since"),
    ("POST", "/v1.41/auth", b"{}", 400, "a username and a password are required"),
    ("GET", "/v1.41/swarm", None, 503, "This node is not a swarm manager"),
    ("GET", "/v1.41/services", None, 503, "This node is not a swarm manager"),
    ("GET", "/v1.41/nodes/x", None, 503, "This node is not a swarm manager"),
    ("POST", "/v1.41/swarm/init", b"{}", 501, "swarm mode is not supported"),
    ("POST", "/v1.41/plugins/pull?remote=x", b"[]", 501, "plugins are not supported"),
    ("DELETE", "/v1.41/plugins/x", None, 501, "plugins are not supported"),
    ("POST", "/v1.41/swarm/leave", None, 503, "This node is not part of a swarm"),
    ("GET", "/v1.41/swarm/unlockkey", None, 503, "This node is not a swarm manager"),
    ("POST", "/v1.41/services/create", b"{}", 503, "This node is not a swarm manager"),
    ("DELETE", "/v1.41/secrets/x", None, 503, "This node is not a swarm manager"),
])  # fmt: skip
def test_bad_requests_get_dockers_status_and_message(service, method, path, body, status, message):
    got, raw = request(service.sock, method, path, body)
    assert got == status, raw
    assert message in json.loads(raw)["message"]


def test_bad_registry_auth_header(service):
    got, raw = request(service.sock, "POST", "/v1.41/images/create?fromImage=busybox", None,
                       {"X-Registry-Auth": "%%%not-base64"})  # fmt: skip
    assert got == 400 and "X-Registry-Auth" in json.loads(raw)["message"]


def test_plugins_list_is_empty(service):
    assert request(service.sock, "GET", "/v1.41/plugins") == (200, b"[]\n")


def _raw(sock_path: str, data: bytes) -> bytes:
    """Send `data` (in a thread: the service may answer and close before it has read it all) and
    return what came back until the service closed the connection."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock_path)
        s.settimeout(60)

        def send() -> None:
            try:
                s.sendall(data)
            except OSError:
                pass  # refused part way

        sender = threading.Thread(target=send)
        sender.start()
        got = b""
        while chunk := s.recv(65536):
            got += chunk
        sender.join(60)
        return got


@pytest.mark.parametrize("data, status, message", [
    (b"GET /_ping HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1100 << 10) + b"\r\n\r\n", 431, "bad request"),
    (b"NOT AN HTTP REQUEST\r\n\r\n", 400, "bad request"),
    (b"POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Content-Length: %d\r\n\r\n{" % (70 << 20) + b" " * ((70 << 20) - 1), 413, "request body too large"),
])  # fmt: skip
def test_oversized_and_malformed_requests(service, berth, data, status, message):
    """A head over 1 MiB, a request that is not HTTP and a JSON body over 64 MiB get Docker's
    (Go's) status and a message; nothing is made and the service goes on."""
    head, _, body = _raw(service.sock, data).partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == str(status).encode(), head
    assert message in json.loads(body)["message"]
    assert request(service.sock, "GET", "/_ping") == (200, b"OK")
    assert berth("ps", "-aq").stdout == ""


def _threads(pid: int) -> int:
    """Its threads but the request workers, which the service keeps once started."""
    count = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/comm") as f:
                count += f.read().strip() != "berth-api"
        except FileNotFoundError:
            pass  # ended meanwhile
    return count


def _sockets(pid: int) -> int:
    """Its open sockets: a connection the service still serves is one."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except FileNotFoundError:
            pass  # closed meanwhile
    return count


def _settled(pid: int, threads: int, sockets: int) -> bool:
    return _threads(pid) <= threads and _sockets(pid) <= sockets


def _children(pid: int) -> list[int]:
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out += [int(p) for p in f.read().split()]
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _open_stream(sock_path: str, head: str, body: bytes = b"") -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.sendall(head.encode() + body)
    return s


def _read_until(s: socket.socket, marker: bytes, limit: float = 60) -> bytes:
    got, deadline = b"", time.monotonic() + limit
    s.settimeout(limit)
    while marker not in got and time.monotonic() < deadline:
        data = s.recv(65536)
        if not data:
            break
        got += data
    return got


@pytest.fixture
def big_image(berth, tmp_path, registry):
    """An image with a 48 MiB layer pushed to a local registry, not in the store: (name, registry)."""
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "blob").write_bytes(os.urandom(48 << 20))
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\nCOPY blob /blob\n")
    name = f"{registry.host}/faults/big:v1"
    berth("build", "-q", "-t", name, str(tmp_path / "ctx"), check=True)
    berth("push", name, check=True)
    berth("rmi", name, check=True)
    berth("image", "prune", "-f", check=True)
    return name


@pytest.fixture
def registry(tmp_path):
    from bench.anchors import Registry

    reg = Registry(tmp_path / "registry")
    yield reg
    reg.stop()


def _blobs(root: str) -> set[str]:
    top = os.path.join(root, "blobs", "sha256")
    return set(os.listdir(top)) if os.path.isdir(top) else set()


def _ingest(root: str) -> list[str]:
    path = os.path.join(root, "ingest")
    return os.listdir(path) if os.path.isdir(path) else []


def _contexts(root: str) -> list[str]:
    path = os.path.join(root, "build-contexts")
    return os.listdir(path) if os.path.isdir(path) else []


def test_a_client_gone_mid_pull_mid_build_mid_export_and_mid_events(berth, service, big_image):
    assert request(service.sock, "GET", "/_ping")[0] == 200
    time.sleep(0.5)  # the ping's connection closed and its worker idle: one connection at a time from here on
    pid = service.proc.pid
    base, sockets = _threads(pid), _sockets(pid)  # the service and its workers, kept between requests
    blobs = _blobs(berth.root)

    s = _open_stream(service.sock, f"POST /v1.41/images/create?fromImage={big_image} HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"Pulling fs layer" in _read_until(s, b"Pulling fs layer")
    s.close()
    assert wait_for(lambda: _settled(pid, base, sockets), 30), "the pull's thread or connections are still there"
    assert big_image not in berth("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert _blobs(berth.root) == blobs and _ingest(berth.root) == [], "a cancelled pull left blobs"

    import io
    import tarfile

    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        text = b"FROM busybox\nRUN sleep 5\nCMD true\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    body = context.getvalue()
    s = _open_stream(service.sock, f"POST /v1.41/build?t=gone-build HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                   f"application/x-tar\r\nContent-Length: {len(body)}\r\n\r\n", body)  # fmt: skip
    assert b"RUN sleep 5" in _read_until(s, b"RUN sleep 5")
    children = _children(service.proc.pid)
    s.close()
    assert wait_for(lambda: _settled(pid, base, sockets) and not any(map(_alive, children)), 30)
    assert "gone-build" not in berth("images").stdout
    assert _contexts(berth.root) == []
    assert berth("ps", "-aq").stdout == ""

    berth("run", "-d", "--name", "gone-export", "--network", "none", "busybox", "sleep", "60", check=True)
    s = _open_stream(service.sock, "GET /v1.41/containers/gone-export/export HTTP/1.1\r\nHost: x\r\n\r\n")
    _read_until(s, b"bin/")
    s.close()
    assert wait_for(lambda: _settled(pid, base, sockets), 30), "the export's thread or connection is left"
    s = _open_stream(service.sock, "GET /v1.41/events HTTP/1.1\r\nHost: x\r\n\r\n")
    _read_until(s, b"\r\n\r\n")
    s.close()
    assert wait_for(lambda: _settled(pid, base, sockets), 30), "the events' connection is still served"
    berth("rm", "-f", "gone-export", check=True)


def test_fifty_clients_at_once(service, berth):
    errors: list[str] = []

    def client(i: int) -> None:
        try:
            for method, path, body in [("GET", "/_ping", None), ("GET", "/v1.41/version", None),
                                       ("GET", "/v1.41/containers/json?all=1", None), ("GET", "/v1.41/images/json", None)]:  # fmt: skip
                status, raw = request(service.sock, method, path, body)
                if status != 200:
                    errors.append(f"{path}: {status} {raw[:200]!r}")
            status, raw = request(service.sock, "POST", f"/v1.41/containers/create?name=fifty-{i}",
                                  b'{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}}')  # fmt: skip
            if status != 201:
                errors.append(f"create: {status} {raw[:200]!r}")
                return
            if i % 5 == 0:
                for step in ("start", "wait"):
                    status, raw = request(service.sock, "POST", f"/v1.41/containers/fifty-{i}/{step}")
                    if status not in (200, 204):
                        errors.append(f"{step}: {status} {raw[:200]!r}")
            status, raw = request(service.sock, "DELETE", f"/v1.41/containers/fifty-{i}?force=1")
            if status != 204:
                errors.append(f"remove: {status} {raw[:200]!r}")
        except Exception as e:  # noqa: BLE001 - collected and reported by the test
            errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(240)
    assert not errors, errors[:5]
    assert berth("ps", "-aq").stdout == ""


def _consistent(berth) -> bool:
    """Every container the database lists has its directory, and no directory is without a row."""
    listed = set(berth("ps", "-aq", "--no-trunc").stdout.split())
    top = os.path.join(berth.root, "containers")
    dirs = {d for d in os.listdir(top) if len(d) == 64} if os.path.isdir(top) else set()
    return listed == dirs


def test_the_service_killed_during_a_pull_a_build_and_creates(berth, service, big_image, tmp_path):
    berth("run", "-d", "--name", "survivor", "--network", "none", "busybox", "sleep", "300", check=True)
    pid = berth("inspect", "-f", "{{.State.Pid}}", "survivor").stdout.strip()

    def restart() -> None:
        service.proc.kill()
        service.proc.wait(10)
        again = Service(berth.root, service.sock)
        service.proc = again.proc

    s = _open_stream(service.sock, f"POST /v1.41/images/create?fromImage={big_image} HTTP/1.1\r\nHost: x\r\n\r\n")
    _read_until(s, b"Downloading")
    restart()
    s.close()
    assert wait_for(lambda: _ingest(berth.root) == [], 30), "the killed pull's writes were not cleared"
    assert big_image not in berth("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    status, raw = request(service.sock, "POST", f"/v1.41/images/create?fromImage={big_image}")
    assert status == 200 and b"Downloaded newer image" in raw, raw[-300:]

    import io
    import tarfile

    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        text = b"FROM busybox\nRUN echo step > /step && sleep 3\nCMD true\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    body = context.getvalue()
    s = _open_stream(service.sock, f"POST /v1.41/build?t=killed-build HTTP/1.1\r\nHost: x\r\n"
                                   f"Content-Length: {len(body)}\r\n\r\n", body)  # fmt: skip
    _read_until(s, b"sleep 3")
    children = _children(service.proc.pid)
    assert len(_contexts(berth.root)) == 1, "the build's context is not where the next service finds it"
    restart()
    s.close()
    assert wait_for(lambda: not any(map(_alive, children)), 30), "the killed service's build goes on"
    assert wait_for(lambda: _contexts(berth.root) == [], 30), "the killed build's context was not removed"
    assert "killed-build" not in berth("images").stdout
    assert berth("ps", "-aq", "--filter", "name=survivor").stdout.strip() != ""
    assert set(berth("ps", "-aq").stdout.split()) == set(berth("ps", "-aq", "--filter", "name=survivor").stdout.split())

    create = b'{"Image": "busybox", "HostConfig": {"NetworkMode": "none"}}'
    for delay in (0.0, 0.005, 0.01, 0.02, 0.05):
        s = _open_stream(service.sock, "POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                       f"application/json\r\nContent-Length: {len(create)}\r\n\r\n", create)  # fmt: skip
        time.sleep(delay)
        restart()
        s.close()
        assert wait_for(lambda: _consistent(berth), 20), "a killed create left a container half made"
    assert berth("inspect", "-f", "{{.State.Pid}}", "survivor").stdout.strip() == pid, "the running container changed"
    for cid in berth("ps", "-aq", "--filter", "status=created").stdout.split():
        berth("rm", cid, check=True)
    berth("rm", "-f", "survivor", check=True)
    berth("rmi", big_image, check=True)


def test_a_client_gone_mid_attach_mid_exec_and_mid_push(berth, service, big_image):
    name = big_image.rsplit(":", 1)[0] + ":pushed"
    status, raw = request(service.sock, "POST", f"/v1.41/images/create?fromImage={big_image}")
    assert status == 200 and b"Downloaded newer image" in raw
    berth("tag", big_image, name, check=True)
    berth("run", "-d", "--name", "gone-attach", "--network", "none", "busybox", "sh", "-c",
          "while true; do echo tick; sleep 0.1; done", check=True)  # fmt: skip
    assert request(service.sock, "GET", "/_ping")[0] == 200
    time.sleep(0.5)
    pid = service.proc.pid
    base, sockets = _threads(pid), _sockets(pid)

    s = _open_stream(service.sock, "POST /v1.41/containers/gone-attach/attach?stream=1&stdout=1 HTTP/1.1\r\n"
                                   "Host: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n")  # fmt: skip
    assert b"tick" in _read_until(s, b"tick")
    s.close()
    assert wait_for(lambda: _settled(pid, base, sockets), 30), "the attachment is still served"
    assert berth("inspect", "-f", "{{.State.Running}}", "gone-attach").stdout.strip() == "true"

    status, raw = request(service.sock, "POST", "/v1.41/containers/gone-attach/exec",
                          json.dumps({"Cmd": ["sh", "-c", "while true; do echo tock; sleep 0.1; done"],
                                      "AttachStdout": True}).encode())  # fmt: skip
    exec_id = json.loads(raw)["Id"]
    body = b'{"Detach": false, "Tty": false}'
    s = _open_stream(service.sock, f"POST /v1.41/exec/{exec_id}/start HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                   f"application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: "
                                   f"{len(body)}\r\n\r\n", body)  # fmt: skip
    assert b"tock" in _read_until(s, b"tock")
    s.close()
    assert wait_for(lambda: _settled(pid, base, sockets), 30), "the exec is still served"
    assert wait_for(lambda: json.loads(request(service.sock, "GET", f"/v1.41/exec/{exec_id}/json")[1])["Running"]
                    is False, 30), "the exec's process outlived its client"  # fmt: skip
    assert "tock" not in berth("top", "gone-attach").stdout

    s = _open_stream(service.sock, f"POST /v1.41/images/{name}/push HTTP/1.1\r\nHost: x\r\n\r\n")
    assert b"The push refers to repository" in _read_until(s, b"The push refers to repository")
    s.close()
    assert wait_for(lambda: _settled(pid, base, sockets), 30), "the push's thread or connections are left"
    berth("rm", "-f", "gone-attach", check=True)
    berth("rmi", name, big_image, check=True)
