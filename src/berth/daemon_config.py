"""berth's configuration file, Docker's daemon.json: /etc/berth/daemon.json ($BERTH_CONFIG_DIR
overrides /etc/berth; rootless berth reads ~/.config/berth/daemon.json). Keys berth reads: insecure-registries, registry-mirrors, runtimes,
default-runtime."""

from __future__ import annotations

import os


def config_dir() -> str:
    """$BERTH_CONFIG_DIR, else /etc/berth, else for rootless berth the user's ~/.config/berth."""
    if os.environ.get("BERTH_CONFIG_DIR"):
        return os.environ["BERTH_CONFIG_DIR"]
    if os.environ.get("BERTH_ROOTLESS") == "1" or os.geteuid() != 0:
        return os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "berth")
    return "/etc/berth"


_read: dict[str, tuple[tuple[int, int, int], dict]] = {}  # path -> (its stat's identity, settings)


def load() -> dict:
    """The file's settings ({} when there is none); a file that is not JSON is an error naming it.
    Parsed once per process while the file stays as it was (a create asks three times: the
    runtime, its path, the user namespace); callers only read what they get."""
    from berth import fastjson
    from berth.errors import InvalidArgument

    path = os.path.join(config_dir(), "daemon.json")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {}
    key = (st.st_ino, st.st_mtime_ns, st.st_size)
    kept = _read.get(path)
    if kept is not None and kept[0] == key:
        return kept[1]
    try:
        with open(path, "rb") as f:
            doc = fastjson.loads(f.read())
    except FileNotFoundError:
        return {}
    except ValueError as e:
        raise InvalidArgument(f"{path}: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{path}: not a JSON object")
    _read[path] = (key, doc)
    return doc
