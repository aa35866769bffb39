"""`berth ps`: Docker's columns; -a, -q, -l, -n, --no-trunc, --format json|table|TEMPLATE; Podman's
--pod (the POD ID and PODNAME columns) and --filter pod=NAME|ID."""

from __future__ import annotations

import sys

from berth import fastjson
from berth.argv import BOOL, INT, LIST, STR, Option, parse
from berth.argv import filters as argv_filters
from berth.cli import human
from berth.engine import documents
from berth.engine.images import short_name
from berth.errors import InvalidArgument
from berth.tables import render

OPTIONS = [Option("all,a", BOOL), Option("quiet,q", BOOL), Option("latest,l", BOOL), Option("last,n", INT, -1),
           Option("no-trunc", BOOL), Option("format", STR, ""), Option("size,s", BOOL), Option("filter,f", LIST),
           Option("pod,p", BOOL)]  # fmt: skip


def _size(engine, c) -> str:
    """Docker's SIZE: the writable layer, and with the image's layers the virtual size."""
    own, image = engine.sizes(c)
    return f"{human.size(own)} (virtual {human.size(own + image)})"


def _command(c, no_trunc: bool) -> str:
    text = " ".join(c.args)
    if not no_trunc and len(text) > 20:
        text = text[:19] + "…"
    return f'"{text}"'


def ports_text(c, published: list[dict] | None) -> str:
    """Docker's PORTS: 0.0.0.0:8080->80/tcp for a published port, 80/tcp for one only exposed."""
    out, seen = [], set()
    for b in published or []:
        out.append(f"{b['HostIp']}:{b['HostPort']}->{b['Port']}/{b['Proto']}")
        seen.add(f"{b['Port']}/{b['Proto']}")
    out += [p for p in c.config.get("ExposedPorts") or [] if p not in seen]
    return ", ".join(out)


# the header docker prints for each field in a `table` template
HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
           "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
           "Names": "NAMES", "Labels": "LABELS", "Networks": "NETWORKS", "Pod": "POD ID", "PodName": "PODNAME"}  # fmt: skip


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if args:
        raise InvalidArgument('"ps" accepts no arguments.')
    filters = argv_filters(opts["filter"])
    containers = engine.list(filters)
    if not opts["all"] and not opts["latest"] and opts["last"] < 0 and "status" not in filters:
        containers = [c for c in containers if c.status == "running"]
    if opts["latest"]:
        containers = containers[:1]
    elif opts["last"] >= 0:
        containers = containers[: opts["last"]]
    full = opts["no_trunc"]
    if opts["quiet"]:
        sys.stdout.write("".join((c.id if full else c.id[:12]) + "\n" for c in containers))
        return 0
    rows = []
    published = engine.published_ports(containers)
    with_pods = opts["pod"] or "Pod" in opts["format"]
    pods = {p["Id"]: p for p in engine.pods.list()} if with_pods else {}
    for c in containers:
        status = c.status  # read once: each read is three files and /proc
        image = c.image_name
        image = short_name(image)
        rows.append({"ID": c.id if full else c.id[:12], "Image": image, "Command": _command(c, full),
                     "CreatedAt": c.created, "RunningFor": human.since(c.created), "Status": documents.status_text(c, status),
                     "State": status, "Ports": ports_text(c, published.get(c.id) if status == "running" else None), "Names": c.name, "Labels": ",".join(f"{k}={v}" for k, v in (c.config.get("labels") or {}).items()),
                     "Networks": ",".join([c.config.get("network") or "bridge", *(n["Name"] for n in c.config.get("ExtraNetworks") or [])])})  # fmt: skip
        if opts["size"]:
            rows[-1]["Size"] = _size(engine, c)
        if with_pods:
            pod = pods.get(c.config.get("pod") or "")
            rows[-1]["Pod"] = (pod["Id"] if full else pod["Id"][:12]) if pod else ""
            rows[-1]["PodName"] = pod["Name"] if pod else ""
    if opts["format"] == "json":
        sys.stdout.write("".join(fastjson.dumps(r) + "\n" for r in rows))
    elif opts["format"] not in ("", "table"):
        if "Size" in opts["format"] and not opts["size"]:
            for c, r in zip(containers, rows, strict=True):
                r["Size"] = _size(engine, c)
        from berth.cli.gotemplate import format_rows

        sys.stdout.write(format_rows(opts["format"], rows, HEADERS))
    else:
        table = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
                 + (["SIZE"] if opts["size"] else []) + (["POD ID", "PODNAME"] if opts["pod"] else [])]  # fmt: skip
        table += [
            [r["ID"], r["Image"], r["Command"], r["RunningFor"], r["Status"], r["Ports"], r["Names"]]
            + ([r["Size"]] if opts["size"] else [])
            + ([r["Pod"], r["PodName"]] if opts["pod"] else [])
            for r in rows
        ]
        sys.stdout.write(render(table, min_width=10, padding=3))
    return 0
