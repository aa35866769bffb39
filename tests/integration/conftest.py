"""Fixtures of the integration tests: the Docker API service (`berth system service`) on a unix
socket of the test's own, and a docker SDK client of it."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess

import pytest

from tests.conftest import BIN, wait_for


class Service:
    def __init__(self, root: str, sock: str) -> None:
        self.root, self.sock = root, sock
        self.proc = subprocess.Popen([str(BIN / "berth"), "--root", root, "system", "service", "--time", "0",
                                      f"unix://{sock}"], stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert wait_for(lambda: self.answers() or self.proc.poll() is not None, 20), "no socket"
        assert self.proc.poll() is None, self.proc.stderr.read()

    def answers(self) -> bool:
        """Serving (a socket file alone may be a killed service's)."""
        try:
            return request(self.sock, "GET", "/_ping")[0] == 200
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(20)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def request(sock: str, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes]:  # fmt: skip
    conn = UnixHTTP(sock)
    try:
        conn.request(method, path, body=body,
                     headers={**({"Content-Type": "application/json"} if body else {}), **(headers or {})})  # fmt: skip
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture
def service(berth, tmp_path):
    s = Service(berth.root, str(tmp_path / "berth.sock"))
    yield s
    if s.proc.poll() is None:
        assert s.stop() == 0
    assert not os.path.exists(s.sock), "the socket was left behind"


@pytest.fixture
def client(service):
    docker = pytest.importorskip("docker")
    c = docker.DockerClient(base_url=f"unix://{service.sock}", version="auto", timeout=60)
    yield c
    c.close()


@pytest.fixture
def password_registry(tmp_path):
    """A local registry (loopback) that wants alice's password, s3cret; stopped after the test."""
    from bench.anchors import Registry

    htpasswd = tmp_path / "htpasswd"
    out = subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True, text=True, check=True)
    htpasswd.write_text(out.stdout)
    reg = Registry(tmp_path / "auth-registry", htpasswd=str(htpasswd))
    yield reg
    reg.stop()
