"""Sizes and durations as Docker prints them (go-units HumanSize, HumanDuration)."""

from __future__ import annotations

import time

from berth.clock import parse_rfc3339 as parse_time

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def size(n: float, precision: int = 3) -> str:
    """13300000 -> '13.3MB': decimal units, `precision` significant digits."""
    i = 0
    while n >= 1000 and i < len(_UNITS) - 1:
        n /= 1000
        i += 1
    return f"{n:.{precision}g}{_UNITS[i]}"


def duration(seconds: float) -> str:
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def since(rfc3339: str) -> str:
    t = parse_time(rfc3339)
    return duration(time.time() - t) + " ago" if t else "N/A"


def confirm(warning: str) -> bool:
    """Docker's prune prompt: the warning, then "Are you sure you want to continue? [y/N]"."""
    import sys

    sys.stdout.write(f"WARNING! {warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
