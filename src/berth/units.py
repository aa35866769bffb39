"""Sizes as people type them: 64m, 1g, 512k, 100 (bytes)."""

from berth.errors import InvalidArgument

_SUFFIX = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """'64m' -> 67108864; '-1' -> -1 (unlimited)."""
    t = text.strip().lower()
    if t == "-1":
        return -1
    if t.endswith("ib") or (t.endswith("b") and len(t) > 1 and t[-2] in _SUFFIX):
        t = t[:-2] if t.endswith("ib") else t[:-1]
    mult = 1
    if t and t[-1] in _SUFFIX:
        mult = _SUFFIX[t[-1]]
        t = t[:-1]
    try:
        value = float(t)
    except ValueError:
        raise InvalidArgument(f"invalid size: {text!r}") from None
    if value < 0:
        raise InvalidArgument(f"invalid size: {text!r}")
    return int(value * mult)
