"""`berth security [--format json] CONTAINER`: a running container's effective isolation at a
glance (berth.engine.security)."""

from __future__ import annotations

import sys

from berth import fastjson
from berth.argv import STR, Option, parse
from berth.engine.security import report
from berth.errors import InvalidArgument


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, [Option("format,f", STR, "", help="json")], interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"security" requires exactly 1 argument: CONTAINER')
    r = report(engine, args[0])
    if opts["format"] == "json":
        sys.stdout.write(fastjson.dumps(r) + "\n")
        return 0
    if opts["format"]:
        raise InvalidArgument(f"unsupported --format {opts['format']!r}: use json")
    from berth.tables import render

    lines = [f"Container:        {r['Container']} ({r['Id'][:12]}), pid {r['Pid']} on the host"]
    if r["Pod"]:
        role = "its infra container, holding" if r["Pod"]["Infra"] else "sharing its"
        lines.append(f"Pod:              {r['Pod']['Name']} ({r['Pod']['Id'][:12]}), {role} "
                     f"{', '.join(r['Pod']['Shares'])} namespaces")  # fmt: skip
    lines.append("Namespaces:")
    rows = [["  TYPE", "INODE", "SHARED WITH"]]
    for ns, info in r["Namespaces"].items():
        rows.append([f"  {ns}", info["inode"], ", ".join(info["shared_with"]) or "-"])
    lines.append(render(rows, min_width=6, padding=3).rstrip("\n"))
    for label, key in (("User mapping:     ", "UserMapping"), ("Group mapping:    ", "GroupMapping")):
        mapping = r[key]
        identity = (
            len(mapping) == 1 and mapping[0]["container"] == mapping[0]["host"] == 0 and mapping[0]["size"] > 1 << 31
        )
        lines.append(label + ("none: container root is host root" if identity else
                     ", ".join(f"{m['container']}->{m['host']} ({m['size']})" for m in mapping)))  # fmt: skip
    caps = r["Capabilities"]
    for key in ("effective", "bounding", "inheritable", "ambient"):
        names = [n.removeprefix("CAP_") for n in caps[key]]
        lines.append(f"Capabilities {key + ':':<13}{' '.join(names) if names else 'none'} ({len(names)})")
    lines.append(f"Seccomp:          {r['Seccomp']['mode']}, profile: {r['Seccomp']['profile']}")
    lines.append(f"No new privs:     {'yes' if r['NoNewPrivileges'] else 'no'}")
    lines.append(f"Root filesystem:  {'read-only' if r['ReadonlyRootfs'] else 'read-write'}")
    lines.append(f"Masked paths:     {' '.join(r['MaskedPaths']) or 'none'}")
    lines.append(f"Read-only paths:  {' '.join(r['ReadonlyPaths']) or 'none'}")
    limits = r["CgroupLimits"]
    lines.append(f"Cgroup:           {r['Cgroup']}; limits: " +
                 (", ".join(f"{k} {v}" for k, v in limits.items()) if limits else "none"))  # fmt: skip
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
