"""`/etc/berth/cri.toml`, the CRI server's settings (containerd's config.toml has their like):

    listen = "unix:///run/berth/cri.sock"

    [cni]
    conf_dir = "/etc/cni/net.d"           # the first network configuration here, by name
    bin_dirs = ["/opt/cni/bin", "/usr/lib/cni"]

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
    cni_conf_dir: str = CniNetwork().conf_dir
    cni_bin_dirs: tuple[str, ...] = CniNetwork().bin_dirs


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
    values: dict = {}
    net = doc.pop("cni", {})
    if "listen" in doc:
        values["listen"] = _string(doc.pop("listen"), given, "listen")
    if not isinstance(net, dict):
        raise InvalidArgument(f"{given}: cni: a table of conf_dir and bin_dirs")
    if "conf_dir" in net:
        values["cni_conf_dir"] = _string(net.pop("conf_dir"), given, "cni.conf_dir")
    if "bin_dirs" in net:
        dirs = net.pop("bin_dirs")
        if not isinstance(dirs, list) or not dirs or not all(isinstance(d, str) and os.path.isabs(d) for d in dirs):
            raise InvalidArgument(f"{given}: cni.bin_dirs: a list of absolute directories")
        values["cni_bin_dirs"] = tuple(dirs)
    unknown = [*doc, *(f"cni.{k}" for k in net)]
    if unknown:
        raise InvalidArgument(f"{given}: unknown setting {unknown[0]!r}")
    config = CriConfig(**values)
    if not os.path.isabs(config.cni_conf_dir):
        raise InvalidArgument(f"{given}: cni.conf_dir: an absolute directory")
    return config


def _string(value: object, path: str, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{path}: {key}: a string")
    return value
