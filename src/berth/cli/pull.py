"""`berth pull [-a] [-q] [--platform P] [--tls-verify=false] NAME[:TAG|@DIGEST]`."""

from __future__ import annotations

import sys
import time

from berth.argv import BOOL, STR, Option, parse
from berth.cli import human
from berth.errors import InvalidArgument
from berth.image.pull import Progress

OPTIONS = [
    Option("all-tags,a", BOOL, help="download all tagged images in the repository"),
    Option("quiet,q", BOOL, help="suppress verbose output"),
    Option("platform", STR, "", help="set platform if server is multi-platform capable (os/arch[/variant])"),
    Option("tls-verify", BOOL, True, help="require HTTPS and verify certificates (false: allow an insecure registry)"),
]


class Lines(Progress):
    """Docker's pull/push display: on a terminal one line per layer, redrawn with a
    bar; otherwise a plain line per change of status; nothing with -q."""

    def __init__(self, out, quiet: bool) -> None:
        self.out, self.quiet, self.tty = out, quiet, out.isatty() and not quiet
        self.order: list[str] = []
        self.state: dict[str, str] = {}
        self.drawn = 0
        self.last_draw = 0.0
        import threading

        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        if self.quiet:
            return
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()
            self.drawn = 0

    def layer(self, digest: str, status: str, current: int = 0, total: int = 0) -> None:
        if self.quiet:
            return
        short = digest.removeprefix("sha256:")[:12]
        with self.lock:
            if short not in self.state:
                self.order.append(short)
            text = status
            if total and status in ("Downloading", "Pushing"):
                width = 50
                filled = width * current // total
                bar = "=" * max(filled - 1, 0) + (">" if filled < width else "=")
                text = f"{status} [{bar:<{width}}] {human.size(current)}/{human.size(total)}"
            changed = self.state.get(short, "").split(" [")[0] != status
            self.state[short] = text
            if self.tty:
                now = time.monotonic()
                if changed or now - self.last_draw > 0.1:
                    self._redraw()
                    self.last_draw = now
            elif changed:
                self.out.write(f"{short}: {status}\n")
                self.out.flush()

    def _redraw(self) -> None:
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}A")
        for short in self.order:
            self.out.write(f"\x1b[2K{short}: {self.state[short]}\n")
        self.drawn = len(self.order)
        self.out.flush()


def main(store, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"pull" requires exactly 1 argument: NAME[:TAG|@DIGEST]')
    from berth.image.pull import pull
    from berth.oci import reference

    progress = Lines(sys.stdout, opts["quiet"])
    names = [args[0]]
    if opts["all_tags"]:
        ref = reference.parse(args[0])
        if ref.digest or ":" in args[0].rpartition("/")[2]:
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        names = [f"{ref.domain}/{ref.path}:{tag}" for tag in _tags(ref, opts["tls_verify"])]
    for name in names:
        pull(store, name, opts["platform"], progress, tls_verify=opts["tls_verify"])
        ref = reference.parse(name)
        familiar = ref.familiar_name() + (f"@{ref.digest}" if ref.digest else f":{ref.tag}")
        progress.line(f"Status: Downloaded newer image for {familiar}")
        if opts["quiet"]:
            sys.stdout.write(str(ref) + "\n")
    return 0


def _tags(ref, tls_verify: bool) -> list[str]:
    from berth import fastjson
    from berth.registry.client import Client
    from berth.registry.config import api_host

    client = Client(api_host(ref.domain), tls_verify=tls_verify)
    response = client.request("GET", f"/v2/{ref.path}/tags/list", f"repository:{ref.path}:pull")
    client.check(response, f"{client.host}/{ref.path}: tags")
    return sorted(fastjson.loads(response.data).get("tags") or [])
