"""`/etc/berth/cri.toml`, the CRI server's settings (containerd's config.toml has their like):

    listen = "unix:///run/berth/cri.sock"
    stream_address = "127.0.0.1:0"        # the streaming server (exec, attach, port-forward); 0: any port

    [cni]
    conf_dir = "/etc/cni/net.d"           # the first network configuration here, by name
    bin_dirs = ["/opt/cni/bin", "/usr/lib/cni"]
    plugin_timeout = 60                   # seconds each plugin may take

    [registry.mirrors."registry.k8s.io"]  # containerd's form: endpoints tried before the registry
    endpoint = ["http://127.0.0.1:5000"]

A missing file at the default path is the defaults; one named by --config must exist. Unknown keys
and wrong types are refused, naming the key, so a typo never passes for a setting."""

from __future__ import annotations

import os
from typing import NamedTuple

from berth.engine.options import CniNetwork
from berth.errors import InvalidArgument

DEFAULT_PATH = "/etc/berth/cri.toml"
DEFAULT_LISTEN = "unix:///run/berth/cri.sock"


class CriConfig(NamedTuple):
    listen: str = DEFAULT_LISTEN
    stream_address: tuple[str, int] = ("127.0.0.1", 0)
    cni: CniNetwork = CniNetwork()  # its args are each sandbox's
    mirrors: dict[str, tuple[str, ...]] = {}  # registry -> endpoints


def load(path: str = "") -> CriConfig:
    """The settings from `path` (the default file, if it exists, when "")."""
    import tomllib

    given = path or DEFAULT_PATH
    try:
        with open(given, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        if path:
            raise InvalidArgument(f"--config {path}: no such file") from None
        return CriConfig()
    except tomllib.TOMLDecodeError as e:
        raise InvalidArgument(f"{given}: not TOML: {e}") from None
    except OSError as e:
        raise InvalidArgument(f"{given}: {e.strerror}") from None
    listen = _string(doc.pop("listen"), given, "listen") if "listen" in doc else DEFAULT_LISTEN
    stream = ("127.0.0.1", 0)
    if "stream_address" in doc:
        host, sep, port = _string(doc.pop("stream_address"), given, "stream_address").rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise InvalidArgument(f"{given}: stream_address: HOST:PORT (port 0: any free one)")
        stream = (host, int(port))
    net = doc.pop("cni", {})
    if not isinstance(net, dict):
        raise InvalidArgument(f"{given}: cni: a table of conf_dir, bin_dirs and plugin_timeout")
    cni: dict = {}
    if "conf_dir" in net:
        cni["conf_dir"] = _string(net.pop("conf_dir"), given, "cni.conf_dir")
        if not os.path.isabs(cni["conf_dir"]):
            raise InvalidArgument(f"{given}: cni.conf_dir: an absolute directory")
    if "bin_dirs" in net:
        dirs = net.pop("bin_dirs")
        if not isinstance(dirs, list) or not dirs or not all(isinstance(d, str) and os.path.isabs(d) for d in dirs):
            raise InvalidArgument(f"{given}: cni.bin_dirs: a list of absolute directories")
        cni["bin_dirs"] = tuple(dirs)
    if "plugin_timeout" in net:
        timeout = net.pop("plugin_timeout")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise InvalidArgument(f"{given}: cni.plugin_timeout: a number of seconds above 0")
        cni["plugin_timeout"] = float(timeout)
    mirrors = _mirrors(doc.pop("registry", {}), given)
    unknown = [*doc, *(f"cni.{k}" for k in net)]
    if unknown:
        raise InvalidArgument(f"{given}: unknown setting {unknown[0]!r}")
    return CriConfig(listen=listen, stream_address=stream, cni=CniNetwork(**cni), mirrors=mirrors)


def _mirrors(registry: object, path: str) -> dict[str, tuple[str, ...]]:
    """[registry.mirrors."HOST"] endpoint = ["http(s)://HOST[:PORT]", ...]."""
    if (
        not isinstance(registry, dict)
        or set(registry) - {"mirrors"}
        or not isinstance(registry.get("mirrors", {}), dict)
    ):
        raise InvalidArgument(f'{path}: registry: a table of mirrors (registry.mirrors."HOST".endpoint)')
    out = {}
    for host, table in registry.get("mirrors", {}).items():
        endpoints = table.get("endpoint") if isinstance(table, dict) and set(table) == {"endpoint"} else None
        if not isinstance(endpoints, list) or not all(
                isinstance(e, str) and e.startswith(("http://", "https://")) for e in endpoints):  # fmt: skip
            raise InvalidArgument(f"{path}: registry.mirrors.{host}: endpoint = a list of http(s):// URLs")
        out[host] = tuple(endpoints)
    return out


def _string(value: object, path: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{path}: {key}: a string")
    return value
