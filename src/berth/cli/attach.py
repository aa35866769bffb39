"""`berth attach`, and the attached side of `berth run` and `berth start -a`: the
terminal (or stdio) joined to a container through its monitor's attach socket."""

from __future__ import annotations

import os
import sys

from berth.argv import BOOL, STR, Option, parse
from berth.engine.attach import DEFAULT_DETACH_KEYS, Detached, Terminated, detach_keys, pump
from berth.engine.autoremove import remove_exited
from berth.errors import InvalidArgument

OPTIONS = [
    Option("detach-keys", STR, "", help="override the key sequence for detaching a container"),
    Option("no-stdin", BOOL, help="do not attach STDIN"),
    Option("sig-proxy", BOOL, True, help="proxy all received signals to the process"),
]


def is_terminal_ok(tty: bool, stdin: bool) -> bool:
    """-it needs a terminal to read from; False after saying so in docker's words (its exit code: 1)."""
    if tty and stdin and not os.isatty(0):
        sys.stderr.write("the input device is not a TTY\n")
        return False
    return True


def attach(engine, argv: list[str]) -> int:
    opts, names = parse(argv, OPTIONS, interspersed=True)
    if len(names) != 1:
        raise InvalidArgument('"berth attach" requires exactly 1 argument.')
    keys = detach_keys(opts["detach_keys"] or DEFAULT_DETACH_KEYS)
    c, att = engine.attach(names[0], stdin=not opts["no_stdin"])
    stdin = not opts["no_stdin"] and bool(c.config.get("interactive"))
    tty = bool(c.config.get("tty"))
    if not is_terminal_ok(tty, stdin):
        att.close()
        return 1
    try:
        code = pump(att, tty=tty, stdin=stdin, keys=keys, sig_proxy=opts["sig_proxy"], own_process=True)
    except Detached:
        sys.stderr.write("read escape sequence\n")  # docker's words, and its exit code
        return 1
    except Terminated as e:
        die_of(e.signum)
    finally:
        att.close()
    if code is None:
        code = engine.wait(c.id)
    if c.config.get("autoRemove"):
        remove_exited(engine, c.id)  # the monitor leaves that to a client that saw the exit
    return code


def run_attached(engine, ref: str, keys_spec: str = "", sig_proxy: bool = True, stdin: bool | None = None) -> int:
    """Start `ref` with this terminal attached; its exit code, or 0 once detached (it runs on).
    `stdin`: attach ours (docker start's -i); None: as the container was created (-i)."""
    c = engine.get(ref)
    interactive = bool(c.config.get("interactive")) if stdin is None else stdin and bool(c.config.get("interactive"))
    tty = bool(c.config.get("tty"))
    if not is_terminal_ok(tty, interactive):
        return 1
    keys = detach_keys(keys_spec or DEFAULT_DETACH_KEYS)
    c, att, monitor = engine.start_attached(ref)
    try:
        code = pump(
            att, tty=tty, stdin=interactive, keys=keys if interactive else None, sig_proxy=sig_proxy, own_process=True
        )
    except Detached:
        return 0  # docker run's: a quiet 0; the monitor, in a session of its own, runs on
    except Terminated as e:
        die_of(e.signum)
    finally:
        att.close()
    return engine.end_attached(c, monitor, code)


def die_of(signum: int) -> None:
    """End as the signal would have ended us (the terminal already restored)."""
    import _signal

    sys.stdout.flush()
    _signal.signal(signum, _signal.SIG_DFL)
    os.kill(os.getpid(), signum)
