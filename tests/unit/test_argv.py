import pytest

from berth.argv import BOOL, INT, LIST, STR, Option, parse
from berth.errors import InvalidArgument

OPTS = [Option("bundle,b", STR, "."), Option("detach,d", BOOL), Option("preserve-fds", INT, 0), Option("env,e", LIST)]


def test_go_flag_forms():
    values, rest = parse(["-b", "x", "--detach", "--preserve-fds=2", "-e", "A=1", "--env", "B=2", "id"], OPTS)
    assert values == {"bundle": "x", "detach": True, "preserve_fds": 2, "env": ["A=1", "B=2"]}
    assert rest == ["id"]


def test_parsing_stops_at_first_positional():
    values, rest = parse(["id", "sh", "-c", "echo"], OPTS)
    assert rest == ["id", "sh", "-c", "echo"] and values["bundle"] == "."


def test_interspersed_for_docker_style():
    values, rest = parse(["id", "-d", "x"], OPTS, interspersed=True)
    assert values["detach"] and rest == ["id", "x"]


def test_bool_with_value_and_double_dash():
    values, rest = parse(["--detach=false", "--", "-d"], OPTS)
    assert values["detach"] is False and rest == ["-d"]


@pytest.mark.parametrize("argv", [["--nope"], ["--bundle"], ["--preserve-fds", "x"]])
def test_bad_flags(argv):
    with pytest.raises(InvalidArgument):
        parse(argv, OPTS)


def test_combined_short_flags():
    opts = [Option("all,a", BOOL), Option("quiet,q", BOOL), Option("name,n", STR, "")]
    values, rest = parse(["-aq", "-an", "x", "y"], opts)
    assert values == {"all": True, "quiet": True, "name": "x"} and rest == ["y"]
    with pytest.raises(InvalidArgument):
        parse(["-nq"], opts)
