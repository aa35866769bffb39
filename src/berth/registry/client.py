"""An OCI distribution-spec client over urllib3.

- Endpoint: HTTPS verified against the system's CAs plus certs.d/HOST/*.crt
  (and client.cert/client.key); for an insecure registry (listed, loopback, or
  `--tls-verify=false`) HTTPS without verification, then plain HTTP, as Docker
  tries them. The scheme is settled once, by the first answer to `GET /v2/`.
- Auth: the challenge of a 401 decides. `Bearer realm=,service=,scope=` gets a
  token from the realm (with the saved credentials as basic auth, or
  anonymously), kept per scope; `Basic` sends the credentials.
- Retries: connection errors, 429 and 5xx are retried with exponential backoff
  (honouring Retry-After, capped); every request has connect and read timeouts,
  so a registry that hangs fails instead of hanging berth.
- Errors: berth's own, with the registry's error code and message.
"""

from __future__ import annotations

import os
import time

from berth import fastjson
from berth.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from berth.registry.config import Settings, credentials

MANIFEST_LIMIT = 4 << 20  # the distribution spec's suggested limit; anything larger is refused
ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))  # fmt: skip


class Unauthorized(PermissionDenied):
    pass


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """'Bearer realm="x",service="y"' -> ('bearer', {'realm': 'x', 'service': 'y'})."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    i = 0
    while i < len(rest):
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip(" ,")
        i = eq + 1
        if rest[i : i + 1] == '"':
            end = rest.find('"', i + 1)
            end = len(rest) if end < 0 else end
            params[key.lower()] = rest[i + 1 : end]
            i = end + 1
        else:
            end = rest.find(",", i)
            end = len(rest) if end < 0 else end
            params[key.lower()] = rest[i:end].strip()
            i = end
        i += 1 if rest[i : i + 1] == "," else 0
    return scheme.lower(), params


class Client:
    def __init__(self, host: str, settings: Settings | None = None, tls_verify: bool = True,
                 auth: tuple[str, str] | None = None, timeout: float = 30.0, retries: int = 4,
                 plain_http: bool = False) -> None:  # fmt: skip
        import urllib3

        self.host = host
        self.settings = settings or Settings.load()
        self.insecure = not tls_verify or self.settings.is_insecure(host)
        self.plain_http = plain_http or self.insecure or self.settings.is_loopback(host)
        self.auth = auth if auth is not None else credentials(host)
        timeout = float(os.environ.get("BERTH_REGISTRY_TIMEOUT") or timeout)
        self.timeout = urllib3.Timeout(connect=min(timeout, 10.0), read=timeout)
        self.retries = retries
        # 1 MiB send blocks: uploads of tens of MB otherwise cost a syscall per 16 KiB
        self.pool = urllib3.PoolManager(maxsize=8, retries=False, ssl_context=self._ssl_context(), blocksize=1 << 20)
        self.http = urllib3.PoolManager(maxsize=8, retries=False, blocksize=1 << 20)
        self.scheme = ""  # settled by ping()
        self.tokens: dict[str, str] = {}
        self.challenge: tuple[str, dict[str, str]] | None = None

    def _ssl_context(self):
        import glob
        import ssl

        ctx = ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        where = os.path.join(self.settings.certs_dir, self.host)
        for ca in sorted(glob.glob(os.path.join(where, "*.crt"))):
            ctx.load_verify_locations(cafile=ca)
        cert, key = os.path.join(where, "client.cert"), os.path.join(where, "client.key")
        if os.path.exists(cert) and os.path.exists(key):
            ctx.load_cert_chain(cert, key)
        return ctx

    # -- transport ------------------------------------------------------------
    def _send(self, method: str, url: str, headers: dict, body, stream: bool, retries: int | None = None):
        import urllib3

        pool = self.http if url.startswith("http:") else self.pool
        delay = 0.2
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                if hasattr(body, "seek"):
                    body.seek(0)
                response = pool.request(method, url, headers=headers, body=body, preload_content=not stream,
                                        timeout=self.timeout, redirect=True)  # fmt: skip
            except urllib3.exceptions.HTTPError as e:
                if attempt == retries:
                    raise Unavailable(f"{method} {url}: {_reason(e)}") from None
                time.sleep(delay)
                delay *= 2
                continue
            if response.status == 429 or response.status >= 500:
                if attempt == retries:
                    return response
                wait = response.headers.get("Retry-After", "")
                response.drain_conn()  # read what is left, or the pooled connection is unusable
                response.release_conn()
                time.sleep(min(float(wait), 10.0) if wait.isdigit() else delay)
                delay *= 2
                continue
            return response
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Settle the scheme (and remember the auth challenge)."""
        if self.scheme:
            return
        schemes = ["https", "http"] if self.plain_http else ["https"]
        first: Exception | None = None
        for scheme in schemes:
            try:
                # an insecure registry's HTTPS attempt is not retried: a TLS error there means plain HTTP
                fallback = scheme == "https" and len(schemes) > 1
                response = self._send("GET", f"{scheme}://{self.host}/v2/", {}, None, stream=False,
                                      retries=0 if fallback else None)  # fmt: skip
            except Unavailable as e:
                first = first or e
                continue
            if response.status in (200, 401):
                self.scheme = scheme
                if response.status == 401:
                    self.challenge = _parse_challenge(response.headers.get("WWW-Authenticate", ""))
                return
            first = first or Unavailable(f"{scheme}://{self.host}/v2/: {response.status} {response.reason}: "
                                         "not a registry")  # fmt: skip
        raise first or Unavailable(f"{self.host}: no endpoint answered")

    # -- auth -----------------------------------------------------------------
    def _token(self, scope: str, params: dict[str, str]) -> str:
        import urllib.parse

        key = f"{params.get('realm')} {params.get('service')} {scope}"
        if key in self.tokens:
            return self.tokens[key]
        query: list[tuple[str, str]] = [("service", params.get("service", ""))]
        query += [("scope", s) for s in scope.split()]  # one parameter per scope, as the token spec has it
        headers = self._basic() if self.auth else {}
        realm = params.get("realm", "")
        if not realm.startswith(("http://", "https://")):
            raise Unauthorized(f"{self.host}: a Bearer challenge without a usable realm ({realm!r})")
        response = self._send("GET", f"{realm}?{urllib.parse.urlencode(query)}", headers, None, stream=False)
        if response.status in (401, 403):
            raise Unauthorized(f"{self.host}: the token server refused the credentials: {response.status} "
                               f"{_error_text(response)}")  # fmt: skip
        if response.status != 200:
            raise Unavailable(f"{self.host}: token server {realm}: {response.status} {response.reason}")
        doc = fastjson.loads(response.data)
        token = doc.get("token") or doc.get("access_token")
        if not token:
            raise Unauthorized(f"{self.host}: the token server's answer has no token")
        self.tokens[key] = token
        return token

    def _basic(self) -> dict[str, str]:
        import base64

        return {"Authorization": "Basic " + base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()}

    def _authorization(self, scope: str) -> dict[str, str]:

        if self.challenge is None:
            return {}
        scheme, params = self.challenge
        if scheme == "bearer":
            return {"Authorization": "Bearer " + self._token(scope, params)}
        if scheme == "basic" and self.auth:
            return self._basic()
        return {}

    def request(self, method: str, path: str, scope: str, headers: dict | None = None, body=None,
                stream: bool = False, url: str = ""):  # fmt: skip
        """A request with auth; the response whatever its status (callers check)."""
        self.ping()
        url = url or f"{self.scheme}://{self.host}{path}"
        all_headers = {**(headers or {}), **self._authorization(scope)}
        response = self._send(method, url, all_headers, body, stream)
        if response.status == 401:
            challenge = _parse_challenge(response.headers.get("WWW-Authenticate", ""))
            fresh = challenge != self.challenge or self.challenge is None
            self.challenge = challenge
            for key in [k for k in self.tokens if k.endswith(f" {scope}")]:
                del self.tokens[key]
            if fresh or challenge[0] == "bearer":
                if stream:
                    response.drain_conn()
                    response.release_conn()
                all_headers = {**(headers or {}), **self._authorization(scope)}
                response = self._send(method, url, all_headers, body, stream)
        return response

    def check(self, response, what: str) -> None:
        """Raise berth's error for a failed answer."""
        status = response.status
        if status < 400:
            return
        text = _error_text(response)
        if status == 401:
            raise Unauthorized(f"{what}: unauthorized: {text or 'authentication required'}")
        if status == 403:
            raise PermissionDenied(f"{what}: denied: {text or 'requested access to the resource is denied'}")
        if status == 404:
            raise NotFound(f"{what}: not found: {text or 'manifest unknown'}")
        if status == 429:
            raise Unavailable(f"{what}: toomanyrequests: {text or 'the registry keeps refusing: too many requests'}")
        raise Unavailable(f"{what}: the registry answered {status} {response.reason}{': ' + text if text else ''}")

    # -- the API ----------------------------------------------------------------
    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest) of a manifest or index, by tag or digest."""
        import hashlib

        scope = f"repository:{repo}:pull"
        response = self.request("GET", f"/v2/{repo}/manifests/{ref}", scope, {"Accept": ACCEPT}, stream=True)
        try:
            self.check(response, f"{self.host}/{repo}:{ref}")
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > MANIFEST_LIMIT:
                raise InvalidArgument(f"{self.host}/{repo}:{ref}: manifest of {length} bytes is over the "
                                      f"{MANIFEST_LIMIT >> 20} MiB limit")  # fmt: skip
            data = response.read(MANIFEST_LIMIT + 1, decode_content=True)
            if len(data) > MANIFEST_LIMIT:
                raise InvalidArgument(f"{self.host}/{repo}:{ref}: manifest over the {MANIFEST_LIMIT >> 20} MiB limit")
        finally:
            response.release_conn()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise InvalidArgument(f"{self.host}/{repo}@{ref}: the manifest's content is {digest}")
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            declared = fastjson.loads(data).get("mediaType")
        except (ValueError, AttributeError):
            raise InvalidArgument(f"{self.host}/{repo}:{ref}: the manifest is not JSON") from None
        return data, declared or media_type, digest

    def blob(self, repo: str, digest: str, offset: int = 0):
        """A streamed response for a blob (from `offset` with a Range request)."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        response = self.request("GET", f"/v2/{repo}/blobs/{digest}", f"repository:{repo}:pull", headers, stream=True)
        if response.status >= 400:
            try:
                self.check(response, f"{self.host}/{repo}@{digest}")
            finally:
                response.release_conn()
        return response

    def has_blob(self, repo: str, digest: str, scope: str) -> bool:
        response = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope)
        if response.status == 404:
            return False
        self.check(response, f"{self.host}/{repo}@{digest}")
        return True

    def close(self) -> None:
        self.pool.clear()
        self.http.clear()


def _reason(e: Exception) -> str:
    reason = getattr(e, "reason", None)
    return str(reason or e)


def _error_text(response) -> str:
    """The registry's {"errors": [{"code", "message"}]}, as one line."""
    try:
        data = response.data if response.data is not None else response.read(65536)
        errors = fastjson.loads(data).get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
    except Exception:  # noqa: BLE001 - best effort: the status line says enough
        return ""
