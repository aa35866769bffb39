"""pull, push, login and manifest inspect against Debian's docker-registry started
on 127.0.0.1 by the tests: plain HTTP, TLS with a CA made here, htpasswd basic
auth, and Bearer tokens from a small token server in this file; round trips with
skopeo, podman and docker; and a fake registry for every kind of bad answer.
Every request goes to loopback."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from bench.anchors import Registry, free_port

from tests.conftest import BerthCLI, bootstrapped

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A store with busybox and an image of two layers built on it."""
    cli = bootstrapped(str(tmp_path_factory.mktemp("registry-source")))
    ctx = tmp_path_factory.mktemp("ctx")
    (ctx / "Dockerfile").write_text("FROM busybox\nCOPY data /data\nRUN echo built > /built\nCMD cat /built\n")
    (ctx / "data").write_bytes(os.urandom(1 << 20))
    cli("build", "-q", "-t", "app", str(ctx), check=True)
    yield cli
    cli.cleanup()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture
def fresh(tmp_path):
    cli = BerthCLI(str(tmp_path / "fresh"))
    yield cli
    cli.cleanup()


def image_ids(cli) -> list[str]:
    return cli("images", "-q", "--no-trunc", check=True).stdout.split()


def blob_count(cli) -> int:
    d = Path(cli.root, "content", "blobs", "sha256")
    return len(list(d.iterdir())) if d.exists() else 0


def test_push_then_pull_keeps_the_digest(source, registry, fresh):
    name = f"{registry.host}/berth/app:v1"
    source("tag", "app", name, check=True)
    pushed = source("push", name, check=True).stdout
    digest = pushed.strip().splitlines()[-1].split()[2]
    local = json.loads(source("image", "inspect", name, check=True).stdout)[0]
    pulled = fresh("pull", name, check=True).stdout
    assert f"Digest: {digest}" in pulled and f"Status: Downloaded newer image for {name}" in pulled
    assert image_ids(fresh) == [local["Id"]]
    assert fresh("run", "--rm", name).stdout == "built\n"
    again = fresh("pull", name, check=True).stdout
    assert "Downloading" not in again and "Already exists" in again  # nothing fetched twice
    pushed_again = source("push", name, check=True).stdout
    assert "Layer already exists" in pushed_again and "Pushing" not in pushed_again  # HEAD skips what is there
    by_digest = BerthCLI(fresh.root + "-2")
    by_digest("pull", f"{registry.host}/berth/app@{digest}", check=True)
    assert image_ids(by_digest) == [local["Id"]]
    manifest = json.loads(fresh("manifest", "inspect", name, check=True).stdout)
    assert manifest["config"]["digest"] == local["Id"]
    assert fresh("pull", "-q", name, check=True).stdout == f"{name}\n"


def test_cross_repository_mount(source, registry):
    first, second = f"{registry.host}/berth/mount-a:v1", f"{registry.host}/berth/mount-b:v1"
    source("tag", "app", first, check=True)
    source("tag", "app", second, check=True)
    source("push", first, check=True)
    out = source("push", second, check=True).stdout
    assert "Mounted from berth/" in out and "Pushing" not in out


def test_run_create_and_build_pull_what_is_missing(source, registry, fresh, tmp_path):
    name = f"{registry.host}/berth/app:pullme"
    source("tag", "app", name, check=True)
    source("push", name, check=True)
    never = fresh("run", "--rm", "--pull", "never", name)
    assert never.returncode == 125 and "No such image" in never.stderr
    run = fresh("run", "--rm", "--pull", "missing", name)
    assert run.returncode == 0 and run.stdout == "built\n"
    assert "Unable to find image" in run.stderr
    assert fresh("create", "--pull", "always", name, "true").returncode == 0
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {registry.host}/berth/mount-a:v1\nRUN cat /built > /again\n")
    other = BerthCLI(str(tmp_path / "builder"))
    assert other("build", "--pull", "-t", "child", str(ctx), check=True).returncode == 0
    assert other("run", "--rm", "child", "cat", "/again").stdout == "built\n"
    bad = fresh("run", "--pull", "sometimes", name)
    assert bad.returncode == 125 and "invalid pull option" in bad.stderr


def test_round_trips_with_skopeo_podman_and_docker(source, registry, fresh, podman, dockerd):
    name = f"{registry.host}/berth/interop:v1"
    source("tag", "app", name, check=True)
    digest = source("push", name, check=True).stdout.strip().splitlines()[-1].split()[2]
    skopeo = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{name}"], capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert skopeo.returncode == 0, skopeo.stderr
    assert json.loads(skopeo.stdout)["Digest"] == digest
    assert podman("pull", "--tls-verify=false", name).returncode == 0
    assert podman("run", "--rm", name).stdout == "built\n"
    assert dockerd("pull", name).returncode == 0
    repo_digests = json.loads(dockerd("image", "inspect", name).stdout)[0]["RepoDigests"]
    assert f"{registry.host}/berth/interop@{digest}" in repo_digests
    # and back: what docker pushes, berth pulls with docker's digest
    theirs = f"{registry.host}/berth/from-docker:v1"
    assert dockerd("tag", name, theirs).returncode == 0
    assert dockerd("push", theirs).returncode == 0
    docker_digest = json.loads(dockerd("image", "inspect", theirs).stdout)[0]["RepoDigests"]
    docker_digest = [d for d in docker_digest if "from-docker" in d][0].split("@")[1]
    fresh("pull", theirs, check=True)
    assert json.loads(fresh("image", "inspect", theirs, check=True).stdout)[0]["RepoDigests"] == [
        f"{registry.host}/berth/from-docker@{docker_digest}"]  # fmt: skip
    ran = fresh("run", "--rm", theirs)
    assert ran.stdout == "built\n", ran.stderr
    podman_name = f"{registry.host}/berth/from-podman:v1"
    assert podman("tag", name, podman_name).returncode == 0
    assert podman("push", "--tls-verify=false", podman_name).returncode == 0
    fresh("pull", podman_name, check=True)
    assert fresh("run", "--rm", podman_name).stdout == "built\n"
    dockerd("rmi", name, theirs)


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(top: Path) -> None:
    """A CA, and a server certificate it signs for 127.0.0.1 and localhost."""
    top.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=berth test CA", cwd=top)  # fmt: skip
    (top / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
            "/CN=127.0.0.1", cwd=top)  # fmt: skip
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "server.crt", "-days", "2", "-extfile", "san.ext", cwd=top)  # fmt: skip


def test_tls_with_a_ca_of_our_own(source, tmp_path, fresh, monkeypatch):
    certs = tmp_path / "certs"
    make_certs(certs)
    reg = Registry(tmp_path / "tls-registry", tls=(str(certs / "server.crt"), str(certs / "server.key")))
    try:
        name = f"{reg.host}/berth/tls:v1"
        source("tag", "app", name, check=True)
        unknown = source("push", name)
        assert unknown.returncode != 0 and "certificate verify failed" in unknown.stderr
        assert len(unknown.stderr.strip().splitlines()) == 1
        config = tmp_path / "berth-config"
        (config / "certs.d" / reg.host).mkdir(parents=True)
        (config / "certs.d" / reg.host / "ca.crt").write_bytes((certs / "ca.crt").read_bytes())
        source("push", name, check=True, env=dict(os.environ, BERTH_CONFIG_DIR=str(config)))
        fresh("pull", name, check=True, env=dict(os.environ, BERTH_CONFIG_DIR=str(config)))
        assert fresh("run", "--rm", name).stdout == "built\n"
        other = BerthCLI(str(tmp_path / "insecure"))
        other("pull", "--tls-verify=false", name, check=True)
        (config / "daemon.json").write_text(json.dumps({"insecure-registries": [reg.host]}))
        (config / "certs.d" / reg.host / "ca.crt").unlink()
        third = BerthCLI(str(tmp_path / "listed"))
        third("pull", name, check=True, env=dict(os.environ, BERTH_CONFIG_DIR=str(config)))
    finally:
        reg.stop()


def test_basic_auth_login_and_logout(source, tmp_path, fresh):
    htpasswd = tmp_path / "htpasswd"
    out = subprocess.run(["htpasswd", "-Bbn", "alice", "s3cret"], capture_output=True, text=True, check=True)
    htpasswd.write_text(out.stdout)
    reg = Registry(tmp_path / "auth-registry", htpasswd=str(htpasswd))
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker-config"))
    try:
        name = f"{reg.host}/berth/private:v1"
        source("tag", "app", name, check=True)
        denied = source("push", name, env=env)
        assert denied.returncode != 0 and "unauthorized" in denied.stderr
        wrong = source("login", "-u", "alice", "-p", "nope", reg.host, env=env)
        assert wrong.returncode != 0 and "unauthorized" in wrong.stderr
        assert not (tmp_path / "docker-config" / "config.json").exists()
        ok = source("login", "-u", "alice", "--password-stdin", reg.host, env=env, input=b"s3cret\n")
        assert ok.returncode == 0 and ok.stdout == "Login Succeeded\n"
        config = tmp_path / "docker-config" / "config.json"
        assert config.stat().st_mode & 0o777 == 0o600
        saved = json.loads(config.read_text())["auths"][reg.host]["auth"]
        assert base64.b64decode(saved) == b"alice:s3cret"
        source("push", name, check=True, env=env)
        fresh("pull", name, check=True, env=env)
        assert source("logout", reg.host, env=env, check=True).stdout == f"Removing login credentials for {reg.host}\n"
        assert reg.host not in json.loads(config.read_text())["auths"]
        assert fresh("pull", name, env=env).returncode != 0
    finally:
        reg.stop()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """The token half of the distribution spec's Bearer flow: JWTs (RS256, x5c) signed with
    openssl for the registry to check against the certificate it was given."""

    def __init__(self, top: Path, users: dict[str, str]) -> None:
        self.top, self.users = top, users
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "token.key", "-out", "token.crt",
                "-days", "2", "-subj", "/CN=berth token issuer", cwd=top)  # fmt: skip
        der = subprocess.run(["openssl", "x509", "-in", str(top / "token.crt"), "-outform", "DER"],
                             capture_output=True, check=True).stdout  # fmt: skip
        self.x5c = base64.b64encode(der).decode()
        self.requests: list[tuple[str | None, list[str]]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                import urllib.parse

                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                user = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    u, _, p = base64.b64decode(header[6:]).decode().partition(":")
                    if server.users.get(u) != p:
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = u
                scopes = query.get("scope", [])
                server.requests.append((user, scopes))
                access = []
                for scope in scopes:
                    kind, name, actions = scope.split(":")
                    allowed = actions.split(",") if user else [a for a in actions.split(",") if a == "pull"]
                    if not name.startswith("public/") and not user:
                        allowed = []
                    access.append({"type": kind, "name": name, "actions": allowed})
                body = json.dumps({"token": server.token(user or "", access)}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.realm = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self, subject: str, access: list[dict]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        claims = {"iss": "berth-test-issuer", "sub": subject, "aud": "berth-test-registry", "exp": now + 300,
                  "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access}  # fmt: skip
        signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.top / "token.key")],
                             input=signing.encode(), capture_output=True, check=True).stdout  # fmt: skip
        return f"{signing}.{_b64(sig)}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_bearer_tokens_anonymous_and_with_credentials(source, tmp_path, fresh):
    (tmp_path / "token").mkdir()
    tokens = TokenServer(tmp_path / "token", {"bob": "hunter2"})
    reg = Registry(tmp_path / "token-registry", token={
        "realm": tokens.realm, "service": "berth-test-registry", "issuer": "berth-test-issuer",
        "rootcertbundle": str(tmp_path / "token" / "token.crt")})  # fmt: skip
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker-config"))
    try:
        private, public = f"{reg.host}/team/app:v1", f"{reg.host}/public/app:v1"
        source("tag", "app", private, check=True)
        source("tag", "app", public, check=True)
        assert "unauthorized" in source("push", private, env=env).stderr
        source("login", "-u", "bob", "-p", "hunter2", reg.host, check=True, env=env)
        source("push", private, check=True, env=env)
        source("push", public, check=True, env=env)
        assert ("bob", ["repository:team/app:pull,push"]) in tokens.requests
        fresh("pull", private, check=True, env=env)
        anonymous = BerthCLI(str(tmp_path / "anonymous"))
        assert anonymous("pull", public, check=True).returncode == 0  # an anonymous token for a public repository
        denied = anonymous("pull", private)
        assert denied.returncode != 0 and ("unauthorized" in denied.stderr or "denied" in denied.stderr)
        assert (None, ["repository:team/app:pull"]) in tokens.requests
    finally:
        reg.stop()
        tokens.stop()


class FakeRegistry:
    """A registry that answers as a test wants: wrong or short blobs, error statuses, oversized or
    strange manifests, or no answer at all."""

    def __init__(self, mode: str, blob: bytes, config: bytes) -> None:
        self.mode, self.hits, self.cut, self.ranges = mode, 0, False, []
        self.blob, self.config = blob, config
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        media = "application/vnd.oci.image.layer.v1.tar" if mode != "media-type" else "application/x-strange"
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                       "size": len(config)},
            "layers": [{"mediaType": media, "digest": digest, "size": len(blob)}]}).encode()  # fmt: skip
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def reply(self, status: int, body: bytes = b"", ctype: str = "application/json", length=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                fake.hits += 1
                m = fake.mode
                if self.path == "/v2/":
                    return self.reply(200, b"{}")
                if m == "hang":
                    time.sleep(30)
                    return
                if m in ("401", "403", "404", "429", "500"):
                    errors = {"errors": [{"code": "TEST", "message": f"answering {m}"}]}
                    return self.reply(int(m), json.dumps(errors).encode())
                if "/manifests/" in self.path:
                    if m == "big-manifest":
                        return self.reply(200, b"{" + b" " * (5 << 20) + b"}",
                                          "application/vnd.oci.image.manifest.v1+json")  # fmt: skip
                    return self.reply(200, fake.manifest, "application/vnd.oci.image.manifest.v1+json")
                if fake.config_digest_path in self.path:
                    return self.reply(200, fake.config, "application/octet-stream")
                if m == "mismatch":
                    return self.reply(200, b"x" * len(fake.blob), "application/octet-stream")
                if m == "truncated" or (m == "truncated-once" and not fake.cut):
                    fake.cut = True
                    self.reply(200, fake.blob[: len(fake.blob) // 2], "application/octet-stream", len(fake.blob))
                    self.close_connection = True
                    return
                if m == "truncated-once" and self.headers.get("Range", "").startswith("bytes="):
                    start = int(self.headers["Range"][6:].rstrip("-"))
                    fake.ranges.append(start)
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(fake.blob) - 1}/{len(fake.blob)}")
                    self.send_header("Content-Length", str(len(fake.blob) - start))
                    self.end_headers()
                    self.wfile.write(fake.blob[start:])
                    return
                return self.reply(200, fake.blob, "application/octet-stream")

            def log_message(self, *args):
                pass

        self.config_digest_path = config_digest
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize(
    "mode, message",
    [
        ("mismatch", "blob content does not match its digest"),
        ("truncated", "download failed"),
        ("401", "unauthorized: TEST: answering 401"),
        ("403", "denied: TEST: answering 403"),
        ("404", "not found: TEST: answering 404"),
        ("429", "toomanyrequests: TEST: answering 429"),
        ("500", "the registry answered 500"),
        ("big-manifest", "over the 4 MiB limit"),
        ("media-type", "unknown layer media type 'application/x-strange'"),
        ("hang", "timed out"),
    ],
)
def test_bad_registry_answers_leave_nothing(fresh, mode, message):
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
    fake = FakeRegistry(mode, os.urandom(200_000), config.encode())
    try:
        env = dict(os.environ, BERTH_REGISTRY_TIMEOUT="2")
        start = time.monotonic()
        proc = fresh("pull", f"{fake.host}/bad/image:v1", env=env, timeout=120)
        assert proc.returncode != 0
        assert message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
        assert time.monotonic() - start < 60
        assert image_ids(fresh) == [] and blob_count(fresh) == 0
        if mode in ("429", "500"):
            assert fake.hits > 2  # retried with backoff before giving up
    finally:
        fake.stop()


def test_a_dropped_download_resumes_with_a_range(fresh):
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
    fake = FakeRegistry("truncated-once", os.urandom(300_000), config.encode())
    try:
        fresh("pull", f"{fake.host}/resume/image:v1", check=True)
        assert fake.ranges and fake.ranges[0] > 0  # the second request asked only for the rest
        assert len(image_ids(fresh)) == 1
    finally:
        fake.stop()


def _put_index(registry, repo: str, tag: str, entries: list[tuple[str, int, str]]) -> None:
    import urllib.request

    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": n,
         "platform": {"os": "linux", "architecture": arch}} for d, n, arch in entries]}  # fmt: skip
    request = urllib.request.Request(f"http://{registry.host}/v2/{repo}/manifests/{tag}", method="PUT",
                                     data=json.dumps(index).encode(),
                                     headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the test's own registry
        assert response.status == 201


def test_an_index_resolves_to_the_platform(source, registry, fresh):
    app, box = f"{registry.host}/berth/multi:app", f"{registry.host}/berth/multi:box"
    source("tag", "app", app, check=True)
    source("tag", "busybox", box, check=True)
    entries = []
    for name, arch in ((app, "amd64" if os.uname().machine == "x86_64" else "arm64"), (box, "s390x")):
        out = source("push", name, check=True).stdout.strip().splitlines()[-1].split()
        entries.append((out[2], int(out[4]), arch))
    _put_index(registry, "berth/multi", "all", entries)
    fresh("pull", f"{registry.host}/berth/multi:all", check=True)
    assert image_ids(fresh) == [json.loads(source("image", "inspect", "app", check=True).stdout)[0]["Id"]]
    other = BerthCLI(fresh.root + "-s390x")
    other("pull", "--platform", "linux/s390x", f"{registry.host}/berth/multi:all", check=True)
    assert image_ids(other) == [json.loads(source("image", "inspect", "busybox", check=True).stdout)[0]["Id"]]
    missing = other("pull", "--platform", "linux/riscv64", f"{registry.host}/berth/multi:all")
    assert missing.returncode != 0 and "no matching manifest for linux/riscv64" in missing.stderr


def test_a_big_layer_goes_in_chunks(source, registry, fresh, tmp_path):
    ctx = tmp_path / "big"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY blob /blob\n")
    (ctx / "blob").write_bytes(os.urandom(70 << 20))  # over the 64 MiB of one PUT: PATCH chunks
    name = f"{registry.host}/berth/big:v1"
    source("build", "-q", "-t", name, str(ctx), check=True)
    source("push", name, check=True)
    fresh("pull", name, check=True)
    assert image_ids(fresh) == [json.loads(source("image", "inspect", name, check=True).stdout)[0]["Id"]]
    source("rmi", name, check=True)


def test_docker_hub_names_come_through_a_mirror(source, registry, fresh, tmp_path):
    source("tag", "app", f"{registry.host}/library/mirrored:v1", check=True)
    source("push", f"{registry.host}/library/mirrored:v1", check=True)
    config = tmp_path / "berth-config"
    config.mkdir()
    (config / "daemon.json").write_text(json.dumps({"registry-mirrors": [f"http://{registry.host}"]}))
    fresh("pull", "mirrored:v1", check=True, env=dict(os.environ, BERTH_CONFIG_DIR=str(config)))
    assert fresh("run", "--rm", "mirrored:v1").stdout == "built\n"
