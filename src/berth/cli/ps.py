"""`berth ps`: Docker's columns; -a, -q, -l, -n, --no-trunc, --format json."""

from __future__ import annotations

import sys
import time

from berth import fastjson
from berth.argv import BOOL, INT, STR, Option, parse
from berth.cli import human
from berth.errors import InvalidArgument
from berth.oci import reference
from berth.tables import render

OPTIONS = [Option("all,a", BOOL), Option("quiet,q", BOOL), Option("latest,l", BOOL), Option("last,n", INT, -1),
           Option("no-trunc", BOOL), Option("format", STR, ""), Option("size,s", BOOL)]  # fmt: skip


def status_text(c) -> str:
    status = c.status
    if status == "running":
        started = human.parse_time(c.started_at)
        return "Up " + human.duration(time.time() - started) + (" (Paused)" if c.paused else "")
    if status == "exited":
        exit = c.exit or {}
        finished = human.parse_time(exit.get("finished", ""))
        return (
            f"Exited ({exit.get('code', 255)}) {human.duration(time.time() - finished)} ago"
            if finished
            else "Exited (255)"
        )
    return "Created"


def _command(c, no_trunc: bool) -> str:
    cfg = c.config
    args = list(cfg.get("entrypoint") or []) + list(cfg.get("command") or [])
    if not args:
        try:
            with open(f"{c.dir}/bundle/config.json", "rb") as f:
                args = fastjson.loads(f.read())["process"]["args"]
        except OSError:
            args = []
    text = " ".join(args)
    if not no_trunc and len(text) > 20:
        text = text[:19] + "…"
    return f'"{text}"'


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if args:
        raise InvalidArgument('"ps" accepts no arguments.')
    containers = engine.list()
    if not opts["all"] and not opts["latest"] and opts["last"] < 0:
        containers = [c for c in containers if c.status == "running"]
    if opts["latest"]:
        containers = containers[:1]
    elif opts["last"] >= 0:
        containers = containers[: opts["last"]]
    full = opts["no_trunc"]
    rows = []
    for c in containers:
        image = c.image_name
        try:
            ref = reference.parse(image)
            image = f"{ref.familiar_name()}" + (f":{ref.tag}" if ref.tag != "latest" else "")
        except reference.ReferenceError:
            pass
        rows.append({"ID": c.id if full else c.id[:12], "Image": image, "Command": _command(c, full),
                     "CreatedAt": c.created, "RunningFor": human.since(c.created), "Status": status_text(c),
                     "State": c.status, "Ports": "", "Names": c.name, "Labels": ",".join(f"{k}={v}" for k, v in (c.config.get("labels") or {}).items())})  # fmt: skip
    if opts["quiet"]:
        sys.stdout.write("".join(r["ID"] + "\n" for r in rows))
    elif opts["format"] == "json":
        sys.stdout.write("".join(fastjson.dumps(r) + "\n" for r in rows))
    elif opts["format"] not in ("", "table"):
        raise InvalidArgument(f"unsupported --format {opts['format']!r}: use json or table")
    else:
        table = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]]
        table += [
            [r["ID"], r["Image"], r["Command"], r["RunningFor"], r["Status"], r["Ports"], r["Names"]] for r in rows
        ]
        sys.stdout.write(render(table, min_width=10, padding=3))
    return 0
