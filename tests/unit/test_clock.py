"""berth.clock: RFC 3339 in UTC to the nanosecond, as Docker and the OCI specs write times."""

import re

from berth.clock import rfc3339, rfc3339_ns


def test_seconds_since_the_epoch():
    assert rfc3339(0) == "1970-01-01T00:00:00.000000000Z"
    assert rfc3339(1_796_589_700.5) == "2026-12-06T20:41:40.500000000Z"


def test_now_by_default():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", rfc3339())


def test_nanoseconds_exactly():
    assert rfc3339_ns(1_796_589_700_123_456_789) == "2026-12-06T20:41:40.123456789Z"
