"""Where the service listens: systemd socket activation with the units in contrib/systemd (run
under systemd-socket-activate, which passes LISTEN_FDS as systemd does), TCP on loopback with
TLS client certificates (dockerd's flags, the docker CLI's --tlsverify), and the addresses and
flags it refuses."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import BIN, wait_for
from tests.integration.conftest import request

pytestmark = pytest.mark.root

UNITS = Path(__file__).resolve().parents[2] / "contrib" / "systemd"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(UNITS / name)
    return parser


def test_socket_activation_with_the_shipped_units(berth, tmp_path):
    if shutil.which("systemd-socket-activate") is None:
        pytest.fail("systemd-socket-activate is missing (Debian's systemd package)")
    socket_unit, service_unit = _unit("berth.socket"), _unit("berth.service")
    assert socket_unit["Socket"]["ListenStream"] == "/run/berth/berth.sock"
    assert socket_unit["Socket"]["SocketMode"] == "0660"
    assert service_unit["Service"]["KillMode"] == "process", "stopping the service must not kill containers"
    argv = shlex.split(service_unit["Service"]["ExecStart"])
    assert Path(argv[0]).name == "berth" and argv[1:3] == ["system", "service"]
    sock = str(tmp_path / "activated.sock")  # the unit's socket, at a path of the test's own
    proc = subprocess.Popen(["systemd-socket-activate", "-l", sock, str(BIN / "berth"), "--root", berth.root,
                             *argv[1:]], stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert wait_for(lambda: os.path.exists(sock), 10)
        status, body = request(sock, "GET", "/v1.41/version")  # the first connection starts the service
        assert status == 200 and b'"ApiVersion":"1.51"' in body.replace(b" ", b"")
        assert request(sock, "GET", "/v1.41/containers/json")[0] == 200
    finally:
        proc.terminate()
        proc.wait(20)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def certificates(tmp_path):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as Docker's guide makes them."""
    d = tmp_path / "tls"
    d.mkdir()
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=berth-test-ca", cwd=d)  # fmt: skip
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"),
                      ("client", "extendedKeyUsage=clientAuth")):  # fmt: skip
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}-key.pem", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "1", "-extfile", f"{name}.ext", cwd=d)  # fmt: skip
    return d


def test_tcp_with_tls_client_certificates(berth, certificates):
    from bench.anchors import free_port

    d = certificates
    port = free_port()
    proc = subprocess.Popen([str(BIN / "berth"), "--root", berth.root, "system", "service", "--time", "0",
                             "--tlsverify", "--tlscacert", str(d / "ca.pem"), "--tlscert", str(d / "server.pem"),
                             "--tlskey", str(d / "server-key.pem"), f"tcp://127.0.0.1:{port}"],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    env = dict(os.environ, DOCKER_CONFIG=str(d / "docker-config"))
    env.pop("DOCKER_HOST", None)
    base = ["docker", "-H", f"tcp://127.0.0.1:{port}", "--tlsverify", "--tlscacert", str(d / "ca.pem")]
    with_cert = [*base, "--tlscert", str(d / "client.pem"), "--tlskey", str(d / "client-key.pem")]
    try:
        assert wait_for(lambda: subprocess.run([*with_cert, "version"], env=env, capture_output=True,
                                               timeout=30).returncode == 0, 20), proc.stderr  # fmt: skip
        out = subprocess.run([*with_cert, "run", "--rm", "--network", "none", "busybox", "echo", "over", "tls"], env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert (out.returncode, out.stdout) == (0, "over tls\n"), out.stderr
        # without a client certificate, or in plain HTTP: nothing is served
        no_cert = subprocess.run([*base, "version"], env=env, capture_output=True, text=True, timeout=30)
        assert no_cert.returncode != 0 and "Server:" not in no_cert.stdout
        plain = subprocess.run(["docker", "-H", f"tcp://127.0.0.1:{port}", "version"], env=env, capture_output=True,
                               text=True, timeout=30)  # fmt: skip
        assert plain.returncode != 0 and "Server:" not in plain.stdout
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.parametrize("args, message", [
    (["tcp://0.0.0.0:1"], "beyond loopback only with TLS client certificates"),
    (["--tls", "--tlscert", "/nosuch.pem", "--tlskey", "/nosuch-key.pem", "tcp://127.0.0.1:1"],
     "--tlscert /nosuch.pem: no such file"),
    (["--tlsverify", "--tlscert", "/etc/hostname", "--tlskey", "/etc/hostname", "tcp://127.0.0.1:1"],
     "--tlsverify needs --tlscacert"),
    (["--tls", "unix:///tmp/x.sock"], "TLS is for tcp:// addresses"),
    (["ftp://127.0.0.1:1"], "listens on unix:///PATH or tcp://HOST:PORT"),
    (["tcp://localhost:nope"], "tcp://HOST:PORT with an IP address and a port number"),
])  # fmt: skip
def test_refused_addresses_and_flags(berth, args, message):
    out = subprocess.run([str(BIN / "berth"), "--root", berth.root, "system", "service", *args], capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    assert out.returncode != 0 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
