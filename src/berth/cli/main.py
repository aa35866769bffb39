"""`berth`: the engine's command line. Verbs land here as the engine grows;
`berth runtime ...` is the low-level runtime, the same as `berth-runtime ...`.
"""

from __future__ import annotations

import sys

from berth import __version__


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "runtime":
        from berth.runtime.cli import main as runtime_main

        return runtime_main(argv[1:])
    if argv and argv[0] in ("version", "--version", "-v"):
        sys.stdout.write(f"berth version {__version__}\n")
        return 0
    sys.stdout.write(
        "Usage: berth COMMAND\n\nCommands:\n  runtime   the OCI runtime (runc's command line)\n  version   show the version\n"
    )
    if argv and argv[0] not in ("help", "--help", "-h"):
        sys.stderr.write(f"berth: '{argv[0]}' is not a berth command.\nSee 'berth --help'\n")
        return 1
    return 0
