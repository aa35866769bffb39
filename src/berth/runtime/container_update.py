"""`update`: change a running container's resources and remember them."""

from __future__ import annotations

import os
import sys

from berth import fastjson
from berth.errors import FailedPrecondition, InvalidArgument
from berth.fs import atomic_write
from berth.oci.record import SpecError, from_json, to_json
from berth.oci.runtime_spec import CPU, BlockIO, Memory, Pids, Resources
from berth.runtime.container import Container
from berth.units import parse_size


def resources_from_options(o: dict) -> Resources:
    if o.get("resources"):
        path = o["resources"]
        try:
            raw = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()
            return from_json(Resources, fastjson.loads(raw))
        except OSError as e:
            raise InvalidArgument(f"resources file {path}: {e.strerror}") from None
        except (ValueError, SpecError) as e:
            raise InvalidArgument(f"resources file {path}: {e}") from None
    mem = Memory(
        limit=parse_size(o["memory"]) if o.get("memory") else None,
        reservation=parse_size(o["memory_reservation"]) if o.get("memory_reservation") else None,
        swap=parse_size(o["memory_swap"]) if o.get("memory_swap") else None,
    )
    cpu = CPU(shares=o.get("cpu_share"), quota=o.get("cpu_quota"), period=o.get("cpu_period"),
              realtime_period=o.get("cpu_rt_period"), realtime_runtime=o.get("cpu_rt_runtime"),
              cpus=o.get("cpuset_cpus") or "", mems=o.get("cpuset_mems") or "")  # fmt: skip
    pids = Pids(limit=o["pids_limit"]) if o.get("pids_limit") is not None else None
    bio = BlockIO(weight=o["blkio_weight"]) if o.get("blkio_weight") is not None else None
    return Resources(
        memory=mem if mem != Memory() else None, cpu=cpu if cpu != CPU() else None, pids=pids, block_io=bio
    )


def _merge(old, new):
    """Fields set in `new` replace those in `old`; records merge field by field."""
    if old is None or new is None:
        return new if new is not None else old
    if not hasattr(new, "_fields"):
        return new
    changes = {}
    for f in new._fields:
        value = getattr(new, f)
        if value is not None and value != () and value != {} and value != "":
            changes[f] = _merge(getattr(old, f), value)
    return old.replace(**changes)


def _checked(o: dict) -> Resources:
    new = resources_from_options(o)
    if new.block_io and new.block_io.weight is not None and not 10 <= new.block_io.weight <= 1000:
        raise InvalidArgument("--blkio-weight must be between 10 and 1000")
    return new


def merge_into_config(doc: dict, args: list[str]) -> dict:
    """What `update ARGS` would set, merged into a config.json document: for a container that is
    not running (an engine's bundle), whose limits apply at its next start."""
    from berth.argv import parse
    from berth.runtime.cli import _UPDATE

    o, _ = parse(args, _UPDATE)
    linux = doc.setdefault("linux", {})
    try:
        old = from_json(Resources, linux.get("resources") or {})
    except SpecError as e:
        raise InvalidArgument(f"the bundle's resources: {e}") from None
    linux["resources"] = to_json(_merge(old, _checked(o)))
    return doc


def update(root: str, container_id: str, o: dict) -> None:
    c = Container(root, container_id)
    if c.status() == "stopped":
        raise FailedPrecondition(f"container {container_id} is not running")
    new = _checked(o)
    spec = c.spec
    linux = spec.linux
    merged = _merge(linux.resources or Resources(), new)
    c.cgroup.apply(merged, devices=False)  # the device rules stay as create wrote them
    spec = spec.replace(linux=linux.replace(resources=merged))
    atomic_write(os.path.join(c.dir, "config.json"), fastjson.dumps(to_json(spec)).encode(), 0o600)
