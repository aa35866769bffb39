"""A running container's effective isolation: read from the kernel where it can be (the
process's /proc entries: namespaces, capabilities, seccomp mode, no_new_privs, user mapping) and
from the container's OCI spec for what the kernel does not report back (which profile, masked
and read-only paths, cgroup limits)."""

from __future__ import annotations

import os

from berth import fastjson
from berth.engine.container import SPEC
from berth.errors import BerthError, FailedPrecondition

NAMESPACES = ("pid", "mnt", "net", "uts", "ipc", "user", "cgroup")


def _ns(pid: int | str) -> dict[str, str]:
    out = {}
    for ns in NAMESPACES:
        try:
            out[ns] = os.readlink(f"/proc/{pid}/ns/{ns}").partition("[")[2].rstrip("]")
        except OSError:
            out[ns] = ""
    return out


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}


def report(engine, ref: str) -> dict:
    from berth.linux.caps import names_of

    c = engine.get(ref)
    if c.status != "running" or not c.pid:
        raise FailedPrecondition(f"container {c.name} is not running: its isolation is the kernel's to report")
    pid = c.pid
    with open(os.path.join(c.dir, SPEC), "rb") as f:
        spec = fastjson.loads(f.read())
    ours, host = _ns(pid), _ns("self")  # "host": the namespaces berth itself runs in
    others = {o.name: _ns(o.pid) for o in engine.list() if o.id != c.id and o.status == "running" and o.pid}
    namespaces = {}
    for ns in NAMESPACES:
        shared = ["host"] if ours[ns] and ours[ns] == host[ns] else []
        shared += sorted(name for name, theirs in others.items() if theirs.get(ns) == ours[ns])
        namespaces[ns] = {"inode": ours[ns], "shared_with": shared}
    status = _status(pid)
    with open(f"/proc/{pid}/uid_map") as f:
        uid_map = [line.split() for line in f if line.strip()]
    with open(f"/proc/{pid}/gid_map") as f:
        gid_map = [line.split() for line in f if line.strip()]
    linux = spec.get("linux") or {}
    opts = c.config.get("securityOpt") or c.config.get("security_opt") or []
    profile = "none (unconfined)"
    if linux.get("seccomp"):
        custom = [o for o in opts if o.startswith("seccomp=")]
        profile = f"from {custom[0].partition('=')[2]}" if custom else "berth default"
    resources = linux.get("resources") or {}
    limits = {}
    if (resources.get("memory") or {}).get("limit"):
        limits["memory"] = resources["memory"]["limit"]
    if (resources.get("pids") or {}).get("limit"):
        limits["pids"] = resources["pids"]["limit"]
    cpu = resources.get("cpu") or {}
    if cpu.get("quota"):
        limits["cpus"] = cpu["quota"] / (cpu.get("period") or 100000)
    pod = None
    if c.config.get("pod"):
        try:
            record = engine.pods.get(c.config["pod"])
            pod = {"Name": record["Name"], "Id": record["Id"], "Shares": record["Share"],
                   "Infra": bool(c.config.get("podInfra"))}  # fmt: skip
        except BerthError:
            pass  # its pod is being removed
    return {
        "Container": c.name, "Id": c.id, "Pid": pid, "Pod": pod, "Namespaces": namespaces,
        "UserMapping": [{"container": int(a), "host": int(b), "size": int(n)} for a, b, n in uid_map],
        "GroupMapping": [{"container": int(a), "host": int(b), "size": int(n)} for a, b, n in gid_map],
        "Capabilities": {k: names_of(int(status[key], 16)) for k, key in (("effective", "CapEff"),
                         ("permitted", "CapPrm"), ("inheritable", "CapInh"), ("bounding", "CapBnd"),
                         ("ambient", "CapAmb"))},  # fmt: skip
        "Seccomp": {"mode": {"0": "disabled", "1": "strict", "2": "filter"}.get(status.get("Seccomp", ""), "?"),
                    "profile": profile},  # fmt: skip
        "NoNewPrivileges": status.get("NoNewPrivs") == "1",
        "MaskedPaths": linux.get("maskedPaths") or [], "ReadonlyPaths": linux.get("readonlyPaths") or [],
        "ReadonlyRootfs": bool((spec.get("root") or {}).get("readonly")), "CgroupLimits": limits,
        "Cgroup": linux.get("cgroupsPath", ""),
    }  # fmt: skip
