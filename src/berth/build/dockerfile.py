"""A Dockerfile as stages of instructions.

Lines, continuations, comments, parser directives (`escape`, `syntax`),
heredocs and the JSON forms are parsed by the `dockerfile` package, which wraps
BuildKit's own Go parser, so berth reads a Dockerfile exactly as Docker does.
What the parser leaves to its caller is checked here: known instructions,
their argument counts and flags, with the file and line in every error.

The parser's output is kept by the text's digest (`parse(..., cache_dir)`): the Go parser
costs ~15 ms a build (its runtime's threads start and the first call waits for them), which
a rebuild of the same Dockerfile skips.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip
FLAGS = {
    "FROM": {"platform"},
    "RUN": {"mount", "network"},
    "COPY": {"from", "chown", "chmod", "link"},  # --link: each COPY is its own layer here anyway
    "ADD": {"chown", "chmod", "link"},
    "HEALTHCHECK": {"interval", "timeout", "start-period", "start-interval", "retries"},
}


class Instruction:
    __slots__ = ("cmd", "args", "original", "line", "json", "flags", "heredocs", "sub")

    def __init__(self, cmd: str, args: tuple[str, ...], original: str, line: int, json: bool = False,
                 flags: dict[str, list[str]] | None = None, heredocs: tuple[tuple[str, str], ...] = (),
                 sub: Instruction | None = None) -> None:  # fmt: skip
        self.cmd = cmd  # upper case
        self.args = args
        self.original = original
        self.line = line
        self.json = json
        self.flags = flags or {}
        self.heredocs = heredocs  # (name, content)
        self.sub = sub  # ONBUILD's instruction

    def flag(self, name: str, default: str = "") -> str:
        values = self.flags.get(name)
        return values[-1] if values else default


class Stage:
    __slots__ = ("index", "base", "name", "platform", "instructions", "line")

    def __init__(self, index: int, base: str, name: str, platform: str, instructions: list[Instruction],
                 line: int) -> None:  # fmt: skip
        self.index = index
        self.base = base  # unexpanded, as written after FROM
        self.name = name  # lower case, "" if unnamed
        self.platform = platform
        self.instructions = instructions
        self.line = line


class Dockerfile:
    __slots__ = ("path", "meta_args", "stages", "escape")

    def __init__(self, path: str, meta_args: list[Instruction], stages: list[Stage], escape: str = "\\") -> None:
        self.path = path
        self.meta_args = meta_args  # ARGs before the first FROM
        self.stages = stages
        self.escape = escape


class _Heredoc:
    __slots__ = ("name", "content")

    def __init__(self, name: str, content: str) -> None:
        self.name, self.content = name, content


class _Command:
    """What the Go parser's Command holds, as the parse cache keeps it."""

    __slots__ = ("cmd", "sub_cmd", "json", "original", "start_line", "flags", "value", "heredocs")

    def __init__(self, doc: dict) -> None:
        for name in self.__slots__:
            setattr(self, name, doc[name])
        self.heredocs = tuple(_Heredoc(name, content) for name, content in doc["heredocs"])


def _go_parse(text: str, path: str) -> list:
    import dockerfile as goparser  # the Go parser loads only for builds the cache has not seen

    try:
        return goparser.parse_string(text)
    except goparser.GoParseError as e:
        raise InvalidArgument(f"{path}:{_failing_line(goparser, text, str(e))}: {e}") from None


def _parsed(text: str, path: str, cache_dir: str) -> list:
    """The parser's commands for `text`: kept in `cache_dir` by the text's digest (and berth's
    version, which pins the parser's), so a Dockerfile parsed once is never parsed again."""
    if not cache_dir:
        return _go_parse(text, path)
    import os

    from berth import __version__, fastjson
    from berth.oci.digest import sha256

    entry = os.path.join(cache_dir, sha256(f"{__version__}\0{text}".encode()).hexdigest() + ".json")
    try:
        with open(entry, "rb") as f:
            return [_Command(doc) for doc in fastjson.loads(f.read())]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    commands = _go_parse(text, path)
    docs = [{"cmd": c.cmd, "sub_cmd": c.sub_cmd, "json": c.json, "original": c.original, "start_line": c.start_line,
             "flags": list(c.flags), "value": list(c.value), "heredocs": [[h.name, h.content] for h in c.heredocs]}
            for c in commands]  # fmt: skip
    from berth.fs import atomic_write

    try:
        os.makedirs(cache_dir, exist_ok=True)
        atomic_write(entry, fastjson.dumps(docs).encode())
    except OSError:
        pass  # a read-only store: parsed again next time
    return commands


def parse(text: str, path: str = "Dockerfile", cache_dir: str = "") -> Dockerfile:
    commands = _parsed(text, path, cache_dir)
    escape = _escape_directive(text)
    meta: list[Instruction] = []
    stages: list[Stage] = []
    for c in commands:
        ins = _instruction(c, path)
        if ins.cmd == "FROM":
            stages.append(_stage(ins, len(stages), path))
        elif not stages:
            if ins.cmd != "ARG":
                raise InvalidArgument(f"{path}:{ins.line}: no build stage in current context: {ins.cmd} before FROM")
            meta.append(ins)
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise InvalidArgument(f"{path}: the Dockerfile has no FROM instruction: nothing to build")
    return Dockerfile(path=path, meta_args=meta, stages=stages, escape=escape)


def _failing_line(goparser, text: str, message: str) -> str:
    """The parser's errors carry no line: the first prefix of the file that fails the same way has it."""
    lines = text.splitlines()
    for n in range(1, len(lines) + 1):
        try:
            goparser.parse_string("\n".join(lines[:n]) + "\n")
        except goparser.GoParseError as e:
            if str(e) == message:
                return str(n)
    return str(len(lines))


def _escape_directive(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        key, sep, value = stripped[1:].partition("=")
        if sep and key.strip().lower() == "escape":
            return value.strip()
    return "\\"


def _instruction(c, path: str) -> Instruction:
    cmd = c.cmd.upper()
    where = f"{path}:{c.start_line}"
    if cmd not in INSTRUCTIONS:
        raise InvalidArgument(f"{where}: unknown instruction: {c.cmd}")
    flags: dict[str, list[str]] = {}
    for raw in c.flags:
        name, sep, value = raw[2:].partition("=")
        if name not in FLAGS.get(cmd, set()):
            raise InvalidArgument(f"{where}: unknown flag: {raw.split('=')[0]} for {cmd}")
        flags.setdefault(name, []).append(value if sep else "true")
    sub = None
    if cmd == "ONBUILD":
        if not c.sub_cmd:
            raise InvalidArgument(f"{where}: ONBUILD requires at least one argument")
        inner = c.original.split(None, 1)[1] if len(c.original.split(None, 1)) > 1 else ""
        sub_cmd = c.sub_cmd.upper()
        if sub_cmd in ("ONBUILD", "FROM", "MAINTAINER"):
            raise InvalidArgument(f"{where}: {sub_cmd} isn't allowed as an ONBUILD trigger")
        sub = Instruction(cmd=sub_cmd, args=tuple(c.value), original=inner, line=c.start_line, json=c.json)
    ins = Instruction(cmd=cmd, args=tuple(c.value), original=c.original, line=c.start_line, json=c.json,
                      flags=flags, heredocs=tuple((h.name, h.content) for h in c.heredocs), sub=sub)  # fmt: skip
    _check_arity(ins, where)
    return ins


def _check_arity(ins: Instruction, where: str) -> None:
    n = len([a for a in ins.args if a != ""])
    need = {
        "FROM": n in (1, 3) and (n == 1 or ins.args[1].lower() == "as"),
        "COPY": n >= 2 or (n >= 1 and ins.heredocs),
        "ADD": n >= 2 or (n >= 1 and ins.heredocs),
        "ENV": n >= 1,
        "LABEL": n >= 1,
        "ARG": n == 1,
        "WORKDIR": n == 1,
        "USER": n == 1,
        "STOPSIGNAL": n == 1,
        "MAINTAINER": n == 1,
        "EXPOSE": n >= 1,
        "VOLUME": n >= 1,
        "RUN": n >= 1,
        "SHELL": ins.json and n >= 1,
        "HEALTHCHECK": n >= 1 and ins.args[0].upper() in ("CMD", "NONE") and (ins.args[0].upper() == "NONE") == (n == 1),
    }.get(ins.cmd, True)  # fmt: skip
    if not need:
        what = {
            "FROM": "FROM requires either one or three arguments (FROM IMAGE [AS NAME])",
            "SHELL": "SHELL requires the arguments to be in JSON form",
            "HEALTHCHECK": "HEALTHCHECK takes NONE or CMD followed by a command",
            "ARG": "ARG requires exactly one argument (ARG NAME[=DEFAULT])",
        }.get(ins.cmd, f"{ins.cmd} requires {'exactly one argument' if ins.cmd in ('WORKDIR', 'USER', 'STOPSIGNAL', 'MAINTAINER') else 'at least ' + ('two arguments' if ins.cmd in ('COPY', 'ADD') else 'one argument')}")  # fmt: skip
        raise InvalidArgument(f"{where}: {what}")


def _stage(ins: Instruction, index: int, path: str) -> Stage:
    name = ins.args[2].lower() if len(ins.args) == 3 else ""
    if name and not all(ch.isalnum() or ch in "-_." for ch in name) or name[:1].isdigit():
        raise InvalidArgument(f"{path}:{ins.line}: invalid name for build stage: {ins.args[2]!r}")
    return Stage(index=index, base=ins.args[0], name=name, platform=ins.flag("platform"), instructions=[],
                 line=ins.line)  # fmt: skip
