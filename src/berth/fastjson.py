"""JSON through the C accelerator alone.

`import json` costs ~6 ms because its decoder and encoder import `re`; the
runtime's start-up path cannot pay that against runc's 30 ms. The C scanner
and encoder in `_json` do all the work the stdlib module does for plain data.
"""

import _json


class _DecoderContext:
    # the attributes _json.make_scanner reads from a json.JSONDecoder
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict = {}


_scan = _json.make_scanner(_DecoderContext())
_encode = _json.make_encoder(None, None, _json.encode_basestring_ascii, None, ":", ",", False, False, False)
_WS = " \t\n\r"


def loads(text: str | bytes) -> object:
    """Parse a JSON document; raise ValueError naming the position on bad input."""
    if isinstance(text, bytes):
        text = text.decode()
    i = 0
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    try:
        value, end = _scan(text, i)
    except StopIteration as e:
        raise ValueError(f"invalid JSON at offset {e.value}") from None
    except (SystemError, ValueError) as e:  # the scanner's own error needs json.decoder, never imported here
        raise ValueError(f"invalid JSON near offset {i}: {e.__class__.__name__}") from None
    while end < n and text[end] in _WS:
        end += 1
    if end != n:
        raise ValueError(f"invalid JSON: extra data at offset {end}")
    return value


def dumps(value: object) -> str:
    """Compact JSON, non-ASCII escaped."""
    return "".join(_encode(value, 0))
