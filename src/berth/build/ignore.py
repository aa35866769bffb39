"""`.dockerignore`: Docker's pattern rules.

A pattern is cleaned like a path (a leading `/` means the context's root, as
no leading slash does); `*` and `?` match within one path component, `**` any
number of them; a pattern that matches a directory excludes what is under it;
`!` makes an exception; the last pattern that matches a path decides.
"""

from __future__ import annotations

import posixpath

from berth.errors import InvalidArgument


def _translate(pattern: str):
    import re  # only when there is a .dockerignore

    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise InvalidArgument(f".dockerignore: syntax error in pattern {pattern!r}: unclosed '['")
            body = pattern[i + 1 : end]
            if body.startswith("^"):
                body = "!" + body[1:]
            out.append("[" + ("^" + re.escape(body[1:]) if body.startswith("!") else re.escape(body)) + "]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + "(?:/.*)?")


class Matcher:
    def __init__(self, lines: list[str]) -> None:
        self.patterns: list[tuple[bool, object]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            exception = line.startswith("!")
            if exception:
                line = line[1:].strip()
            line = posixpath.normpath(line).lstrip("/")
            if line in ("", "."):
                continue
            self.patterns.append((exception, _translate(line)))
        self.has_exceptions = any(e for e, _ in self.patterns)

    @classmethod
    def from_context(cls, context: str) -> Matcher:
        try:
            with open(posixpath.join(context, ".dockerignore")) as f:
                return cls(f.read().splitlines())
        except FileNotFoundError:
            return cls([])

    def excluded(self, rel: str) -> bool:
        """Whether the context path rel (no leading slash) is left out."""
        out = False
        for exception, rx in self.patterns:
            if rx.fullmatch(rel):
                out = not exception
        return out
