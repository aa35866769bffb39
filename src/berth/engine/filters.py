"""Docker's container filters (ps, prune, the API's list): values of one key are alternatives
(labels: every one must hold), different keys must all match."""

from __future__ import annotations

from berth.errors import InvalidArgument

CONTAINER_FILTERS = ("name", "id", "status", "label", "ancestor", "pod")  # pod: IDs (Engine.list resolves names)


def check_container_filters(filters: dict[str, list[str]]) -> None:
    for key in filters:
        if key not in CONTAINER_FILTERS:
            raise InvalidArgument(f"invalid filter '{key}'")


def container_matches(c, filters: dict[str, list[str]]) -> bool:
    for key, values in filters.items():
        if key == "name" and not any(v in c.name for v in values):
            return False
        if key == "id" and not any(c.id.startswith(v) for v in values):
            return False
        if key == "status" and state(c) not in values:
            return False
        if key == "label" and not all(has_label(c.config.get("labels") or {}, v) for v in values):
            return False
        if key == "ancestor" and not any(v in (c.image_name, c.image, c.image[7:19]) for v in values):
            return False
        if key == "pod" and c.config.get("pod", "") not in values:
            return False
    return True


def has_label(labels: dict[str, str], want: str) -> bool:
    """KEY or KEY=VALUE, as Docker's label filters take it."""
    key, sep, value = want.partition("=")
    return key in labels and (not sep or labels[key] == value)


def state(c, status: str = "") -> str:
    """Docker's State word: created, running, paused, restarting or exited (`status` if read already)."""
    status = status or c.status
    if status == "running":
        return "paused" if c.paused else "restarting" if c.restarting else status
    return status
