"""Sizes and durations as people type them: 64m, 1g, 512k, 100 (bytes); 30s, 1m30s, 100ms."""

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


_DURATION = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds: '1m30s' -> 90.0."""
    t, total, seen = text.strip(), 0.0, False
    while t:
        i = 0
        while i < len(t) and (t[i].isdigit() or t[i] == "."):
            i += 1
        j = i
        while j < len(t) and not (t[j].isdigit() or t[j] == "."):
            j += 1
        number, unit = t[:i], t[i:j]
        if not number or unit not in _DURATION:
            raise InvalidArgument(f"invalid duration: {text!r}")
        total += float(number) * _DURATION[unit]
        seen, t = True, t[j:]
    if not seen:
        raise InvalidArgument(f"invalid duration: {text!r}")
    return total


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration, as Docker words ages and uptimes ("About a minute")."""
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


_SIZES = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


def human_size(n: float, precision: int = 3) -> str:
    """go-units' HumanSize: 13300000 -> '13.3MB', decimal units, `precision` significant digits."""
    i = 0
    while n >= 1000 and i < len(_SIZES) - 1:
        n /= 1000
        i += 1
    return f"{n:.{precision}g}{_SIZES[i]}"


def progress_bar(current: int, total: int, width: int = 50) -> str:
    """Docker's transfer bar: '[=====>      ] 1.2MB/3.4MB'."""
    filled = width * current // total if total else 0
    bar = "=" * max(filled - 1, 0) + (">" if filled < width else "=")
    return f"[{bar:<{width}}] {human_size(current)}/{human_size(total)}"
