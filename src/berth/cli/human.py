"""Sizes and durations as Docker prints them (go-units HumanSize, HumanDuration)."""

from __future__ import annotations

import time

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


def parse_time(rfc3339: str) -> float:
    """'2026-11-29T02:43:43.789283990Z' -> epoch seconds (0 if empty)."""
    if not rfc3339:
        return 0.0
    base, _, frac = rfc3339.rstrip("Z").partition(".")
    try:
        y, mo, d = int(base[0:4]), int(base[5:7]), int(base[8:10])
        h, mi, s = int(base[11:13]), int(base[14:16]), int(base[17:19])
    except ValueError:
        return 0.0
    # days from the civil date (H. Hinnant's algorithm): strptime and calendar import ~6 ms (locale, re)
    y -= mo <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (mo + (-3 if mo > 2 else 9)) + 2) // 5 + d - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + h * 3600 + mi * 60 + s + (float("0." + frac) if frac.isdigit() else 0.0)


def since(rfc3339: str) -> str:
    t = parse_time(rfc3339)
    return duration(time.time() - t) + " ago" if t else "N/A"


def confirm(warning: str) -> bool:
    """Docker's prune prompt: the warning, then "Are you sure you want to continue? [y/N]"."""
    import sys

    sys.stdout.write(f"WARNING! {warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
