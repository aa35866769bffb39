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
