"""Where berth finds registries' settings, as Docker keeps them.

/etc/berth/daemon.json           {"insecure-registries": [...], "registry-mirrors": [...]}
                                 ($BERTH_CONFIG_DIR overrides /etc/berth)
/etc/berth/certs.d/HOST/ca.crt   extra CAs for HOST (also *.crt; client.cert + client.key)
$DOCKER_CONFIG/config.json       credentials ("auths"), shared with docker (default ~/.docker)
"""

from __future__ import annotations

import os

from berth import daemon_config, fastjson
from berth.daemon_config import config_dir
from berth.errors import InvalidArgument

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


class Settings:
    def __init__(self, insecure: list[str], mirrors: list[str], certs_dir: str) -> None:
        self.insecure = insecure
        self.mirrors = mirrors
        self.certs_dir = certs_dir

    @classmethod
    def load(cls) -> Settings:
        doc = daemon_config.load()
        return cls(list(doc.get("insecure-registries") or []), list(doc.get("registry-mirrors") or []),
                   os.path.join(config_dir(), "certs.d"))  # fmt: skip

    def is_insecure(self, host: str) -> bool:
        """Listed in insecure-registries: HTTPS without verification, then plain HTTP."""
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
        return host in self.insecure or name in self.insecure

    @staticmethod
    def is_loopback(host: str) -> bool:
        """Plain HTTP is allowed for loopback registries, as Docker allows it; HTTPS there is still verified."""
        name = host.rpartition(":")[0] if host.count(":") == 1 else host
        return name in ("localhost", "::1", "[::1]") or name.startswith("127.")


def api_host(domain: str) -> str:
    """The host that serves a reference's domain: Docker Hub's API lives elsewhere."""
    return DOCKER_HUB_API if domain == DOCKER_HUB else domain


def auth_file() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def _read_auth_doc() -> dict:
    try:
        with open(auth_file(), "rb") as f:
            return fastjson.loads(f.read())
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise InvalidArgument(f"{auth_file()}: {e}") from None


def credentials(host: str) -> tuple[str, str] | None:
    """(user, password) saved for host by `berth login` or `docker login`."""
    import base64

    auths = _read_auth_doc().get("auths") or {}
    keys = [host, f"https://{host}", f"http://{host}"]
    if host in (DOCKER_HUB, DOCKER_HUB_API):
        keys += ["https://index.docker.io/v1/", "index.docker.io"]
    for key in keys:
        entry = auths.get(key)
        if entry and entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            return user, password
        if entry and entry.get("username"):
            return entry["username"], entry.get("password", "")
    return None


def save_credentials(host: str, user: str | None, password: str | None) -> None:
    """Write (or with user None, remove) host's credentials, file mode 0600, other keys kept."""
    import base64

    from berth.fs import atomic_write

    doc = _read_auth_doc()
    auths = doc.setdefault("auths", {})
    key = "https://index.docker.io/v1/" if host in (DOCKER_HUB, DOCKER_HUB_API) else host
    if user is None:
        if key not in auths:
            raise InvalidArgument(f"Not logged in to {host}")
        del auths[key]
    else:
        auths[key] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    os.makedirs(os.path.dirname(auth_file()), mode=0o700, exist_ok=True)
    atomic_write(auth_file(), fastjson.dumps(doc).encode(), mode=0o600)
