"""Times as the OCI specs and Docker write them: RFC 3339 in UTC, to the nanosecond."""

import time


def rfc3339(t: float | None = None) -> str:
    """`t` seconds since the epoch (now if None) as 2006-01-02T15:04:05.000000000Z."""
    if t is None:
        t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def rfc3339_ns(ns: int) -> str:
    """Nanoseconds since the epoch, exactly (a float would round them)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


def parse_rfc3339(rfc3339: str) -> float:
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
