"""`--rm`'s exit command: the monitor runs this once the container has exited for good
(`python -c ... autoremove ROOT ID`), and it removes the container with its anonymous volumes."""

from __future__ import annotations

import sys


def remove_exited(engine, ref: str) -> None:
    """--rm, by a client that saw the container exit (the monitor leaves it to such a client);
    detached from, it runs on (its monitor removes it later), and another client may have been
    first."""
    from berth.errors import NotFound

    try:
        if engine.get(ref).status != "running":
            engine.remove(ref, force=True, volumes=True)  # its anonymous volumes too, as docker's
    except NotFound:
        pass


def main(argv: list[str] | None = None) -> int:
    root, cid = sys.argv[1:3] if argv is None else argv
    from berth.engine.engine import Engine
    from berth.errors import BerthError, NotFound

    engine = Engine(root)
    try:
        engine.remove(cid, force=True, volumes=True)
    except NotFound:
        pass  # removed already (docker rm -f raced it)
    except BerthError as e:
        sys.stderr.write(f"Error: {e}\n")
        return 1
    finally:
        engine.close()
    return 0
