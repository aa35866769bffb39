"""Docker's word processing for Dockerfile arguments: quotes, the escape
character and variable substitution ($VAR, ${VAR}, ${VAR:-default},
${VAR-default}, ${VAR:+alt}, ${VAR+alt}, ${VAR:?message}), as BuildKit's
shell lexer does it for ENV, ARG, LABEL, COPY, ADD, FROM, WORKDIR, USER,
EXPOSE, VOLUME and STOPSIGNAL. RUN, CMD and ENTRYPOINT are left to the shell.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

_NAME_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME = _NAME_START + "0123456789"


class _Lexer:
    def __init__(self, text: str, env: dict[str, str], escape: str, split: bool) -> None:
        self.text, self.env, self.escape, self.split = text, env, escape, split
        self.i = 0

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def words(self) -> list[str]:
        """The words of the text; without `split`, one word with the blanks kept."""
        words: list[str] = []
        word, has = [], False
        while self.i < len(self.text):
            ch = self.next()
            if self.split and ch in " \t\n":
                if has:
                    words.append("".join(word))
                word, has = [], False
                continue
            has = True
            if ch == "'":
                word.append(self.single_quoted())
            elif ch == '"':
                word.append(self.double_quoted())
            elif ch == "$":
                value = self.dollar()
                if self.split and not value and not word:
                    has = False  # an empty unquoted expansion is no word at all
                word.append(value)
            elif ch == self.escape:
                nxt = self.next()
                word.append(nxt if nxt else ch)
            else:
                word.append(ch)
        if has or not self.split:
            words.append("".join(word))
        return words

    def single_quoted(self) -> str:
        out = []
        while True:
            ch = self.next()
            if ch == "":
                raise InvalidArgument("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                return "".join(out)
            out.append(ch)

    def double_quoted(self) -> str:
        out = []
        while True:
            ch = self.next()
            if ch == "":
                raise InvalidArgument("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
            elif ch == self.escape and self.peek() in ('"', "$", self.escape) and self.peek():
                out.append(self.next())
            else:
                out.append(ch)

    def name(self) -> str:
        start = self.i
        while self.peek() and self.peek() in _NAME:
            self.i += 1
        return self.text[start : self.i]

    def dollar(self) -> str:
        ch = self.peek()
        if ch != "{":
            if not ch or ch not in _NAME_START:
                return "$"
            return self.env.get(self.name(), "")
        self.i += 1
        name = self.name()
        if not name:
            raise InvalidArgument(f"bad substitution in {self.text!r}: expected a variable name after '${{'")
        ch = self.next()
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self.next()
        if ch not in ("-", "+", "?"):
            raise InvalidArgument(f"unsupported modifier ({ch or 'end'}) in substitution of {name} in {self.text!r}")
        word = self.until_brace()
        value = self.env.get(name)
        unset = value is None or (colon and value == "")
        if ch == "-":
            return word if unset else value
        if ch == "+":
            return "" if unset else word
        if unset:
            raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
        return value

    def until_brace(self) -> str:
        """The word inside ${NAME:-word}, itself expanded."""
        out = []
        while True:
            ch = self.next()
            if ch == "":
                raise InvalidArgument(f"missing '}}' in {self.text!r}")
            if ch == "}":
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
            elif ch == "'":
                out.append(self.single_quoted())
            elif ch == '"':
                out.append(self.double_quoted())
            elif ch == self.escape:
                out.append(self.next())
            else:
                out.append(ch)


def expand(text: str, env: dict[str, str], escape: str = "\\") -> str:
    """One word: quotes removed, variables substituted, blanks kept."""
    return _Lexer(text, env, escape, split=False).words()[0]


def expand_words(text: str, env: dict[str, str], escape: str = "\\") -> list[str]:
    """Words split on unquoted blanks, each expanded."""
    return _Lexer(text, env, escape, split=True).words()
