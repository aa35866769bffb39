import pytest

from berth.errors import InvalidArgument
from berth.linux import signals
from berth.tables import render
from berth.units import parse_size


@pytest.mark.parametrize(
    "text, num", [("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("9", 9), ("TERM", 15), ("RTMIN+1", 35)]
)
def test_signal_names(text, num):
    assert signals.parse(text) == num


@pytest.mark.parametrize("text", ["NOPE", "0", "999", "SIG", "RTMIN+99"])
def test_bad_signal(text):
    with pytest.raises(ValueError):
        signals.parse(text)


@pytest.mark.parametrize(
    "text, n", [("64m", 64 << 20), ("1g", 1 << 30), ("512k", 512 << 10), ("100", 100), ("-1", -1), ("2MiB", 2 << 20)]
)
def test_sizes(text, n):
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["x", "1q", "-5"])
def test_bad_sizes(text):
    with pytest.raises(InvalidArgument):
        parse_size(text)


def test_table_like_tabwriter():
    out = render([["ID", "PID"], ["a", "1"]], min_width=12, padding=3)
    assert out == "ID          PID\na           1\n"
