"""SPDY/3.1's pieces that must match every peer byte for byte: the header dictionary and the
compressed header blocks, one compression context per direction across blocks."""

from __future__ import annotations

import socket
import struct
import zlib

import pytest

from berth.cri import spdy


def test_the_dictionary_is_spdy3s():
    assert len(spdy.DICTIONARY) == 1423  # the draft's size
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")


def test_header_blocks_round_trip_across_one_context():
    out, back = zlib.compressobj(zdict=spdy.DICTIONARY), zlib.decompressobj(zdict=spdy.DICTIONARY)
    first = spdy.encode_headers(out, {"streamType": "stdout"})
    second = spdy.encode_headers(out, {"streamType": "error", "port": "8080"})
    assert spdy.decode_headers(back, first) == {"streamtype": "stdout"}
    assert spdy.decode_headers(back, second) == {"streamtype": "error", "port": "8080"}
    with pytest.raises(spdy.ProtocolError):
        spdy.decode_headers(zlib.decompressobj(zdict=spdy.DICTIONARY), second)  # out of its context


def test_a_session_answers_pings_acknowledges_data_and_refuses_other_versions():
    a, b = socket.socketpair()
    with a, b:
        session = spdy.Session(b)
        a.sendall(struct.pack(">HHII", 0x8003, spdy.PING, 4, 41) + struct.pack(">II", 1, 3) + b"abc")
        events = session.events()
        assert next(events) == ("data", 1, b"abc", False)
        replies = a.recv(4096)
        assert replies[:12] == struct.pack(">HHII", 0x8003, spdy.PING, 4, 41)  # the same ID back
        assert struct.pack(">HHIII", 0x8003, spdy.WINDOW_UPDATE, 8, 1, 3) in replies
        a.sendall(struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\0\0\0\1")
        with pytest.raises(spdy.ProtocolError, match="only 3"):
            next(events)
