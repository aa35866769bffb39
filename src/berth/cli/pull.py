"""`berth pull [-a] [-q] [--platform P] [--tls-verify=false] NAME[:TAG|@DIGEST]`."""

from __future__ import annotations

import sys
import time

from berth.argv import BOOL, STR, Option, parse
from berth.errors import InvalidArgument
from berth.units import progress_bar

OPTIONS = [
    Option("all-tags,a", BOOL, help="download all tagged images in the repository"),
    Option("quiet,q", BOOL, help="suppress verbose output"),
    Option("platform", STR, "", help="set platform if server is multi-platform capable (os/arch[/variant])"),
    Option("tls-verify", BOOL, True, help="require HTTPS and verify certificates (false: allow an insecure registry)"),
]


class Lines:
    """A pull's or a push's progress (the calls of berth.engine.images.Progress) as Docker draws
    it: on a terminal one line per layer, redrawn with a bar; otherwise a plain line per change
    of status; nothing with -q."""

    def __init__(self, out, quiet: bool) -> None:
        self.out, self.quiet, self.tty = out, quiet, out.isatty() and not quiet
        self.order: list[str] = []
        self.state: dict[str, str] = {}
        self.drawn = 0
        self.last_draw = 0.0
        from _thread import allocate_lock  # threading costs ~1 ms to import, on `run`'s path

        self.lock = allocate_lock()

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
                text = f"{status} {progress_bar(current, total)}"
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


def main(engine, argv: list[str]) -> int:
    opts, args = parse(argv, OPTIONS, interspersed=True)
    if len(args) != 1:
        raise InvalidArgument('"pull" requires exactly 1 argument: NAME[:TAG|@DIGEST]')
    from berth.engine.images import canonical, familiar

    progress = Lines(sys.stdout, opts["quiet"])
    names = engine.images.repository_tags(args[0], opts["tls_verify"]) if opts["all_tags"] else [args[0]]
    for name in names:
        engine.images.pull(name, opts["platform"], progress, tls_verify=opts["tls_verify"])
        progress.line(f"Status: Downloaded newer image for {familiar(name)}")
        if opts["quiet"]:
            sys.stdout.write(canonical(name) + "\n")
    return 0
