"""Content digests: `algorithm:hex`, sha256 and sha512."""

from __future__ import annotations

try:
    # the interpreter's builtin sha256: hashlib loads OpenSSL (~3 ms), too dear on a start path for
    # chain IDs and cache keys (short inputs; whole layers go through hashlib)
    from _sha256 import sha256
except ImportError:  # Python 3.12 merged it into _sha2
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

_HEX = frozenset("0123456789abcdef")
_LENGTHS = {"sha256": 64, "sha512": 128}


class DigestError(ValueError):
    pass


def parse(text: str) -> tuple[str, str]:
    """'sha256:ab..' -> ('sha256', 'ab..'); DigestError for anything malformed."""
    algorithm, sep, hexpart = text.partition(":")
    if not sep or algorithm not in _LENGTHS:
        raise DigestError(f"invalid digest {text!r}: expected sha256:<hex> or sha512:<hex>")
    if len(hexpart) != _LENGTHS[algorithm] or not set(hexpart) <= _HEX:
        raise DigestError(f"invalid digest {text!r}: {algorithm} takes {_LENGTHS[algorithm]} lowercase hex digits")
    return algorithm, hexpart


def validate(text: str) -> str:
    parse(text)
    return text


def chain_ids(diff_ids: tuple[str, ...] | list[str]) -> list[str]:
    """The image-spec's chain IDs: each layer's diff ID hashed with the chain below it."""
    out: list[str] = []
    for diff in diff_ids:
        out.append(diff if not out else "sha256:" + sha256(f"{out[-1]} {diff}".encode()).hexdigest())
    return out


def short_id(digest: str) -> str:
    """The 12 hex digits Docker shows for an image or layer."""
    return parse(digest)[1][:12]
