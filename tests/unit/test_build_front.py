"""The builder's front end without root: Docker's word expansion, .dockerignore
patterns, and the Dockerfile checks berth adds to BuildKit's parser."""

import pytest

from berth.build.dockerfile import parse
from berth.build.ignore import Matcher
from berth.build.shell import expand, expand_words
from berth.errors import InvalidArgument

ENV = {"A": "1", "EMPTY": "", "SP": "x y"}


@pytest.mark.parametrize(
    "text, want",
    [
        ("$A", "1"),
        ("${A}", "1"),
        ("pre${A}post", "pre1post"),
        ("${NOPE:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${A:+alt}", "alt"),
        ("${NOPE:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("'$A'", "$A"),
        ('"$A and ${SP}"', "1 and x y"),
        (r"\$A", "$A"),
        ('"a\\"b"', 'a"b'),
        ("$", "$"),
        ("${NOPE:-${A}}", "1"),
        ("$NOPE", ""),
    ],
)
def test_expand(text, want):
    assert expand(text, ENV) == want


def test_expand_words_splits_on_unquoted_blanks():
    assert expand_words('a "b c" $A', ENV) == ["a", "b c", "1"]
    assert expand_words("$NOPE x", ENV) == ["x"]


def test_escape_character_from_the_directive():
    assert expand("`$A", ENV, escape="`") == "$A"


@pytest.mark.parametrize("bad", ["'open", '"open', "${A", "${A:x}", "${NOPE:?must be set}", "${}"])
def test_bad_substitutions(bad):
    with pytest.raises(InvalidArgument):
        expand(bad, ENV)


def test_dockerignore_rules():
    m = Matcher(["# comment", "*.log", "/build", "**/tmp", "docs/**/*.md", "!docs/keep.md", "docs/*.md"])
    assert m.excluded("a.log")
    assert not m.excluded("sub/a.log")  # * stays within one component
    assert m.excluded("build") and m.excluded("build/x/y")  # a directory excludes what is under it
    assert m.excluded("tmp") and m.excluded("a/b/tmp/c")
    assert m.excluded("docs/x/y/z.md")
    assert m.excluded("docs/keep.md")  # the last matching pattern decides
    assert not m.excluded("docs/readme.txt")
    m2 = Matcher(["*.md", "!keep.md"])
    assert m2.excluded("a.md") and not m2.excluded("keep.md") and m2.has_exceptions


def test_parse_stages_and_meta_args():
    df = parse("ARG BASE=busybox\nFROM ${BASE} AS one\nRUN true\nFROM one\nCOPY --from=one /a /b\n")
    assert [a.args[0] for a in df.meta_args] == ["BASE=busybox"]
    assert [(s.name, s.base) for s in df.stages] == [("one", "${BASE}"), ("", "one")]
    assert df.stages[1].instructions[0].flag("from") == "one"


@pytest.mark.parametrize(
    "text, message",
    [
        ("FROM a\nBOGUS x\n", "Dockerfile:2: unknown instruction: BOGUS"),
        ("RUN true\n", "Dockerfile:1: no build stage in current context"),
        ("# only a comment\n", "Dockerfile:1: file with no instructions"),
        ("FROM a\nRUN x\nLABEL a\n", "Dockerfile:3: LABEL must have two arguments"),
        ("FROM a\nCOPY <<EOF /x\nabc\n", "Dockerfile:2: unterminated heredoc"),
        ("ARG A=1\n", "has no FROM instruction"),
        ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"),
        ("FROM a\nCOPY x\n", "Dockerfile:2: COPY requires at least two arguments"),
        ("FROM a\nWORKDIR\n", "Dockerfile:2: WORKDIR requires exactly one argument"),
        ("FROM a\nSHELL /bin/sh\n", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
        ("FROM a\nCOPY --nope=1 a b\n", "Dockerfile:2: unknown flag: --nope for COPY"),
        ("FROM a\nHEALTHCHECK true\n", "Dockerfile:2: HEALTHCHECK takes NONE or CMD"),
        ("FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
    ],
)
def test_bad_dockerfiles_name_file_and_line(text, message):
    with pytest.raises(InvalidArgument, match=message):
        parse(text)


def test_rfc3339_parsing_without_strptime():
    import calendar
    import time

    from berth.cli.human import parse_time

    for text in (
        "2026-11-29T02:43:43.789283990Z",
        "2000-02-29T12:00:00Z",
        "2024-12-31T23:59:59Z",
        "1999-03-01T00:00:01Z",
    ):
        base = text.rstrip("Z").partition(".")[0]
        assert int(parse_time(text)) == calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    assert parse_time("") == 0.0 and parse_time("garbage") == 0.0


def test_a_parsed_dockerfile_is_kept_and_read_back_alike(tmp_path, monkeypatch):
    """The parse cache: the second parse of the same text reads the kept result (the Go parser is
    not called) and yields the same instructions, heredocs, flags and ONBUILD triggers."""
    from berth.build import dockerfile

    text = ("ARG V=1\nFROM busybox AS base\nRUN <<EOF\necho hi\nEOF\nCOPY --from=base --chown=1:1 a b\n"
            'ONBUILD RUN echo later\nCMD ["sh"]\n')  # fmt: skip
    first = dockerfile.parse(text, "Dockerfile", str(tmp_path / "parsed"))

    def no_go(text, path):
        raise AssertionError("parsed again")

    monkeypatch.setattr(dockerfile, "_go_parse", no_go)
    again = dockerfile.parse(text, "Dockerfile", str(tmp_path / "parsed"))

    def shape(df):
        def ins(i):
            return (i.cmd, i.args, i.original, i.line, i.json, i.flags, i.heredocs, i.sub and ins(i.sub))

        return [ins(i) for i in df.meta_args], [(s.name, s.base, [ins(i) for i in s.instructions]) for s in df.stages]

    assert shape(again) == shape(first)
    assert shape(first)[1][0][2][0][6] == (("EOF", "echo hi\n"),)
    with pytest.raises(AssertionError, match="parsed again"):
        dockerfile.parse(text + "\n# changed\n", "Dockerfile", str(tmp_path / "parsed"))
