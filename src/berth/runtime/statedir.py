"""The runtime's state: one directory per container under --root.

<root>/<id>/state.json   what `create` recorded (ContainerState)
<root>/<id>/config.json  the bundle's config as it was at create
<root>/<id>/exec.fifo    exists from create until start
"""

from __future__ import annotations

import os

from berth import OCI_VERSION, fastjson
from berth.errors import AlreadyExists, InvalidArgument, NotFound
from berth.fs import atomic_write
from berth.oci.record import from_json, record, to_json

DEFAULT_ROOT = "/run/berth-runtime"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


@record
class ContainerState:
    id: str
    bundle: str
    rootfs: str
    pid: int = 0
    pid_start: int = 0
    created: str = ""
    owner: str = ""
    annotations: dict[str, str] = {}
    cgroup_path: str = ""
    cgroup_dirs: tuple[str, ...] = ()


def check_id(container_id: str) -> None:
    if not container_id or container_id in (".", "..") or not set(container_id) <= _ID_CHARS:
        raise InvalidArgument(f"invalid container id {container_id!r}: use letters, digits and _+-.")


def container_dir(root: str, container_id: str) -> str:
    check_id(container_id)
    return os.path.join(root, container_id)


def make_dir(root: str, container_id: str) -> str:
    """Claim the id: the mkdir is the lock against a concurrent create."""
    os.makedirs(root, mode=0o711, exist_ok=True)
    path = container_dir(root, container_id)
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        raise AlreadyExists(f"container with id exists: {container_id}") from None
    return path


def save(root: str, state: ContainerState) -> None:
    atomic_write(os.path.join(root, state.id, "state.json"), fastjson.dumps(to_json(state)).encode(), 0o600)


def load(root: str, container_id: str) -> ContainerState:
    path = os.path.join(container_dir(root, container_id), "state.json")
    try:
        with open(path, "rb") as f:
            return from_json(ContainerState, fastjson.loads(f.read()))
    except FileNotFoundError:
        raise NotFound(f"container does not exist: {container_id}") from None


def list_ids(root: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(root) if os.path.exists(os.path.join(root, n, "state.json")))
    except FileNotFoundError:
        return []


def process_start(pid: int) -> int:
    """The start time of a pid in clock ticks, or 0 when it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0
    fields = stat[stat.rindex(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):
        return 0
    return int(fields[19])


def is_alive(state: ContainerState) -> bool:
    return state.pid > 0 and process_start(state.pid) == state.pid_start


def status(root: str, state: ContainerState, frozen) -> str:
    """Derived, never stored, so it cannot go stale: created, running, paused, stopped.

    `frozen()` is asked only of a live, started container: it costs a cgroup lookup.
    """
    if not is_alive(state):
        return "stopped"
    if os.path.exists(os.path.join(root, state.id, "exec.fifo")):
        return "created"
    return "paused" if frozen() else "running"


def oci_state(state: ContainerState, status_: str) -> dict:
    """The state as `runc state` prints it."""
    out = {
        "ociVersion": OCI_VERSION,
        "id": state.id,
        "pid": state.pid if status_ != "stopped" else 0,
        "status": status_,
        "bundle": state.bundle,
        "rootfs": state.rootfs,
        "created": state.created,
        "owner": state.owner,
    }
    if state.annotations:
        out["annotations"] = state.annotations
    return out
