"""Sizes and durations as Docker prints them (go-units HumanSize, HumanDuration)."""

from __future__ import annotations

import time

from berth.clock import parse_rfc3339 as parse_time
from berth.units import human_duration as duration

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def size(n: float, precision: int = 3) -> str:
    """13300000 -> '13.3MB': decimal units, `precision` significant digits."""
    i = 0
    while n >= 1000 and i < len(_UNITS) - 1:
        n /= 1000
        i += 1
    return f"{n:.{precision}g}{_UNITS[i]}"


def since(rfc3339: str) -> str:
    t = parse_time(rfc3339)
    return duration(time.time() - t) + " ago" if t else "N/A"


def confirm(warning: str) -> bool:
    """Docker's prune prompt: the warning, then "Are you sure you want to continue? [y/N]"."""
    import sys

    sys.stdout.write(f"WARNING! {warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
