"""Small JSON records a front end keeps beside the engine's objects: what the CRI knows of a
sandbox or a container and the engine does not (the kubelet's metadata, labels, annotations, log
path). One file each, `<root>/cri/{sandboxes,containers}/<id>.json`, written before the RPC
answers and removed with the object."""

from __future__ import annotations

import os

from berth import fastjson
from berth.fs import atomic_write, unlink_if_present


class Records:
    def __init__(self, root: str, kind: str) -> None:
        self.dir = os.path.join(root, "cri", kind)
        os.makedirs(self.dir, exist_ok=True)

    def put(self, obj_id: str, record: dict) -> None:
        atomic_write(os.path.join(self.dir, obj_id + ".json"), fastjson.dumps(record).encode())

    def get(self, obj_id: str) -> dict:
        """The record, or {} for an object the CRI did not make (a container of `berth run`)."""
        try:
            with open(os.path.join(self.dir, obj_id + ".json"), "rb") as f:
                return fastjson.loads(f.read())
        except FileNotFoundError:
            return {}

    def drop(self, obj_id: str) -> None:
        unlink_if_present(os.path.join(self.dir, obj_id + ".json"))
