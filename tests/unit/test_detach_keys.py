"""docker's --detach-keys syntax, and how typed input is scanned for them."""

import pytest

from berth.engine.attach import _scan, detach_keys
from berth.errors import InvalidArgument


def test_syntax_as_docker():
    assert detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert detach_keys("ctrl-@,a,ctrl-_,DEL") == b"\x00a\x1f\x7f"
    for bad in ("shift-a", "ctrl-1", "ab", ""):
        with pytest.raises(InvalidArgument, match=r"invalid detach keys \("):
            detach_keys(bad)


def test_scan():
    keys = b"\x10\x11"
    assert _scan(b"ls\r", keys) == (b"ls\r", b"", False)
    assert _scan(b"exit\r\x10\x11", keys) == (b"exit\r", b"", True)  # what came first still goes
    assert _scan(b"ab\x10", keys) == (b"ab", b"\x10", False)  # held until the next key says
    assert _scan(b"\x10x", keys) == (b"\x10x", b"", False)  # a lone first key passes on
    assert _scan(b"\x10\x10\x11", keys) == (b"\x10", b"", True)
