"""Sizes and durations as Docker prints them (go-units HumanSize, HumanDuration)."""

from __future__ import annotations

import time

from berth.clock import parse_rfc3339 as parse_time
from berth.units import human_duration as duration
from berth.units import human_size

size = human_size  # the CLI's name for it


def since(rfc3339: str) -> str:
    t = parse_time(rfc3339)
    return duration(time.time() - t) + " ago" if t else "N/A"


def confirm(warning: str) -> bool:
    """Docker's prune prompt: the warning, then "Are you sure you want to continue? [y/N]"."""
    import sys

    sys.stdout.write(f"WARNING! {warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")
